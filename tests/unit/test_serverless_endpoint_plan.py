"""ServerlessEndpoint decisions: the endpoint the spec asks for, how Azure's differs, what to do."""

from __future__ import annotations

from dataclasses import replace

import pytest

from azureml_operator.azure.client import OWNER_TAG, OWNER_UID_TAG, DesiredServerless, ObservedServerless
from azureml_operator.kinds.serverless_endpoint import (
    Action,
    desired,
    drift,
    merged_tags,
    plan,
    status_fields,
)
from azureml_operator.reconcilers.common import ADOPT_ANNOTATION, Ownership

LLAMA = "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct"
MISTRAL = "azureml://registries/azureml-mistral/models/Mistral-large"
UID = "5f1d2c3b-aaaa-bbbb-cccc-ddddeeeeffff"
NAME = "llama-ep"
EP_ID = (
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices"
    f"/workspaces/ws/serverlessEndpoints/{NAME}"
)
OUR_TAGS = {OWNER_TAG: f"team-a/{NAME}", OWNER_UID_TAG: UID}


def want(content_safety: str | None = None, model_id: str = LLAMA) -> DesiredServerless:
    return desired(
        model_id=model_id,
        auth_mode="Key",
        content_safety=content_safety,
        namespace="team-a",
        name=NAME,
        uid=UID,
    )


def observed(**overrides: object) -> ObservedServerless:
    base = ObservedServerless(
        id=EP_ID,
        name=NAME,
        model_id=LLAMA,
        provisioning_state="Succeeded",
        endpoint_state="Online",
        inference_uri=f"https://{NAME}.eastus.models.ai.azure.com",
        auth_mode="Key",
        content_safety="Enabled",
        tags=dict(OUR_TAGS),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def decide(
    observed_: ObservedServerless | None,
    *,
    want_: DesiredServerless | None = None,
    owner: Ownership | None = Ownership.OURS,
    spec_changed: bool = False,
) -> tuple[Action, str]:
    result = plan(
        want=want_ or want(),
        name=NAME,
        observed=observed_,
        owner=owner if observed_ is not None else None,
        spec_changed_since_failure=spec_changed,
    )
    return result.action, result.message


# --- desired ----------------------------------------------------------------------------------


def test_desired_endpoint_carries_the_owner_tags() -> None:
    assert want("Disabled") == DesiredServerless(
        model_id=LLAMA,
        auth_mode="Key",
        content_safety="Disabled",
        tags={OWNER_TAG: f"team-a/{NAME}", OWNER_UID_TAG: UID},
    )


# --- plan -------------------------------------------------------------------------------------


def test_nothing_in_azure_means_create() -> None:
    action, message = decide(None)
    assert action is Action.CREATE
    assert message == f"creating serverless endpoint {NAME} for {LLAMA}"


def test_a_foreign_endpoint_is_a_conflict_that_points_at_adopt_and_endpoint_name() -> None:
    action, message = decide(observed(tags={}), owner=Ownership.FOREIGN)
    assert action is Action.CONFLICT
    assert f'{ADOPT_ANNOTATION}: "true"' in message
    assert "spec.endpointName" in message


@pytest.mark.parametrize("owner", [Ownership.OURS, Ownership.ADOPT])
def test_an_endpoint_serving_another_model_is_a_conflict(owner: Ownership) -> None:
    action, message = decide(observed(model_id=MISTRAL), owner=owner)
    assert action is Action.CONFLICT
    assert MISTRAL in message and LLAMA in message
    assert "cannot change" in message and "spec.endpointName" in message


def test_the_same_model_in_another_case_is_not_a_conflict() -> None:
    action, _ = decide(observed(model_id=LLAMA.lower() + "/"))
    assert action is Action.READY


@pytest.mark.parametrize(
    "state", ["Creating", "Updating", "Deleting", "Accepted", "in_progress", "InProgress"]
)
def test_an_operation_in_flight_means_wait(state: str) -> None:
    action, message = decide(
        observed(provisioning_state=state, content_safety="Disabled"), want_=want("Enabled")
    )
    assert action is Action.WAIT
    assert message == f"Azure reports provisioningState {state}"


@pytest.mark.parametrize("state", ["Failed", "Canceled"])
def test_failed_provisioning_without_a_spec_change_is_failed_and_says_how_to_retry(state: str) -> None:
    action, message = decide(observed(provisioning_state=state, endpoint_state="Offline"))
    assert action is Action.FAILED
    assert f"provisioningState {state}" in message and "endpointState Offline" in message
    assert "change the spec or delete the object to retry" in message


def test_failed_provisioning_with_drift_but_no_spec_change_is_still_failed() -> None:
    action, _ = decide(
        observed(provisioning_state="Failed", content_safety="Enabled"), want_=want("Disabled")
    )
    assert action is Action.FAILED


def test_failed_provisioning_after_a_spec_change_is_retried() -> None:
    action, message = decide(observed(provisioning_state="Failed"), spec_changed=True)
    assert action is Action.UPDATE
    assert message == f"updating serverless endpoint {NAME}: retrying the failed provisioning"


def test_failed_provisioning_after_a_spec_change_names_the_drift() -> None:
    action, message = decide(
        observed(provisioning_state="Failed", content_safety="Enabled"),
        want_=want("Disabled"),
        spec_changed=True,
    )
    assert action is Action.UPDATE
    assert "contentSafety: Enabled -> Disabled" in message


def test_content_safety_drift_is_an_update_naming_the_change() -> None:
    action, message = decide(observed(content_safety="Enabled"), want_=want("Disabled"))
    assert action is Action.UPDATE
    assert message == f"updating serverless endpoint {NAME}: contentSafety: Enabled -> Disabled"


@pytest.mark.parametrize("azure_value", ["Enabled", "Disabled", None])
def test_omitted_content_safety_accepts_whatever_azure_holds(azure_value: str | None) -> None:
    action, _ = decide(observed(content_safety=azure_value), want_=want(None))
    assert action is Action.READY


def test_content_safety_missing_in_azure_is_drift_when_the_spec_sets_it() -> None:
    action, message = decide(observed(content_safety=None), want_=want("Enabled"))
    assert action is Action.UPDATE
    assert "contentSafety: None -> Enabled" in message


def test_missing_owner_tags_are_an_update_so_adopting_tags_the_resource() -> None:
    action, message = decide(observed(tags={"cost-center": "42"}), owner=Ownership.ADOPT)
    assert action is Action.UPDATE
    assert f"tag {OWNER_TAG}" in message and f"tag {OWNER_UID_TAG}" in message


def test_an_owner_tag_with_another_value_is_an_update() -> None:
    action, message = decide(observed(tags={**OUR_TAGS, OWNER_TAG: "team-b/other"}))
    assert action is Action.UPDATE
    assert f"tag {OWNER_TAG}" in message and OWNER_UID_TAG not in message


def test_auth_mode_drift_is_an_update() -> None:
    action, message = decide(observed(auth_mode="AADToken"))
    assert action is Action.UPDATE
    assert "authMode: AADToken -> Key" in message


def test_several_drifts_are_named_together() -> None:
    action, message = decide(observed(content_safety="Enabled", tags={}), want_=want("Disabled"))
    assert action is Action.UPDATE
    assert message == (
        f"updating serverless endpoint {NAME}: contentSafety: Enabled -> Disabled; "
        f"tag {OWNER_TAG}; tag {OWNER_UID_TAG}"
    )


@pytest.mark.parametrize("state", ["Suspended", "suspended"])
def test_a_suspended_endpoint_points_at_the_marketplace_subscription(state: str) -> None:
    action, message = decide(observed(endpoint_state=state))
    assert action is Action.SUSPENDED
    assert "Marketplace subscription" in message and LLAMA in message


def test_drift_on_a_suspended_endpoint_is_repaired_first() -> None:
    action, _ = decide(observed(endpoint_state="Suspended", content_safety="Enabled"), want_=want("Disabled"))
    assert action is Action.UPDATE


def test_an_up_to_date_endpoint_is_ready() -> None:
    action, message = decide(observed())
    assert action is Action.READY
    assert message == f"serverless endpoint {NAME} is Online"


def test_an_endpoint_without_an_endpoint_state_reads_as_online() -> None:
    assert decide(observed(endpoint_state=None)) == (Action.READY, f"serverless endpoint {NAME} is Online")


def test_ready_ignores_tags_that_are_not_the_operators() -> None:
    action, _ = decide(observed(tags={**OUR_TAGS, "cost-center": "42", "owner": "alice"}))
    assert action is Action.READY


# --- drift ------------------------------------------------------------------------------------


def test_no_drift_when_azure_matches_the_spec() -> None:
    assert drift(want("Enabled"), observed()) == []


def test_drift_ignores_tags_that_are_not_the_operators() -> None:
    assert drift(want(), observed(tags={**OUR_TAGS, "cost-center": "42"})) == []


def test_drift_reports_each_missing_owner_tag() -> None:
    assert drift(want(), observed(tags={OWNER_UID_TAG: UID})) == [f"tag {OWNER_TAG}"]


# --- merged tags ------------------------------------------------------------------------------


def test_merged_tags_keep_foreign_tags_and_override_ours() -> None:
    have = observed(tags={"cost-center": "42", OWNER_TAG: "stale/owner", OWNER_UID_TAG: "stale-uid"})
    merged = merged_tags(want("Disabled"), have)
    assert merged.tags == {"cost-center": "42", OWNER_TAG: f"team-a/{NAME}", OWNER_UID_TAG: UID}
    assert (merged.model_id, merged.auth_mode, merged.content_safety) == (LLAMA, "Key", "Disabled")


@pytest.mark.parametrize("have", [None, observed(tags={})])
def test_merged_tags_without_foreign_tags_is_the_desired_endpoint(have: ObservedServerless | None) -> None:
    mine = want()
    assert merged_tags(mine, have) == mine


def test_merged_tags_do_not_modify_the_desired_endpoint() -> None:
    mine = want()
    merged_tags(mine, observed(tags={"cost-center": "42"}))
    assert mine.tags == OUR_TAGS


# --- status fields ----------------------------------------------------------------------------


def test_status_fields_for_nothing_in_azure_clear_only_the_documented_fields() -> None:
    assert status_fields(None, LLAMA) == {
        "inferenceUri": None,
        "endpointState": None,
        "provisioningState": None,
        "modelId": LLAMA,
    }


def test_status_fields_report_what_azure_holds() -> None:
    assert status_fields(observed(), "ignored: Azure's model is reported") == {
        "inferenceUri": f"https://{NAME}.eastus.models.ai.azure.com",
        "endpointState": "Online",
        "provisioningState": "Succeeded",
        "modelId": observed().model_id,
    }
