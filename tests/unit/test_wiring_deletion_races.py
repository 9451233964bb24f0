"""A deletion that races a pass leaves nothing behind in Azure (found by the crash storm): no pass
writes to Azure before the finalizer is on the object, a pass in flight when the object is deleted
may finish (and the scheduler gives one in flight at shutdown a grace period), and the finalizer decides on the object as the API server holds it, not on the
deletion's event, which may predate the ARM id the pass recorded before creating."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from runtime_fakes import ADAPTERS, StatusKube, data_asset, deliver, lookups_of, uid_of

from azureml_operator import slots, wiring
from azureml_operator.conditions import Reason
from azureml_operator.reconcilers.common import Verdict
from azureml_operator.settings import Settings

ADAPTER = ADAPTERS["DataAsset"]


def running(body: dict[str, Any], kube: StatusKube) -> Any:
    state = wiring.OperatorState(Settings(drift_interval=3600), pool=object(), kube=kube)  # type: ignore[arg-type]
    state.index = lookups_of([body])
    state.schedules[uid_of(body)] = wiring.Schedule(body["kind"])
    return SimpleNamespace(state=state)


async def test_no_pass_acts_until_the_finalizer_is_on_the_object(monkeypatch: pytest.MonkeyPatch) -> None:
    passes: list[str] = []

    async def reconcile(adapter: Any, obj: Any, ctx: Any, attempt: int) -> Verdict:
        passes.append(obj.name)
        return Verdict.ready(Reason.SUCCEEDED, "registered")

    monkeypatch.setattr(wiring.loop, "reconcile", reconcile)
    monkeypatch.setattr(wiring, "post", lambda body, events: None)
    body = data_asset("train")
    memo = running(body, StatusKube())
    held = await wiring.run_pass(memo.state, uid_of(body), "start")
    assert passes == []  # kopf's finalizer patch has not landed: its event runs the pass again
    assert held is not None and held[0] <= wiring.HELD_WAIT.cap * 1.2
    body["metadata"]["finalizers"] = [wiring.FINALIZER]
    memo.state.index = lookups_of([body])  # kopf's patch, as the watch delivers it
    assert await wiring.run_pass(memo.state, uid_of(body), "start") is not None
    assert passes == ["train"]


async def test_a_pass_in_flight_when_the_object_is_deleted_finishes_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[bool] = []

    async def reconcile(adapter: Any, obj: Any, ctx: Any, attempt: int) -> Verdict:
        started.set()
        await release.wait()  # e.g. a PUT whose answer is on its way
        finished.append(True)
        return Verdict.ready(Reason.SUCCEEDED, "registered")

    monkeypatch.setattr(wiring.loop, "reconcile", reconcile)
    body, kube = data_asset("train"), StatusKube()
    body["metadata"]["finalizers"] = [wiring.FINALIZER]
    memo = running(body, kube)
    task = asyncio.ensure_future(wiring.run_pass(memo.state, uid_of(body), "start"))
    await asyncio.wait_for(started.wait(), 2)
    deleting = data_asset("train", deleting=True)  # the deletion's event, as on_event keeps it
    await deliver(memo, deleting)
    release.set()
    assert await asyncio.wait_for(task, 2) is None  # and no next pass
    assert finished == [True]
    assert kube.patches == []  # the finalizer speaks for the object now


async def test_a_held_object_the_api_server_no_longer_has_is_forgotten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = data_asset("train")  # never got its finalizer; deleted while the watch was away
    memo = running(body, StatusKube(None))
    for _ in range(wiring.HELD_BEFORE_READ - 1):
        assert await wiring.run_pass(memo.state, uid_of(body), "start") is not None
    assert await wiring.run_pass(memo.state, uid_of(body), "start") is None
    assert uid_of(body) not in memo.state.schedules


async def test_the_finalizer_decides_on_the_object_as_stored_not_on_the_deletion_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str | None] = []

    async def finalize(adapter: Any, obj: Any, ctx: Any, attempt: int) -> Verdict:
        seen.append(obj.recorded_id)
        return Verdict.release("deleted in Azure")

    monkeypatch.setattr(wiring.loop, "finalize", finalize)
    event = data_asset("train", deleting=True)  # from before the pass recorded its creation
    stored = data_asset("train", deleting=True, status={"azureResourceId": "/subscriptions/s/x"})
    memo = running(event, StatusKube(stored))
    await wiring.finalize(ADAPTER, event, 0, memo)  # type: ignore[arg-type]
    assert seen == ["/subscriptions/s/x"]  # without it: "nothing in Azure to delete", an orphan


async def test_a_pass_that_waited_for_the_watch_acts_on_the_body_it_delivered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found at 10 000 objects: a pass that started before the previous pass's record reached the
    watch took its creation for a stranger's (Conflict) when it kept the body from before the wait.
    Waiting is not work: the pass's slot goes to another pass meanwhile."""
    seen: list[str | None] = []

    async def reconcile(adapter: Any, obj: Any, ctx: Any, attempt: int) -> Verdict:
        seen.append(obj.recorded_id)
        return Verdict.ready(Reason.SUCCEEDED, "registered")

    monkeypatch.setattr(wiring.loop, "reconcile", reconcile)
    monkeypatch.setattr(wiring, "post", lambda body, events: None)
    before = data_asset("train")
    before["metadata"].update(finalizers=[wiring.FINALIZER], resourceVersion="6")
    memo = running(before, StatusKube())
    schedule = memo.state.schedules[uid_of(before)]
    schedule.wrote("7")  # the last pass's record, not delivered yet
    slot = slots.Slot(lambda: None, lambda: None)
    slots.CURRENT.set(slot)  # as the scheduler sets it for each pass
    task = asyncio.ensure_future(wiring.run_pass(memo.state, uid_of(before), "retry"))
    await asyncio.sleep(0.05)
    assert not slot.held
    after = data_asset("train", status={"azureResourceId": "/subscriptions/s/x"})
    after["metadata"].update(finalizers=[wiring.FINALIZER], resourceVersion="7")
    await deliver(memo, after)  # the watch's next event
    await asyncio.wait_for(task, 2)
    assert seen == ["/subscriptions/s/x"] and slot.held
