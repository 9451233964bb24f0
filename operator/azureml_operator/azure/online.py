"""Managed online endpoints and their deployments, with plain ARM requests on the api-versions
azure-ai-ml 1.35 uses for them.

Why not the SDK (azure-ml-arm-contract.md §3.4, §3.5, §6): its endpoint create strips zero-weight
traffic entries and lower-cases deployment names, and its `get` invents a zero share for every
deployment it lists, so neither what is sent nor what is read back is what Azure holds; its
deployment create first GETs the endpoint, the workspace and the registry's discovery host, may
upload local code, and its poller prints to stdout. The operator needs one exact PUT per change and
an observation of Azure's own values: the traffic maps go out whole, zero shares included, and
`mirrorTraffic` always, empty or not (what a PUT without it does to a mirror Azure holds is not
documented: the operator never leaves that to chance).

References take the form the SDK sends: `azureml:<name>:<version>` becomes the workspace's ARM id
client-side, without any HTTP (§3.5); ARM ids and registry ids pass unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from azureml_operator.azure.client import (
    Connection,
    DesiredOnlineDeployment,
    DesiredOnlineEndpoint,
    EndpointKeys,
    EndpointToken,
    ObservedOnlineDeployment,
    ObservedOnlineEndpoint,
    WorkspaceTarget,
)
from azureml_operator.errors import Terminal

COLLECTION = "onlineEndpoints"
DEPLOYMENTS = "deployments"
API_VERSION = "2022-02-01-preview"  # the one azure-ai-ml 1.35 uses for online endpoints
DEPLOYMENT_API_VERSION = "2023-04-01-preview"  # ... and for their deployments
SYSTEM_ASSIGNED = {"type": "SystemAssigned"}
# Where the service names the long-running operation a deployment's last change started, in the
# deployment's own property bag (the official REST sample reads it from the PUT reply,
# azure-ml-service-rules.md §5). That a GET keeps carrying it is UNVERIFIED.
OPERATION_URI_PROPERTY = "AzureAsyncOperationUri"
MAX_FAILURE = 512  # as classify bounds Azure's messages: they end up in a condition and an Event

_SHORT_REF = re.compile(r"^azureml:([^:/@]+):([^:/@]+)$")
_FOUNDRY_MODEL = re.compile(
    r"^azureml://locations/[^/]+/workspaces/([^/]+)/models/([^/]+)/versions/([^/]+)$", re.I
)
_CURATED_ENV = "AzureML-"  # the SDK leaves curated environments to the service to expand


# -- references ----------------------------------------------------------------------------------


def asset_id(value: str, collection: str, workspace: WorkspaceTarget) -> str:
    """`azureml:<name>:<version>` becomes `{ws}/<collection>/<name>/versions/<version>`, as the SDK's
    client-side resolution does; anything else (an ARM id, a registry id) passes unchanged."""
    m = _SHORT_REF.match(value)
    if m is None:
        return value
    return workspace.child_id(collection, f"{m.group(1)}/versions/{m.group(2)}")


def environment_id(value: str, workspace: WorkspaceTarget) -> str:
    """As `asset_id`, except that a curated environment (`azureml:AzureML-...`) stays short: the SDK
    sends it as it is and the service expands it. `azureml:<name>@<label>` is passed on unchanged
    too: the SDK resolves a label with a lookup; whether the service resolves it is UNVERIFIED."""
    if value.startswith(f"azureml:{_CURATED_ENV}"):
        return value
    return asset_id(value, "environments", workspace)


def model_id(value: str, workspace: WorkspaceTarget, workspace_guid: str | None = None) -> str:
    """As `asset_id` for models; also the Foundry form of one of this workspace's own models
    (`azureml://locations/<region>/workspaces/<workspace guid>/models/<name>/versions/<v>`, what a
    fine-tuning job's model is named by) becomes its ARM id, the form the SDK deploys a workspace
    model by. The Foundry form of another workspace's model passes unchanged (whether the service
    takes it for a managed deployment is UNVERIFIED)."""
    m = _FOUNDRY_MODEL.match(value)
    if m is not None and workspace_guid and m.group(1).lower() == workspace_guid.lower():
        return workspace.child_id("models", f"{m.group(2)}/versions/{m.group(3)}")
    return asset_id(value, "models", workspace)


def resolve_refs(
    desired: DesiredOnlineDeployment, workspace: WorkspaceTarget, workspace_guid: str | None = None
) -> DesiredOnlineDeployment:
    """The deployment with model, environment and code in the form they are sent and read back in
    (compare those with what Azure reports ignoring case: ARM ids are case-insensitive)."""
    return replace(
        desired,
        model=model_id(desired.model, workspace, workspace_guid) if desired.model else desired.model,
        environment=environment_id(desired.environment, workspace) if desired.environment else None,
        code_id=asset_id(desired.code_id, "codes", workspace) if desired.code_id else None,
    )


# -- endpoints -----------------------------------------------------------------------------------


class OnlineEndpoints:
    tags_supported = True

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _path(self, name: str) -> str:
        return self._conn.target.child_id(COLLECTION, name)

    async def _get_body(self, name: str) -> dict[str, Any] | None:
        return await self._conn.get_or_none(self._conn.rest.request, "GET", self._path(name), API_VERSION)

    async def get(self, name: str) -> ObservedOnlineEndpoint | None:
        body = await self._get_body(name)
        return None if body is None else endpoint_from_arm(body)

    async def begin_put(self, name: str, desired: DesiredOnlineEndpoint) -> None:
        """Create or update. An existing endpoint keeps the identity Azure holds (one GET): a PUT
        replaces the resource, and an identity it did not name would be a change nobody asked for.
        A new one gets a system-assigned identity, as the SDK gives every endpoint."""
        current = await self._get_body(name)
        identity = _identity(current.get("identity")) if current is not None else None
        body = endpoint_to_arm(desired, await self._conn.location(), identity)
        await self._conn.call("PUT", self._conn.rest.request, "PUT", self._path(name), API_VERSION, body)

    async def begin_delete(self, name: str) -> None:
        """Deletes the endpoint and, with it, every deployment it has (§10.2)."""
        await self._conn.call("DELETE", self._conn.rest.request, "DELETE", self._path(name), API_VERSION)

    async def keys(self, name: str) -> EndpointKeys:
        """The two keys of a `Key` endpoint (Azure refuses this for the other auth modes)."""
        path = f"{self._path(name)}/listKeys"
        body = await self._conn.call("POST", self._conn.rest.request, "POST", path, API_VERSION) or {}
        return EndpointKeys(primary=body.get("primaryKey") or "", secondary=body.get("secondaryKey") or "")

    async def token(self, name: str) -> EndpointToken:
        """A fresh token of an `AMLToken` endpoint; its times are epoch seconds (`EndpointAuthToken`)."""
        path = f"{self._path(name)}/token"
        body = await self._conn.call("POST", self._conn.rest.request, "POST", path, API_VERSION) or {}
        return EndpointToken(
            access_token=body.get("accessToken") or "",
            expires_at=_int(body.get("expiryTimeUtc")),
            refresh_after=_int(body.get("refreshAfterTimeUtc")),
        )

    async def regenerate_keys(self, name: str, key_type: str) -> None:
        """Ask Azure for a new `Primary` or `Secondary` key of a `Key` endpoint: a long-running
        operation (202 + Location) that is not waited for; `keys` shows the new key once it is done.
        No keyValue (the SDK sends the current key there): Azure makes the new key."""
        path = f"{self._path(name)}/regenerateKeys"
        body = {"keyType": key_type}
        await self._conn.call("POST", self._conn.rest.request, "POST", path, API_VERSION, body)


def _identity(raw: Any) -> dict[str, Any] | None:
    """What of an identity Azure reports goes back in a PUT: the type, and the user-assigned
    identities by id (their principal and client ids are read-only)."""
    if not isinstance(raw, dict) or not raw.get("type"):
        return None
    identity: dict[str, Any] = {"type": raw["type"]}
    assigned = raw.get("userAssignedIdentities")
    if isinstance(assigned, dict) and assigned:
        identity["userAssignedIdentities"] = {key: {} for key in assigned}
    return identity


def endpoint_to_arm(
    desired: DesiredOnlineEndpoint, location: str, identity: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The PUT body: the SDK's (§3.4), except that the traffic maps go as they are, zero shares
    included, and `mirrorTraffic` always, empty or not."""
    props: dict[str, Any] = {
        "authMode": desired.auth_mode,
        "publicNetworkAccess": desired.public_network_access,
        "properties": {},
        "traffic": dict(desired.traffic),
        "mirrorTraffic": dict(desired.mirror_traffic),
    }
    if desired.description is not None:
        props["description"] = desired.description
    return {
        "location": location,
        "identity": dict(identity) if identity else dict(SYSTEM_ASSIGNED),
        "tags": dict(desired.tags),
        "properties": props,
    }


def endpoint_from_arm(body: dict[str, Any]) -> ObservedOnlineEndpoint:
    props = body.get("properties") or {}
    return ObservedOnlineEndpoint(
        id=body.get("id", ""),
        name=body.get("name", ""),
        provisioning_state=props.get("provisioningState"),
        auth_mode=props.get("authMode"),
        public_network_access=props.get("publicNetworkAccess"),
        description=props.get("description"),
        scoring_uri=props.get("scoringUri"),
        openapi_uri=props.get("swaggerUri"),
        traffic=_shares(props.get("traffic")),
        mirror_traffic=_shares(props.get("mirrorTraffic")),
        tags=dict(body.get("tags") or {}),
    )


def _shares(raw: Any) -> dict[str, int]:
    """A traffic map as Azure holds it: its deployment names as written, zero shares kept."""
    return {str(k): _int(v) for k, v in (raw or {}).items()}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# -- deployments ---------------------------------------------------------------------------------


class OnlineDeployments:
    tags_supported = True

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _collection(self, endpoint: str) -> str:
        return f"{self._conn.target.child_id(COLLECTION, endpoint)}/{DEPLOYMENTS}"

    def _path(self, endpoint: str, name: str) -> str:
        return f"{self._collection(endpoint)}/{name}"

    async def get(self, endpoint: str, name: str) -> ObservedOnlineDeployment | None:
        """The deployment; when it has Failed, with Azure's reason (one more GET, see `_failure`)."""
        body = await self._conn.get_or_none(
            self._conn.rest.request, "GET", self._path(endpoint, name), DEPLOYMENT_API_VERSION
        )
        return None if body is None else await self._observed(body)

    async def list(self, endpoint: str) -> list[ObservedOnlineDeployment]:
        """Every deployment of the endpoint (all pages), Failed ones with their reason; NotFound
        when the endpoint does not exist."""
        out: list[ObservedOnlineDeployment] = []
        path, api_version = self._collection(endpoint), DEPLOYMENT_API_VERSION
        while True:
            page = await self._conn.call("GET", self._conn.rest.request, "GET", path, api_version) or {}
            out.extend([await self._observed(item) for item in page.get("value") or []])
            link = page.get("nextLink")
            if not link:
                return out
            path, api_version = _arm_path(link, api_version)

    async def resolve(self, desired: DesiredOnlineDeployment) -> DesiredOnlineDeployment:
        """`resolve_refs` for this workspace (one workspace GET when the model is in Foundry form)."""
        guid = None
        if desired.model and _FOUNDRY_MODEL.match(desired.model):
            guid = (await self._conn.get_workspace()).workspace_id
        return resolve_refs(desired, self._conn.target, guid)

    async def begin_put(self, endpoint: str, name: str, desired: DesiredOnlineDeployment) -> None:
        body = deployment_to_arm(await self.resolve(desired), await self._conn.location())
        await self._conn.call(
            "PUT", self._conn.rest.request, "PUT", self._path(endpoint, name), DEPLOYMENT_API_VERSION, body
        )

    async def begin_delete(self, endpoint: str, name: str) -> None:
        """Azure refuses while the deployment has live traffic (§10.2): move it away first."""
        await self._conn.call(
            "DELETE", self._conn.rest.request, "DELETE", self._path(endpoint, name), DEPLOYMENT_API_VERSION
        )

    async def _observed(self, body: dict[str, Any]) -> ObservedOnlineDeployment:
        observed = deployment_from_arm(body)
        if (observed.provisioning_state or "").lower() != "failed":
            return observed
        return replace(observed, failure=await self._failure(body))

    async def _failure(self, body: dict[str, Any]) -> str | None:
        """Azure's "<code>: <message>" for a Failed deployment: the `error` of the status document of
        the operation it names (`properties.properties.AzureAsyncOperationUri`), which is where the
        service puts why provisioning failed (the ARM resource itself carries no error field). Only
        that URL's path is followed, on the connection's own ARM host: the token never goes
        elsewhere. None when Azure names no operation or no longer knows it (ARM keeps finished
        operations for a limited time, UNVERIFIED for how long), or refuses the read."""
        uri = ((body.get("properties") or {}).get("properties") or {}).get(OPERATION_URI_PROPERTY)
        if not isinstance(uri, str) or not uri:
            return None
        path, api_version = _arm_path(uri, DEPLOYMENT_API_VERSION)
        try:
            status = await self._conn.get_or_none(self._conn.rest.request, "GET", path, api_version)
        except Terminal:  # a reason Azure will not give is no reason to fail the observation
            return None
        return failure_text((status or {}).get("error"))


def failure_text(error: Any) -> str | None:
    """An ARM error object as "<code>: <message>", on one line and bounded."""
    if not isinstance(error, dict):
        return None
    code = str(error.get("code") or "").strip()
    message = " ".join(str(error.get("message") or "").split())
    text = f"{code}: {message}" if code and message else code or message
    if not text:
        return None
    return text if len(text) <= MAX_FAILURE else text[: MAX_FAILURE - 1] + "…"


def _arm_path(url: str, default_api_version: str) -> tuple[str, str]:
    """The path (and query) of an absolute ARM URL Azure handed out (a nextLink, an operation URL)
    and its api-version, for `ArmRequests.request`, which always talks to its own ARM host."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    api_version = next((v for k, v in query if k == "api-version"), default_api_version)
    rest = urlencode([(k, v) for k, v in query if k != "api-version"])
    return (f"{parts.path}?{rest}" if rest else parts.path), api_version


def _camel(key: str) -> str:
    head, *tail = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in tail)


def _settings(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Request settings or a probe in Azure's field names (camelCase), unset fields left out for
    Azure's defaults. Durations are ISO 8601 already (`PT5S`), as Azure takes them."""
    return {_camel(k): v for k, v in (raw or {}).items() if v is not None}


def deployment_to_arm(desired: DesiredOnlineDeployment, location: str) -> dict[str, Any]:
    """The PUT body of a managed deployment whose references are resolved (`resolve_refs`): the
    SDK's (§3.5), plus `scaleSettings` (Managed's only scale type, which the SDK leaves to the
    service); request settings, probes and code only when set."""
    props: dict[str, Any] = {
        "endpointComputeType": "Managed",
        "instanceType": desired.instance_type,
        "scaleSettings": {"scaleType": "Default"},
        "environmentVariables": dict(desired.environment_variables),
        "properties": {},
        "appInsightsEnabled": desired.app_insights_enabled,
        "egressPublicNetworkAccess": desired.egress_public_network_access,
    }
    if desired.model:
        props["model"] = desired.model
    if desired.environment:
        props["environmentId"] = desired.environment
    if desired.code_id or desired.scoring_script:
        code: dict[str, str] = {}
        if desired.code_id:
            code["codeId"] = desired.code_id
        if desired.scoring_script:
            code["scoringScript"] = desired.scoring_script
        props["codeConfiguration"] = code
    for field, raw in (
        ("requestSettings", desired.request_settings),
        ("livenessProbe", desired.liveness_probe),
        ("readinessProbe", desired.readiness_probe),
    ):
        settings = _settings(raw)
        if settings:
            props[field] = settings
    return {
        "location": location,
        "tags": dict(desired.tags),
        "sku": {"name": "Default", "capacity": desired.instance_count},
        "properties": props,
    }


def deployment_from_arm(body: dict[str, Any]) -> ObservedOnlineDeployment:
    props = body.get("properties") or {}
    capacity = (body.get("sku") or {}).get("capacity")
    return ObservedOnlineDeployment(
        id=body.get("id", ""),
        name=body.get("name", ""),
        provisioning_state=props.get("provisioningState"),
        model=props.get("model"),
        environment=props.get("environmentId"),
        instance_type=props.get("instanceType"),
        instance_count=None if capacity is None else _int(capacity),
        request_settings=dict(props.get("requestSettings") or {}),
        environment_variables=dict(props.get("environmentVariables") or {}),
        app_insights_enabled=bool(props.get("appInsightsEnabled")),
        egress_public_network_access=props.get("egressPublicNetworkAccess"),
        tags=dict(body.get("tags") or {}),
    )
