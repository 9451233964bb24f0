"""When each object's next pass runs: one timer per object and a task only while its pass runs.

An object between passes costs a timer handle, not a coroutine parked in a wait with its futures
and frames (at 10 000 objects a task per object was most of the operator's memory). Passes for one
object never overlap: a wake-up that comes during a pass runs the next one right after it.
Different objects never wait for each other, but for a slot: at most `limit` passes work at once
(`slots`), and a pass due beyond that runs when one ends, first due first.

Passes run in copies of one context, and timers in an empty one. A task or timer made from a kopf
handler would otherwise copy that handler's context, whose variables hold the event that woke it
(the whole raw body, with managedFields): every object's last event would live as long as its
timer, at 10 000 objects most of the memory the objects cost.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable

from azureml_operator import slots

log = logging.getLogger(__name__)

# What a pass says comes next: (seconds until the next pass, what triggers it), or None for no
# next pass (the object is gone or being deleted; its next event schedules it again).
Next = tuple[float, str] | None
Pass = Callable[[str, str], Awaitable[Next]]
# A timer's callback only schedules the pass: it reads no context variable.
EMPTY = contextvars.Context()


class Scheduler:
    def __init__(self, run: Pass, limit: int | None = None) -> None:
        self._run = run
        self._limit = limit
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: dict[str, str] = {}  # woken during its pass: the trigger of the next one
        self._waiting: dict[str, str] = {}  # due, waiting for a slot (in order): the trigger
        self._working = 0  # passes holding a slot
        self._stopping = False
        # What passes run in (a copy each): the context of a kopf handler, set by the caller once,
        # as kopf.event needs the variables kopf sets for its handlers. Until then, an empty one.
        self.context: contextvars.Context | None = None

    def now(self, uid: str, trigger: str) -> None:
        """Run the object's pass as soon as it has none running."""
        if self._stopping:
            return
        if uid in self._tasks:
            self._again[uid] = trigger
            return
        self._cancel_timer(uid)
        if self._limit is not None and self._working >= self._limit:
            self._waiting.setdefault(uid, trigger)  # a second wake-up keeps its place in line
            return
        self._start(uid, trigger)

    def _start(self, uid: str, trigger: str) -> None:
        self._working += 1
        slot = slots.Slot(self._released, self._retaken)
        context = (self.context or EMPTY).copy()
        context.run(slots.CURRENT.set, slot)
        loop = asyncio.get_running_loop()
        self._tasks[uid] = loop.create_task(self._one(uid, trigger, slot), context=context)

    def _released(self) -> None:
        self._working -= 1
        self._admit()

    def _retaken(self) -> None:
        self._working += 1

    def _admit(self) -> None:
        """Start passes due, first due first, while slots are free."""
        while self._waiting and not self._stopping and (self._limit is None or self._working < self._limit):
            uid = next(iter(self._waiting))
            self._start(uid, self._waiting.pop(uid))

    def later(self, uid: str, delay: float, trigger: str) -> None:
        self._cancel_timer(uid)
        self._waiting.pop(uid, None)
        loop = asyncio.get_running_loop()
        self._timers[uid] = loop.call_later(delay, self._due, uid, trigger, context=EMPTY)

    def forget(self, uid: str) -> None:
        """No next pass; one running ends as it would (a deletion lets it finish)."""
        self._cancel_timer(uid)
        self._again.pop(uid, None)
        self._waiting.pop(uid, None)

    def _cancel_timer(self, uid: str) -> None:
        timer = self._timers.pop(uid, None)
        if timer is not None:
            timer.cancel()

    def running(self, uid: str) -> bool:
        return uid in self._tasks

    def scheduled(self, uid: str) -> bool:
        return uid in self._timers or uid in self._tasks or uid in self._waiting

    def _due(self, uid: str, trigger: str) -> None:
        self._timers.pop(uid, None)
        self.now(uid, trigger)

    async def _one(self, uid: str, trigger: str, slot: slots.Slot) -> None:
        following: Next = None
        try:
            following = await self._run(uid, trigger)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in the wiring: log it and look again later instead of never
            log.exception("a pass failed outside the reconcile")
            following = (30.0, "retry")
        finally:
            self._tasks.pop(uid, None)
            if slot.held:
                slot.held = False
                self._working -= 1
        if self._stopping:
            return
        if (again := self._again.pop(uid, None)) is not None:
            self.now(uid, again)
        elif following is not None:
            self.later(uid, *following)
        self._admit()

    async def stop(self, grace: float) -> None:
        """Schedule nothing more; let the passes in flight end for `grace` seconds, then cancel
        them (one cut off mid-request may leave a write in Azure nobody recorded)."""
        self._stopping = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._waiting.clear()
        tasks = list(self._tasks.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)

    @property
    def stopping(self) -> bool:
        return self._stopping
