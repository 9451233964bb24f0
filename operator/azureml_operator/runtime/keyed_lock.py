"""One lock per key that exists only while it is held or waited for.

A pass and a deletion of the same object must not overlap; different objects never wait for each
other. A lock kept per object for its lifetime costs its bookkeeping at every object (at 10 000
objects, a megabyte for locks nobody holds).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeyedLock:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}  # holders and waiters of each key's lock

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]

    def __len__(self) -> int:
        """Keys whose lock is held or waited for."""
        return len(self._locks)
