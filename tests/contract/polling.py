"""Polling for the contract tests (a uniquely named module: test directories are not packages)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(
    probe: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], within: float = 10, every: float = 0.05
) -> Any:
    """Await `probe` until `done` holds of its value or `within` seconds pass; the last value either way."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(every)
