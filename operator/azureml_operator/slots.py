"""How many passes work at once, and the waits during which a pass gives its slot up.

The scheduler starts at most so many passes at once; one due beyond that waits for a slot, costing
its place in line and nothing else. Unbounded, a burst of objects applied together (10 000 in the
bench) started every pass at once, and each parked halfway, holding its object's body and state,
behind the few threads that make Kubernetes and Azure calls: tens of megabytes for no speed.

A pass that waits for something other than its own work gives its slot up meanwhile: an ARM
bucket's refill or a 429's pause (so a throttled subscription never holds the slots that another
subscription's objects need), or the watch delivering its own last write. It takes the slot back
when the wait ends without queueing again: for a moment more passes than the bound may work, and
no new one starts until there are fewer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar


class Slot:
    """One pass's hold on the bound; `give_up` and `take_back` tell the scheduler."""

    def __init__(self, released: Callable[[], None], retaken: Callable[[], None]) -> None:
        self.held = True
        self._released, self._retaken = released, retaken

    def give_up(self) -> None:
        if self.held:
            self.held = False
            self._released()

    def take_back(self) -> None:
        if not self.held:
            self.held = True
            self._retaken()


# The slot of the pass running in this context, if any (the scheduler sets it in each pass's own).
CURRENT: ContextVar[Slot | None] = ContextVar("azureml_operator_slot", default=None)


@asynccontextmanager
async def waiting() -> AsyncIterator[None]:
    """Around a wait that is not the pass's own work: its slot goes to another pass meanwhile."""
    slot = CURRENT.get()
    if slot is None or not slot.held:
        yield
        return
    slot.give_up()
    try:
        yield
    finally:
        slot.take_back()
