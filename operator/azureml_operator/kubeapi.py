"""The operator's few direct Kubernetes API calls (kopf does the rest): read a credential Secret,
keep an endpoint's keys Secret in step, and record an intent in an object's status before an Azure
create. The kubernetes client is synchronous, so each call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Literal

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from azureml_operator.api.common import GROUP, VERSION

MANAGED_BY = {"app.kubernetes.io/managed-by": "azureml-operator"}


class SecretNotOwned(Exception):
    """A Secret of that name exists and belongs to someone else: the operator will not overwrite it."""


def _decode(data: dict[str, str] | None) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (data or {}).items()}


def _encode(data: dict[str, str]) -> dict[str, str]:
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
                        name=name, namespace=namespace, labels=dict(MANAGED_BY), owner_references=[owner]
                    ),
                    type="Opaque",
                    data=_encode(data),
                )
                self._core.create_namespaced_secret(namespace, body)
                return "created"
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

    async def patch_status(self, plural: str, namespace: str, name: str, fields: dict[str, Any]) -> None:
        await asyncio.to_thread(
            self._custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
            {"status": fields},
        )
