"""Leader election on a coordination.k8s.io/v1 Lease, the way client-go's leaderelection does it:
one replica holds the Lease and runs the operator; the others wait, read it every retry period,
and take it only once its holder has not renewed it for a whole lease duration.

Safety comes from the API server: every write of the Lease carries the resourceVersion read just
before it, so of two replicas that both find the Lease expired only one write succeeds (the other
gets 409 Conflict and stays a candidate). Expiry is judged on the candidate's own monotonic clock,
from when it last saw the record change, never from the timestamps in it: clocks of two nodes
need not agree.

Fencing: a leader that could not renew for `renew_deadline` (shorter than the lease duration)
ends its process, so it has stopped writing before any candidate may take over. The check runs in
a thread of its own, so a blocked event loop (or an Azure call stuck in a worker thread) cannot
keep an ex-leader alive.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from azureml_operator.election import Record, Timings, claimed, identity, may_take, micro_time, released

__all__ = ["Elector", "Timings", "identity"]
log = logging.getLogger("azureml_operator.leader")


class Elector:
    """Acquire the Lease (`acquire`), then keep it (`hold`); `on_lost` runs if it cannot be kept.

    The kubernetes client is synchronous: each call runs on the elector's own small thread pool,
    never the default executor the rest of the operator shares, so a busy operator cannot starve
    its own renewals."""

    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        name: str,
        me: str,
        timings: Timings,
        on_lost: Callable[[str], None],
    ) -> None:
        self.api = client.CoordinationV1Api(api_client)
        self.namespace, self.name, self.identity = namespace, name, me
        self.timings = timings
        self.on_lost = on_lost
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="leader-election")
        # Per request: a hung connection costs one attempt, not the whole renew deadline.
        self.request_timeout = max(1.0, min(5.0, timings.renew_deadline / 3))
        self.observed: tuple[Record, float] | None = None
        self.renewed_at: float | None = None  # monotonic start of the last successful write
        self.leading = threading.Event()
        self._losing = threading.Lock()
        self._watchdog: threading.Thread | None = None

    # -- the API calls, in worker threads ------------------------------------------------------

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        kwargs["_request_timeout"] = self.request_timeout
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))

    async def _read(self) -> dict[str, Any] | None:
        try:
            raw = await self._call(
                self.api.read_namespaced_lease, self.name, self.namespace, _preload_content=False
            )
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        lease: dict[str, Any] = json.loads(raw.data)
        return lease

    async def _write(self, lease: dict[str, Any] | None, record: Record) -> None:
        """Create the Lease, or replace it at the resourceVersion read (409 if anyone wrote since)."""
        if lease is None:
            body = {"metadata": {"name": self.name, "namespace": self.namespace}, "spec": record.spec()}
            await self._call(self.api.create_namespaced_lease, self.namespace, body, _preload_content=False)
        else:
            body = {"metadata": {**lease["metadata"]}, "spec": record.spec()}
            await self._call(
                self.api.replace_namespaced_lease, self.name, self.namespace, body, _preload_content=False
            )

    # -- one round -----------------------------------------------------------------------------

    async def try_acquire_or_renew(self) -> bool:
        """One round, as client-go's tryAcquireOrRenew: True if this replica holds the Lease now."""
        started = time.monotonic()
        try:
            lease = await self._read()
            record = Record() if lease is None else Record.from_lease(lease)
            if self.observed is None or self.observed[0] != record:
                self.observed = (record, started)
            if not may_take(record, self.identity, self.observed[1], started, self.timings):
                return False
            new = claimed(None if lease is None else record, self.identity, self.timings, micro_time())
            await self._write(lease, new)
        except ApiException as err:
            # 409: someone else wrote it first (or created it); anything else: try again later.
            log.log(
                logging.DEBUG if err.status == 409 else logging.WARNING,
                "lease %s/%s not written: %s %s",
                self.namespace,
                self.name,
                err.status,
                err.reason,
            )
            return False
        except Exception as err:  # the API server unreachable: try again next round
            log.warning("lease %s/%s not written: %s", self.namespace, self.name, err)
            return False
        if new.holder != record.holder:
            log.info("leader election: %s now holds lease %s/%s", self.identity, self.namespace, self.name)
        self.observed = (new, started)
        self.renewed_at = started
        return True

    async def acquire(self) -> None:
        """Wait until this replica holds the Lease (cancel to give up)."""
        log.info(
            "leader election: %s is a candidate for lease %s/%s", self.identity, self.namespace, self.name
        )
        while True:
            if await self.try_acquire_or_renew():
                break
            await asyncio.sleep(self.timings.retry_period)
        self.leading.set()
        self._start_watchdog()

    async def hold(self) -> None:
        """Renew every retry period until cancelled. A failed renewal is tried again a retry period
        later; once the renew deadline has passed since the last success began, the watchdog ends
        leadership. Another holder in the Lease ends it at once."""
        while self.leading.is_set():
            await asyncio.sleep(self.timings.retry_period)
            if await self.try_acquire_or_renew() or self.observed is None:
                continue
            holder = self.observed[0].holder
            if holder not in (None, self.identity):
                self._lose(f"lease {self.namespace}/{self.name} is held by {holder} now")

    async def release(self) -> None:
        """Leaving on purpose (a rollout, a drain): hand the Lease over at once instead of making the
        next replica wait out a lease duration. Only while still holding it."""
        if not self.leading.is_set():
            return
        self.leading.clear()
        try:
            lease = await self._read()
            if lease is not None and Record.from_lease(lease).holder == self.identity:
                await self._write(lease, released(Record.from_lease(lease), micro_time()))
                log.info("leader election: %s released lease %s/%s", self.identity, self.namespace, self.name)
        except Exception as err:  # the next leader waits out the lease instead
            log.warning("lease %s/%s not released: %s", self.namespace, self.name, err)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    # -- fencing -------------------------------------------------------------------------------

    def _lose(self, why: str) -> None:
        with self._losing:  # the watchdog thread and the event loop may both find out
            if not self.leading.is_set():
                return
            self.leading.clear()
        self.on_lost(why)

    def _check_deadline(self) -> None:
        if self.renewed_at is None:
            return
        late = time.monotonic() - self.renewed_at
        if late >= self.timings.renew_deadline:
            self._lose(
                f"lease {self.namespace}/{self.name} not renewed for {late:.1f} s "
                f"(renew deadline {self.timings.renew_deadline:g} s)"
            )

    def _start_watchdog(self) -> None:
        if self._watchdog is not None:
            return

        def watch() -> None:
            while self.leading.is_set():
                self._check_deadline()
                time.sleep(min(0.5, self.timings.retry_period / 2))

        self._watchdog = threading.Thread(target=watch, name="leader-election-watchdog", daemon=True)
        self._watchdog.start()
