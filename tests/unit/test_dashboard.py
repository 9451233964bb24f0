"""The chart's Grafana dashboard: valid JSON Grafana can import, every query valid PromQL (checked
by promtool, as recording rules), every documented series shown somewhere and nothing else queried."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]
DASHBOARD = ROOT / "charts" / "azureml-operator" / "files" / "dashboards" / "azureml-operator.json"
DOCUMENTED = set(
    re.findall(r"^\| `(azureml_operator_\w+)` \|", (ROOT / "docs" / "metrics.md").read_text(), re.M)
)


def queries() -> list[str]:
    board: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in board["panels"] for t in p["targets"]]


def test_the_dashboard_is_importable() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "azureml-operator" and board["title"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "job"}
    for panel in board["panels"]:
        assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_it_shows_every_documented_series_and_queries_nothing_undocumented() -> None:
    used = {m for q in queries() for m in re.findall(r"azureml_operator_\w+", q)}
    base = {re.sub(r"_(bucket|count|sum)$", "", m) for m in used}
    assert base == DOCUMENTED, {"undocumented": base - DOCUMENTED, "not shown": DOCUMENTED - base}


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing in CI: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    rules = [
        {"record": f"dashboard:query_{i}", "expr": q.replace("$job", ".*")} for i, q in enumerate(queries())
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
