"""The per-object lock: holders of one key take turns, other keys never wait, and nothing is kept
once nobody holds or waits (also when the holder fails or is cancelled)."""

from __future__ import annotations

import asyncio

import pytest

from azureml_operator.runtime.keyed_lock import KeyedLock


async def test_one_key_takes_turns_another_does_not_wait_and_nothing_is_kept_after() -> None:
    locks, order = KeyedLock(), []
    release = asyncio.Event()

    async def hold(key: str, name: str, wait: bool) -> None:
        async with locks.hold(key):
            order.append(f"{name} in")
            if wait:
                await release.wait()
            order.append(f"{name} out")

    first = asyncio.ensure_future(hold("a", "first", True))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(hold("a", "second", False))
    other = asyncio.ensure_future(hold("b", "other", False))
    await asyncio.sleep(0.01)
    assert order == ["first in", "other in", "other out"] and len(locks) == 1
    release.set()
    await asyncio.gather(first, second, other)
    assert order[3:] == ["first out", "second in", "second out"]
    assert len(locks) == 0


async def test_a_failing_or_cancelled_holder_leaves_nothing_behind() -> None:
    locks = KeyedLock()
    with pytest.raises(RuntimeError):
        async with locks.hold("a"):
            raise RuntimeError("a pass's bug")
    assert len(locks) == 0
    release = asyncio.Event()

    async def hold() -> None:
        async with locks.hold("a"):
            await release.wait()

    holder, waiter = asyncio.ensure_future(hold()), asyncio.ensure_future(hold())
    await asyncio.sleep(0.01)
    waiter.cancel()  # e.g. a pass cut off at shutdown while it waited for the lock
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert len(locks) == 1  # the holder still holds it
    release.set()
    await holder
    assert len(locks) == 0
