"""The simulator's rules driven in-process with a fake clock: no sockets, no SDK, no sleeping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from azureml_standins.simulator import catalog, paths
from azureml_standins.simulator.config import Bucket, SimulatorConfig, ThrottleConfig, WorkspaceSeed
from azureml_standins.simulator.core import Simulator
from azureml_standins.simulator.errors import ArmError
from azureml_standins.simulator.faults import Faults
from azureml_standins.simulator.messages import Reply, Request
from azureml_standins.simulator.throttling import TokenBucket

WS = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-sim"
    "/providers/Microsoft.MachineLearningServices/workspaces/ws-sim"
)
PHI = "azureml://registries/azureml/models/Phi-4-mini-instruct"


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


def call(
    sim: Simulator,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = "t",
    api: str | None = "2024-01-01-preview",
    query: dict[str, str] | None = None,
) -> Reply:
    q = dict(query or {})
    if api is not None:
        q["api-version"] = api
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = Request(method, path, q, headers, "https://127.0.0.1:9", body)
    admitted = sim.admit(req)
    return admitted if isinstance(admitted, Reply) else sim.dispatch(req, admitted)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> Simulator:
    return Simulator(SimulatorConfig(), clock=clock)


# -- paths --------------------------------------------------------------------------------------


def test_paths_are_case_insensitive_but_names_keep_their_case() -> None:
    p = paths.parse(
        WS.replace("resourceGroups", "resourcegroups") + "/ONLINEENDPOINTS/MyEp/deployments/Blue",
        "2023-04-01-preview",
    )
    assert p.types == ("onlineEndpoints", "deployments")
    assert p.names == ("MyEp", "Blue")
    assert p.resource_type == "onlineEndpoints/deployments"


def test_paths_distinguish_actions_collections_and_operations() -> None:
    assert paths.parse(WS + "/serverlessEndpoints/e/listKeys", "v").action == "listKeys"
    assert paths.parse(WS + "/onlineEndpoints/e/deployments", "v").is_collection
    op = paths.parse(
        "/subscriptions/s/providers/Microsoft.MachineLearningServices/locations/eastus2"
        "/mfeOperationsStatus/abc",
        "v",
    )
    assert op.operation == ("status", "eastus2", "abc") and op.resource_type == "operations"


@pytest.mark.parametrize(
    "path",
    [
        WS + "/computes/c1",
        WS + "/serverlessEndpoints/e/deployments/d",
        WS + "/serverlessEndpoints/e/token",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a",
    ],
)
def test_unmodelled_resource_types_are_invalid(path: str) -> None:
    with pytest.raises(ArmError) as e:
        paths.parse(path, "2024-01-01-preview")
    assert e.value.status == 404 and e.value.code == "InvalidResourceType"


# -- catalog and config -------------------------------------------------------------------------


def test_catalog_lookup_rules() -> None:
    assert catalog.lookup(PHI, target="m", versioned=False).model.offer is None
    assert catalog.lookup(PHI + "/versions/1", target="m", versioned=True).version == 1
    assert catalog.lookup(PHI + "/labels/latest", target="m", versioned=None).version == 1
    with pytest.raises(ArmError, match="must not contain a version"):
        catalog.lookup(PHI + "/versions/1", target="m", versioned=False)
    with pytest.raises(ArmError, match="must name a version"):
        catalog.lookup(PHI, target="m", versioned=True)
    with pytest.raises(ArmError, match="latest is 1"):
        catalog.lookup(PHI + "/versions/2", target="m", versioned=True)
    with pytest.raises(ArmError, match="not a registry model id"):
        catalog.lookup("Phi-4-mini-instruct", target="m", versioned=None)


def test_workspace_seed_parsing() -> None:
    assert WorkspaceSeed.parse("s/rg/ws@WestEurope") == WorkspaceSeed("s", "rg", "ws", "westeurope")
    with pytest.raises(ValueError):
        WorkspaceSeed.parse("s/rg/ws")


def test_retry_after_never_falls_to_zero() -> None:
    assert SimulatorConfig(latency_scale=1).retry_after == 10  # the spec's minimum
    assert SimulatorConfig(latency_scale=0.0001).retry_after == 1  # 0 would mean "30 s" to the SDK


# -- throttling and faults ----------------------------------------------------------------------


def test_token_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(Bucket(2, 0.5), 2, 0.0)
    assert bucket.take(0.0) == (True, 1, 0)
    assert bucket.take(0.0) == (True, 0, 0)
    assert bucket.take(0.0) == (False, 0, 2)  # one token returns after 2 s
    assert bucket.take(1.0) == (False, 0, 1)
    assert bucket.take(2.0)[0] is True


def test_throttled_requests_get_429_with_retry_after(clock: Clock) -> None:
    config = SimulatorConfig(throttle=ThrottleConfig(reads=Bucket(1, 1)))
    sim = Simulator(config, clock=clock)
    ok = call(sim, "GET", WS)
    assert ok.status == 200 and ok.headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"
    refused = call(sim, "GET", WS)
    assert refused.status == 429 and refused.headers["Retry-After"] == "1"
    assert refused.body["error"]["code"] == "SubscriptionRequestsThrottled"
    assert (
        call(sim, "PUT", WS + "/marketplaceSubscriptions/x", {}).status != 429
    )  # writes have their own bucket
    clock.t += 1
    assert call(sim, "GET", WS).status == 200


@pytest.mark.parametrize(
    "rule, message",
    [
        ({"status": 200}, "HTTP error status"),
        ({"status": 500, "rate": 2}, "'rate'"),
        ({"method": "GET"}, "needs 'status'"),
        ({"status": 500, "failOperation": True}, "not both"),
        ({"status": "500"}, "wrong type"),
        ({"bogus": 1}, "Unknown fault rule field"),
        ([1], "must be a JSON object"),
    ],
)
def test_invalid_fault_rules_are_refused(rule: Any, message: str) -> None:
    with pytest.raises(ArmError, match=message):
        Faults().add(rule)


def test_counted_fault_fires_exactly_count_times() -> None:
    faults = Faults()
    faults.add({"method": "PUT", "resourceType": "serverlessEndpoints", "status": 503, "count": 2})
    fired = [faults.fire("PUT", "serverlessEndpoints", "", "e").error is not None for _ in range(4)]
    assert fired == [True, True, False, False]
    assert faults.fire("GET", "serverlessEndpoints", "", "e").error is None


# -- long-running operations --------------------------------------------------------------------


def test_operations_finish_when_their_time_comes(sim: Simulator, clock: Clock) -> None:
    put = call(
        sim,
        "PUT",
        WS + "/serverlessEndpoints/phi",
        {"location": "eastus2", "properties": {"modelSettings": {"modelId": PHI}}},
    )
    assert put.status == 201 and put.body["properties"]["provisioningState"] == "Creating"
    status_url = put.headers["Azure-AsyncOperation"].removeprefix("https://127.0.0.1:9").split("?")[0]
    assert call(sim, "GET", status_url).body["status"] == "InProgress"
    clock.t += sim.config.duration("serverless_create")
    doc = call(sim, "GET", status_url).body
    assert doc["status"] == "Succeeded" and "endTime" in doc
    assert (
        call(sim, "GET", WS + "/serverlessEndpoints/phi").body["properties"]["provisioningState"]
        == "Succeeded"
    )


def test_failed_delete_is_reported_on_the_location_url(sim: Simulator, clock: Clock) -> None:
    call(
        sim,
        "PUT",
        WS + "/serverlessEndpoints/phi",
        {"location": "eastus2", "properties": {"modelSettings": {"modelId": PHI}}},
    )
    clock.t += 3600
    sim.faults.add({"method": "DELETE", "failOperation": True, "code": "Stuck", "message": "cannot delete"})
    delete = call(sim, "DELETE", WS + "/serverlessEndpoints/phi")
    result_url = delete.headers["Location"].removeprefix("https://127.0.0.1:9").split("?")[0]
    assert call(sim, "GET", result_url).status == 202
    clock.t += 3600
    failed = call(sim, "GET", result_url)
    assert failed.status == 400 and failed.body["error"] == {
        **failed.body["error"],
        "code": "Stuck",
        "message": "cannot delete",
    }
    props = call(sim, "GET", WS + "/serverlessEndpoints/phi").body["properties"]
    assert (props["provisioningState"], props["endpointState"]) == ("Failed", "DeletionFailed")


def test_state_file_round_trip_keeps_operations_in_flight(tmp_path: Path, clock: Clock) -> None:
    state_file = tmp_path / "state.json"
    first = Simulator(SimulatorConfig(), state_file=state_file, clock=clock)
    call(
        first,
        "PUT",
        WS + "/serverlessEndpoints/phi",
        {"location": "eastus2", "properties": {"modelSettings": {"modelId": PHI}}},
    )
    keys = call(first, "POST", WS + "/serverlessEndpoints/phi/listKeys").body
    second = Simulator(SimulatorConfig(), state_file=state_file, clock=clock)
    assert (
        call(second, "GET", WS + "/serverlessEndpoints/phi").body["properties"]["provisioningState"]
        == "Creating"
    )
    clock.t += 3600
    assert (
        call(second, "GET", WS + "/serverlessEndpoints/phi").body["properties"]["provisioningState"]
        == "Succeeded"
    )
    assert call(second, "POST", WS + "/serverlessEndpoints/phi/listKeys").body == keys


def test_admission_errors(sim: Simulator) -> None:
    assert call(sim, "GET", WS, token=None).body["error"]["code"] == "AuthenticationFailed"
    assert call(sim, "GET", WS, api=None).body["error"]["code"] == "MissingApiVersionParameter"
    assert call(sim, "GET", WS, api="latest").body["error"]["code"] == "InvalidApiVersionParameter"
    assert call(sim, "PUT", WS, {}).status == 405
