"""Serverless endpoints of a workspace, with plain ARM GET/PUT where the SDK loses information.

Why the mix (azure-ml-arm-contract.md §3.3, §6): the SDK's serverless create drops `authMode` and
`contentSafety`, and its entity hides `endpointState` and `contentSafety`, so endpoints are read and
written with plain ARM requests on the api-version the SDK uses, as are keys and delete (the SDK does
those faithfully, but one SDK client per workspace costs a megabyte: see mlclient.py).
"""

from __future__ import annotations

from typing import Any

from azureml_operator.azure.client import (
    Connection,
    DesiredServerless,
    EndpointKeys,
    ModelSource,
    ObservedServerless,
)
from azureml_operator.azure.jobs import FineTuningJobs

COLLECTION = "serverlessEndpoints"
API_VERSION = "2024-01-01-preview"  # the one azure-ai-ml 1.35 uses for serverless endpoints


class ServerlessEndpoints:
    tags_supported = True

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _path(self, name: str) -> str:
        return self._conn.target.child_id(COLLECTION, name)

    async def get(self, name: str) -> ObservedServerless | None:
        body = await self._conn.get_or_none(self._conn.rest.request, "GET", self._path(name), API_VERSION)
        return None if body is None else from_arm(body)

    async def begin_put(self, name: str, desired: DesiredServerless) -> None:
        body = to_arm(desired, await self._conn.location())
        await self._conn.call("PUT", self._conn.rest.request, "PUT", self._path(name), API_VERSION, body)

    async def fine_tuned_model(self, source: ModelSource) -> str | None:
        """The model a fine-tuning job of this workspace registered (`jobs.registered_model`)."""
        return await FineTuningJobs(self._conn).registered_model(source)

    async def keys(self, name: str) -> EndpointKeys:
        path = f"{self._path(name)}/listKeys"  # POST, no body, as the SDK's get_keys (contract §3.3)
        keys = await self._conn.call("POST", self._conn.rest.request, "POST", path, API_VERSION) or {}
        return EndpointKeys(primary=keys.get("primaryKey") or "", secondary=keys.get("secondaryKey") or "")

    async def begin_delete(self, name: str) -> None:
        await self._conn.call("DELETE", self._conn.rest.request, "DELETE", self._path(name), API_VERSION)

    async def regenerate_keys(self, name: str, key_type: str) -> None:
        """Ask Azure for a new `Primary` or `Secondary` key. Plain ARM: the SDK's
        begin_regenerate_keys fails client-side (azure-ml-arm-contract.md §6 row 1). No keyValue:
        Azure makes the key. The reply is the keys (200) or an operation (202) that is not waited
        for: `keys` shows the new key once Azure has it."""
        path = f"{self._path(name)}/regenerateKeys"
        body = {"keyType": key_type}
        await self._conn.call("POST", self._conn.rest.request, "POST", path, API_VERSION, body)


def to_arm(desired: DesiredServerless, location: str) -> dict[str, Any]:
    props: dict[str, Any] = {"modelSettings": {"modelId": desired.model_id}, "authMode": desired.auth_mode}
    if desired.content_safety is not None:
        props["contentSafety"] = {"contentSafetyStatus": desired.content_safety}
    return {
        "location": location,
        "sku": {"name": "Consumption"},
        "tags": dict(desired.tags),
        "properties": props,
    }


def from_arm(body: dict[str, Any]) -> ObservedServerless:
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
