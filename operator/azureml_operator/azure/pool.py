"""One shared `Connection` per (workspace, credential), one `CredentialSession` (credential object
and ARM pipeline) per distinct credential, and what all of them share: the bounded thread pool that
runs Azure calls and the per-subscription ARM rate limiter.

Tenancy: a session is keyed by the credential's whole identity (`CredentialSpec.key`: kind, client
id, tenant, a hash of the secret), so two workspaces share a pipeline only when they are reached
with the very same credential; one namespace's credential never serves another's workspace.

A connection is a few hundred bytes (see `benchmarks/memory.py`); a session is built once per
credential, in the pool (building a credential may import azure-identity and read files), so the
event loop never waits on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from azureml_operator.azure import credentials
from azureml_operator.azure.client import Connection, WorkspaceTarget
from azureml_operator.azure.mlclient import CredentialSession, WorkspaceConnection
from azureml_operator.azure.ratelimit import ArmRateLimiter

CredentialKey = tuple[str, ...]
SessionFactory = Callable[[credentials.CredentialSpec], CredentialSession]


class ClientPool:
    def __init__(
        self,
        arm_endpoint: str,
        *,
        concurrency: int = 8,
        limiter: ArmRateLimiter | None = None,
        session_factory: SessionFactory | None = None,
    ) -> None:
        self.arm_endpoint = arm_endpoint
        self.limiter = limiter or ArmRateLimiter()
        self.concurrency = concurrency
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="azure")
        self._session_factory = session_factory or self._session
        self._sessions: dict[CredentialKey, CredentialSession] = {}
        self._clients: dict[tuple[WorkspaceTarget, CredentialKey], Connection] = {}
        self._building: dict[CredentialKey, asyncio.Lock] = {}

    def _session(self, spec: credentials.CredentialSpec) -> CredentialSession:
        return CredentialSession(
            credentials.build(spec, self.arm_endpoint),
            arm_endpoint=self.arm_endpoint,
            limiter=self.limiter,
            executor=self.executor,
            connections=self.concurrency,
        )

    async def get(self, target: WorkspaceTarget, spec: credentials.CredentialSpec) -> Connection:
        """The shared connection; raises `credentials.CredentialRefused` for a forbidden combination."""
        key = (target, spec.key)
        client = self._clients.get(key)
        if client is not None:
            return client
        session = await self.session(spec)
        # No await since the lookup above: nobody else can have added this connection meanwhile.
        return self._clients.setdefault(key, WorkspaceConnection(target, session))

    async def session(self, spec: credentials.CredentialSpec) -> CredentialSession:
        """The one session of this credential, built on first use."""
        session = self._sessions.get(spec.key)
        if session is not None:
            return session
        lock = self._building.setdefault(spec.key, asyncio.Lock())
        async with lock:
            session = self._sessions.get(spec.key)
            if session is None:
                loop = asyncio.get_running_loop()
                session = await loop.run_in_executor(self.executor, self._session_factory, spec)
                self._sessions[spec.key] = session
        self._building.pop(spec.key, None)
        return session

    def __len__(self) -> int:
        return len(self._clients)

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
        self._clients.clear()
        self.executor.shutdown(wait=False, cancel_futures=True)
