"""Every test under tests/contract drives the real azure-ai-ml SDK against the simulator; the
operator's own client layer is driven beside it through `conn`, its requests recorded by `wire`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core import PipelineClient

from azureml_operator.azure.client import Connection, WorkspaceTarget
from azureml_operator.azure.credentials import CredentialSpec
from azureml_operator.azure.pool import ClientPool
from azureml_standins.simulator.process import SimulatorProcess

HOME = WorkspaceTarget("00000000-0000-0000-0000-000000000000", "rg-sim", "ws-sim")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/contract/" in str(item.path):
            item.add_marker(pytest.mark.contract)


@pytest.fixture
def conn(sim: SimulatorProcess) -> Iterator[Connection]:
    """The operator's connection to the simulator's home workspace, with the dev token."""
    pool = ClientPool(sim.base_url)
    try:
        yield asyncio.run(pool.get(HOME, CredentialSpec("static")))
    finally:
        pool.close()


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Any]]:
    """Every request an azure-core pipeline sends: method, URL and the JSON body as sent."""
    sent: list[tuple[str, str, Any]] = []
    original = PipelineClient.send_request

    def recording(self: PipelineClient[Any, Any], request: Any, **kwargs: Any) -> Any:
        content = request.content
        sent.append((request.method, request.url, json.loads(content) if content else None))
        return original(self, request, **kwargs)

    monkeypatch.setattr(PipelineClient, "send_request", recording)
    return sent
