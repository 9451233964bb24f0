"""The narrow boundary to Azure: the connection to one workspace, and the plain values Azure calls
return. Nothing outside `azureml_operator.azure` sees an SDK entity or an HTTP response: a
reconciler observes these frozen values, decides, and calls back through its kind's Azure module.

Every method either returns or raises one of the `azureml_operator.errors` classes. `begin_*`
methods start a long-running operation and return as soon as Azure accepted it; progress is seen on
a later observation (`provisioning_state`), never by waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from azureml_operator.api.common import GROUP

ARM_PROVIDER = "Microsoft.MachineLearningServices"
# Tags the operator puts on what it creates (where Azure allows tags): who owns the resource, so an
# operator restart recognises its own work, and a stranger's resource is never taken by accident.
OWNER_TAG = f"{GROUP}-owner"
OWNER_UID_TAG = f"{GROUP}-owner-uid"

T = TypeVar("T")

# `scaling`: an online deployment changing its instance count (DeploymentProvisioningState).
IN_PROGRESS_STATES = frozenset(
    {"creating", "updating", "deleting", "accepted", "provisioning", "inprogress", "scaling"}
)


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
class ModelSource:
    """The fine-tuning job a model id was taken from, and the uid its owner tag must carry: what
    Azure is asked, before an endpoint is created, whether that job really registered the model."""

    job_name: str
    owner_uid: str


@dataclass(frozen=True)
class DesiredServerless:
    """What the operator PUTs for a serverless endpoint."""

    model_id: str
    auth_mode: str
    content_safety: str | None
    tags: dict[str, str]
    source: ModelSource | None = None  # a fine-tuned model: verify it in Azure before creating


@dataclass(frozen=True)
class EndpointKeys:
    primary: str = field(repr=False)
    secondary: str = field(repr=False)


def is_in_progress(state: str | None) -> bool:
    return (state or "").replace("_", "").lower() in IN_PROGRESS_STATES


class ArmRequests(Protocol):
    """Plain ARM requests (`mlclient.ArmRest`): JSON in, the parsed JSON body (or None) out; ARM
    errors raised as azure-core exceptions, for `call` to classify."""

    def request(self, method: str, path: str, api_version: str, body: Any = None) -> Any: ...


class Connection(Protocol):
    """One workspace, reached with one credential; shared by every object that uses them. The
    per-kind modules of this package make their calls through it, and only through `call`."""

    @property
    def target(self) -> WorkspaceTarget: ...

    @property
    def rest(self) -> ArmRequests:
        """Plain ARM requests on the credential's one pipeline, shared by all its workspaces."""
        ...

    async def call(self, method: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

    async def get_or_none(self, fn: Callable[..., T], *args: Any) -> T | None: ...

    async def location(self) -> str: ...

    async def get_workspace(self) -> ObservedWorkspace: ...


def pascal(value: Any) -> str | None:
    """The SDK snake-cases Azure's enum values (`in_progress`); status shows Azure's own (`InProgress`)."""
    if value is None:
        return None
    text = str(value)
    if "_" not in text and text[:1].isupper():
        return text
    return "".join(part[:1].upper() + part[1:] for part in text.split("_"))


@dataclass(frozen=True)
class DesiredData:
    """A data asset version as the operator registers it."""

    data_type: str  # uri_file | uri_folder
    path: str
    description: str | None
    tags: dict[str, str]


@dataclass(frozen=True)
class ObservedData:
    id: str
    data_type: str | None
    path: str | None
    description: str | None
    archived: bool
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DesiredJob:
    """A fine-tuning job as the operator submits it. Data inputs are `azureml:<name>:<version>`
    asset ids or datastore/https URIs; the Azure module turns asset ids into ARM ids, as the SDK does."""

    task: str
    model: str
    training_data: str
    validation_data: str
    hyperparameters: dict[str, str]
    output_model_name: str
    experiment_name: str
    display_name: str
    tags: dict[str, str]
    properties: dict[str, str]


@dataclass(frozen=True)
class ObservedJob:
    id: str
    name: str
    status: str | None
    tags: dict[str, str] = field(default_factory=dict)
    studio_url: str | None = None
    failure: str | None = None  # "<code>: <message>" as Azure reports a failed job
    output_model_name: str | None = None
    output_model_version: str | None = None
    output_model_id: str | None = None  # what a serverless endpoint deploys it by (`jobs.model_id`)

    @property
    def provisioning_state(self) -> str | None:
        """A cancel in flight reads as a deletion in flight: it is not requested again."""
        return "Deleting" if (self.status or "").lower() == "cancelrequested" else None


@dataclass(frozen=True)
class DesiredOnlineEndpoint:
    """An online endpoint as the operator PUTs it; the maps are sent whole, zero shares included,
    and `mirror_traffic` always (some clients drop it on update: the operator never does)."""

    auth_mode: str  # Key | AMLToken | AADToken
    public_network_access: str
    description: str | None
    tags: dict[str, str]
    traffic: dict[str, int]
    mirror_traffic: dict[str, int]


@dataclass(frozen=True)
class ObservedOnlineEndpoint:
    id: str
    name: str
    provisioning_state: str | None
    auth_mode: str | None
    public_network_access: str | None
    description: str | None
    scoring_uri: str | None
    openapi_uri: str | None
    traffic: dict[str, int] = field(default_factory=dict)
    mirror_traffic: dict[str, int] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EndpointToken:
    """An AMLToken endpoint's token; times are epoch seconds, as Azure reports them."""

    access_token: str = field(repr=False)
    expires_at: int = 0
    refresh_after: int = 0


@dataclass(frozen=True)
class DesiredOnlineDeployment:
    """A managed online deployment as the operator PUTs it. Model and environment are as the spec
    names them (`azureml:<name>:<version>` is turned into the ARM id by the Azure module)."""

    model: str | None
    environment: str | None
    code_id: str | None
    scoring_script: str | None
    instance_type: str
    instance_count: int
    request_settings: dict[str, Any]
    liveness_probe: dict[str, Any] | None
    readiness_probe: dict[str, Any] | None
    environment_variables: dict[str, str]
    app_insights_enabled: bool
    egress_public_network_access: str
    tags: dict[str, str]


@dataclass(frozen=True)
class ObservedOnlineDeployment:
    id: str
    name: str
    provisioning_state: str | None
    model: str | None
    environment: str | None
    instance_type: str | None
    instance_count: int | None
    request_settings: dict[str, Any] = field(default_factory=dict)
    environment_variables: dict[str, str] = field(default_factory=dict)
    app_insights_enabled: bool = False
    egress_public_network_access: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    failure: str | None = None  # Azure's "<code>: <message>" for a Failed deployment, when it says
