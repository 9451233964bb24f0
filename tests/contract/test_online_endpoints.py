"""Managed online endpoints through the SDK: lifecycle, keys and tokens, the entity it parses, and
each service rule (azure-ml-service-rules.md §3, §10) violated once."""

from __future__ import annotations

import urllib.error
from collections.abc import Iterator

import pytest
import requests
from azure.ai.ml.entities import EndpointAuthKeys, EndpointAuthToken, ManagedOnlineEndpoint
from azure.ai.ml.exceptions import MlException, ValidationException
from azure.core.exceptions import ResourceNotFoundError
from online_setup import (
    WS,
    arm,
    finish,
    keys,
    put_deployment,
    put_endpoint,
    ready_endpoint,
    requests_sent,
    score,
    scoring_uri,
)
from sdk_errors import expect_arm_error

from azureml_standins.simulator.config import DEFAULT_SUBSCRIPTION
from azureml_standins.simulator.process import SimulatorProcess

# -- lifecycle -----------------------------------------------------------------------------------


def test_create_get_list_round_trip(ml, sim) -> None:
    created = ml.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name="oe-round", auth_mode="key", description="d", tags={"t": "1"})
    ).result()
    assert isinstance(created, ManagedOnlineEndpoint)
    assert created.name == "oe-round"
    assert created.provisioning_state == "Succeeded"
    assert created.auth_mode == "key"
    assert created.location == "eastus2"
    assert created.description == "d" and created.tags == {"t": "1"}
    assert created.scoring_uri == f"{sim.base_url}/online/eastus2/oe-round/score"
    assert created.openapi_uri == f"{sim.base_url}/online/eastus2/oe-round/swagger.json"
    assert created.traffic == {} and created.mirror_traffic == {}
    assert created.id == f"{WS}/onlineEndpoints/oe-round"
    # Keys are a create-only secret: always returned as null, read through listKeys.
    assert arm(sim, "GET", "onlineEndpoints/oe-round").json()["properties"]["keys"] is None

    # Deployments that take no traffic appear in the entity's traffic with weight 0: the SDK adds them
    # from the deployments list, which the simulator must therefore serve.
    for dep in ("blue", "green", "red"):
        put_deployment(sim, "oe-round", dep)
    finish(sim)
    put_endpoint(sim, "oe-round", traffic={"blue": 100}, mirror={"green": 10})
    finish(sim)
    fetched = ml.online_endpoints.get("oe-round")
    assert fetched.traffic == {"blue": 100, "red": 0}  # green is mirrored, so not added
    assert fetched.mirror_traffic == {"green": 10}
    assert fetched.provisioning_state == "Succeeded"
    assert [e.name for e in ml.online_endpoints.list()] == ["oe-round"]


def test_delete_removes_the_endpoint_and_its_deployments(ml, sim) -> None:
    ready_endpoint(sim, "oe-gone", ("blue", "green"), traffic={"blue": 100})
    # Deleting an endpoint deletes its deployments, even one with live traffic.
    ml.online_endpoints.begin_delete("oe-gone").result()
    with pytest.raises(ResourceNotFoundError):
        ml.online_endpoints.get("oe-gone")
    with pytest.raises(ResourceNotFoundError):
        ml.online_deployments.get("blue", "oe-gone")
    assert sim.admin("GET", "stats")["resources"] == {}
    assert requests_sent(sim, "DELETE onlineEndpoints") == 1
    assert requests_sent(sim, "DELETE onlineEndpoints/deployments") == 0
    # A name freed by deletion can be taken again.
    put_endpoint(sim, "oe-gone")


def test_deleting_a_missing_endpoint_is_a_no_op(ml) -> None:
    ml.online_endpoints.begin_delete("never-existed").result()


def test_missing_endpoint_is_not_found(ml) -> None:
    expect_arm_error(lambda: ml.online_endpoints.get("no-such-ep"), 404, "ResourceNotFound", "no-such-ep")


# -- keys and tokens -----------------------------------------------------------------------------


def test_key_auth_lists_and_regenerates_keys(ml, sim) -> None:
    ml.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name="oe-keys", auth_mode="key")
    ).result()
    before = ml.online_endpoints.get_keys("oe-keys")
    assert isinstance(before, EndpointAuthKeys)
    assert len(before.primary_key) == 32 and len(before.secondary_key) == 32
    assert before.primary_key != before.secondary_key
    swagger = scoring_uri(sim, "oe-keys").replace("/score", "/swagger.json")
    assert _get(swagger, sim, before.primary_key).status_code == 200

    ml.online_endpoints.begin_regenerate_keys("oe-keys").result()
    after = ml.online_endpoints.get_keys("oe-keys")
    assert after.primary_key != before.primary_key, "regenerating the primary key must change it"
    assert after.secondary_key == before.secondary_key
    assert _get(swagger, sim, before.primary_key).status_code == 401
    assert _get(swagger, sim, after.primary_key).status_code == 200
    assert _get(swagger, sim, after.secondary_key).status_code == 200

    ml.online_endpoints.begin_regenerate_keys("oe-keys", key_type="secondary").result()
    last = ml.online_endpoints.get_keys("oe-keys")
    assert last.primary_key == after.primary_key and last.secondary_key != after.secondary_key
    assert requests_sent(sim, "POST onlineEndpoints/regenerateKeys") == 2


def test_key_endpoint_issues_no_tokens(sim) -> None:
    put_endpoint(sim, "oe-notok")
    r = arm(sim, "POST", "onlineEndpoints/oe-notok/token")
    assert r.status_code == 400 and r.json()["error"]["code"] == "UserError"
    assert "tokens are issued only for auth mode 'AMLToken'" in r.json()["error"]["message"]


def test_aml_token_auth(ml, sim) -> None:
    ready_endpoint(sim, "oe-token", ("blue",), auth_mode="AMLToken", traffic={"blue": 100})
    ready_endpoint(sim, "oe-other", ("blue",), auth_mode="AMLToken", traffic={"blue": 100})
    endpoint = ml.online_endpoints.get("oe-token")
    assert endpoint.auth_mode == "aml_token"

    token = ml.online_endpoints.get_keys("oe-token")
    assert isinstance(token, EndpointAuthToken)
    assert token.token_type == "Bearer"
    assert token.refresh_after_time_utc < token.expiry_time_utc
    assert requests_sent(sim, "POST onlineEndpoints/token") == 1
    assert requests_sent(sim, "POST onlineEndpoints/listKeys") == 0

    assert score(endpoint.scoring_uri, sim, token.access_token).status_code == 200
    # A token is bound to its endpoint.
    assert score(scoring_uri(sim, "oe-other"), sim, token.access_token).status_code == 401
    # Key auth is refused: the endpoint lists no keys, and a key is no token.
    r = arm(sim, "POST", "onlineEndpoints/oe-token/listKeys")
    assert r.status_code == 400 and r.json()["error"]["code"] == "UserError"
    assert "keys exist only for auth mode 'Key'" in r.json()["error"]["message"]
    put_endpoint(sim, "oe-keyed")
    assert score(endpoint.scoring_uri, sim, keys(sim, "oe-keyed")["primaryKey"]).status_code == 401
    with pytest.raises(ValidationException, match="does not use keys"):
        ml.online_endpoints.begin_regenerate_keys("oe-token")
    # Tokens expire (after an hour).
    sim.admin("POST", "clock", {"advanceSeconds": 3601})
    assert score(endpoint.scoring_uri, sim, token.access_token).status_code == 401
    fresh = ml.online_endpoints.get_keys("oe-token")
    assert score(endpoint.scoring_uri, sim, fresh.access_token).status_code == 200


# -- names ---------------------------------------------------------------------------------------

BAD_LENGTH = ["ab", "a" * 33]
BAD_PATTERN = ["1abc", "abc-", "ab_cd", "ab.cd"]


@pytest.mark.parametrize("name", BAD_LENGTH)
def test_name_length_rule(ml, sim, name: str) -> None:
    _name_refused(ml, sim, name)


@pytest.mark.parametrize("name", BAD_PATTERN)
def test_name_pattern_rule(ml, sim, name: str) -> None:
    _name_refused(ml, sim, name)


def _name_refused(ml, sim, name: str) -> None:  # type: ignore[no-untyped-def]
    # The SDK checks names client side and sends nothing; the service enforces the same rule.
    with pytest.raises(MlException):
        ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name=name, auth_mode="key"))
    assert requests_sent(sim, "PUT onlineEndpoints") == 0
    r = arm(sim, "PUT", f"onlineEndpoints/{name}", {"location": "eastus2", "properties": {"authMode": "Key"}})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "UserError"
    assert "is invalid: it must be 3-32 characters" in r.json()["error"]["message"]


def test_names_at_the_length_limits_are_accepted(sim) -> None:
    for name in ("abc", "a" * 31 + "1"):
        r = arm(
            sim, "PUT", f"onlineEndpoints/{name}", {"location": "eastus2", "properties": {"authMode": "Key"}}
        )
        assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def two_region_sim(simulator: SimulatorProcess) -> Iterator[SimulatorProcess]:
    """A simulator of its own with a second eastus2 workspace and a westus2 one (the session's
    simulator has only ws-sim). It shares the session's CA, so REQUESTS_CA_BUNDLE stays valid."""
    proc = SimulatorProcess(
        latency_scale=0.002,
        cert_dir=simulator.cert_dir,
        extra_args=[
            "--workspace",
            f"{DEFAULT_SUBSCRIPTION}/rg-two/ws-two@eastus2",
            "--workspace",
            f"{DEFAULT_SUBSCRIPTION}/rg-west/ws-west@westus2",
        ],
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.close()


def test_endpoint_names_are_unique_per_region(two_region_sim: SimulatorProcess) -> None:
    sim = two_region_sim
    home = sim.ml_client(retry_total=0)
    same_region = sim.ml_client(resource_group="rg-two", workspace="ws-two", retry_total=0)
    other_region = sim.ml_client(resource_group="rg-west", workspace="ws-west", retry_total=0)
    home.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name="Shared-Name", auth_mode="key")
    ).result()
    # The name is part of the scoring host name, so it is taken region-wide, case-insensitively.
    expect_arm_error(
        lambda: same_region.online_endpoints.begin_create_or_update(
            ManagedOnlineEndpoint(name="shared-name", auth_mode="key")
        ).result(),
        409,
        "Conflict",
        "already exists in region 'eastus2'",
    )
    west = other_region.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name="shared-name", auth_mode="key")
    ).result()
    assert west.location == "westus2"
    assert west.scoring_uri == f"{sim.base_url}/online/westus2/shared-name/score"


# -- traffic -------------------------------------------------------------------------------------


def _set_traffic(ml, traffic: dict[str, int], mirror: dict[str, int] | None = None, name: str = "oe-traffic"):  # type: ignore[no-untyped-def]
    return ml.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name=name, auth_mode="key", traffic=traffic, mirror_traffic=mirror or {})
    ).result()


def test_traffic_must_sum_to_100(ml, sim) -> None:
    ready_endpoint(sim, "oe-traffic", ("blue", "green"))
    expect_arm_error(lambda: _set_traffic(ml, {"blue": 60, "green": 30}), 400, "UserError", "they sum to 90")
    expect_arm_error(lambda: _set_traffic(ml, {"blue": 60, "green": 50}), 400, "UserError", "they sum to 110")
    assert ml.online_endpoints.get("oe-traffic").traffic == {"blue": 0, "green": 0}


def test_traffic_may_sum_to_0(ml, sim) -> None:
    ready_endpoint(sim, "oe-traffic", ("blue",), traffic={"blue": 100})
    # Zero weights are stripped by the SDK: {"blue": 0} goes out as {} and disables traffic.
    updated = _set_traffic(ml, {"blue": 0})
    assert updated.provisioning_state == "Succeeded"
    assert ml.online_endpoints.get("oe-traffic").traffic == {"blue": 0}
    assert arm(sim, "GET", "onlineEndpoints/oe-traffic").json()["properties"]["traffic"] == {}


def test_traffic_names_only_existing_deployments(ml, sim) -> None:
    ready_endpoint(sim, "oe-traffic", ("blue",))
    err = expect_arm_error(
        lambda: _set_traffic(ml, {"blue": 50, "ghost": 50}),
        400,
        "UserError",
        "Deployment ghost not found in endpoint oe-traffic, workspace ws-sim",
    )
    assert err.error.target == "properties.traffic"
    expect_arm_error(
        lambda: _set_traffic(ml, {"blue": 100}, {"ghost": 10}), 400, "UserError", "Deployment ghost not found"
    )
    # Traffic cannot be set before the deployment exists, not even at creation.
    expect_arm_error(
        lambda: _set_traffic(ml, {"blue": 100}, name="oe-fresh"),
        400,
        "UserError",
        "Deployment blue not found",
    )


def test_mirror_traffic_sums_to_at_most_50(ml, sim) -> None:
    ready_endpoint(sim, "oe-traffic", ("blue", "green"))
    expect_arm_error(
        lambda: _set_traffic(ml, {"blue": 100}, {"green": 51}), 400, "UserError", "at most 50; they sum to 51"
    )
    r = arm(sim, "PUT", "onlineEndpoints/oe-traffic", _endpoint({"blue": 100}, {"green": 50}))
    assert r.status_code == 200, r.text


def test_mirror_traffic_targets_one_deployment(ml, sim) -> None:
    ready_endpoint(sim, "oe-traffic", ("blue", "green", "red"))
    expect_arm_error(
        lambda: _set_traffic(ml, {"blue": 100}, {"green": 10, "red": 10}),
        400,
        "UserError",
        "Mirror traffic can target only one deployment",
    )


def test_mirror_target_takes_no_live_traffic(ml, sim) -> None:
    ready_endpoint(sim, "oe-traffic", ("blue", "green"))
    expect_arm_error(
        lambda: _set_traffic(ml, {"blue": 90, "green": 10}, {"green": 10}),
        400,
        "UserError",
        "green cannot receive both live and mirrored traffic",
    )


# -- other update rules --------------------------------------------------------------------------


def test_endpoint_properties_can_be_added_but_not_altered(ml, sim) -> None:
    put_endpoint(sim, "oe-props", properties={"team": "a"})
    finish(sim)
    expect_arm_error(
        lambda: ml.online_endpoints.begin_create_or_update(
            ManagedOnlineEndpoint(name="oe-props", auth_mode="key", properties={"team": "b"})
        ).result(),
        400,
        "UserError",
        "Endpoint property 'team' can be added but not removed or altered",
    )


def test_operation_in_flight_conflicts(ml, sim) -> None:
    sim.admin("POST", "latency", {"scale": 1})  # hold the creation in flight
    put_endpoint(sim, "oe-busy")
    assert ml.online_endpoints.get("oe-busy").provisioning_state == "Creating"
    expect_arm_error(
        lambda: ml.online_endpoints.begin_create_or_update(
            ManagedOnlineEndpoint(name="oe-busy", auth_mode="key", description="changed")
        ),
        409,
        "Conflict",
        "operation is in progress",
    )
    expect_arm_error(
        lambda: ml.online_endpoints.begin_regenerate_keys("oe-busy"),
        409,
        "Conflict",
        "operation is in progress",
    )
    expect_arm_error(
        lambda: ml.online_endpoints.begin_delete("oe-busy"), 409, "Conflict", "operation is in progress"
    )
    finish(sim)
    assert ml.online_endpoints.get("oe-busy").provisioning_state == "Succeeded"


# -- helpers -------------------------------------------------------------------------------------


def _endpoint(traffic: dict[str, int], mirror: dict[str, int]) -> dict:
    return {
        "location": "eastus2",
        "properties": {"authMode": "Key", "traffic": traffic, "mirrorTraffic": mirror},
    }


def _get(url: str, sim, key: str) -> requests.Response:  # type: ignore[no-untyped-def]
    return requests.get(url, headers={"Authorization": f"Bearer {key}"}, verify=str(sim.ca), timeout=30)


def test_token_lifetime_is_a_knob_for_tokens_issued_from_then_on(ml, sim) -> None:
    ready_endpoint(sim, "oe-short", ("blue",), auth_mode="AMLToken", traffic={"blue": 100})
    long_lived = ml.online_endpoints.get_keys("oe-short")
    assert sim.admin("POST", "tokens", {"lifetimeSeconds": 40}) == {"lifetimeSeconds": 40}
    short = ml.online_endpoints.get_keys("oe-short")
    issued = int(sim.admin("POST", "clock", {"advanceSeconds": 0})["now"])
    assert issued + 38 <= short.expiry_time_utc <= issued + 40
    assert short.refresh_after_time_utc == short.expiry_time_utc - 20
    uri = ml.online_endpoints.get("oe-short").scoring_uri
    sim.admin("POST", "clock", {"advanceSeconds": 41})
    assert score(uri, sim, short.access_token).status_code == 401
    assert score(uri, sim, long_lived.access_token).status_code == 200  # issued before: still an hour
    with pytest.raises(urllib.error.HTTPError, match="400"):
        sim.admin("POST", "tokens", {"lifetimeSeconds": 1})
