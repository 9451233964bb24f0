"""docs/metrics.md documents exactly the series the operator registers."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import generate_latest

from azureml_operator import metrics

DOC = Path(__file__).parents[2] / "docs" / "metrics.md"


def documented() -> set[str]:
    return set(re.findall(r"^\| `(azureml_operator_\w+)` \|", DOC.read_text(), re.M))


def exposed_families() -> set[str]:
    """Names as a scrape shows them (counters with their _total)."""
    return set(re.findall(r"^# TYPE (\S+) \w+$", generate_latest(metrics.REGISTRY).decode(), re.M))


def test_every_registered_series_is_documented_and_nothing_else() -> None:
    assert documented() == exposed_families()
