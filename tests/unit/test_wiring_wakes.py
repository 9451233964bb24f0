"""The kopf wiring's wake-ups, in process: a change a user makes wakes the object's own loop, and a
change of an object's Ready status or reason wakes the loops of the objects related to it (an endpoint whose
deployment became Ready) instead of leaving them to their back-off."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from runtime_fakes import (
    RecordingScheduler,
    data_asset,
    deliver,
    endpoint,
    lookups_of,
    not_ready_status,
    online_deployment,
    online_endpoint,
    ready_status,
    subscription,
    uid_of,
    workspace,
)

from azureml_operator import wiring
from azureml_operator.settings import Settings

WITH_SUB = {"subscriptionRef": {"name": "llama-sub"}}


def memo_with(*bodies: dict[str, Any]) -> Any:
    state = wiring.OperatorState(Settings(), pool=object(), kube=object())  # type: ignore[arg-type]
    state.scheduler = RecordingScheduler()  # type: ignore[assignment]
    state.index = lookups_of(bodies)
    for b in bodies:
        state.schedules[uid_of(b)] = wiring.Schedule(b["kind"], seen=wiring.relevant(b))
    return SimpleNamespace(state=state)


def woken(memo: Any) -> set[str]:
    return {uid for uid, trigger in memo.state.scheduler.calls if trigger == "change"}


async def test_a_deployment_becoming_ready_wakes_its_endpoint_and_nothing_else() -> None:
    endpoint, other = online_endpoint("chat"), online_endpoint("other")
    creating = online_deployment("blue", status=not_ready_status("Creating"))
    memo = memo_with(endpoint, other, creating)
    await deliver(memo, creating)  # first sight: nothing flipped
    schedules = memo.state.schedules
    assert uid_of(endpoint) not in woken(memo)
    await deliver(memo, {**creating, "status": ready_status()})
    assert uid_of(endpoint) in woken(memo) and schedules[uid_of(endpoint)].attempt == 0
    assert uid_of(other) not in woken(memo)
    assert uid_of(creating) not in woken(memo)  # its own status write is no user change


async def test_a_status_write_that_keeps_ready_and_its_reason_wakes_nobody() -> None:
    endpoint = online_endpoint("chat")
    running = online_deployment("blue", status=not_ready_status("Creating"))
    memo = memo_with(endpoint, running)
    await deliver(memo, running)
    later = not_ready_status("Creating", "still creating, 2 minutes in")
    await deliver(memo, {**running, "status": later})
    assert uid_of(endpoint) not in woken(memo)


async def test_an_endpoint_provisioned_with_its_traffic_pending_wakes_its_deployment() -> None:
    creating = online_endpoint("chat", status=not_ready_status("Creating"))
    blue = online_deployment("blue", status=not_ready_status("WaitingForEndpoint"))
    memo = memo_with(creating, blue)
    await deliver(memo, creating)
    pending = {**creating, "status": not_ready_status("TrafficPending")}
    await deliver(memo, pending)
    assert uid_of(blue) in woken(memo)


async def test_a_subscription_becoming_ready_wakes_only_the_endpoints_that_wait_for_it() -> None:
    sub = subscription("llama-sub", status=not_ready_status("Creating"))
    waiting = endpoint("a", spec=WITH_SUB, status=not_ready_status("WaitingForSubscription"))
    creating = endpoint("b", spec=WITH_SUB, status=not_ready_status("Creating"))  # polls on its own
    ready = endpoint("c", spec=WITH_SUB, status=ready_status())
    failed = endpoint("d", spec=WITH_SUB, status=not_ready_status("SubscriptionMissing"))
    memo = memo_with(sub, waiting, creating, ready, failed)
    await deliver(memo, sub)
    await deliver(memo, {**sub, "status": ready_status()})
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
    memo = memo_with(sub, ws, creating)
    await deliver(memo, creating)
    await deliver(memo, {**creating, "status": ready_status()})
    assert uid_of(sub) not in woken(memo)
    assert uid_of(ws) not in woken(memo)


async def test_an_endpoint_whose_traffic_moved_wakes_its_ready_deployments_which_report_their_share() -> None:
    updating = online_endpoint("chat", status=not_ready_status("Updating"))
    blue = online_deployment("blue", status=ready_status())
    memo = memo_with(updating, blue)
    await deliver(memo, updating)
    await deliver(memo, {**updating, "status": ready_status()})
    assert uid_of(blue) in woken(memo)


async def test_the_first_event_runs_a_pass_a_user_change_another_and_a_deletion_none() -> None:
    memo = memo_with()
    body = data_asset("train")
    await deliver(memo, body)
    assert memo.state.scheduler.calls == [(uid_of(body), "start")]
    memo.state.schedules[uid_of(body)].seen = wiring.relevant(body)  # what its pass acted on
    await deliver(memo, {**body, "status": ready_status()})
    assert len(memo.state.scheduler.calls) == 1  # a status write is no user change
    changed = {**body, "metadata": {**body["metadata"], "generation": 2}}
    await deliver(memo, changed)
    assert memo.state.scheduler.calls[-1] == (uid_of(body), "change")
    deleting = data_asset("train", deleting=True)
    await deliver(memo, deleting)
    assert memo.state.scheduler.forgotten == [uid_of(body)] and len(memo.state.scheduler.calls) == 2
    await deliver(memo, deleting, type="DELETED")
    assert uid_of(body) not in memo.state.schedules


async def test_the_index_keeps_the_body_without_its_managed_fields_and_forgets_a_deleted_one() -> None:
    memo = memo_with()
    body = data_asset("train")
    body["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
    await deliver(memo, body)
    kept = memo.state.index.document(uid_of(body))
    assert "managedFields" not in kept["metadata"] and kept["spec"] == body["spec"]
    assert kept["metadata"]["uid"] == uid_of(body)
    await deliver(memo, body, type="DELETED")
    assert memo.state.index.by_uid(uid_of(body)) is None and len(memo.state.index) == 0
