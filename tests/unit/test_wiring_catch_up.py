"""A pass never starts from a body older than the loop's own last status write: kopf's body is as
new as the last watch event, and a pass on a body from before the previous write would miss the ARM
id that write recorded (and then take its own creation for a stranger's)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from runtime_fakes import ADAPTERS

from azureml_operator import wiring
from azureml_operator.settings import Settings


def body(version: str) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": version}}


async def test_the_next_pass_waits_for_the_watch_to_deliver_the_write() -> None:
    schedule = wiring.Schedule()
    schedule.wrote("7")
    stop: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(schedule.catch_up(body("6"), stop))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the body still predates the write
    schedule.saw(body("7"))
    await asyncio.wait_for(waiting, 1)


async def test_a_write_the_watch_delivered_before_the_patch_returned_is_not_waited_for() -> None:
    schedule = wiring.Schedule()
    schedule.saw(body("7"))
    schedule.saw(body("8"))  # and something newer since
    schedule.wrote("7")
    stop: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    await asyncio.wait_for(schedule.catch_up(body("8"), stop), 0.5)


async def test_no_write_yet_and_a_stop_do_not_wait() -> None:
    stop: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    await asyncio.wait_for(wiring.Schedule().catch_up(body("1"), stop), 0.5)
    schedule = wiring.Schedule()
    schedule.wrote("9")
    stop.set_result(None)
    await asyncio.wait_for(schedule.catch_up(body("1"), stop), 0.5)


async def test_on_event_marks_the_write_delivered() -> None:
    schedule = wiring.Schedule()
    schedule.wrote("5")
    state = wiring.OperatorState(Settings(), pool=object(), kube=object())  # type: ignore[arg-type]
    state.schedules["u"] = schedule
    meta = {"uid": "u", "name": "d", "namespace": "n", "resourceVersion": "5"}
    await wiring.on_event(
        ADAPTERS["DataAsset"], {"kind": "DataAsset", "metadata": meta}, SimpleNamespace(state=state)
    )
    assert schedule.caught_up.is_set()
