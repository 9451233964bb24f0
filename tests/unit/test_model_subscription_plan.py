"""ModelSubscription decisions: which models need a Marketplace subscription, and what to do given
what Azure holds under the subscription's name."""

from __future__ import annotations

from dataclasses import replace

import pytest

from azureml_operator.azure.client import ObservedSubscription
from azureml_operator.kinds.model_subscription import (
    Action,
    needs_subscription,
    plan,
    registry_of,
    status_fields,
)
from azureml_operator.reconcilers.common import ADOPT_ANNOTATION, Ownership, same_model

LLAMA = "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct"
MISTRAL = "azureml://registries/azureml-mistral/models/Mistral-large"
PHI = "azureml://registries/azureml/models/Phi-4"
NAME = "llama-sub"
SUB_ID = (
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices"
    f"/workspaces/ws/marketplaceSubscriptions/{NAME}"
)


def observed(**overrides: object) -> ObservedSubscription:
    base = ObservedSubscription(
        id=SUB_ID,
        name=NAME,
        model_id=LLAMA,
        provisioning_state="Succeeded",
        subscription_status="Subscribed",
        marketplace_plan={"publisherId": "metagenai", "offerId": "meta-llama-3", "planId": "8b"},
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


# --- which models need a subscription ---------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "registry"),
    [
        (PHI, "azureml"),
        (LLAMA, "azureml-meta"),
        ("azureml://registries/AzureML-Cohere/models/Cohere-command-r", "azureml-cohere"),
        ("azureml://registries/azureml/models/Phi-4/versions/3", ""),
        ("not-a-model-id", ""),
    ],
)
def test_registry_of_reads_the_lowercased_registry_name(model_id: str, registry: str) -> None:
    assert registry_of(model_id) == registry


@pytest.mark.parametrize(
    "model_id",
    [PHI, "azureml://registries/AzureML/models/gpt-oss-120b", "azureml://registries/azureml/models/x"],
)
def test_microsoft_models_need_no_subscription(model_id: str) -> None:
    assert needs_subscription(model_id) is False


@pytest.mark.parametrize(
    "model_id",
    [
        LLAMA,
        MISTRAL,
        "azureml://registries/azureml-cohere/models/Cohere-command-r",
        "azureml://registries/azureml-ai21/models/AI21-Jamba",
        "azureml://registries/azuremlx/models/Phi-4",
    ],
)
def test_partner_registries_need_a_subscription(model_id: str) -> None:
    assert needs_subscription(model_id) is True


def test_same_model_ignores_case_and_a_trailing_slash() -> None:
    assert same_model(LLAMA, LLAMA.upper() + "/")
    assert not same_model(LLAMA, MISTRAL)
    assert not same_model(LLAMA, LLAMA + "-v2")


# --- plan -------------------------------------------------------------------------------------


def test_a_microsoft_model_is_not_required_whatever_azure_holds() -> None:
    result = plan(model_id=PHI, name=NAME, observed=observed(model_id=PHI), owner=Ownership.FOREIGN)
    assert result.action is Action.NOT_REQUIRED
    assert PHI in result.message and "Microsoft model" in result.message


def test_nothing_in_azure_means_create() -> None:
    result = plan(model_id=LLAMA, name=NAME, observed=None, owner=None)
    assert result.action is Action.CREATE
    assert LLAMA in result.message and NAME in result.message


@pytest.mark.parametrize("owner", [Ownership.OURS, Ownership.ADOPT, Ownership.FOREIGN])
def test_another_model_under_the_same_name_is_a_conflict_even_when_adopting(owner: Ownership) -> None:
    result = plan(model_id=LLAMA, name=NAME, observed=observed(model_id=MISTRAL), owner=owner)
    assert result.action is Action.CONFLICT
    assert MISTRAL in result.message and LLAMA in result.message
    assert "spec.subscriptionName" in result.message


def test_the_same_model_in_another_case_is_not_a_conflict() -> None:
    result = plan(model_id=LLAMA, name=NAME, observed=observed(model_id=LLAMA.upper()), owner=Ownership.OURS)
    assert result.action is Action.READY


def test_a_foreign_subscription_is_a_conflict_that_points_at_the_adopt_annotation() -> None:
    result = plan(model_id=LLAMA, name=NAME, observed=observed(), owner=Ownership.FOREIGN)
    assert result.action is Action.CONFLICT
    assert NAME in result.message
    assert f'{ADOPT_ANNOTATION}: "true"' in result.message


@pytest.mark.parametrize(
    "state", ["Creating", "Updating", "Deleting", "Accepted", "Provisioning", "InProgress", "in_progress"]
)
def test_an_operation_in_flight_means_wait(state: str) -> None:
    result = plan(
        model_id=LLAMA,
        name=NAME,
        observed=observed(provisioning_state=state, subscription_status=None),
        owner=Ownership.OURS,
    )
    assert result.action is Action.WAIT
    assert state in result.message


def test_adopting_waits_for_an_operation_in_flight_too() -> None:
    result = plan(
        model_id=LLAMA, name=NAME, observed=observed(provisioning_state="Creating"), owner=Ownership.ADOPT
    )
    assert result.action is Action.WAIT


@pytest.mark.parametrize("state", ["Failed", "failed", "Canceled"])
def test_failed_provisioning_is_failed(state: str) -> None:
    result = plan(
        model_id=LLAMA, name=NAME, observed=observed(provisioning_state=state), owner=Ownership.OURS
    )
    assert result.action is Action.FAILED
    assert f"provisioningState {state}" in result.message


@pytest.mark.parametrize("status", ["Suspended", "Unsubscribed", "PendingFulfillmentStart"])
def test_a_subscription_marketplace_does_not_call_subscribed_is_inactive(status: str) -> None:
    result = plan(
        model_id=LLAMA, name=NAME, observed=observed(subscription_status=status), owner=Ownership.OURS
    )
    assert result.action is Action.INACTIVE
    assert status in result.message
    assert "billing in the Azure portal" in result.message


def test_a_subscription_without_a_status_is_inactive_and_says_so() -> None:
    result = plan(
        model_id=LLAMA, name=NAME, observed=observed(subscription_status=None), owner=Ownership.OURS
    )
    assert result.action is Action.INACTIVE
    assert "without a status" in result.message


def test_an_adoptable_subscribed_subscription_is_adopted() -> None:
    result = plan(model_id=LLAMA, name=NAME, observed=observed(), owner=Ownership.ADOPT)
    assert result.action is Action.ADOPT
    assert f"adopted the existing Marketplace subscription {NAME}" == result.message


@pytest.mark.parametrize("status", ["Subscribed", "subscribed", "SUBSCRIBED"])
def test_our_subscribed_and_succeeded_subscription_is_ready(status: str) -> None:
    result = plan(
        model_id=LLAMA, name=NAME, observed=observed(subscription_status=status), owner=Ownership.OURS
    )
    assert result.action is Action.READY
    assert result.message == f"subscribed to {LLAMA}"


def test_a_subscription_without_provisioning_state_but_subscribed_is_ready() -> None:
    result = plan(model_id=LLAMA, name=NAME, observed=observed(provisioning_state=None), owner=Ownership.OURS)
    assert result.action is Action.READY


# --- status fields ----------------------------------------------------------------------------


def test_status_fields_for_nothing_in_azure_clear_only_the_documented_fields() -> None:
    assert status_fields(None) == {
        "subscriptionStatus": None,
        "provisioningState": None,
        "marketplacePlan": None,
    }


def test_status_fields_for_nothing_in_azure_keep_the_recorded_resource_id() -> None:
    # The recorded id is how a restarted operator recognises its own creation: never cleared here.
    assert "azureResourceId" not in status_fields(None)


def test_status_fields_report_what_azure_holds() -> None:
    assert status_fields(observed()) == {
        "subscriptionStatus": "Subscribed",
        "provisioningState": "Succeeded",
        "marketplacePlan": {"publisherId": "metagenai", "offerId": "meta-llama-3", "planId": "8b"},
    }


def test_status_fields_drop_unknown_plan_parts() -> None:
    fields = status_fields(
        observed(marketplace_plan={"publisherId": "metagenai", "offerId": None, "planId": None})
    )
    assert fields["marketplacePlan"] == {"publisherId": "metagenai"}


@pytest.mark.parametrize("marketplace_plan", [{}, {"publisherId": None, "offerId": None, "planId": None}])
def test_status_fields_report_no_plan_as_none(marketplace_plan: dict[str, str | None]) -> None:
    assert status_fields(observed(marketplace_plan=marketplace_plan))["marketplacePlan"] is None
