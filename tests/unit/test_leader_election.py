"""The pure decisions of leader election (election.py) and its flags: who may take the Lease and
when, what a claim, a renewal and a release write, and which timings are refused as unsafe."""

from __future__ import annotations

import re

import pytest

from azureml_operator import settings
from azureml_operator.election import Record, Timings, claimed, may_take, micro_time, released

T = Timings()
STAMP = "2026-01-01T00:00:00.000000Z"


def test_a_lease_held_by_another_is_taken_only_after_a_lease_duration_unchanged() -> None:
    held = Record(holder="b", duration_seconds=15)
    assert not may_take(held, "a", observed_at=100.0, now=114.9, timings=T)
    assert may_take(held, "a", observed_at=100.0, now=115.0, timings=T)
    assert may_take(held, "b", observed_at=100.0, now=100.0, timings=T)  # its own: a renewal
    assert may_take(Record(), "a", observed_at=100.0, now=100.0, timings=T)  # nobody holds it


def test_the_records_own_duration_wins_and_a_released_lease_is_free_at_once() -> None:
    assert may_take(Record(holder="b", duration_seconds=1), "a", 100.0, 101.0, T)
    gone = released(Record(holder="a", transitions=3), STAMP)
    assert gone.holder is None and gone.duration_seconds == 1 and gone.transitions == 3
    assert may_take(gone, "b", 100.0, 100.0, T)


def test_claims_count_transitions_as_client_go_does() -> None:
    first = claimed(None, "a", T, STAMP)
    assert (first.holder, first.transitions, first.duration_seconds) == ("a", 0, 15)
    renewed = claimed(first, "a", T, "2026-01-01T00:00:02.000000Z")
    assert renewed.acquire_time == STAMP and renewed.transitions == 0
    assert renewed.renew_time == "2026-01-01T00:00:02.000000Z"
    taken = claimed(renewed, "b", T, "2026-01-01T00:00:30.000000Z")
    assert (taken.holder, taken.transitions, taken.acquire_time) == ("b", 1, "2026-01-01T00:00:30.000000Z")
    assert Record.from_lease({"spec": taken.spec()}) == taken


def test_micro_time_always_has_six_fraction_digits() -> None:
    import datetime

    on_the_second = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    assert micro_time(on_the_second) == "2026-01-01T00:00:00.000000Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", micro_time())


@pytest.mark.parametrize(
    ("timings", "problem"),
    [
        (Timings(15, 10, 2), None),
        (Timings(10, 10, 2), "lease duration must be longer than the renew deadline"),
        (Timings(15, 2, 2), "renew deadline must be longer than the retry period"),
        (Timings(15, 10, 0), "retry period must be positive"),
    ],
)
def test_unsafe_timings_are_named(timings: Timings, problem: str | None) -> None:
    found = timings.problem()
    assert found == problem if problem is None else (found is not None and problem in found)


def test_the_flags_and_their_environment() -> None:
    parsed = settings.parse(["-A", "--leader-election", "--lease-namespace", "ops"], env={})
    assert parsed.leader_election and parsed.lease_namespace == "ops"
    assert (parsed.lease_name, parsed.lease_timings) == ("azureml-operator", Timings())
    from_env = settings.parse(
        ["-A"],
        env={
            "AZUREML_OPERATOR_LEADER_ELECTION": "true",
            "POD_NAMESPACE": "azureml-system",
            "AZUREML_OPERATOR_LEASE_DURATION": "30",
            "AZUREML_OPERATOR_LEASE_RENEW_DEADLINE": "20",
        },
    )
    assert from_env.leader_election and from_env.lease_namespace == "azureml-system"
    assert from_env.lease_timings == Timings(30.0, 20.0, 2.0)
    assert not settings.parse(["-A"], env={}).leader_election


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lease-duration", "10"], "lease duration must be longer than the renew deadline"),
        (["--lease-retry-period", "nan"], "finite"),
    ],
)
def test_unsafe_flags_are_refused(argv: list[str], message: str) -> None:
    with pytest.raises(settings.SettingsError, match=message):
        settings.parse(["-A", "--leader-election", "--lease-namespace", "ops", *argv], env={})


def test_leader_election_needs_a_namespace_outside_a_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("azureml_operator.election.SERVICE_ACCOUNT_NAMESPACE", "/nonexistent/namespace")
    with pytest.raises(settings.SettingsError, match="POD_NAMESPACE"):
        settings.parse(["-A", "--leader-election"], env={})
