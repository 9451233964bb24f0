"""Ready conditions: transitions keep their time unless the status flips; generation is stamped."""

from __future__ import annotations

from azureml_operator import conditions
from azureml_operator.conditions import Reason


def test_transition_time_moves_only_when_status_flips() -> None:
    first = conditions.set_condition(
        [],
        status="False",
        reason=Reason.CREATING,
        message="creating",
        generation=1,
        now="2026-01-01T00:00:00Z",
    )
    same_status = conditions.set_condition(
        first,
        status="False",
        reason=Reason.UPDATING,
        message="later",
        generation=2,
        now="2026-01-01T00:05:00Z",
    )
    assert same_status[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert same_status[0]["reason"] == "Updating" and same_status[0]["observedGeneration"] == 2
    flipped = conditions.set_condition(
        same_status,
        status="True",
        reason=Reason.SUCCEEDED,
        message="ok",
        generation=2,
        now="2026-01-01T00:09:00Z",
    )
    assert flipped[0]["lastTransitionTime"] == "2026-01-01T00:09:00Z"
    assert conditions.is_ready(flipped) and not conditions.is_ready(same_status)


def test_other_condition_types_are_kept() -> None:
    other = {"type": "Synced", "status": "True", "reason": "x", "message": "", "lastTransitionTime": "t"}
    result = conditions.set_condition(
        [other], status="True", reason=Reason.SUCCEEDED, message="", generation=None
    )
    assert [c["type"] for c in result] == ["Ready", "Synced"]
    assert "observedGeneration" not in result[0]
    assert conditions.get(result, "Synced") == other


def test_setting_the_same_state_twice_is_idempotent() -> None:
    once = conditions.set_condition(
        None, status="True", reason=Reason.NOT_REQUIRED, message="m", generation=3
    )
    twice = conditions.set_condition(
        once, status="True", reason=Reason.NOT_REQUIRED, message="m", generation=3
    )
    assert once == twice
