"""ARM request throttling: token buckets per subscription and operation kind.

A request that finds its bucket empty is not processed and gets 429 with Retry-After (the seconds
until one token is back), as ARM does (azure-ml-service-rules.md §7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from azureml_standins.simulator.config import Bucket, ThrottleConfig


def kind_of(method: str) -> str:
    """ARM classifies by HTTP method: GET/HEAD read, DELETE delete, everything else write."""
    if method in ("GET", "HEAD"):
        return "reads"
    if method == "DELETE":
        return "deletes"
    return "writes"


@dataclass
class TokenBucket:
    spec: Bucket
    tokens: float
    stamp: float

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(
                self.spec.capacity, self.tokens + (now - self.stamp) * self.spec.refill_per_second
            )
            self.stamp = now

    def take(self, now: float) -> tuple[bool, int, int]:
        """(allowed, remaining whole tokens, retry-after seconds when refused)."""
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True, int(self.tokens), 0
        wait = (1 - self.tokens) / self.spec.refill_per_second if self.spec.refill_per_second > 0 else 3600
        return False, 0, max(1, math.ceil(wait))


class Throttle:
    def __init__(self, config: ThrottleConfig) -> None:
        self.config = config
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def reconfigure(self, config: ThrottleConfig) -> None:
        self.config = config
        self._buckets.clear()

    def take(self, subscription: str, method: str, now: float) -> tuple[bool, str, int, int]:
        """(allowed, kind, remaining, retry_after) for one request; always allowed when disabled."""
        kind = kind_of(method)
        if not self.config.enabled:
            return True, kind, int(getattr(self.config, kind).capacity), 0
        key = (subscription.lower(), kind)
        bucket = self._buckets.get(key)
        if bucket is None:
            spec: Bucket = getattr(self.config, kind)
            bucket = self._buckets[key] = TokenBucket(spec, spec.capacity, now)
        allowed, remaining, retry_after = bucket.take(now)
        return allowed, kind, remaining, retry_after
