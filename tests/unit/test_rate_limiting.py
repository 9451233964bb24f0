"""Client-side ARM rate limiting, on a fake clock: tokens, refill, and 429 pauses per subscription."""

from __future__ import annotations

from azureml_operator.azure.ratelimit import ArmRateLimiter, BucketSpec


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(t: FakeTime, **buckets: BucketSpec) -> ArmRateLimiter:
    specs = {"reads": BucketSpec(2, 1), "writes": BucketSpec(1, 0.5), "deletes": BucketSpec(1, 0.5)} | buckets
    return ArmRateLimiter(buckets=specs, clock=t.clock, sleep=t.sleep)


async def test_requests_within_the_bucket_do_not_wait() -> None:
    t = FakeTime()
    rl = limiter(t)
    assert [await rl.acquire("sub", "GET") for _ in range(2)] == [0.0, 0.0]
    assert t.slept == []


async def test_an_empty_bucket_waits_for_its_refill() -> None:
    t = FakeTime()
    rl = limiter(t)
    await rl.acquire("sub", "PUT")
    assert await rl.acquire("sub", "POST") == 2.0  # one write token per 2 s
    assert await rl.acquire("sub", "GET") == 0.0  # reads have their own bucket


async def test_subscriptions_have_separate_buckets() -> None:
    t = FakeTime()
    rl = limiter(t)
    await rl.acquire("sub-a", "DELETE")
    assert await rl.acquire("SUB-B", "DELETE") == 0.0
    assert await rl.acquire("Sub-A", "DELETE") == 2.0  # subscription ids compare case-insensitively


async def test_a_429_pauses_the_whole_subscription() -> None:
    t = FakeTime()
    rl = limiter(t)
    rl.throttled("sub", 7)
    assert await rl.acquire("sub", "GET") == 7.0
    assert await rl.acquire("other", "GET") == 0.0
    rl.throttled("sub", 3)
    rl.throttled("sub", 1)  # a shorter Retry-After never shortens a pause already in force
    assert await rl.acquire("sub", "GET") == 3.0
