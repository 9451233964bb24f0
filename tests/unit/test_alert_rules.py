"""The chart's alerting rules pass Prometheus's own checks: `promtool check rules` and the unit tests
in tests/promtool/ (`promtool test rules`). .ci/run installs promtool (Debian's prometheus
package) when it is missing; elsewhere the test is skipped without it, and says so."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
RULES = ROOT / "charts" / "azureml-operator" / "files" / "alerts" / "azureml-operator.rules.yaml"
TESTS = ROOT / "tests" / "promtool" / "alerts_test.yaml"

promtool = shutil.which("promtool")
if promtool is None and os.environ.get("CI"):
    raise RuntimeError("promtool is missing in CI: .ci/run installs Debian's prometheus package")
pytestmark = pytest.mark.skipif(
    promtool is None, reason="promtool not installed (apt-get install prometheus)"
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    assert promtool is not None
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60, check=False)


def test_the_rules_are_valid() -> None:
    checked = run("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout


def test_the_rules_unit_tests_pass() -> None:
    tested = run("test", "rules", str(TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_unit_test() -> None:
    alerts = {line.split(":", 1)[1].strip() for line in RULES.read_text().splitlines() if "- alert:" in line}
    tested = {
        line.split(":", 1)[1].strip() for line in TESTS.read_text().splitlines() if "alertname:" in line
    }
    assert alerts == tested
