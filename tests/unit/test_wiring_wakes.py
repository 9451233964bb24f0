"""The kopf wiring's wake-ups, in process: a change a user makes wakes the object's own loop, and a
change of an object's Ready status or reason wakes the loops of the objects related to it (an endpoint whose
deployment became Ready) instead of leaving them to their back-off."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from runtime_fakes import (
    ADAPTERS,
    RecordingScheduler,
    data_asset,
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
    state.scheduler = RecordingScheduler()  # type: ignore[assignment]
    for b in bodies:
        state.schedules[uid_of(b)] = wiring.Schedule(b["kind"], seen=wiring.relevant(b))
    index = build_index(index_keys(b["kind"], b, references(ADAPTERS[b["kind"]])) for b in bodies)
    return SimpleNamespace(state=state), {f"{wiring.INDEX_PREFIX}all": index}


def woken(memo: Any) -> set[str]:
    return {uid for uid, trigger in memo.state.scheduler.calls if trigger == "change"}


async def test_a_deployment_becoming_ready_wakes_its_endpoint_and_nothing_else() -> None:
    endpoint, other = online_endpoint("chat"), online_endpoint("other")
    creating = online_deployment("blue", status=not_ready_status("Creating"))
    memo, indexes = memo_with(endpoint, other, creating)
    adapter = ADAPTERS["OnlineDeployment"]
    await wiring.on_event(adapter, creating, memo, **indexes)  # first sight: nothing flipped
    schedules = memo.state.schedules
    assert uid_of(endpoint) not in woken(memo)
    await wiring.on_event(adapter, {**creating, "status": ready_status()}, memo, **indexes)
    assert uid_of(endpoint) in woken(memo) and schedules[uid_of(endpoint)].attempt == 0
    assert uid_of(other) not in woken(memo)
    assert uid_of(creating) not in woken(memo)  # its own status write is no user change


async def test_a_status_write_that_keeps_ready_and_its_reason_wakes_nobody() -> None:
    endpoint = online_endpoint("chat")
    running = online_deployment("blue", status=not_ready_status("Creating"))
    memo, indexes = memo_with(endpoint, running)
    adapter = ADAPTERS["OnlineDeployment"]
    await wiring.on_event(adapter, running, memo, **indexes)
    later = not_ready_status("Creating", "still creating, 2 minutes in")
    await wiring.on_event(adapter, {**running, "status": later}, memo, **indexes)
    assert uid_of(endpoint) not in woken(memo)


async def test_an_endpoint_provisioned_with_its_traffic_pending_wakes_its_deployment() -> None:
    creating = online_endpoint("chat", status=not_ready_status("Creating"))
    blue = online_deployment("blue", status=not_ready_status("WaitingForEndpoint"))
    memo, indexes = memo_with(creating, blue)
    adapter = ADAPTERS["OnlineEndpoint"]
    await wiring.on_event(adapter, creating, memo, **indexes)
    pending = {**creating, "status": not_ready_status("TrafficPending")}
    await wiring.on_event(adapter, pending, memo, **indexes)
    assert uid_of(blue) in woken(memo)


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
    names = {
        name
        for name, b in [("a", waiting), ("b", creating), ("c", ready), ("d", failed)]
        if uid_of(b) in woken(memo)
    }
    assert names == {"a", "d"}


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
    assert uid_of(sub) not in woken(memo)
    assert uid_of(ws) not in woken(memo)


async def test_an_endpoint_whose_traffic_moved_wakes_its_ready_deployments_which_report_their_share() -> None:
    updating = online_endpoint("chat", status=not_ready_status("Updating"))
    blue = online_deployment("blue", status=ready_status())
    memo, indexes = memo_with(updating, blue)
    adapter = ADAPTERS["OnlineEndpoint"]
    await wiring.on_event(adapter, updating, memo, **indexes)
    await wiring.on_event(adapter, {**updating, "status": ready_status()}, memo, **indexes)
    assert uid_of(blue) in woken(memo)


async def test_the_first_event_runs_a_pass_a_user_change_another_and_a_deletion_none() -> None:
    memo, indexes = memo_with()
    adapter = ADAPTERS["DataAsset"]
    body = data_asset("train")
    await wiring.on_event(adapter, body, memo, **indexes)
    assert memo.state.scheduler.calls == [(uid_of(body), "start")]
    memo.state.schedules[uid_of(body)].seen = wiring.relevant(body)  # what its pass acted on
    await wiring.on_event(adapter, {**body, "status": ready_status()}, memo, **indexes)
    assert len(memo.state.scheduler.calls) == 1  # a status write is no user change
    changed = {**body, "metadata": {**body["metadata"], "generation": 2}}
    await wiring.on_event(adapter, changed, memo, **indexes)
    assert memo.state.scheduler.calls[-1] == (uid_of(body), "change")
    deleting = data_asset("train", deleting=True)
    await wiring.on_event(adapter, deleting, memo, **indexes)
    assert memo.state.scheduler.forgotten == [uid_of(body)] and len(memo.state.scheduler.calls) == 2
    await wiring.on_event(adapter, deleting, memo, type="DELETED", **indexes)
    assert uid_of(body) not in memo.state.schedules


async def test_the_schedule_keeps_the_body_without_its_managed_fields() -> None:
    memo, indexes = memo_with()
    body = data_asset("train")
    body["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
    await wiring.on_event(ADAPTERS["DataAsset"], body, memo, **indexes)
    kept = memo.state.schedules[uid_of(body)].body
    assert "managedFields" not in kept["metadata"] and kept["spec"] == body["spec"]
