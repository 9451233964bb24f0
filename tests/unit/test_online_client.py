"""`azure/online.py` without a simulator: the exact PUT bodies, how references are resolved, and how
pages and a failed deployment's operation are followed (through a fake connection that records the
paths it is asked for)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from azureml_operator.azure.client import (
    DesiredOnlineDeployment,
    DesiredOnlineEndpoint,
    ObservedWorkspace,
    WorkspaceTarget,
)
from azureml_operator.azure.online import (
    DEPLOYMENT_API_VERSION,
    OnlineDeployments,
    OnlineEndpoints,
    deployment_to_arm,
    endpoint_from_arm,
    endpoint_to_arm,
    failure_text,
    resolve_refs,
)
from azureml_operator.errors import NotFound, Terminal

TARGET = WorkspaceTarget("sub-1", "rg-1", "ws-1")
WS = TARGET.arm_id
GUID = "00000000-0000-0000-0000-00000000abcd"
ENDPOINT = DesiredOnlineEndpoint(
    auth_mode="Key",
    public_network_access="Enabled",
    description=None,
    tags={"owner": "u-1"},
    traffic={"blue": 100, "green": 0},
    mirror_traffic={},
)
DEPLOYMENT = DesiredOnlineDeployment(
    model="azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1",
    environment=None,
    code_id=None,
    scoring_script=None,
    instance_type="Standard_DS3_v2",
    instance_count=2,
    request_settings={},
    liveness_probe=None,
    readiness_probe=None,
    environment_variables={},
    app_insights_enabled=False,
    egress_public_network_access="Enabled",
    tags={"owner": "u-1"},
)


def test_the_endpoint_body_sends_both_maps_whole_zero_shares_and_an_empty_mirror_included() -> None:
    assert endpoint_to_arm(ENDPOINT, "eastus2") == {
        "location": "eastus2",
        "identity": {"type": "SystemAssigned"},
        "tags": {"owner": "u-1"},
        "properties": {
            "authMode": "Key",
            "publicNetworkAccess": "Enabled",
            "properties": {},
            "traffic": {"blue": 100, "green": 0},
            "mirrorTraffic": {},
        },
    }
    body = endpoint_to_arm(
        replace(ENDPOINT, description="d", mirror_traffic={"Green": 0}),
        "eastus2",
        {"type": "SystemAssigned,UserAssigned", "userAssignedIdentities": {"/id/1": {}}},
    )
    assert body["properties"]["description"] == "d"
    assert body["properties"]["mirrorTraffic"] == {"Green": 0}  # names as given, not lower-cased
    assert body["identity"] == {
        "type": "SystemAssigned,UserAssigned",
        "userAssignedIdentities": {"/id/1": {}},
    }


def test_an_observed_endpoint_keeps_azures_maps_as_they_are() -> None:
    got = endpoint_from_arm(
        {
            "id": f"{WS}/onlineEndpoints/Chat",
            "name": "Chat",
            "properties": {
                "provisioningState": "Succeeded",
                "authMode": "AMLToken",
                "traffic": {"Blue": 100, "green": 0},
                "mirrorTraffic": {"green": 10},
                "swaggerUri": "https://x/swagger.json",
            },
        }
    )
    assert (got.name, got.traffic, got.mirror_traffic) == ("Chat", {"Blue": 100, "green": 0}, {"green": 10})
    assert (got.auth_mode, got.openapi_uri, got.scoring_uri, got.tags) == (
        "AMLToken",
        "https://x/swagger.json",
        None,
        {},
    )


def test_the_minimal_deployment_body() -> None:
    assert deployment_to_arm(DEPLOYMENT, "eastus2") == {
        "location": "eastus2",
        "tags": {"owner": "u-1"},
        "sku": {"name": "Default", "capacity": 2},
        "properties": {
            "endpointComputeType": "Managed",
            "instanceType": "Standard_DS3_v2",
            "scaleSettings": {"scaleType": "Default"},
            "environmentVariables": {},
            "properties": {},
            "appInsightsEnabled": False,
            "egressPublicNetworkAccess": "Enabled",
            "model": "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1",
        },
    }


def test_settings_probes_and_code_are_sent_only_when_set_in_azures_field_names() -> None:
    full = replace(
        DEPLOYMENT,
        model="azureml:m:3",
        environment="azureml:e:2",
        code_id="azureml:c:1",
        scoring_script="score.py",
        request_settings={"max_concurrent_requests_per_instance": 4, "requestTimeout": "PT9S", "x_y": None},
        liveness_probe={"failure_threshold": 3, "period": "PT10S", "initial_delay": None},
        readiness_probe={},
        environment_variables={"K": "V"},
        app_insights_enabled=True,
    )
    props = deployment_to_arm(resolve_refs(full, TARGET), "eastus2")["properties"]
    assert props["model"] == f"{WS}/models/m/versions/3"
    assert props["environmentId"] == f"{WS}/environments/e/versions/2"
    assert props["codeConfiguration"] == {"codeId": f"{WS}/codes/c/versions/1", "scoringScript": "score.py"}
    assert props["requestSettings"] == {"maxConcurrentRequestsPerInstance": 4, "requestTimeout": "PT9S"}
    assert props["livenessProbe"] == {"failureThreshold": 3, "period": "PT10S"}
    assert "readinessProbe" not in props  # an empty probe is Azure's defaults: not sent
    assert (props["environmentVariables"], props["appInsightsEnabled"]) == ({"K": "V"}, True)


@pytest.mark.parametrize(
    ("field", "value", "wire"),
    [
        ("model", "azureml:m:3", f"{WS}/models/m/versions/3"),
        (
            "model",
            "azureml://registries/azureml/models/Phi/versions/1",
            "azureml://registries/azureml/models/Phi/versions/1",
        ),
        ("model", f"{WS}/models/m/versions/3", f"{WS}/models/m/versions/3"),
        (
            "model",
            f"azureml://locations/eastus2/workspaces/{GUID.upper()}/models/ft/versions/2",
            f"{WS}/models/ft/versions/2",
        ),
        (
            "model",
            "azureml://locations/eastus2/workspaces/11111111-0000-0000-0000-000000000000/models/ft/versions/2",
            "azureml://locations/eastus2/workspaces/11111111-0000-0000-0000-000000000000/models/ft/versions/2",
        ),
        ("environment", "azureml:e:2", f"{WS}/environments/e/versions/2"),
        ("environment", "azureml:AzureML-sklearn-1.0:1", "azureml:AzureML-sklearn-1.0:1"),
        ("environment", "azureml:e@latest", "azureml:e@latest"),
        (
            "environment",
            "azureml://registries/azureml/environments/e/versions/4",
            "azureml://registries/azureml/environments/e/versions/4",
        ),
        ("code_id", "azureml:c:1", f"{WS}/codes/c/versions/1"),
    ],
)
def test_references_resolve_as_the_sdk_resolves_them(field: str, value: str, wire: str) -> None:
    assert getattr(resolve_refs(replace(DEPLOYMENT, **{field: value}), TARGET, GUID), field) == wire


def test_failure_text_is_code_and_message_on_one_bounded_line() -> None:
    assert (
        failure_text({"code": "OutOfQuota", "message": "Not enough\n quota."})
        == "OutOfQuota: Not enough quota."
    )
    assert failure_text({"code": "Bad"}) == "Bad"
    assert failure_text({}) is None and failure_text(None) is None
    long = failure_text({"code": "C", "message": "m" * 2000})
    assert long is not None and len(long) == 512 and long.endswith("…")


class FakeConn:
    """Answers plain ARM requests from `pages` by path; `call` and `get_or_none` as the real one
    (NotFound for a 404) without the thread pool."""

    def __init__(self, pages: dict[str, Any]) -> None:
        self.pages = pages
        self.asked: list[tuple[str, str, str]] = []
        self.target = TARGET
        self.rest = self

    def request(self, method: str, path: str, api_version: str, body: Any = None) -> Any:
        self.asked.append((method, path, api_version))
        if path not in self.pages:
            raise NotFound("gone")
        answer = self.pages[path]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def call(self, method: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    async def get_or_none(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except NotFound:
            return None

    async def location(self) -> str:
        return "eastus2"

    async def get_workspace(self) -> ObservedWorkspace:
        return ObservedWorkspace(WS, "eastus2", GUID)


def deployment(name: str, state: str, operation: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"provisioningState": state, "instanceType": "Standard_DS3_v2"}
    if operation:
        props["properties"] = {"AzureAsyncOperationUri": operation}
    return {
        "id": f"{WS}/onlineEndpoints/ep/deployments/{name}",
        "name": name,
        "sku": {"capacity": 1},
        "properties": props,
    }


OP_PATH = "/subscriptions/sub-1/providers/Microsoft.MachineLearningServices/locations/eastus2/mfeOperationsStatus/op-1"


def test_list_follows_next_links_and_a_failed_deployment_is_asked_for_its_operations_error() -> None:
    coll = f"{WS}/onlineEndpoints/ep/deployments"
    conn = FakeConn(
        {
            coll: {
                "value": [deployment("blue", "Succeeded")],
                "nextLink": f"https://elsewhere.example{coll}?api-version=2099-01-01&$skipToken=1",
            },
            f"{coll}?%24skipToken=1": {
                "value": [
                    deployment(
                        "red", "Failed", f"https://elsewhere.example{OP_PATH}?api-version=2023-04-01-preview"
                    )
                ]
            },
            OP_PATH: {"status": "Failed", "error": {"code": "ImageBuildFailure", "message": "no image"}},
        }
    )
    got = asyncio.run(OnlineDeployments(conn).list("ep"))  # type: ignore[arg-type]
    assert [(d.name, d.instance_count, d.failure) for d in got] == [
        ("blue", 1, None),
        ("red", 1, "ImageBuildFailure: no image"),
    ]
    # Only the paths of the URLs Azure handed out are followed, on the connection's own ARM host.
    assert conn.asked == [
        ("GET", coll, DEPLOYMENT_API_VERSION),
        ("GET", f"{coll}?%24skipToken=1", "2099-01-01"),
        ("GET", OP_PATH, "2023-04-01-preview"),
    ]


@pytest.mark.parametrize(
    "operation",
    [None, "gone", Terminal("forbidden")],
    ids=["no-operation-named", "operation-forgotten", "read-refused"],
)
def test_a_failed_deployment_without_a_readable_reason_is_still_observed(operation: Any) -> None:
    path = f"{WS}/onlineEndpoints/ep/deployments/red"
    pages: dict[str, Any] = {
        path: deployment("red", "Failed", None if operation is None else f"https://x{OP_PATH}")
    }
    if isinstance(operation, Exception):
        pages[OP_PATH] = operation
    got = asyncio.run(OnlineDeployments(FakeConn(pages)).get("ep", "red"))  # type: ignore[arg-type]
    assert got is not None and (got.provisioning_state, got.failure) == ("Failed", None)


def test_an_update_keeps_the_identity_azure_holds_and_a_create_asks_for_a_system_assigned_one() -> None:
    path = f"{WS}/onlineEndpoints/ep"
    sent: list[Any] = []

    class Recording(FakeConn):
        def request(self, method: str, path: str, api_version: str, body: Any = None) -> Any:
            if method == "PUT":
                sent.append(body)
                return body
            return super().request(method, path, api_version, body)

    held = {
        "type": "UserAssigned",
        "userAssignedIdentities": {"/id/1": {"principalId": "p", "clientId": "c"}},
    }
    asyncio.run(OnlineEndpoints(Recording({path: {"identity": held}})).begin_put("ep", ENDPOINT))  # type: ignore[arg-type]
    asyncio.run(OnlineEndpoints(Recording({})).begin_put("ep", ENDPOINT))  # type: ignore[arg-type]
    assert [b["identity"] for b in sent] == [
        {"type": "UserAssigned", "userAssignedIdentities": {"/id/1": {}}},
        {"type": "SystemAssigned"},
    ]
