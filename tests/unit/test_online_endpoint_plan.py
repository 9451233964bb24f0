"""OnlineEndpoint's pure decisions (issue 9): which traffic maps Azure may be given now, what counts
as a difference, and what each observation calls for."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from azureml_operator.azure.client import DesiredOnlineEndpoint, ObservedOnlineEndpoint
from azureml_operator.kinds.online_endpoint import Action, Maps, differences, maps_now, plan, shares
from azureml_operator.reconcilers.common import Ownership

OURS = {"azureml.dev-owner-uid": "u"}


def observed(**kwargs: Any) -> ObservedOnlineEndpoint:
    base: dict[str, Any] = {
        "id": "/ws/onlineEndpoints/chat",
        "name": "chat",
        "provisioning_state": "Succeeded",
        "auth_mode": "Key",
        "public_network_access": "Enabled",
        "description": None,
        "scoring_uri": "https://chat.eastus2.inference.ml.azure.com/score",
        "openapi_uri": None,
        "traffic": {"blue": 100},
        "mirror_traffic": {},
        "tags": dict(OURS),
    }
    return ObservedOnlineEndpoint(**{**base, **kwargs})


def wanted(maps: Maps, **kwargs: Any) -> DesiredOnlineEndpoint:
    base: dict[str, Any] = {
        "auth_mode": "Key",
        "public_network_access": "Enabled",
        "description": None,
        "tags": dict(OURS),
        "traffic": maps.traffic,
        "mirror_traffic": maps.mirror_traffic,
    }
    return DesiredOnlineEndpoint(**{**base, **kwargs})


def test_zero_shares_are_no_shares() -> None:
    assert shares({"Blue": 100, "green": 0}) == {"blue": 100}


def test_the_declared_maps_apply_once_every_deployment_with_a_share_is_ready() -> None:
    maps = maps_now(
        traffic={"blue": 90, "green": 10, "old": 0},
        mirror_traffic={},
        ready={"blue", "GREEN"},
        deleting=(),
        in_azure=observed(),
    )
    assert maps == Maps({"blue": 90, "green": 10}, {}, ())


def test_until_then_azure_keeps_its_maps_and_the_wait_is_named() -> None:
    maps = maps_now(
        traffic={"blue": 90, "green": 10},
        mirror_traffic={},
        ready={"blue"},
        deleting=(),
        in_azure=observed(traffic={"blue": 100, "green": 0}),
    )
    assert maps == Maps({"blue": 100}, {}, ("green",))
    fresh = maps_now(traffic={"blue": 100}, mirror_traffic={}, ready=(), deleting=(), in_azure=None)
    assert fresh == Maps({}, {}, ("blue",))  # a new endpoint starts with no traffic at all


def test_a_mirror_waits_for_its_deployment_too() -> None:
    maps = maps_now(
        traffic={"blue": 100}, mirror_traffic={"green": 10}, ready={"blue"}, deleting=(), in_azure=observed()
    )
    assert maps.waiting_for == ("green",) and maps.mirror_traffic == {}


def test_a_mirror_to_a_deployment_being_deleted_is_dropped_first_even_while_waiting() -> None:
    in_azure = observed(mirror_traffic={"green": 10})
    maps = maps_now(
        traffic={"blue": 100},
        mirror_traffic={"green": 10},
        ready={"blue", "green"},
        deleting={"green"},
        in_azure=in_azure,
    )
    assert maps == Maps({"blue": 100}, {}, (), ("green",))
    waiting = maps_now(
        traffic={"blue": 50, "red": 50},
        mirror_traffic={"green": 10},
        ready={"blue"},
        deleting={"green"},
        in_azure=in_azure,
    )
    assert waiting.waiting_for == ("red",) and waiting.mirror_traffic == {}


def test_live_traffic_to_a_deployment_being_deleted_is_not_moved() -> None:
    maps = maps_now(
        traffic={"blue": 100}, mirror_traffic={}, ready={"blue"}, deleting={"blue"}, in_azure=observed()
    )
    assert maps.traffic == {"blue": 100}


def test_differences_ignore_zero_shares_and_others_tags() -> None:
    maps = Maps({"blue": 100}, {}, ())
    have = observed(traffic={"blue": 100, "green": 0}, tags={**OURS, "cost-center": "42"})
    assert differences(wanted(maps), have) == []
    moved = differences(wanted(Maps({"blue": 90, "green": 10}, {"red": 0}, ())), have)
    assert moved == ["traffic: {blue: 100} -> {blue: 90, green: 10}"]


def test_a_mirror_dropped_outside_kubernetes_is_a_difference() -> None:
    maps = Maps({"blue": 100}, {"green": 10}, ())
    assert differences(wanted(maps), observed()) == ["mirrorTraffic: {} -> {green: 10}"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"auth_mode": "AMLToken"}, "authMode: Key -> AMLToken"),
        ({"public_network_access": "Disabled"}, "publicNetworkAccess: Enabled -> Disabled"),
        ({"description": "chat"}, "description"),
        ({"tags": {"azureml.dev-owner-uid": "v"}}, "tag azureml.dev-owner-uid"),
    ],
)
def test_each_field_azure_holds_differently_is_named(change: dict[str, Any], expected: str) -> None:
    assert differences(wanted(Maps({"blue": 100}, {}, ()), **change), observed()) == [expected]


def step(maps: Maps, have: ObservedOnlineEndpoint | None, **kwargs: Any) -> Any:
    return plan(
        want=wanted(maps),
        maps=maps,
        name="chat",
        observed=have,
        owner=kwargs.pop("owner", Ownership.OURS),
        spec_changed_since_failure=kwargs.pop("changed", False),
    )


def test_what_each_observation_calls_for() -> None:
    ready = Maps({"blue": 100}, {}, ())
    assert step(ready, None).action is Action.CREATE
    assert step(ready, observed(), owner=Ownership.FOREIGN).action is Action.CONFLICT
    assert step(ready, observed(provisioning_state="Updating")).action is Action.WAIT
    assert step(ready, observed(provisioning_state="Failed")).action is Action.FAILED
    assert step(ready, observed(provisioning_state="Failed"), changed=True).action is Action.UPDATE
    assert step(ready, observed()).action is Action.READY
    assert step(Maps({"blue": 90, "green": 10}, {}, ()), observed()).action is Action.UPDATE


def test_maps_that_wait_are_pending_and_say_for_what() -> None:
    pending = Maps({"blue": 100}, {}, ("green", "red"))
    result = step(pending, observed())
    assert result.action is Action.PENDING
    assert "keeps its traffic {blue: 100} until green, red are Ready" in result.message
    # Anything else that drifted is still put right meanwhile (the maps as Azure has them).
    drifted = step(pending, replace(observed(), auth_mode="AMLToken"))
    assert drifted.action is Action.UPDATE and "traffic" not in drifted.message
