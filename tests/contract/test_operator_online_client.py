"""The operator's own Azure calls for online endpoints and deployments (`azure/online.py`), plain
ARM, against the simulator with the product's real Connection: the bodies it PUTs are what the
service takes, and what it reads back (traffic maps with their zero shares, the instance count, a
failed deployment's reason) is what Azure holds."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest
from online_setup import INSTANCE_TYPE, MODEL, WS, requests_sent
from polling import eventually

from azureml_operator.azure.client import (
    Connection,
    DesiredOnlineDeployment,
    DesiredOnlineEndpoint,
    ObservedOnlineDeployment,
    ObservedOnlineEndpoint,
)
from azureml_operator.azure.online import OnlineDeployments, OnlineEndpoints
from azureml_operator.errors import NotFound, Terminal
from azureml_standins.simulator.process import SimulatorProcess

TAGS = {"azureml.dev-owner-uid": "u-1"}
ENDPOINT = DesiredOnlineEndpoint(
    auth_mode="Key",
    public_network_access="Enabled",
    description="chat",
    tags=TAGS,
    traffic={},
    mirror_traffic={},
)
DEPLOYMENT = DesiredOnlineDeployment(
    model=MODEL,
    environment=None,
    code_id=None,
    scoring_script=None,
    instance_type=INSTANCE_TYPE,
    instance_count=1,
    request_settings={},
    liveness_probe=None,
    readiness_probe=None,
    environment_variables={},
    app_insights_enabled=False,
    egress_public_network_access="Enabled",
    tags=TAGS,
)
WITHIN = 15  # seconds; a deployment create takes 0.6 s at the contract tests' latency scale


def puts(wire: list[tuple[str, str, Any]], suffix: str) -> list[Any]:
    """The bodies of the PUTs to the resource whose ARM path ends with `suffix`."""
    return [body for method, url, body in wire if method == "PUT" and url.split("?")[0].endswith(suffix)]


async def settled_endpoint(api: OnlineEndpoints, name: str) -> ObservedOnlineEndpoint:
    got = await eventually(lambda: api.get(name), lambda e: e.provisioning_state == "Succeeded", WITHIN)
    assert got is not None and got.provisioning_state == "Succeeded", got
    return got


async def settled_deployment(api: OnlineDeployments, endpoint: str, name: str) -> ObservedOnlineDeployment:
    def done(d: ObservedOnlineDeployment | None) -> bool:
        return d is not None and d.provisioning_state in ("Succeeded", "Failed")

    got = await eventually(lambda: api.get(endpoint, name), done, WITHIN)
    assert got is not None and done(got), got
    return got


async def ready(
    conn: Connection, endpoint: str, *deployments: str, desired: DesiredOnlineEndpoint = ENDPOINT
) -> None:
    eps, deps = OnlineEndpoints(conn), OnlineDeployments(conn)
    await eps.begin_put(endpoint, desired)
    await settled_endpoint(eps, endpoint)
    for name in deployments:
        await deps.begin_put(endpoint, name, DEPLOYMENT)
    for name in deployments:
        assert (await settled_deployment(deps, endpoint, name)).provisioning_state == "Succeeded"


def test_blue_green_traffic_and_mirror_are_put_whole_and_read_back_as_azure_holds_them(
    sim: SimulatorProcess, conn: Connection, wire: list[tuple[str, str, Any]]
) -> None:
    async def run() -> None:
        eps, deps = OnlineEndpoints(conn), OnlineDeployments(conn)
        assert await eps.get("oc-chat") is None
        await eps.begin_put("oc-chat", ENDPOINT)
        ep = await settled_endpoint(eps, "oc-chat")
        assert (ep.id, ep.name, ep.auth_mode, ep.public_network_access, ep.description, ep.tags) == (
            f"{WS}/onlineEndpoints/oc-chat",
            "oc-chat",
            "Key",
            "Enabled",
            "chat",
            TAGS,
        )
        assert ep.scoring_uri == f"{sim.base_url}/online/eastus2/oc-chat/score"
        assert ep.openapi_uri == f"{sim.base_url}/online/eastus2/oc-chat/swagger.json"
        assert (ep.traffic, ep.mirror_traffic) == ({}, {})

        for name in ("blue", "green"):
            await deps.begin_put("oc-chat", name, DEPLOYMENT)
        blue = await settled_deployment(deps, "oc-chat", "blue")
        assert blue.provisioning_state == "Succeeded" and blue.failure is None
        assert (blue.id, blue.name, blue.model, blue.environment) == (
            f"{WS}/onlineEndpoints/oc-chat/deployments/blue",
            "blue",
            MODEL,
            None,
        )
        assert (blue.instance_type, blue.instance_count, blue.egress_public_network_access) == (
            INSTANCE_TYPE,
            1,
            "Enabled",
        )
        assert blue.tags == TAGS and blue.request_settings == {} and not blue.app_insights_enabled
        await settled_deployment(deps, "oc-chat", "green")
        assert [d.name for d in await deps.list("oc-chat")] == ["blue", "green"]

        await eps.begin_put("oc-chat", replace(ENDPOINT, traffic={"blue": 90, "green": 10}))
        ep = await settled_endpoint(eps, "oc-chat")
        assert (ep.traffic, ep.mirror_traffic) == ({"blue": 90, "green": 10}, {})

        # The zero share goes out and comes back: Azure's map, not one with zeros stripped or added.
        shifted = replace(ENDPOINT, traffic={"blue": 100, "green": 0}, mirror_traffic={"green": 10})
        await eps.begin_put("oc-chat", shifted)
        ep = await settled_endpoint(eps, "oc-chat")
        assert (ep.traffic, ep.mirror_traffic) == ({"blue": 100, "green": 0}, {"green": 10})

        sent = puts(wire, "/onlineEndpoints/oc-chat")
        assert [b["properties"]["traffic"] for b in sent if "traffic" in b["properties"]][-2:] == [
            {"blue": 90, "green": 10},
            {"blue": 100, "green": 0},
        ]
        assert sent[-1] == {
            "location": "eastus2",
            "identity": {"type": "SystemAssigned"},
            "tags": TAGS,
            "properties": {
                "authMode": "Key",
                "publicNetworkAccess": "Enabled",
                "properties": {},
                "traffic": {"blue": 100, "green": 0},
                "mirrorTraffic": {"green": 10},
                "description": "chat",
            },
        }
        assert sent[1]["properties"]["mirrorTraffic"] == {}  # an empty mirror is sent, not left out
        assert all(b["identity"] == {"type": "SystemAssigned"} for b in sent)
        assert [b["sku"] for b in puts(wire, "/blue") + puts(wire, "/green")] == [
            {"name": "Default", "capacity": 1}
        ] * 2

        keys = await eps.keys("oc-chat")
        assert keys.primary and keys.secondary and keys.primary != keys.secondary
        with pytest.raises(Terminal, match="tokens are issued only for auth mode 'AMLToken'"):
            await eps.token("oc-chat")

    asyncio.run(run())


def test_an_aml_token_endpoint_hands_out_tokens_that_expire_in_the_future(conn: Connection) -> None:
    async def run() -> None:
        eps = OnlineEndpoints(conn)
        await eps.begin_put("oc-token", replace(ENDPOINT, auth_mode="AMLToken"))
        assert (await settled_endpoint(eps, "oc-token")).auth_mode == "AMLToken"
        now = time.time()
        token = await eps.token("oc-token")
        assert token.access_token
        assert token.expires_at > now and now < token.refresh_after <= token.expires_at
        assert token.access_token not in repr(token)
        with pytest.raises(Terminal, match="keys exist only for auth mode 'Key'"):
            await eps.keys("oc-token")

    asyncio.run(run())


def test_a_deployment_is_scaled_and_an_unchanged_put_starts_nothing(
    sim: SimulatorProcess, conn: Connection
) -> None:
    async def run() -> None:
        await ready(conn, "oc-scale", "blue")
        deps = OnlineDeployments(conn)
        settings = {"maxConcurrentRequestsPerInstance": 2, "requestTimeout": "PT10S"}
        scaled = replace(
            DEPLOYMENT, instance_count=3, request_settings=settings, environment_variables={"K": "V"}
        )
        await deps.begin_put("oc-scale", "blue", scaled)
        got = await settled_deployment(deps, "oc-scale", "blue")
        assert (got.provisioning_state, got.instance_count) == ("Succeeded", 3)
        assert got.request_settings == settings and got.environment_variables == {"K": "V"}
        before = requests_sent(sim, "GET operations")
        await deps.begin_put("oc-scale", "blue", scaled)  # the same body again: nothing to do
        assert (await deps.get("oc-scale", "blue")) == got
        assert requests_sent(sim, "GET operations") == before  # a healthy deployment costs one GET

    asyncio.run(run())


def test_a_failed_deployment_reports_azures_code_and_message(sim: SimulatorProcess, conn: Connection) -> None:
    message = "Image build failed: conda env could not be solved."
    sim.admin(
        "POST",
        "faults",
        {
            "method": "PUT",
            "resourceType": "onlineEndpoints/deployments",
            "name": "red",
            "failOperation": True,
            "code": "ImageBuildFailure",
            "message": message,
        },
    )

    async def run() -> None:
        await ready(conn, "oc-fail", "blue")
        deps = OnlineDeployments(conn)
        await deps.begin_put("oc-fail", "red", DEPLOYMENT)
        red = await settled_deployment(deps, "oc-fail", "red")
        assert red.provisioning_state == "Failed"
        assert red.failure == f"ImageBuildFailure: {message}"
        listed = {d.name: d.failure for d in await deps.list("oc-fail")}
        assert listed == {"blue": None, "red": f"ImageBuildFailure: {message}"}

    asyncio.run(run())


def test_a_deployment_over_the_quota_fails_with_out_of_quota(conn: Connection) -> None:
    # The session's simulator holds 120 instances a region; 50 need 60 with the upgrade reserve.
    async def run() -> None:
        await ready(conn, "oc-full")
        deps = OnlineDeployments(conn)
        big = replace(DEPLOYMENT, instance_count=50)
        for name in ("first", "second"):
            await deps.begin_put("oc-full", name, big)
        for name in ("first", "second"):
            assert (await settled_deployment(deps, "oc-full", name)).failure is None
        await deps.begin_put("oc-full", "third", big)
        third = await settled_deployment(deps, "oc-full", "third")
        assert third.provisioning_state == "Failed"
        assert third.failure is not None
        assert third.failure.startswith("OutOfQuota: Not enough quota available for Standard_DS3_v2")

    asyncio.run(run())


def test_workspace_short_references_go_out_as_arm_ids(
    conn: Connection, wire: list[tuple[str, str, Any]]
) -> None:
    async def run() -> None:
        await ready(conn, "oc-refs")
        deps = OnlineDeployments(conn)
        ws = await conn.get_workspace()
        custom = replace(
            DEPLOYMENT,
            model="azureml:my-model:3",
            environment="azureml:my-env:2",
            code_id="azureml:my-code:1",
            scoring_script="score.py",
        )
        await deps.begin_put("oc-refs", "custom", custom)
        got = await settled_deployment(deps, "oc-refs", "custom")
        assert got.provisioning_state == "Succeeded"
        assert got.model is not None and got.model.lower() == f"{WS}/models/my-model/versions/3".lower()
        assert got.environment is not None
        assert got.environment.lower() == f"{WS}/environments/my-env/versions/2".lower()
        sent = puts(wire, "/deployments/custom")[-1]["properties"]
        assert sent["codeConfiguration"] == {
            "codeId": f"{WS}/codes/my-code/versions/1",
            "scoringScript": "score.py",
        }
        assert "requestSettings" not in sent and "livenessProbe" not in sent and "readinessProbe" not in sent

        # A fine-tuned model named the Foundry way, in this workspace: deployed by its ARM id.
        foundry = f"azureml://locations/{ws.location}/workspaces/{ws.workspace_id}/models/phi4-ft/versions/2"
        await deps.begin_put("oc-refs", "tuned", replace(DEPLOYMENT, model=foundry))
        tuned = await settled_deployment(deps, "oc-refs", "tuned")
        assert tuned.model is not None and tuned.model.lower() == f"{WS}/models/phi4-ft/versions/2".lower()

    asyncio.run(run())


def test_deletes(sim: SimulatorProcess, conn: Connection) -> None:
    async def run() -> None:
        eps, deps = OnlineEndpoints(conn), OnlineDeployments(conn)
        await ready(conn, "oc-del", "blue", "green")
        await eps.begin_put("oc-del", replace(ENDPOINT, traffic={"blue": 100, "green": 0}))
        await settled_endpoint(eps, "oc-del")
        with pytest.raises(Terminal, match="has 100% live traffic and cannot be deleted"):
            await deps.begin_delete("oc-del", "blue")
        await deps.begin_delete("oc-del", "green")
        gone = await eventually(lambda: deps.get("oc-del", "green"), lambda d: d is None, WITHIN)
        assert gone is None
        # Azure drops the deleted deployment's zero share from the endpoint's map.
        assert (await settled_endpoint(eps, "oc-del")).traffic == {"blue": 100}
        await deps.begin_delete("oc-del", "never-existed")  # already gone: nothing to do

        await eps.begin_delete("oc-del")
        assert await eventually(lambda: eps.get("oc-del"), lambda e: e is None, WITHIN) is None
        with pytest.raises(NotFound):
            await deps.list("oc-del")
        assert sim.admin("GET", "stats")["resources"] == {}
        await eps.begin_delete("oc-del")  # already gone: nothing to do

    asyncio.run(run())
