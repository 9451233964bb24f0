"""A pass never starts from a body older than the loop's own last status write: kopf's body is as
new as the last watch event, and a pass on a body from before the previous write would miss the ARM
id that write recorded (and then take its own creation for a stranger's)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from runtime_fakes import ADAPTERS, StatusKube, deliver, not_ready_status, online_deployment

from azureml_operator import wiring
from azureml_operator.conditions import Reason
from azureml_operator.reconcilers.common import Verdict, Written
from azureml_operator.reconcilers.status import next_status
from azureml_operator.settings import Settings


def body(version: str) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": version}}


async def test_the_next_pass_waits_for_the_watch_to_deliver_the_write() -> None:
    schedule = wiring.Schedule("DataAsset")
    schedule.saw(body("6"))
    schedule.wrote("7")
    waiting = asyncio.ensure_future(schedule.catch_up())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the body still predates the write
    schedule.saw(body("7"))
    assert await asyncio.wait_for(waiting, 1)


async def test_a_write_the_watch_delivered_before_the_patch_returned_is_not_waited_for() -> None:
    schedule = wiring.Schedule("DataAsset")
    schedule.saw(body("7"))
    schedule.saw(body("8"))  # and something newer since
    schedule.wrote("7")
    assert await asyncio.wait_for(schedule.catch_up(), 0.5)


async def test_no_write_yet_is_not_waited_for_and_a_write_never_delivered_gives_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert await asyncio.wait_for(wiring.Schedule("DataAsset").catch_up(), 0.5)
    monkeypatch.setattr(wiring, "CATCH_UP_SECONDS", 0.1)
    schedule = wiring.Schedule("DataAsset")
    schedule.wrote("9")
    assert not await asyncio.wait_for(schedule.catch_up(), 1)  # the pass then reads the object


async def test_on_event_marks_the_write_delivered() -> None:
    schedule = wiring.Schedule("DataAsset")
    schedule.wrote("5")
    state = wiring.OperatorState(Settings(), pool=object(), kube=object())  # type: ignore[arg-type]
    state.schedules["u"] = schedule
    meta = {"uid": "u", "name": "d", "namespace": "n", "resourceVersion": "5"}
    await deliver(SimpleNamespace(state=state), {"kind": "DataAsset", "metadata": meta})
    assert schedule.caught_up


async def test_the_status_claims_the_generation_the_pass_decided_on_not_a_newer_one() -> None:
    """The spec changed while the pass ran (kopf's body is live): observedGeneration stays the
    generation the pass acted on, so the next pass still sees the change. Otherwise a spec change
    asking to retry a failed provisioning could be used up unseen (found by the fault storm)."""
    kube = StatusKube()
    state = wiring.OperatorState(Settings(), pool=object(), kube=kube)  # type: ignore[arg-type]
    failed = not_ready_status("ProvisioningFailed", "change the spec")  # observedGeneration 1
    live = online_deployment("blue", generation=2, status=failed)
    verdict = Verdict.not_ready(Reason.PROVISIONING_FAILED, "change the spec", provisioningState="Failed")
    await wiring.write_status(state, ADAPTERS["OnlineDeployment"], live, verdict, generation=1)
    [patch] = kube.patches
    assert patch == {"provisioningState": "Failed"}  # observedGeneration still 1


async def test_a_watch_that_never_catches_up_is_replaced_by_a_read_of_the_object() -> None:
    stale = {"metadata": {"uid": "u", "name": "d", "namespace": "n", "resourceVersion": "6"}}
    now = {"metadata": {**stale["metadata"], "resourceVersion": "9"}, "status": {"azureResourceId": "x"}}
    adapter = ADAPTERS["DataAsset"]
    state = wiring.OperatorState(Settings(), pool=object(), kube=StatusKube(now))  # type: ignore[arg-type]
    assert await wiring.fresh(state, adapter, stale) == now
    replaced = {"metadata": {**now["metadata"], "uid": "other"}}
    state.kube = StatusKube(replaced)  # type: ignore[assignment]
    assert await wiring.fresh(state, adapter, stale) is stale  # another object now: not this one's pass
    state.kube = StatusKube(RuntimeError("unreachable"))  # type: ignore[assignment]
    assert await wiring.fresh(state, adapter, stale) is stale


async def test_a_status_the_pass_wrote_itself_is_what_its_last_write_differs_from() -> None:
    """A creation's record already reported Creating: the pass's end writes nothing more, and the
    next pass waits for the watch to deliver that record (it holds the ARM id)."""
    kube = StatusKube()
    state = wiring.OperatorState(Settings(), pool=object(), kube=kube)  # type: ignore[arg-type]
    live = online_deployment("blue", generation=1)  # the body from before the record
    verdict = Verdict.not_ready(Reason.CREATING, "creating", requeue_after=2.0, azureResourceId="/x")
    record, _ = next_status({}, verdict, 1, model=ADAPTERS["OnlineDeployment"].info.status_model)
    verdict.written = Written(record, "8")
    assert await wiring.write_status(state, ADAPTERS["OnlineDeployment"], live, verdict, 1) == "8"
    assert kube.patches == []
    verdict.fields["provisioningState"] = "Creating"  # Azure's answer added to it
    assert await wiring.write_status(state, ADAPTERS["OnlineDeployment"], live, verdict, 1) == "9"
    assert kube.patches == [{"provisioningState": "Creating"}]
