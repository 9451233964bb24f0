"""OnlineDeployment's pure decisions (issue 9): what is submitted, which differences Azure can put
right in place and which it cannot, and what each observation calls for."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from azureml_operator.api.online_deployment import KIND
from azureml_operator.azure.client import OWNER_UID_TAG, ObservedOnlineDeployment
from azureml_operator.kinds.online_deployment import (
    Action,
    asset_key,
    desired,
    differences,
    fixed_differences,
    plan,
)
from azureml_operator.reconcilers.common import Ownership

WS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
LLAMA = "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct/versions/9"


def want(**spec: Any) -> Any:
    raw = {"endpointRef": {"name": "chat"}, "model": LLAMA, "instanceType": "Standard_DS3_v2", **spec}
    return desired(KIND.parse_spec(raw), namespace="team-a", name="blue", uid="u")


def observed(**kwargs: Any) -> ObservedOnlineDeployment:
    base: dict[str, Any] = {
        "id": f"{WS}/onlineEndpoints/chat/deployments/blue",
        "name": "blue",
        "provisioning_state": "Succeeded",
        "model": LLAMA,
        "environment": None,
        "instance_type": "Standard_DS3_v2",
        "instance_count": 1,
        "egress_public_network_access": "Enabled",
        "tags": {"azureml.dev-owner": "team-a/blue", OWNER_UID_TAG: "u"},
    }
    return ObservedOnlineDeployment(**{**base, **kwargs})


def test_a_short_asset_id_and_the_arm_id_azure_makes_of_it_are_the_same_asset() -> None:
    assert asset_key("azureml:my-model:3") == asset_key(f"{WS}/models/My-Model/versions/3")
    assert asset_key(LLAMA) == ("registry azureml-meta", "meta-llama-3-8b-instruct", "9")
    assert asset_key(LLAMA) != asset_key(f"{WS}/models/Meta-Llama-3-8B-Instruct/versions/9")
    assert asset_key("azureml:vllm@latest") is None and asset_key(None) is None


def test_what_is_submitted_carries_the_spec_and_the_owner() -> None:
    w = want(instanceCount=2, requestSettings={"requestTimeout": "PT90S"}, environmentVariables={"A": "1"})
    assert (w.instance_count, w.instance_type, w.model) == (2, "Standard_DS3_v2", LLAMA)
    assert w.request_settings == {"requestTimeout": "PT90S"} and w.environment_variables == {"A": "1"}
    assert w.tags[OWNER_UID_TAG] == "u" and w.egress_public_network_access == "Enabled"


def test_nothing_differs_when_azure_holds_the_spec() -> None:
    assert differences(want(), observed()) == [] and fixed_differences(want(), observed()) == []
    short = want(model="azureml:my-model:3")
    assert differences(short, observed(model=f"{WS}/models/my-model/versions/3")) == []


@pytest.mark.parametrize(
    ("have", "expected"),
    [
        ({"model": LLAMA.replace("/versions/9", "/versions/8")}, "model:"),
        ({"instance_count": 3}, "instanceCount: 3 -> 1"),
        ({"environment_variables": {"A": "2"}}, "environmentVariables"),
        ({"app_insights_enabled": True}, "appInsightsEnabled: True -> False"),
        ({"tags": {}}, f"tag {OWNER_UID_TAG}"),
    ],
)
def test_what_azure_updates_in_place_is_a_difference(have: dict[str, Any], expected: str) -> None:
    assert any(expected in c for c in differences(want(), observed(**have)))


def test_an_omitted_environment_accepts_the_models_own() -> None:
    assert differences(want(), observed(environment=f"{WS}/environments/curated/versions/4")) == []


def test_request_settings_the_spec_does_not_set_are_azures_business() -> None:
    have = observed(request_settings={"requestTimeout": "PT5S", "maxConcurrentRequestsPerInstance": 1})
    assert differences(want(), have) == []
    assert differences(want(requestSettings={"requestTimeout": "PT90S"}), have) == [
        "requestSettings.requestTimeout: PT5S -> PT90S"
    ]


def step(have: ObservedOnlineDeployment | None, **kwargs: Any) -> Any:
    return plan(
        want=kwargs.pop("w", want()),
        name="blue",
        observed=have,
        owner=kwargs.pop("owner", Ownership.OURS),
        spec_changed_since_failure=kwargs.pop("changed", False),
    )


def test_what_each_observation_calls_for() -> None:
    assert step(None).action is Action.CREATE and "1 x Standard_DS3_v2" in step(None).message
    assert step(observed(), owner=Ownership.FOREIGN).action is Action.CONFLICT
    for state in ("Creating", "Updating", "Scaling", "Deleting"):
        assert step(observed(provisioning_state=state)).action is Action.WAIT, state
    assert step(observed(instance_count=3)).action is Action.UPDATE
    assert step(observed()).action is Action.READY


def test_a_failed_deployment_says_what_azure_said_until_the_spec_changes() -> None:
    failed = observed(provisioning_state="Failed", failure="ResourceNotReady: the container crashed")
    result = step(failed)
    assert result.action is Action.FAILED and "ResourceNotReady: the container crashed" in result.message
    assert step(failed, changed=True).action is Action.UPDATE


def test_what_azure_cannot_change_in_place_is_never_put() -> None:
    result = step(observed(instance_type="Standard_F4s_v2", instance_count=3))
    assert result.action is Action.DIFFERS
    assert "instanceType Standard_F4s_v2, not Standard_DS3_v2" in result.message
    assert "create a new deployment and move the traffic" in result.message
    egress = step(replace(observed(), egress_public_network_access="Disabled"))
    assert egress.action is Action.DIFFERS
