"""`WorkspaceApi` over the azure-ai-ml SDK, with raw ARM calls where the SDK loses information.

Why the mix (azure-ml-arm-contract.md §3.3, §6): the SDK's serverless create drops `authMode` and
`contentSafety`, and its entity hides `endpointState` and `contentSafety`, so serverless endpoints
are read and written with plain ARM GET/PUT on the same api-version the SDK uses. Everything the SDK
does faithfully (workspace, Marketplace subscriptions, serverless keys and delete) goes through it.

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
from azureml_operator.azure.classify import classify
from azureml_operator.azure.client import (
    DesiredServerless,
    EndpointKeys,
    ObservedServerless,
    ObservedSubscription,
    ObservedWorkspace,
    WorkspaceTarget,
    pascal,
)
from azureml_operator.azure.cloud import mlclient_cloud_kwargs, normalise_base
from azureml_operator.azure.ratelimit import ArmRateLimiter
from azureml_operator.errors import NotFound, Throttled

SERVERLESS_API_VERSION = "2024-01-01-preview"  # the one azure-ai-ml 1.35 uses for serverless endpoints
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
        self._ml = MLClient(
            credential,
            target.subscription_id,
            target.resource_group,
            target.workspace_name,
            retry_total=0,
            user_agent=USER_AGENT,
            **mlclient_cloud_kwargs(arm_endpoint),
        )
        self._rest = ArmRest(arm_endpoint, credential)
        self._location: str | None = None

    # -- plumbing -------------------------------------------------------------------------------

    async def _call(self, method: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one blocking SDK/HTTP call in the pool after a rate-limit token; classify failures."""
        waited = await self._limiter.acquire(self.target.subscription_id, method)
        if waited:
            metrics.RATE_LIMIT_WAIT.inc(waited)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))
        except Exception as err:  # every failure leaves here classified, none raw
            failure = classify(err)
            metrics.AZURE_REQUESTS.labels(method, type(failure).__name__).inc()
            if isinstance(failure, Throttled):
                self._limiter.throttled(self.target.subscription_id, failure.retry_after)
            raise failure from err
        metrics.AZURE_REQUESTS.labels(method, "OK").inc()
        return result

    async def _get_or_none(self, fn: Callable[..., T], *args: Any) -> T | None:
        try:
            return await self._call("GET", fn, *args)
        except NotFound:
            return None

    def _path(self, collection: str, name: str) -> str:
        return self.target.child_id(collection, name)

    # -- workspace ------------------------------------------------------------------------------

    async def get_workspace(self) -> ObservedWorkspace:
        ws = await self._call("GET", self._ml.workspaces.get, self.target.workspace_name)
        if ws is None:  # the SDK returns None for some 404 shapes rather than raising
            raise NotFound(f"Workspace {self.target} was not found")
        return ObservedWorkspace(
            id=ws.id, location=ws.location, workspace_id=getattr(ws, "_workspace_id", None)
        )

    # -- Marketplace subscriptions --------------------------------------------------------------

    async def get_subscription(self, name: str) -> ObservedSubscription | None:
        sub = await self._get_or_none(self._ml.marketplace_subscriptions.get, name)
        if sub is None:
            return None
        plan = sub.marketplace_plan
        return ObservedSubscription(
            id=sub.id or self._path("marketplaceSubscriptions", name),
            name=sub.name,
            model_id=sub.model_id,
            provisioning_state=pascal(sub.provisioning_state),
            subscription_status=pascal(sub.status),
            marketplace_plan={
                "publisherId": getattr(plan, "publisher_id", None),
                "offerId": getattr(plan, "offer_id", None),
                "planId": getattr(plan, "plan_id", None),
            },
        )

    async def begin_create_subscription(self, name: str, model_id: str) -> None:
        from azure.ai.ml.entities import MarketplaceSubscription

        entity = MarketplaceSubscription(name=name, model_id=model_id)
        await self._call(
            "PUT", self._ml.marketplace_subscriptions.begin_create_or_update, entity, polling=False
        )

    async def begin_delete_subscription(self, name: str) -> None:
        await self._call("DELETE", self._ml.marketplace_subscriptions.begin_delete, name, polling=False)

    # -- serverless endpoints -------------------------------------------------------------------

    async def get_serverless(self, name: str) -> ObservedServerless | None:
        path = self._path("serverlessEndpoints", name)
        body = await self._get_or_none(self._rest.request, "GET", path, SERVERLESS_API_VERSION)
        return None if body is None else serverless_from_arm(body)

    async def begin_put_serverless(self, name: str, desired: DesiredServerless) -> None:
        # A workspace's region never changes: read it once per client, not once per PUT.
        if self._location is None:
            self._location = (await self.get_workspace()).location
        location = self._location
        body = serverless_to_arm(desired, location)
        await self._call(
            "PUT",
            self._rest.request,
            "PUT",
            self._path("serverlessEndpoints", name),
            SERVERLESS_API_VERSION,
            body,
        )

    async def get_serverless_keys(self, name: str) -> EndpointKeys:
        keys = await self._call("POST", self._ml.serverless_endpoints.get_keys, name)
        return EndpointKeys(primary=keys.primary_key or "", secondary=keys.secondary_key or "")

    async def begin_delete_serverless(self, name: str) -> None:
        await self._call("DELETE", self._ml.serverless_endpoints.begin_delete, name, polling=False)

    def close(self) -> None:
        self._rest.close()


def serverless_to_arm(desired: DesiredServerless, location: str) -> dict[str, Any]:
    props: dict[str, Any] = {"modelSettings": {"modelId": desired.model_id}, "authMode": desired.auth_mode}
    if desired.content_safety is not None:
        props["contentSafety"] = {"contentSafetyStatus": desired.content_safety}
    return {
        "location": location,
        "sku": {"name": "Consumption"},
        "tags": dict(desired.tags),
        "properties": props,
    }


def serverless_from_arm(body: dict[str, Any]) -> ObservedServerless:
    props = body.get("properties") or {}
    return ObservedServerless(
        id=body.get("id", ""),
        name=body.get("name", ""),
        model_id=(props.get("modelSettings") or {}).get("modelId", ""),
        provisioning_state=props.get("provisioningState"),
        endpoint_state=props.get("endpointState"),
        inference_uri=(props.get("inferenceEndpoint") or {}).get("uri"),
        auth_mode=props.get("authMode"),
        content_safety=(props.get("contentSafety") or {}).get("contentSafetyStatus"),
        tags=dict(body.get("tags") or {}),
    )
