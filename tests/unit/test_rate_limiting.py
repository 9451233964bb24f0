"""Client-side ARM rate limiting, on a fake clock: tokens, refill, 429 pauses per subscription, and
pacing from ARM's remaining-quota headers (several instances sharing one subscription included)."""

from __future__ import annotations

import asyncio
import time

import pytest

from azureml_operator import slots
from azureml_operator.azure import ratelimit
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


async def test_a_pass_waiting_for_the_bucket_gives_its_slot_up_and_one_with_a_token_keeps_it() -> None:
    """A throttled subscription must not hold the slots other subscriptions' passes need."""
    t = FakeTime()
    rl = limiter(t)
    freed: list[str] = []
    slot = slots.Slot(lambda: freed.append("given up"), lambda: freed.append("taken back"))
    held_while_asleep: list[bool] = []

    async def sleep(seconds: float) -> None:
        held_while_asleep.append(slot.held)
        await t.sleep(seconds)

    rl.sleep = sleep
    slots.CURRENT.set(slot)
    await rl.acquire("sub", "PUT")  # a token is there: no wait, the slot is kept
    assert freed == []
    await rl.acquire("sub", "PUT")
    assert held_while_asleep == [False] and freed == ["given up", "taken back"] and slot.held


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


# -- pacing from ARM's x-ms-ratelimit-remaining-subscription-* headers ----------------------------

WRITES = BucketSpec(100, 10)  # low-water mark: 15 tokens


def paced(t: FakeTime) -> ArmRateLimiter:
    return ArmRateLimiter(
        buckets={"reads": WRITES, "writes": WRITES, "deletes": WRITES}, clock=t.clock, sleep=t.sleep
    )


def burst(rl: ArmRateLimiter) -> int:
    """How many writes may go at once, without waiting."""
    sent = 0
    while rl.try_acquire("sub", "PUT") == 0.0:
        sent += 1
    return sent


def test_the_local_bucket_never_holds_more_than_arm_says_remain() -> None:
    t = FakeTime()
    rl = paced(t)
    rl.observe("SUB", "writes", 30)  # someone else spent 70 of the subscription's 100
    # down to the low-water mark at once (30 - 15 + 1), then no longer all at once
    assert burst(rl) == 16
    rl.observe("sub", "writes", 0)
    assert rl.try_acquire("sub", "PUT") == 0.1  # one token's refill at 10/s
    assert rl.try_acquire("sub", "GET") == 0.0  # another kind's bucket is untouched


def test_a_header_never_raises_the_local_count() -> None:
    t = FakeTime()
    rl = paced(t)
    assert burst(rl) == 86
    rl.observe("sub", "writes", 100)  # an answer to an older request, or a larger bucket than ours
    assert rl.try_acquire("sub", "PUT") > 0


def test_below_the_low_water_mark_requests_spread_at_a_rate_proportional_to_what_remains() -> None:
    t = FakeTime()
    rl = paced(t)
    rl.observe("sub", "writes", 5)
    assert rl.try_acquire("sub", "PUT") == 0.0
    # 4 left, mark 15: 15 / (10/s * 4) = 0.375 s until the next, whatever the refill since
    assert rl.try_acquire("sub", "PUT") == pytest.approx(0.375)
    t.now += 0.375
    assert rl.try_acquire("sub", "PUT") == 0.0


def test_the_module_level_hook_reaches_every_live_limiter() -> None:
    t = FakeTime()
    one, two = paced(t), paced(t)
    ratelimit.observe("sub", "writes", 0)
    ratelimit.observe("sub", "unknown-budget", 0)  # ignored, not an error
    assert one.try_acquire("sub", "POST") > 0
    assert two.try_acquire("sub", "DELETE") == 0.0  # deletes have a bucket of their own


async def test_waiters_queue_in_order_and_wake_one_per_token() -> None:
    t = FakeTime()
    rl = paced(t)
    rl.observe("sub", "writes", 0)
    order: list[int] = []

    async def one(i: int) -> None:
        await rl.acquire("sub", "PUT")
        order.append(i)

    await asyncio.gather(*(one(i) for i in range(5)))
    assert order == [0, 1, 2, 3, 4]
    # five tokens at 10/s, spaced by the proportional rate: far fewer sleeps than waiters x tokens
    assert len(t.slept) <= 10


class FakeArm:
    """ARM's side: one subscription's write bucket, shared by every instance, answering with what
    remains (after `latency` seconds, when the answer reaches the instance that sent it)."""

    def __init__(self, spec: BucketSpec, latency: float) -> None:
        self.spec, self.latency = spec, latency
        self.tokens, self.stamp = spec.capacity, 0.0
        self.accepted = self.refused = 0

    def take(self, now: float) -> int:
        self.tokens = min(self.spec.capacity, self.tokens + (now - self.stamp) * self.spec.refill_per_second)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.accepted += 1
        else:
            self.refused += 1
        return int(self.tokens)


@pytest.mark.parametrize("instances", [1, 2, 4])
def test_instances_sharing_one_subscription_stay_inside_its_bucket(instances: int) -> None:
    """Each instance is greedy (always has writes to send, up to 8 at a time, as the Azure thread
    pool allows) and believes it has the bucket to itself; only the headers on its own answers, less
    its own requests still in flight (what `ratelimit.answered` passes on), tell it about the others.
    None is ever refused, and together they still use nearly all the bucket allows."""
    t = FakeTime()
    arm = FakeArm(BucketSpec(200, 10), latency=0.05)
    limiters = [ArmRateLimiter(clock=t.clock, sleep=t.sleep) for _ in range(instances)]
    in_flight: list[tuple[float, ArmRateLimiter, int]] = []
    step, duration = 0.005, 60.0
    while t.now < duration:
        for answer in [x for x in in_flight if x[0] <= t.now]:
            in_flight.remove(answer)
            _, rl, left = answer
            rl.observe("sub", "writes", left - sum(1 for x in in_flight if x[1] is rl))
        for rl in limiters:
            while sum(1 for x in in_flight if x[1] is rl) < 8 and rl.try_acquire("sub", "PUT") == 0.0:
                in_flight.append((t.now + arm.latency, rl, arm.take(t.now)))
        t.now += step
    assert arm.refused == 0
    bound = arm.spec.capacity + arm.spec.refill_per_second * duration
    assert arm.accepted >= 0.95 * bound


def test_an_answer_counts_this_process_s_requests_still_in_flight() -> None:
    t = FakeTime()
    rl = paced(t)
    first = ratelimit.sending("sub", "writes")
    for _ in range(3):
        ratelimit.sending("sub", "writes")
    ratelimit.answered("sub", "writes", 30, first)  # 30 left, but 3 more are on their way
    assert burst(rl) == 13  # 27 - 15 + 1
    ratelimit.answered("sub", "writes", None, None, now=time.monotonic() + 61)  # the 3 never answered
    later = paced(t)
    ratelimit.answered("sub", "writes", 30, None)
    assert burst(later) == 16  # forgotten: no longer subtracted
