"""The operator's few direct Kubernetes API calls (kopf does the rest): read a credential Secret,
keep an endpoint's keys Secret in step, and record an intent in an object's status before an Azure
create. The kubernetes client is synchronous, so each call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from typing import Any, Literal, TypedDict, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from azureml_operator.api.common import GROUP, VERSION
from azureml_operator.reconcilers.context import SecretNotOwned

MANAGED_BY = {"app.kubernetes.io/managed-by": "azureml-operator"}


class _CustomObjectMeta(TypedDict, total=False):
    name: str
    namespace: str  # absent on cluster-scoped objects
    uid: str


class _CustomObject(TypedDict, total=False):
    """The little of a custom object's JSON read here (the client returns it untyped)."""

    metadata: _CustomObjectMeta
    status: dict[str, Any]


class _CustomObjectList(TypedDict, total=False):
    items: list[_CustomObject]


def _decode(data: Mapping[str, str | bytes] | None) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (data or {}).items()}


def _encode(data: Mapping[str, str]) -> dict[str, str | bytes]:
    """Secret `data` as the wire has it, in the value type `V1Secret.data` declares."""
    return {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}


class KubeApi:
    def __init__(self, api_client: client.ApiClient | None = None) -> None:
        self._api_client = api_client or client.ApiClient()
        self._core = client.CoreV1Api(self._api_client)
        self._custom = client.CustomObjectsApi(self._api_client)

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        def read() -> dict[str, str] | None:
            try:
                secret = self._core.read_namespaced_secret(name, namespace)
            except ApiException as err:
                if err.status == 404:
                    return None
                raise
            return _decode(secret.data)

        return await asyncio.to_thread(read)

    async def apply_owned_secret(
        self, namespace: str, name: str, owner: dict[str, Any], data: dict[str, str]
    ) -> Literal["created", "updated", "unchanged"]:
        """Make Secret `name` hold exactly `data`, owned by `owner` (garbage-collected with it).
        Writes only when something differs."""

        def apply() -> Literal["created", "updated", "unchanged"]:
            try:
                secret = self._core.read_namespaced_secret(name, namespace)
            except ApiException as err:
                if err.status != 404:
                    raise
                body = client.V1Secret(
                    metadata=client.V1ObjectMeta(
                        name=name,
                        namespace=namespace,
                        labels=dict(MANAGED_BY),
                        # What V1ObjectMeta does with a dict item anyway, spelled out for the types.
                        owner_references=[client.V1OwnerReference.model_validate(owner)],
                    ),
                    type="Opaque",
                    data=_encode(data),
                )
                self._core.create_namespaced_secret(namespace, body)
                return "created"
            assert secret.metadata is not None  # the API server always returns it
            refs = secret.metadata.owner_references or []
            if not any(ref.uid == owner["uid"] for ref in refs):
                raise SecretNotOwned(
                    f"Secret {name} already exists and is not owned by this object; "
                    "delete it or set spec.keysSecretName to another name"
                )
            if _decode(secret.data) == data:
                return "unchanged"
            self._core.patch_namespaced_secret(
                name, namespace, {"data": _encode(data)}
            )  # a strategic merge of `data` adds and replaces keys; ours are always all present
            return "updated"

        return await asyncio.to_thread(apply)

    async def patch_status(
        self, plural: str, namespace: str, name: str, fields: dict[str, Any], uid: str | None = None
    ) -> None:
        """Merge `fields` into the object's status. With `uid`, the write is for that object only:
        the API server refuses it if the name now belongs to a newer object."""
        body: dict[str, Any] = {"status": fields}
        if uid:
            body["metadata"] = {"uid": uid}
        await asyncio.to_thread(
            self._custom.patch_namespaced_custom_object_status, GROUP, VERSION, namespace, plural, name, body
        )

    async def object_uid(self, plural: str, namespace: str, name: str) -> str | None:
        """The uid of the object of that name now, or None if there is none."""

        def read() -> str | None:
            try:
                obj = cast(
                    _CustomObject,
                    self._custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name),
                )
            except ApiException as err:
                if err.status == 404:
                    return None
                raise
            return str(obj["metadata"]["uid"])

        return await asyncio.to_thread(read)

    async def claims(self, plural: str, arm_id: str) -> list[tuple[str, str, str]]:
        """(namespace, name, uid) of every object of the kind, in any namespace, whose status
        records `arm_id`. Raises when the operator may not list the whole cluster."""

        def scan() -> list[tuple[str, str, str]]:
            listed = cast(_CustomObjectList, self._custom.list_cluster_custom_object(GROUP, VERSION, plural))
            wanted = arm_id.lower()
            return [
                (o["metadata"].get("namespace", ""), o["metadata"]["name"], o["metadata"]["uid"])
                for o in listed.get("items", [])
                if str((o.get("status") or {}).get("azureResourceId") or "").lower() == wanted
            ]

        return await asyncio.to_thread(scan)

    async def set_secret_finalizer(self, namespace: str, name: str, finalizer: str, present: bool) -> None:
        """Add or remove one finalizer on a Secret, leaving the others; nothing when already so, or
        when there is no such Secret."""

        def apply() -> None:
            try:
                secret = self._core.read_namespaced_secret(name, namespace)
            except ApiException as err:
                if err.status == 404:
                    return
                raise
            assert secret.metadata is not None  # the API server always returns it
            current = list(secret.metadata.finalizers or [])
            if (finalizer in current) == present:
                return
            if present and secret.metadata.deletion_timestamp:
                return  # a Secret being deleted takes no new finalizers
            wanted = [*current, finalizer] if present else [f for f in current if f != finalizer]
            # The resourceVersion makes this a compare-and-swap: finalizers are a list that a merge
            # patch replaces whole, so a concurrent change by someone else must not be lost.
            patch = {"metadata": {"finalizers": wanted, "resourceVersion": secret.metadata.resource_version}}
            self._core.patch_namespaced_secret(name, namespace, patch)

        await asyncio.to_thread(apply)
