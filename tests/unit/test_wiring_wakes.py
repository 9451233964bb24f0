"""The kopf wiring's wake-ups, in process: a change a user makes wakes the object's own loop, and a
change of an object's Ready status or reason wakes the loops of the objects related to it (an endpoint whose
deployment became Ready) instead of leaving them to their back-off."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from runtime_fakes import (
    ADAPTERS,
    endpoint,
    not_ready_status,
    online_deployment,
    online_endpoint,
    ready_status,
    subscription,
    uid_of,
    workspace,
)

from azureml_operator import wiring
from azureml_operator.reconcilers.lookups import build_index, index_keys
from azureml_operator.runtime.registry import references
from azureml_operator.settings import Settings

WITH_SUB = {"subscriptionRef": {"name": "llama-sub"}}


def memo_with(*bodies: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    state = wiring.OperatorState(Settings(), pool=object(), kube=object())  # type: ignore[arg-type]
    for b in bodies:
        state.schedules[uid_of(b)] = wiring.Schedule(seen=wiring.relevant(b))
    index = build_index(index_keys(b["kind"], b, references(ADAPTERS[b["kind"]])) for b in bodies)
    return SimpleNamespace(state=state), {f"{wiring.INDEX_PREFIX}all": index}


async def test_a_deployment_becoming_ready_wakes_its_endpoint_and_nothing_else() -> None:
    endpoint, other = online_endpoint("chat"), online_endpoint("other")
    creating = online_deployment("blue", status=not_ready_status("Creating"))
    memo, indexes = memo_with(endpoint, other, creating)
    adapter = ADAPTERS["OnlineDeployment"]
    await wiring.on_event(adapter, creating, memo, **indexes)  # first sight: nothing flipped
    schedules = memo.state.schedules
    assert not schedules[uid_of(endpoint)].wake.is_set()
    await wiring.on_event(adapter, {**creating, "status": ready_status()}, memo, **indexes)
    assert schedules[uid_of(endpoint)].wake.is_set() and schedules[uid_of(endpoint)].attempt == 0
    assert not schedules[uid_of(other)].wake.is_set()
    assert not schedules[uid_of(creating)].wake.is_set()  # its own status write is no user change


async def test_a_status_write_that_keeps_ready_and_its_reason_wakes_nobody() -> None:
    endpoint = online_endpoint("chat")
    running = online_deployment("blue", status=not_ready_status("Creating"))
    memo, indexes = memo_with(endpoint, running)
    adapter = ADAPTERS["OnlineDeployment"]
    await wiring.on_event(adapter, running, memo, **indexes)
    later = not_ready_status("Creating", "still creating, 2 minutes in")
    await wiring.on_event(adapter, {**running, "status": later}, memo, **indexes)
    assert not memo.state.schedules[uid_of(endpoint)].wake.is_set()


async def test_an_endpoint_provisioned_with_its_traffic_pending_wakes_its_deployment() -> None:
    creating = online_endpoint("chat", status=not_ready_status("Creating"))
    blue = online_deployment("blue", status=not_ready_status("WaitingForEndpoint"))
    memo, indexes = memo_with(creating, blue)
    adapter = ADAPTERS["OnlineEndpoint"]
    await wiring.on_event(adapter, creating, memo, **indexes)
    pending = {**creating, "status": not_ready_status("TrafficPending")}
    await wiring.on_event(adapter, pending, memo, **indexes)
    assert memo.state.schedules[uid_of(blue)].wake.is_set()


async def test_a_subscription_becoming_ready_wakes_only_the_endpoints_that_wait_for_it() -> None:
    sub = subscription("llama-sub", status=not_ready_status("Creating"))
    waiting = endpoint("a", spec=WITH_SUB, status=not_ready_status("WaitingForSubscription"))
    creating = endpoint("b", spec=WITH_SUB, status=not_ready_status("Creating"))  # polls on its own
    ready = endpoint("c", spec=WITH_SUB, status=ready_status())
    failed = endpoint("d", spec=WITH_SUB, status=not_ready_status("SubscriptionMissing"))
    memo, indexes = memo_with(sub, waiting, creating, ready, failed)
    adapter = ADAPTERS["ModelSubscription"]
    await wiring.on_event(adapter, sub, memo, **indexes)
    await wiring.on_event(adapter, {**sub, "status": ready_status()}, memo, **indexes)
    woken = {
        name
        for name, b in [("a", waiting), ("b", creating), ("c", ready), ("d", failed)]
        if memo.state.schedules[uid_of(b)].wake.is_set()
    }
    assert woken == {"a", "d"}


async def test_an_endpoint_flipping_does_not_wake_the_subscription_or_workspace_it_names() -> None:
    """Their passes do not read their users: waking them would only spend an ARM read each."""
    sub, ws = subscription("llama-sub", status=ready_status()), workspace("ws", status=ready_status())
    creating = endpoint(
        "a", spec={**WITH_SUB, "workspaceRef": {"name": "ws"}}, status=not_ready_status("Creating")
    )
    memo, indexes = memo_with(sub, ws, creating)
    adapter = ADAPTERS["ServerlessEndpoint"]
    await wiring.on_event(adapter, creating, memo, **indexes)
    await wiring.on_event(adapter, {**creating, "status": ready_status()}, memo, **indexes)
    assert not memo.state.schedules[uid_of(sub)].wake.is_set()
    assert not memo.state.schedules[uid_of(ws)].wake.is_set()


async def test_an_endpoint_whose_traffic_moved_wakes_its_ready_deployments_which_report_their_share() -> None:
    updating = online_endpoint("chat", status=not_ready_status("Updating"))
    blue = online_deployment("blue", status=ready_status())
    memo, indexes = memo_with(updating, blue)
    adapter = ADAPTERS["OnlineEndpoint"]
    await wiring.on_event(adapter, updating, memo, **indexes)
    await wiring.on_event(adapter, {**updating, "status": ready_status()}, memo, **indexes)
    assert memo.state.schedules[uid_of(blue)].wake.is_set()
