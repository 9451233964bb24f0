"""The operator's dependencies as one pass sees them: settings, Azure, the cluster, the index.
Each is a narrow interface, so in-process tests hand in fakes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from azureml_operator.api.kinds import KindInfo
from azureml_operator.azure.client import Connection, WorkspaceTarget
from azureml_operator.azure.credentials import CredentialSpec
from azureml_operator.reconcilers.lookups import Lookups
from azureml_operator.settings import Settings


class SecretNotOwned(Exception):
    """A Secret of that name exists and belongs to someone else: the operator will not overwrite it."""


class ObjectNotOwned(Exception):
    """An object of that name exists and another owner's (or nobody's): the operator leaves it."""


class SecretNotText(ValueError):
    """A Secret value the operator needs as text is not UTF-8. The message names the keys, never
    their values (they are secrets, and bytes that are not text do not print anyway)."""

    def __init__(self, namespace: str, name: str, keys: list[str]) -> None:
        self.namespace = namespace
        self.name = name
        self.keys = keys
        super().__init__(f"Secret {namespace}/{name}: the value of {', '.join(keys)} is not UTF-8 text")


class KubeForbidden(Exception):
    """The API server's RBAC refuses the operator a request it needs: its Role or ClusterRole lacks a
    verb. The message is the server's own (which verb on which resource), one line."""


class ObjectGone(Exception):
    """The object a pass is for was deleted or replaced by a newer one of the same name meanwhile."""


class Azure(Protocol):
    async def get(self, target: WorkspaceTarget, spec: CredentialSpec) -> Connection: ...


class Kube(Protocol):
    """The few direct Kubernetes calls (kubeapi.KubeApi; kopf does the rest)."""

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None: ...

    async def apply_owned_secret(
        self, namespace: str, name: str, owner: dict[str, Any], data: dict[str, str]
    ) -> Literal["created", "updated", "unchanged"]: ...

    async def apply_owned_object(
        self, info: KindInfo, namespace: str, name: str, owner: dict[str, Any], spec: dict[str, Any]
    ) -> Literal["created", "updated", "unchanged"]:
        """Make the `info.kind` object `name` have exactly `spec`, owned by `owner`; `ObjectNotOwned`
        if one of that name belongs to someone else."""
        ...

    async def patch_status(
        self, plural: str, namespace: str, name: str, fields: dict[str, Any], uid: str | None = None
    ) -> str | None:
        """Merge `fields` into the object's status; the resourceVersion written, where known."""
        ...

    async def object_uid(self, plural: str, namespace: str, name: str) -> str | None: ...

    async def claims(self, plural: str, arm_id: str) -> list[tuple[str, str, str]]: ...

    async def set_secret_finalizer(
        self, namespace: str, name: str, finalizer: str, present: bool
    ) -> None: ...


@dataclass
class Context:
    settings: Settings
    azure: Azure
    kube: Kube
    lookups: Lookups
