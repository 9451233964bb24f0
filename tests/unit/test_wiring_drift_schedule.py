"""The drift check's schedule: at most one ARM read per object per drift interval, in any window."""

from __future__ import annotations

from azureml_operator import wiring


def test_no_drift_check_comes_sooner_than_the_drift_interval() -> None:
    """At most one ARM read per object per drift interval, in any window: the spread only lengthens."""
    delays = [wiring.drift_delay(600) for _ in range(2000)]
    assert min(delays) >= 600 and max(delays) <= 720
    assert max(delays) - min(delays) > 60  # still spread, so objects applied together drift apart
