"""Client-side ARM rate limiting: stay inside ARM's per-subscription token buckets instead of
learning them from 429s, and when a 429 does arrive, pause every caller of that subscription for
its Retry-After rather than letting each object retry on its own schedule.

Buckets mirror ARM's (reads 250 refilling 25/s, writes and deletes 200 refilling 10/s). Our own
count is not the whole truth: another operator instance (a shard on other namespaces), a pipeline
or a person may spend the same subscription's budget, and one SDK call may make several requests.
So every answer's `x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}` header is fed
back (`sending`/`answered`, called by the telemetry hooks): the local bucket never holds more
tokens than ARM says remain, less this process's requests still in flight (the answer may predate
them). Below a low-water mark the limiter also spreads requests, at a rate proportional to
what remains (the refill rate at the mark): N instances sharing one bucket then settle where their
combined rate equals the refill, about mark/N tokens above empty, instead of racing it to zero.

Waiting is `asyncio.sleep`, so a throttled object never blocks the event loop or other
subscriptions; waiters of one bucket queue in order behind one lock, so an empty bucket wakes one
coroutine per token instead of every waiter. `observe` arrives from the SDK's worker threads,
hence the (never contended for long) thread lock around bucket state.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from azureml_operator import slots


@dataclass(frozen=True)
class BucketSpec:
    capacity: float
    refill_per_second: float


ARM_BUCKETS = {"reads": BucketSpec(250, 25), "writes": BucketSpec(200, 10), "deletes": BucketSpec(200, 10)}
# The share of a bucket kept in reserve: other instances' requests in flight are in nobody's count
# until ARM answers them. 15 % of the write bucket is 30: in a simulation (tests/unit) up to four
# instances, each with 8 requests in flight, share a bucket with no 429 and use over 95 % of it; a
# single instance loses the reserve, 3 s of the write refill, once per burst.
LOW_WATER_FRACTION = 0.15


def kind_of(method: str) -> str:
    method = method.upper()
    if method in ("GET", "HEAD"):
        return "reads"
    return "deletes" if method == "DELETE" else "writes"


@dataclass
class _Bucket:
    spec: BucketSpec
    tokens: float
    stamp: float
    last_take: float = float("-inf")

    @property
    def low_water(self) -> float:
        return max(1.0, self.spec.capacity * LOW_WATER_FRACTION)

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(
                self.spec.capacity, self.tokens + (now - self.stamp) * self.spec.refill_per_second
            )
            self.stamp = now

    def observe(self, remaining: float, now: float) -> None:
        """ARM says `remaining` tokens are left: never believe in more than that."""
        self._refill(now)
        self.tokens = min(self.tokens, max(0.0, remaining))

    def wait_for_token(self, now: float) -> float:
        """Take a token if one may go now (0.0), else the seconds to wait (nothing taken)."""
        self._refill(now)
        rate = self.spec.refill_per_second
        if self.tokens < 1:
            return (1 - self.tokens) / rate
        low = self.low_water
        if self.tokens < low:
            # The rate falls with what remains: `rate` at the mark, `rate * tokens / low` below it.
            due = self.last_take + low / (rate * self.tokens)
            if now < due:
                return due - now
        self.tokens -= 1
        self.last_take = now
        return 0.0


# Every live limiter, so the telemetry hook (module-level, installed in every client's pipeline)
# can reach them without the clients holding a reference; ARM's budget is the process's to share.
_LIMITERS: weakref.WeakSet[ArmRateLimiter] = weakref.WeakSet()
_LIMITERS_LOCK = threading.Lock()
# Requests sent and not yet answered, per (subscription, kind): an answer's count may not include
# them yet. A request that never gets an answer (a connection error) is forgotten after a while.
_IN_FLIGHT: dict[tuple[str, str], dict[int, float]] = {}
_FORGET_AFTER = 60.0
_next_id = itertools.count()


def sending(subscription: str, kind: str, now: float | None = None) -> int:
    """A request of this kind leaves for this subscription; the id goes to `answered`."""
    ident = next(_next_id)
    with _LIMITERS_LOCK:
        _IN_FLIGHT.setdefault((subscription.lower(), kind), {})[ident] = (
            time.monotonic() if now is None else now
        )
    return ident


def answered(
    subscription: str, kind: str, remaining: float | None, ident: int | None, now: float | None = None
) -> None:
    """The answer to request `ident`, with ARM's remaining count of this kind (None: no header)."""
    now = time.monotonic() if now is None else now
    key = (subscription.lower(), kind)
    with _LIMITERS_LOCK:
        flying = _IN_FLIGHT.get(key, {})
        if ident is not None:
            flying.pop(ident, None)
        for stale in [i for i, at in flying.items() if now - at > _FORGET_AFTER]:
            del flying[stale]
        unseen = len(flying)
        limiters = list(_LIMITERS)
    if remaining is not None:
        for limiter in limiters:
            limiter.observe(subscription, kind, remaining - unseen)


def observe(subscription: str, kind: str, remaining: float) -> None:
    """An ARM answer's remaining-quota header, for every limiter of this process."""
    answered(subscription, kind, remaining, None)


@dataclass(eq=False)
class ArmRateLimiter:
    buckets: dict[str, BucketSpec] = field(default_factory=lambda: dict(ARM_BUCKETS))
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
    _state: dict[tuple[str, str], _Bucket] = field(default_factory=dict)
    _paused_until: dict[str, float] = field(default_factory=dict)
    _queues: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        with _LIMITERS_LOCK:
            _LIMITERS.add(self)

    def _bucket(self, key: tuple[str, str], now: float) -> _Bucket:
        bucket = self._state.get(key)
        if bucket is None:
            spec = self.buckets[key[1]]
            bucket = self._state[key] = _Bucket(spec, spec.capacity, now)
        return bucket

    async def acquire(self, subscription: str, method: str) -> float:
        """Wait until a request of this kind may go to this subscription; returns the seconds waited."""
        key = (subscription.lower(), kind_of(method))
        queue = self._queues.setdefault(key, asyncio.Lock())
        if not queue.locked() and self.try_acquire(subscription, method) == 0:
            return 0.0  # nobody waits before us and a token is there
        waited = 0.0
        # Waiting for the bucket is not work: the pass's slot goes to another pass meanwhile, so
        # a throttled subscription never holds the slots other subscriptions' objects need.
        async with slots.waiting(), queue:
            while (delay := self.try_acquire(subscription, method)) > 0:
                await self.sleep(delay)
                waited += delay
        return waited

    def try_acquire(self, subscription: str, method: str) -> float:
        """Take a token now (0.0) or say how long to wait before asking again (nothing taken)."""
        key = (subscription.lower(), kind_of(method))
        now = self.clock()
        with self._lock:
            pause = self._paused_until.get(key[0], 0.0) - now
            if pause > 0:
                return pause
            return self._bucket(key, now).wait_for_token(now)

    def observe(self, subscription: str, kind: str, remaining: float) -> None:
        """ARM's `x-ms-ratelimit-remaining-subscription-<kind>` on an answer to this subscription."""
        if kind not in self.buckets:
            return
        key = (subscription.lower(), kind)
        now = self.clock()
        with self._lock:
            self._bucket(key, now).observe(remaining, now)

    def throttled(self, subscription: str, retry_after: float) -> None:
        """ARM answered 429: hold every request to this subscription for `retry_after` seconds."""
        key = subscription.lower()
        with self._lock:
            until = self.clock() + max(retry_after, 0.0)
            self._paused_until[key] = max(self._paused_until.get(key, 0.0), until)
