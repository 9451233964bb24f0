"""The narrow interface the reconcilers use to reach one Azure ML workspace, and the plain values
it returns. Nothing outside `azureml_operator.azure` sees an SDK entity or an HTTP response: a
reconciler observes these frozen values, decides, and calls back through `WorkspaceApi`.

Every method either returns or raises one of the `azureml_operator.errors` classes. `begin_*`
methods start a long-running operation and return as soon as Azure accepted it; progress is seen on
a later observation (`provisioning_state`), never by waiting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from azureml_operator.api.common import GROUP

ARM_PROVIDER = "Microsoft.MachineLearningServices"
# Tags the operator puts on what it creates (where Azure allows tags): who owns the resource, so an
# operator restart recognises its own work, and a stranger's resource is never taken by accident.
OWNER_TAG = f"{GROUP}-owner"
OWNER_UID_TAG = f"{GROUP}-owner-uid"

IN_PROGRESS_STATES = frozenset({"creating", "updating", "deleting", "accepted", "provisioning", "inprogress"})


@dataclass(frozen=True)
class WorkspaceTarget:
    """An Azure ML workspace (or Foundry project) by its ARM coordinates."""

    subscription_id: str
    resource_group: str
    workspace_name: str

    @property
    def arm_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{ARM_PROVIDER}/workspaces/{self.workspace_name}"
        )

    def child_id(self, collection: str, name: str) -> str:
        return f"{self.arm_id}/{collection}/{name}"

    def __str__(self) -> str:
        return f"{self.subscription_id}/{self.resource_group}/{self.workspace_name}"


@dataclass(frozen=True)
class ObservedWorkspace:
    id: str
    location: str
    workspace_id: str | None


@dataclass(frozen=True)
class ObservedSubscription:
    """A Marketplace subscription as Azure reports it (enum values in Azure's PascalCase)."""

    id: str
    name: str
    model_id: str
    provisioning_state: str | None
    subscription_status: str | None
    marketplace_plan: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedServerless:
    id: str
    name: str
    model_id: str
    provisioning_state: str | None
    endpoint_state: str | None
    inference_uri: str | None
    auth_mode: str | None
    content_safety: str | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DesiredServerless:
    """What the operator PUTs for a serverless endpoint."""

    model_id: str
    auth_mode: str
    content_safety: str | None
    tags: dict[str, str]


@dataclass(frozen=True)
class EndpointKeys:
    primary: str = field(repr=False)
    secondary: str = field(repr=False)


def is_in_progress(state: str | None) -> bool:
    return (state or "").replace("_", "").lower() in IN_PROGRESS_STATES


class WorkspaceApi(Protocol):
    """One workspace, reached with one credential. Implementations are safe to share."""

    target: WorkspaceTarget

    async def get_workspace(self) -> ObservedWorkspace: ...

    async def get_subscription(self, name: str) -> ObservedSubscription | None: ...

    async def begin_create_subscription(self, name: str, model_id: str) -> None: ...

    async def begin_delete_subscription(self, name: str) -> None: ...

    async def get_serverless(self, name: str) -> ObservedServerless | None: ...

    async def begin_put_serverless(self, name: str, desired: DesiredServerless) -> None: ...

    async def get_serverless_keys(self, name: str) -> EndpointKeys: ...

    async def begin_delete_serverless(self, name: str) -> None: ...


def pascal(value: Any) -> str | None:
    """The SDK snake-cases Azure's enum values (`in_progress`); status shows Azure's own (`InProgress`)."""
    if value is None:
        return None
    text = str(value)
    if "_" not in text and text[:1].isupper():
        return text
    return "".join(part[:1].upper() + part[1:] for part in text.split("_"))
