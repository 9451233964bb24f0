"""Every test under tests/contract drives the real azure-ai-ml SDK against the simulator."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/contract/" in str(item.path):
            item.add_marker(pytest.mark.contract)
