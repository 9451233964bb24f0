"""The scheduler in process: one pass per object at a time, a wake-up during a pass runs the next one
right after it, the verdict's delay schedules the next, a forgotten object has none, and a shutdown
lets passes in flight end for a grace period and then cancels them."""

from __future__ import annotations

import asyncio
import contextvars

from azureml_operator import slots
from azureml_operator.runtime.scheduler import Next, Scheduler


class Passes:
    def __init__(self, following: Next = None) -> None:
        self.runs: list[tuple[str, str]] = []
        self.release = asyncio.Event()
        self.following = following
        self.inside = 0
        self.most = 0

    async def __call__(self, uid: str, trigger: str) -> Next:
        self.runs.append((uid, trigger))
        self.inside += 1
        self.most = max(self.most, self.inside)
        try:
            await self.release.wait()
        finally:
            self.inside -= 1
        return self.following


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_wake_during_a_pass_runs_one_more_pass_after_it_never_alongside() -> None:
    passes = Passes()
    s = Scheduler(passes)
    s.now("a", "start")
    await settle()
    s.now("a", "change")
    s.now("a", "change")
    s.now("b", "start")  # another object does not wait for this one
    await settle()
    assert passes.runs == [("a", "start"), ("b", "start")]
    passes.release.set()
    await asyncio.sleep(0.05)
    assert passes.runs == [("a", "start"), ("b", "start"), ("a", "change")]
    assert not s.scheduled("a") and not s.scheduled("b")


async def test_the_pass_says_when_the_next_one_runs_and_a_forgotten_object_has_none() -> None:
    passes = Passes(following=(0.05, "drift"))
    passes.release.set()
    s = Scheduler(passes)
    s.now("a", "start")
    await asyncio.sleep(0.01)
    assert passes.runs == [("a", "start")] and s.scheduled("a")
    await asyncio.sleep(0.08)
    assert passes.runs[:2] == [("a", "start"), ("a", "drift")]
    s.forget("a")
    runs = len(passes.runs)
    await asyncio.sleep(0.15)
    assert len(passes.runs) == runs and not s.scheduled("a")


async def test_a_bug_outside_the_reconcile_is_retried_later_not_lost() -> None:
    async def broken(uid: str, trigger: str) -> Next:
        raise RuntimeError("bug")

    s = Scheduler(broken)
    s.now("a", "start")
    await asyncio.sleep(0.01)
    assert s.scheduled("a") and not s.running("a")


async def test_shutdown_lets_a_pass_end_within_the_grace_and_cancels_one_that_does_not() -> None:
    quick = Passes(following=(0.01, "drift"))
    s = Scheduler(quick)
    s.now("a", "start")
    await settle()
    asyncio.get_running_loop().call_later(0.05, quick.release.set)
    await s.stop(grace=1.0)
    assert quick.inside == 0 and not s.scheduled("a")  # ended, and nothing after it

    stuck = Passes()
    s = Scheduler(stuck)
    s.now("a", "start")
    await settle()
    await asyncio.wait_for(s.stop(grace=0.05), 2)
    assert stuck.inside == 0  # cancelled
    s.now("a", "change")
    await settle()
    assert stuck.runs == [("a", "start")]  # nothing starts once stopping


WAKER: contextvars.ContextVar[str] = contextvars.ContextVar("waker", default="none")


async def test_passes_and_timers_keep_nothing_of_the_context_that_woke_them() -> None:
    """A pass runs in a copy of the context the operator set, not of the handler that woke it: a
    kopf handler's context holds the event that woke it, and a timer copying it would keep every
    object's last event alive between passes."""
    seen: list[str] = []

    async def run(uid: str, trigger: str) -> Next:
        seen.append(WAKER.get())
        return (0.01, "drift") if trigger == "start" else None

    s = Scheduler(run)
    handler = contextvars.copy_context()
    handler.run(WAKER.set, "handler of the first event")
    s.context = handler

    def from_an_event_handler() -> None:
        WAKER.set("event of one object")
        s.now("a", "start")

    contextvars.copy_context().run(from_an_event_handler)
    await asyncio.sleep(0.05)
    assert seen == ["handler of the first event", "handler of the first event"]
    assert WAKER.get() == "none"  # a pass's own changes stay in its copy


async def test_at_most_limit_passes_work_at_once_and_the_next_due_runs_when_one_ends() -> None:
    passes = Passes()
    s = Scheduler(passes, limit=2)
    for uid in ("a", "b", "c", "d"):
        s.now(uid, "start")
    s.now("c", "change")  # a second wake-up keeps c's place (and its first trigger)
    await settle()
    assert passes.runs == [("a", "start"), ("b", "start")] and passes.most == 2
    assert s.scheduled("c") and not s.running("c")
    s.forget("d")  # deleted while it waited for a slot: it never runs
    passes.release.set()
    await asyncio.sleep(0.05)
    assert passes.runs == [("a", "start"), ("b", "start"), ("c", "start")]
    assert passes.most == 2 and not s.scheduled("d")


async def test_a_pass_that_waits_for_something_else_gives_its_slot_to_the_next() -> None:
    """A pass waiting for an ARM bucket (or for the watch) must not hold a slot that another
    subscription's objects need; it takes it back when the wait ends."""
    bucket, started = asyncio.Event(), []

    async def run(uid: str, trigger: str) -> Next:
        started.append(uid)
        if uid == "throttled":
            async with slots.waiting():
                await bucket.wait()
        return None

    s = Scheduler(run, limit=1)
    s.now("throttled", "start")
    s.now("other", "start")
    await asyncio.sleep(0.02)
    assert started == ["throttled", "other"]  # other ran while throttled waited
    bucket.set()
    await asyncio.sleep(0.02)
    assert not s.running("throttled")
    s.now("third", "start")  # every slot is free again
    await asyncio.sleep(0.02)
    assert started[-1] == "third"
