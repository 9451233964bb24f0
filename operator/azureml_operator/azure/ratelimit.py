"""Client-side ARM rate limiting: stay inside ARM's per-subscription token buckets instead of
learning them from 429s, and when a 429 does arrive, pause every caller of that subscription for
its Retry-After rather than letting each object retry on its own schedule.

Buckets mirror ARM's (reads 250 refilling 25/s, writes and deletes 200 refilling 10/s). Waiting is
`asyncio.sleep`, so a throttled object never blocks the event loop or other subscriptions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BucketSpec:
    capacity: float
    refill_per_second: float


ARM_BUCKETS = {"reads": BucketSpec(250, 25), "writes": BucketSpec(200, 10), "deletes": BucketSpec(200, 10)}


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

    def wait_for_token(self, now: float) -> float:
        """Take a token if there is one (0.0), else the seconds until one refills (nothing taken)."""
        if now > self.stamp:
            self.tokens = min(
                self.spec.capacity, self.tokens + (now - self.stamp) * self.spec.refill_per_second
            )
            self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.spec.refill_per_second


@dataclass
class ArmRateLimiter:
    buckets: dict[str, BucketSpec] = field(default_factory=lambda: dict(ARM_BUCKETS))
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
    _state: dict[tuple[str, str], _Bucket] = field(default_factory=dict)
    _paused_until: dict[str, float] = field(default_factory=dict)

    async def acquire(self, subscription: str, method: str) -> float:
        """Wait until a request of this kind may go to this subscription; returns the seconds waited."""
        key = (subscription.lower(), kind_of(method))
        waited = 0.0
        while True:
            now = self.clock()
            pause = self._paused_until.get(key[0], 0.0) - now
            if pause > 0:
                await self.sleep(pause)
                waited += pause
                continue
            bucket = self._state.get(key)
            if bucket is None:
                spec = self.buckets[key[1]]
                bucket = self._state[key] = _Bucket(spec, spec.capacity, now)
            delay = bucket.wait_for_token(now)
            if delay == 0.0:
                return waited
            await self.sleep(delay)
            waited += delay

    def throttled(self, subscription: str, retry_after: float) -> None:
        """ARM answered 429: hold every request to this subscription for `retry_after` seconds."""
        until = self.clock() + max(retry_after, 0.0)
        key = subscription.lower()
        self._paused_until[key] = max(self._paused_until.get(key, 0.0), until)
