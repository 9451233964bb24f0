"""The issue's acceptance script: examples/simulator_walkthrough.py, which uses only the public SDK,
runs to completion against a simulator child process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "simulator_walkthrough.py"


def test_walkthrough_runs_against_the_simulator(sim) -> None:
    # Creating an MLClient in this process wrote AZUREML_CURRENT_CLOUD (a process-global SDK side
    # effect); a child that inherits a cloud name it never registered fails at `import azure.ai.ml`.
    env = {k: v for k, v in os.environ.items() if k != "AZUREML_CURRENT_CLOUD"}
    env["REQUESTS_CA_BUNDLE"] = str(sim.ca)
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), sim.base_url], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "subscription llama-3-8b: subscribed" in out
    assert "Simulated reply" in out
    assert "online traffic {'blue': 100}, mirror {'green': 10}" in out
    assert "online traffic {'blue': 90, 'green': 10}, mirror {}" in out
    assert re.search(
        r"fine-tuning \S+: (JobStatus\.)?completed, registered model phi4-mini-ft version 1", out, re.I
    )
    stats = sim.admin("GET", "stats")
    assert stats["resources"] == {
        "jobs": 1,
        "marketplaceSubscriptions": 1,
        "models/versions": 1,
        "onlineEndpoints": 1,
        "onlineEndpoints/deployments": 2,
        "serverlessEndpoints": 1,
    }
