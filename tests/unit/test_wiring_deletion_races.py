"""A deletion that races a pass leaves nothing behind in Azure (found by the crash storm): no pass
writes to Azure before the finalizer is on the object, a pass in flight when the object is deleted
may finish, and the finalizer decides on the object as the API server holds it, not on the
deletion's event, which may predate the ARM id the pass recorded before creating."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from runtime_fakes import ADAPTERS, StatusKube, data_asset

from azureml_operator import wiring
from azureml_operator.conditions import Reason
from azureml_operator.reconcilers.common import Verdict
from azureml_operator.reconcilers.lookups import build_index, index_keys
from azureml_operator.runtime.registry import references
from azureml_operator.settings import Settings

ADAPTER = ADAPTERS["DataAsset"]


class Stopped:
    """kopf's DaemonStopped, as far as the loop uses it."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def __bool__(self) -> bool:
        return self.event.is_set()

    async def wait(self) -> None:
        await self.event.wait()


def running(body: dict[str, Any], kube: StatusKube) -> tuple[Any, dict[str, Any]]:
    state = wiring.OperatorState(Settings(drift_interval=3600), pool=object(), kube=kube)  # type: ignore[arg-type]
    index = build_index([index_keys(body["kind"], body, references(ADAPTER))])
    return SimpleNamespace(state=state), {f"{wiring.INDEX_PREFIX}all": index}


async def test_no_pass_runs_until_the_finalizer_is_on_the_object(monkeypatch: pytest.MonkeyPatch) -> None:
    passes: list[str] = []
    ran = asyncio.Event()

    async def reconcile(adapter: Any, obj: Any, ctx: Any, attempt: int) -> Verdict:
        passes.append(obj.name)
        ran.set()
        return Verdict.ready(Reason.SUCCEEDED, "registered")

    monkeypatch.setattr(wiring.loop, "reconcile", reconcile)
    monkeypatch.setattr(wiring, "post", lambda body, events: None)
    body, stopped = data_asset("train"), Stopped()
    memo, indexes = running(body, StatusKube())
    task = asyncio.ensure_future(wiring.run_loop(ADAPTER, body, stopped, memo, **indexes))  # type: ignore[arg-type]
    await asyncio.sleep(0.8)
    assert passes == []  # kopf spawned the loop, but its finalizer patch has not landed
    body["metadata"]["finalizers"] = [wiring.FINALIZER]  # kopf's body is live
    await asyncio.wait_for(ran.wait(), 2)
    assert passes == ["train"]
    stopped.event.set()
    await asyncio.wait_for(task, 2)


async def test_a_pass_in_flight_when_the_object_is_deleted_may_finish(
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
    body, stopped, kube = data_asset("train"), Stopped(), StatusKube()
    body["metadata"]["finalizers"] = [wiring.FINALIZER]
    memo, indexes = running(body, kube)
    task = asyncio.ensure_future(wiring.run_loop(ADAPTER, body, stopped, memo, **indexes))  # type: ignore[arg-type]
    await asyncio.wait_for(started.wait(), 2)
    stopped.event.set()
    await asyncio.sleep(0.2)
    assert not task.done()  # not cut off mid-request
    release.set()
    await asyncio.wait_for(task, 2)
    assert finished == [True]
    assert kube.patches == []  # the finalizer speaks for the object now


async def test_a_pass_that_does_not_finish_in_the_grace_period_is_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cancelled = asyncio.Event()

    async def reconcile(adapter: Any, obj: Any, ctx: Any, attempt: int) -> Verdict:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    monkeypatch.setattr(wiring.loop, "reconcile", reconcile)
    monkeypatch.setattr(wiring, "PASS_GRACE_SECONDS", 0.2)
    body, stopped = data_asset("train"), Stopped()
    body["metadata"]["finalizers"] = [wiring.FINALIZER]
    memo, indexes = running(body, StatusKube())
    task = asyncio.ensure_future(wiring.run_loop(ADAPTER, body, stopped, memo, **indexes))  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    stopped.event.set()
    await asyncio.wait_for(task, 2)
    await asyncio.wait_for(cancelled.wait(), 1)


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
    memo, indexes = running(event, StatusKube(stored))
    await wiring.finalize(ADAPTER, event, 0, memo, **indexes)  # type: ignore[arg-type]
    assert seen == ["/subscriptions/s/x"]  # without it: "nothing in Azure to delete", an orphan
