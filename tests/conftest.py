"""Shared fixtures. Contract tests run the real azure-ai-ml SDK against a simulator child process
over TLS; the simulator is started once per session and reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from azureml_standins.simulator.process import SimulatorProcess

# Small enough that every long-running operation (the longest, a deployment create, takes
# 600 s x 0.001 = 0.6 s) finishes before the SDK's first re-poll after Retry-After: 1.
CONTRACT_LATENCY_SCALE = 0.001


@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorProcess]:
    with SimulatorProcess(latency_scale=CONTRACT_LATENCY_SCALE) as sim:
        yield sim


@pytest.fixture
def sim(simulator: SimulatorProcess) -> SimulatorProcess:
    """The session's simulator, reset to its seeded state (faults, throttling and latency too) for this test."""
    simulator.admin("POST", "reset")
    return simulator


@pytest.fixture
def ml(sim: SimulatorProcess):  # type: ignore[no-untyped-def]
    """An MLClient for ws-sim. Retries are off so that an error reaches the test at once."""
    return sim.ml_client(retry_total=0)
