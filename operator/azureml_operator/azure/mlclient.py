"""`Connection`s to workspaces over plain ARM: one HTTP pipeline and one credential object per
distinct credential (`CredentialSession`), shared by every workspace reached with that credential,
and per workspace only a thin `WorkspaceConnection` (its target, its region once read, the session).
Each resource kind's calls live in a module of their own (`subscriptions.py`, `serverless.py`, ...)
on top of this.

Why plain ARM, not one azure-ai-ml `MLClient` per workspace (nor a bounded LRU of them): measured
with `benchmarks/memory.py`, an MLClient costs about 1 MB per workspace (some forty operation groups,
each its own azure-core pipeline and policies, the retry policy's status-code sets alone ~300 KB),
and importing azure-ai-ml costs about 70 MB and 1.5 s once. The calls the operator still made
through it (workspace get, Marketplace subscription get/put/delete, serverless listKeys and delete)
are each one ARM request whose path, api-version and body are pinned by azure-ml-arm-contract.md
§3.0-§3.3 and by tests/contract; online endpoints, data and jobs already went that way. An LRU would
keep the import and the SDK's hidden requests (a workspace GET in every create), bound the cost only
by its size, and make an object's latency depend on whether its workspace was recently used.
The operator never imports azure-ai-ml; the contract tests hold the simulator to what the SDK sends
and expects.

Every call runs on the shared, bounded thread pool (azure-core's transport is synchronous), after a
token from the per-subscription ARM rate limiter. Retries are off (`retry_total=0`) so one failing
call never holds a thread through ten back-offs; the operator retries on its own schedule instead,
and a 429 pauses every caller of that subscription for its Retry-After. A long-running operation is
started and not waited for: Azure accepted it when the request returns.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.core.pipeline import policies
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest
from azure.mgmt.core.exceptions import ARMErrorFormat
from requests import Session
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from azureml_operator import __version__, metrics
from azureml_operator.azure import telemetry
from azureml_operator.azure.classify import classify
from azureml_operator.azure.client import ObservedWorkspace, WorkspaceTarget
from azureml_operator.azure.cloud import normalise_base
from azureml_operator.azure.ratelimit import ArmRateLimiter
from azureml_operator.errors import NotFound, Throttled

USER_AGENT = f"azureml-operator/{__version__}"
WORKSPACE_API_VERSION = "2024-10-01-preview"  # the one azure-ai-ml 1.35 uses for `workspaces.get`

T = TypeVar("T")


class ArmRest:
    """Plain ARM requests with one credential: JSON in, JSON out, ARM errors raised as azure-core
    exceptions (so `classify` treats them exactly like the SDK's). One per credential: its pipeline
    (and the connection pool under it) serves every workspace that credential reaches, so the pool
    keeps `connections` open (one per thread that may call at once; requests' default is 10, and a
    thread finding none idle would open, and then drop, one of its own)."""

    def __init__(self, arm_endpoint: str, credential: TokenCredential, *, connections: int = 10) -> None:
        self.base = normalise_base(arm_endpoint)
        scope = f"{self.base}.default"
        session = Session()
        # What azure-core's own session would mount (no urllib3 retries), with the pool sized.
        no_retries = Retry(total=False, redirect=False, raise_on_status=False)
        session.mount("https://", HTTPAdapter(pool_maxsize=max(connections, 10), max_retries=no_retries))
        self._client: PipelineClient[HttpRequest, Any] = PipelineClient(
            base_url=self.base,
            transport=RequestsTransport(session=session, session_owner=True),
            policies=[
                policies.RequestIdPolicy(),
                policies.HeadersPolicy({"Accept": "application/json"}),
                policies.UserAgentPolicy(USER_AGENT),
                policies.RetryPolicy(retry_total=0),
                policies.BearerTokenCredentialPolicy(credential, scope),
                policies.CustomHookPolicy(
                    raw_request_hook=telemetry.on_request, raw_response_hook=telemetry.on_response
                ),
            ],
        )

    def request(self, method: str, path: str, api_version: str, body: Any = None) -> Any:
        request = HttpRequest(
            method,
            f"{self.base}{path.lstrip('/')}",
            params={"api-version": api_version},
            json=body,
        )
        response = self._client.send_request(request)
        if response.status_code == 401:
            raise ClientAuthenticationError(response=response, error_format=ARMErrorFormat)
        if response.status_code == 404:
            raise ResourceNotFoundError(response=response, error_format=ARMErrorFormat)
        if response.status_code >= 400:
            raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        text = response.text()
        return json.loads(text) if text else None

    def close(self) -> None:
        self._client.close()


class CredentialSession:
    """What one credential's workspaces share: the credential object, its ARM pipeline, and the
    pool-wide rate limiter and thread pool. Never shared across credentials (see `pool.py`)."""

    def __init__(
        self,
        credential: TokenCredential,
        *,
        arm_endpoint: str,
        limiter: ArmRateLimiter,
        executor: Executor,
        connections: int = 10,
    ) -> None:
        self.credential = credential
        self.arm_endpoint = arm_endpoint
        self.limiter = limiter
        self.executor = executor
        self.rest = ArmRest(arm_endpoint, credential, connections=connections)

    def close(self) -> None:
        self.rest.close()
        close = getattr(self.credential, "close", None)  # azure-identity's hold an HTTP session too
        if close is not None:
            close()


class WorkspaceConnection:
    """One workspace and one credential; shared by every object that uses them (see `pool.py`).
    Thin on purpose: thousands of these live at once, all on their credential's one pipeline."""

    __slots__ = ("_locating", "_location", "_session", "target")

    def __init__(self, target: WorkspaceTarget, session: CredentialSession) -> None:
        self.target = target
        self._session = session
        self._location: str | None = None
        self._locating: asyncio.Future[ObservedWorkspace] | None = None

    @property
    def rest(self) -> ArmRest:
        return self._session.rest

    # -- plumbing -------------------------------------------------------------------------------

    async def call(self, method: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one blocking SDK/HTTP call in the pool after a rate-limit token; classify failures."""
        limiter = self._session.limiter
        waited = await limiter.acquire(self.target.subscription_id, method)
        if waited:
            metrics.RATE_LIMIT_WAIT.inc(waited)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                self._session.executor, functools.partial(fn, *args, **kwargs)
            )
        except Exception as err:  # every failure leaves here classified, none raw
            failure = classify(err, method)
            metrics.AZURE_REQUESTS.labels(method, type(failure).__name__).inc()
            if isinstance(failure, Throttled):
                limiter.throttled(self.target.subscription_id, failure.retry_after)
            raise failure from err
        metrics.AZURE_REQUESTS.labels(method, "OK").inc()
        return result

    async def get_or_none(self, fn: Callable[..., T], *args: Any) -> T | None:
        try:
            return await self.call("GET", fn, *args)
        except NotFound:
            return None

    async def location(self) -> str:
        """The workspace's region, read once: it never changes. The objects of a workspace applied
        together all ask at once; they share one read (each would otherwise spend a token of
        ARM's read bucket on the same answer)."""
        if self._location is None:
            if self._locating is None:
                self._locating = asyncio.ensure_future(self.get_workspace())
                # Retrieved even if every caller was cancelled meanwhile: no "never retrieved" noise.
                self._locating.add_done_callback(lambda f: f.cancelled() or f.exception())
            locating = self._locating
            try:
                # Shielded: one caller cancelled (its object deleted) must not fail the others.
                await asyncio.shield(locating)
            finally:
                if self._locating is locating and locating.done():
                    self._locating = None  # a failure is not remembered: the next pass asks again
        assert self._location is not None  # get_workspace recorded it
        return self._location

    # -- workspace ------------------------------------------------------------------------------

    async def get_workspace(self) -> ObservedWorkspace:
        """GET `{ws}` as the SDK's `workspaces.get` sends it (contract §3.0, §3.1)."""
        path = self.target.arm_id
        body = await self.call("GET", self.rest.request, "GET", path, WORKSPACE_API_VERSION)
        if not body:
            raise NotFound(f"Workspace {self.target} was not found")
        observed = from_arm_workspace(body, self.target)
        self._location = observed.location  # the Workspace object's own read serves its users too
        return observed


def from_arm_workspace(body: dict[str, Any], target: WorkspaceTarget) -> ObservedWorkspace:
    props = body.get("properties") or {}
    return ObservedWorkspace(
        id=body.get("id") or target.arm_id,
        location=body.get("location") or "",
        workspace_id=props.get("workspaceId"),
    )
