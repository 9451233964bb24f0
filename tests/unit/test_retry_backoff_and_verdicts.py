"""Retry back-off grows, is capped and jittered; verdicts say when a deletion may let go."""

from __future__ import annotations

import random

import pytest

from azureml_operator.conditions import TRANSIENT, Reason
from azureml_operator.reconcilers.common import (
    POLL_OPERATION,
    RETRY_UNAVAILABLE,
    WAIT_DEPENDENCY,
    Backoff,
    Event,
    Verdict,
)

ROUNDING = 0.005  # delays are rounded to hundredths of a second


class _Fixed(random.Random):
    """A source of randomness whose `uniform` always returns one end (or the middle) of the range."""

    def __init__(self, pick: str) -> None:
        super().__init__(0)
        self.pick = pick

    def uniform(self, a: float, b: float) -> float:
        return {"low": a, "high": b, "mid": (a + b) / 2}[self.pick]


@pytest.mark.parametrize(
    ("attempt", "expected"), [(0, 2.0), (1, 4.0), (2, 8.0), (3, 16.0), (4, 30.0), (10, 30.0)]
)
def test_poll_backoff_doubles_per_attempt_until_the_cap(attempt: int, expected: float) -> None:
    assert POLL_OPERATION.delay(attempt, _Fixed("mid")) == expected


def test_negative_attempts_count_as_the_first() -> None:
    assert Backoff(base=5.0, cap=100.0).delay(-3, _Fixed("mid")) == 5.0


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    assert RETRY_UNAVAILABLE.delay(10**6, _Fixed("mid")) == 300.0
    assert Backoff(base=1.0, cap=10**9).delay(10**6, _Fixed("mid")) == 2.0**16


def test_jitter_spans_twenty_percent_either_side() -> None:
    backoff = Backoff(base=10.0, cap=1000.0)
    assert backoff.delay(0, _Fixed("low")) == 8.0
    assert backoff.delay(0, _Fixed("high")) == 12.0


@pytest.mark.parametrize("backoff", [POLL_OPERATION, WAIT_DEPENDENCY, RETRY_UNAVAILABLE])
def test_jittered_delays_stay_within_twenty_percent_of_the_capped_value(backoff: Backoff) -> None:
    rng = random.Random(1234)
    for attempt in range(0, 20):
        nominal = min(backoff.cap, backoff.base * 2**attempt)
        for _ in range(50):
            delay = backoff.delay(attempt, rng)
            assert nominal * 0.8 - ROUNDING <= delay <= nominal * 1.2 + ROUNDING, (attempt, delay)


def test_jitter_actually_varies_and_is_reproducible_with_a_seed() -> None:
    first = [WAIT_DEPENDENCY.delay(2, random.Random(7)) for _ in range(3)]
    again = [WAIT_DEPENDENCY.delay(2, random.Random(7)) for _ in range(3)]
    assert first == again
    rng = random.Random(7)
    spread = {WAIT_DEPENDENCY.delay(2, rng) for _ in range(30)}
    assert len(spread) > 10


def test_delays_grow_on_average_until_the_cap() -> None:
    rng = random.Random(99)
    means = [sum(RETRY_UNAVAILABLE.delay(a, rng) for _ in range(200)) / 200 for a in range(8)]
    assert means[0] == pytest.approx(5.0, rel=0.05)
    assert means[3] == pytest.approx(40.0, rel=0.05)
    assert means[7] == pytest.approx(300.0, rel=0.05)
    assert means[:7] == sorted(means[:7])


def test_delays_are_rounded_to_hundredths() -> None:
    rng = random.Random(3)
    for attempt in range(6):
        delay = POLL_OPERATION.delay(attempt, rng)
        assert round(delay, 2) == delay


def test_the_shared_backoffs_have_their_documented_bases_and_caps() -> None:
    assert (POLL_OPERATION.base, POLL_OPERATION.cap) == (2.0, 30.0)
    assert (WAIT_DEPENDENCY.base, WAIT_DEPENDENCY.cap) == (3.0, 60.0)
    assert (RETRY_UNAVAILABLE.base, RETRY_UNAVAILABLE.cap) == (5.0, 300.0)


# --- verdicts ---------------------------------------------------------------------------------


def test_ready_verdict_carries_its_fields_and_no_requeue() -> None:
    verdict = Verdict.ready(Reason.SUCCEEDED, "ok", inferenceUri="https://x", endpointState="Online")
    assert (verdict.status, verdict.reason, verdict.message) == ("True", Reason.SUCCEEDED, "ok")
    assert verdict.fields == {"inferenceUri": "https://x", "endpointState": "Online"}
    assert verdict.requeue_after is None and verdict.events == []


def test_not_ready_verdict_keeps_requeue_apart_from_fields() -> None:
    verdict = Verdict.not_ready(Reason.CREATING, "creating", requeue_after=4.0, provisioningState="Creating")
    assert verdict.status == "False"
    assert verdict.requeue_after == 4.0
    assert verdict.fields == {"provisioningState": "Creating"}
    assert not verdict.released


def test_release_lets_the_finalizer_go_with_its_events() -> None:
    retained = Event("Normal", "Retained", "left it")
    verdict = Verdict.release("left it in Azure", retained)
    assert verdict.released
    assert (verdict.status, verdict.reason, verdict.message) == ("False", Reason.DELETING, "left it in Azure")
    assert verdict.events == [retained]
    assert verdict.fields == {}


def test_deletion_still_in_progress_is_not_released() -> None:
    verdict = Verdict.not_ready(Reason.DELETING, "deleting", requeue_after=2.0)
    assert not verdict.released


def test_unknown_verdict_has_unknown_status() -> None:
    verdict = Verdict.unknown(Reason.RECONCILE_SKIPPED, "skipped")
    assert (verdict.status, verdict.reason, verdict.requeue_after) == (
        "Unknown",
        Reason.RECONCILE_SKIPPED,
        None,
    )


def test_verdicts_do_not_share_mutable_defaults() -> None:
    a = Verdict.release("a")
    b = Verdict.release("b")
    a.events.append(Event("Normal", "X", "x"))
    a.fields["k"] = 1
    assert b.events == [] and b.fields == {}


def test_transient_reasons_are_exactly_those_that_resolve_by_themselves() -> None:
    assert (
        frozenset(
            {
                Reason.CREATING,
                Reason.UPDATING,
                Reason.DELETING,
                Reason.WAITING_FOR_SUBSCRIPTION,
                Reason.WAITING_FOR_WORKSPACE,
                Reason.WAITING_FOR_DATA,
                Reason.WAITING_FOR_MODEL,
                Reason.WAITING_FOR_ENDPOINT,
                Reason.TRAFFIC_PENDING,
                Reason.QUEUED,
                Reason.RUNNING,
                Reason.THROTTLED,
                Reason.AZURE_UNAVAILABLE,
            }
        )
        == TRANSIENT
    )
    for needs_a_person in (
        Reason.NAME_TAKEN,
        Reason.CREDENTIAL_REJECTED,
        Reason.CONFLICT,
        Reason.PROVISIONING_FAILED,
        Reason.SUBSCRIPTION_INACTIVE,
        Reason.INVALID_SPEC,
        Reason.JOB_FAILED,
        Reason.JOB_CANCELED,
    ):
        assert needs_a_person not in TRANSIENT
