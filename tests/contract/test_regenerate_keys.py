"""The operator's regenerateKeys calls (`regenerate_keys` in azure/serverless.py and azure/online.py)
against the simulator, with the product's real Connection, and the real azure-ai-ml SDK as the
observer: the request is the one the service documents ({"keyType": ...}, no keyValue), a serverless
endpoint's new key is there at once, an online endpoint's once its long-running operation is done
(which the call does not wait for), and an endpoint without Key auth is refused."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from azure.ai.ml.entities import ServerlessEndpoint
from polling import eventually

from azureml_operator.azure.client import Connection, DesiredOnlineEndpoint
from azureml_operator.azure.online import OnlineEndpoints
from azureml_operator.azure.serverless import ServerlessEndpoints
from azureml_operator.errors import Terminal
from azureml_standins.simulator.process import SimulatorProcess

PHI = "azureml://registries/azureml/models/Phi-4-mini-instruct"


def endpoint(auth_mode: str) -> DesiredOnlineEndpoint:
    return DesiredOnlineEndpoint(
        auth_mode=auth_mode,
        public_network_access="Enabled",
        description=None,
        tags={"azureml.dev-owner-uid": "u-1"},
        traffic={},
        mirror_traffic={},
    )


def test_a_serverless_endpoint_has_its_new_secondary_key_at_once(
    ml: Any, sim: SimulatorProcess, conn: Connection, wire: list[tuple[str, str, Any]]
) -> None:
    sim.admin("POST", "latency", {"scale": 0.00001})
    ml.serverless_endpoints.begin_create_or_update(ServerlessEndpoint(name="rk-phi", model_id=PHI)).result()
    before = ml.serverless_endpoints.get_keys("rk-phi")
    api = ServerlessEndpoints(conn)

    asyncio.run(api.regenerate_keys("rk-phi", "Secondary"))

    after = ml.serverless_endpoints.get_keys("rk-phi")
    assert after.primary_key == before.primary_key
    assert after.secondary_key not in (before.secondary_key, None)
    assert asyncio.run(api.keys("rk-phi")).secondary == after.secondary_key
    asyncio.run(api.regenerate_keys("rk-phi", "Primary"))
    assert ml.serverless_endpoints.get_keys("rk-phi").primary_key != before.primary_key
    posts = regenerations(wire)
    assert [body for _, body in posts] == [{"keyType": "Secondary"}, {"keyType": "Primary"}]
    assert all("api-version=2024-01-01-preview" in url for url, _ in posts)


def test_an_online_endpoint_gets_its_new_key_when_the_operation_is_done_which_is_not_waited_for(
    ml: Any, sim: SimulatorProcess, conn: Connection, wire: list[tuple[str, str, Any]]
) -> None:
    async def run() -> None:
        api = OnlineEndpoints(conn)
        await api.begin_put("rk-online", endpoint("Key"))
        await eventually(lambda: api.get("rk-online"), lambda e: e.provisioning_state == "Succeeded")
        before = await api.keys("rk-online")
        # Long enough to see the operation in flight after the call returned.
        sim.admin("POST", "latency", {"scale": 1.0})

        await api.regenerate_keys("rk-online", "Secondary")

        busy = await api.get("rk-online")
        assert busy is not None and busy.provisioning_state == "Updating"
        assert await api.keys("rk-online") == before  # the old keys still work meanwhile
        sim.admin("POST", "clock", {"advanceSeconds": 60})
        after = await api.keys("rk-online")
        assert after.primary == before.primary and after.secondary != before.secondary
        sdk = ml.online_endpoints.get_keys("rk-online")
        assert (sdk.primary_key, sdk.secondary_key) == (after.primary, after.secondary)

    asyncio.run(run())
    posts = regenerations(wire)
    assert [body for _, body in posts] == [{"keyType": "Secondary"}]
    assert "api-version=2022-02-01-preview" in posts[0][0]


def test_an_aml_token_endpoint_has_no_keys_to_regenerate(conn: Connection) -> None:
    async def run() -> None:
        api = OnlineEndpoints(conn)
        await api.begin_put("rk-token", endpoint("AMLToken"))
        await eventually(lambda: api.get("rk-token"), lambda e: e.provisioning_state == "Succeeded")
        with pytest.raises(Terminal, match="keys exist only for auth mode 'Key'"):
            await api.regenerate_keys("rk-token", "Secondary")

    asyncio.run(run())


def regenerations(wire: list[tuple[str, str, Any]]) -> list[tuple[str, Any]]:
    """The URL and JSON body of every regenerateKeys POST sent."""
    return [(url, body) for method, url, body in wire if method == "POST" and "/regenerateKeys" in url]
