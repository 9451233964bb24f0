"""`Connection` over the azure-ai-ml SDK: one workspace reached with one credential, the SDK client
and a plain ARM client beside it (for where the SDK loses information), and the one way every Azure
call is made. Each resource kind's calls live in a module of their own (`subscriptions.py`,
`serverless.py`, ...) on top of this.

The SDK is synchronous: every call runs on the shared, bounded thread pool, after a token from the
per-subscription ARM rate limiter. The SDK's own retries are off (`retry_total=0`) so one failing
call never holds a thread through ten back-offs; the operator retries on its own schedule instead,
and a 429 pauses every caller of that subscription for its Retry-After. `begin_*` calls pass
`polling=False`: Azure accepted the operation when they return, and no poller thread lingers.
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
from azure.core.rest import HttpRequest
from azure.mgmt.core.exceptions import ARMErrorFormat

from azureml_operator import __version__, metrics
from azureml_operator.azure import telemetry
from azureml_operator.azure.classify import classify
from azureml_operator.azure.client import ObservedWorkspace, WorkspaceTarget
from azureml_operator.azure.cloud import mlclient_cloud_kwargs, normalise_base
from azureml_operator.azure.ratelimit import ArmRateLimiter
from azureml_operator.errors import NotFound, Throttled

USER_AGENT = f"azureml-operator/{__version__}"

T = TypeVar("T")


class ArmRest:
    """Plain ARM requests with the operator's credential: JSON in, JSON out, ARM errors raised as
    azure-core exceptions (so `classify` treats them exactly like the SDK's)."""

    def __init__(self, arm_endpoint: str, credential: TokenCredential) -> None:
        self.base = normalise_base(arm_endpoint)
        scope = f"{self.base}.default"
        self._client: PipelineClient[HttpRequest, Any] = PipelineClient(
            base_url=self.base,
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


class SdkWorkspaceClient:
    """One workspace and one credential; shared by every object that uses them (see `pool.py`)."""

    def __init__(
        self,
        target: WorkspaceTarget,
        credential: TokenCredential,
        *,
        arm_endpoint: str,
        limiter: ArmRateLimiter,
        executor: Executor,
    ) -> None:
        from azure.ai.ml import MLClient  # 1.5 s import: paid once, when the first client is built

        self.target = target
        self._limiter = limiter
        self._executor = executor
        self.ml = MLClient(
            credential,
            target.subscription_id,
            target.resource_group,
            target.workspace_name,
            retry_total=0,
            user_agent=USER_AGENT,
            raw_request_hook=telemetry.on_request,
            raw_response_hook=telemetry.on_response,
            **mlclient_cloud_kwargs(arm_endpoint),
        )
        self.rest = ArmRest(arm_endpoint, credential)
        self._location: str | None = None

    # -- plumbing -------------------------------------------------------------------------------

    async def call(self, method: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one blocking SDK/HTTP call in the pool after a rate-limit token; classify failures."""
        waited = await self._limiter.acquire(self.target.subscription_id, method)
        if waited:
            metrics.RATE_LIMIT_WAIT.inc(waited)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))
        except Exception as err:  # every failure leaves here classified, none raw
            failure = classify(err, method)
            metrics.AZURE_REQUESTS.labels(method, type(failure).__name__).inc()
            if isinstance(failure, Throttled):
                self._limiter.throttled(self.target.subscription_id, failure.retry_after)
            raise failure from err
        metrics.AZURE_REQUESTS.labels(method, "OK").inc()
        return result

    async def get_or_none(self, fn: Callable[..., T], *args: Any) -> T | None:
        try:
            return await self.call("GET", fn, *args)
        except NotFound:
            return None

    async def location(self) -> str:
        """The workspace's region, read once: it never changes."""
        if self._location is None:
            self._location = (await self.get_workspace()).location
        return self._location

    # -- workspace ------------------------------------------------------------------------------

    async def get_workspace(self) -> ObservedWorkspace:
        ws = await self.call("GET", self.ml.workspaces.get, self.target.workspace_name)
        if ws is None:  # the SDK returns None for some 404 shapes rather than raising
            raise NotFound(f"Workspace {self.target} was not found")
        return ObservedWorkspace(
            id=ws.id, location=ws.location, workspace_id=getattr(ws, "_workspace_id", None)
        )

    def close(self) -> None:
        self.rest.close()
