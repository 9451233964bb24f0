"""One shared `Connection` per (workspace, credential), plus the resources all of them share: the
bounded thread pool that runs SDK calls and the per-subscription ARM rate limiter.

Building the first client imports azure-ai-ml (about 1.5 s), so construction runs in the pool too:
the event loop never waits on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from azureml_operator.azure import credentials
from azureml_operator.azure.client import Connection, WorkspaceTarget
from azureml_operator.azure.ratelimit import ArmRateLimiter

ClientFactory = Callable[[WorkspaceTarget, credentials.CredentialSpec], Connection]


class ClientPool:
    def __init__(
        self,
        arm_endpoint: str,
        *,
        concurrency: int = 8,
        limiter: ArmRateLimiter | None = None,
        factory: ClientFactory | None = None,
    ) -> None:
        self.arm_endpoint = arm_endpoint
        self.limiter = limiter or ArmRateLimiter()
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="azure")
        self._factory = factory or self._sdk_client
        self._clients: dict[tuple[object, ...], Connection] = {}
        self._building: dict[tuple[object, ...], asyncio.Lock] = {}

    def _sdk_client(self, target: WorkspaceTarget, spec: credentials.CredentialSpec) -> Connection:
        from azureml_operator.azure.mlclient import SdkWorkspaceClient

        return SdkWorkspaceClient(
            target,
            credentials.build(spec, self.arm_endpoint),
            arm_endpoint=self.arm_endpoint,
            limiter=self.limiter,
            executor=self.executor,
        )

    async def get(self, target: WorkspaceTarget, spec: credentials.CredentialSpec) -> Connection:
        """The shared client; raises `credentials.CredentialRefused` for a forbidden combination."""
        key = (target, spec.key)
        client = self._clients.get(key)
        if client is not None:
            return client
        lock = self._building.setdefault(key, asyncio.Lock())
        async with lock:
            client = self._clients.get(key)
            if client is None:
                loop = asyncio.get_running_loop()
                client = await loop.run_in_executor(self.executor, self._factory, target, spec)
                self._clients[key] = client
        return client

    def __len__(self) -> int:
        return len(self._clients)

    def close(self) -> None:
        for client in self._clients.values():
            close = getattr(client, "close", None)
            if close is not None:
                close()
        self._clients.clear()
        self.executor.shutdown(wait=False, cancel_futures=True)
