"""In-memory stand-ins for what one reconcile pass talks to: Azure (a connection per workspace and a
fake API per kind), the few Kubernetes calls (`Kube`), and the index (`Lookups`), plus builders of
object bodies. Every call is appended to one shared journal, so a test can assert their order.

The adapters of `azureml_operator.kinds` are used as they are, except `azure_api(conn)`, which hands
out this module's fake API for the kind instead of the SDK-backed one.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from azureml_operator.api.kinds import KindInfo
from azureml_operator.azure.client import (
    OWNER_TAG,
    OWNER_UID_TAG,
    DesiredJob,
    DesiredOnlineDeployment,
    DesiredOnlineEndpoint,
    DesiredServerless,
    EndpointKeys,
    EndpointToken,
    ModelSource,
    ObservedJob,
    ObservedOnlineDeployment,
    ObservedOnlineEndpoint,
    ObservedServerless,
    ObservedSubscription,
    ObservedWorkspace,
    WorkspaceTarget,
)
from azureml_operator.azure.credentials import CredentialSpec
from azureml_operator.errors import AzureFailure
from azureml_operator.kinds.data_asset import DataAssetAdapter
from azureml_operator.kinds.finetune_job import FineTuneJobAdapter
from azureml_operator.kinds.model_subscription import ModelSubscriptionAdapter
from azureml_operator.kinds.online_deployment import OnlineDeploymentAdapter
from azureml_operator.kinds.online_endpoint import OnlineEndpointAdapter
from azureml_operator.kinds.serverless_endpoint import ServerlessEndpointAdapter
from azureml_operator.kinds.workspace import WorkspaceAdapter
from azureml_operator.reconcilers.adapters import Adapter
from azureml_operator.reconcilers.common import ADOPT_ANNOTATION, POLICY_ANNOTATION, Verdict
from azureml_operator.reconcilers.context import Context, ObjectNotOwned, SecretNotOwned
from azureml_operator.reconcilers.lookups import ObjectIndex, indexed
from azureml_operator.reconcilers.objects import Obj
from azureml_operator.runtime import loop
from azureml_operator.runtime.registry import references
from azureml_operator.settings import Settings

API_VERSION = "azureml.dev/v1alpha1"
NAMESPACE = "team-a"
DEFAULT_TARGET = WorkspaceTarget("00000000-0000-0000-0000-000000000001", "rg-default", "ws-default")
SUBSCRIPTION_ID = "00000000-0000-0000-0000-0000000000aa"
PHI = "azureml://registries/azureml/models/Phi-4-mini-instruct"
LLAMA = "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct"
MISTRAL = "azureml://registries/azureml-mistral/models/Mistral-large"


@dataclass(frozen=True)
class Call:
    """One call into a fake: who (`kube`, `azure`, `serverlessEndpoints`, `marketplaceSubscriptions`,
    `workspace`), the method, and its arguments."""

    who: str
    method: str
    args: tuple[Any, ...] = ()


Journal = list[Call]


class Failures:
    """Failures to raise from a fake's methods: queued per method, or for every call."""

    def __init__(self) -> None:
        self._queued: dict[str, list[AzureFailure]] = {}
        self._always: dict[str, AzureFailure] = {}

    def add(self, method: str, failure: AzureFailure, *, always: bool = False) -> None:
        if always:
            self._always[method] = failure
        else:
            self._queued.setdefault(method, []).append(failure)

    def clear(self, method: str | None = None) -> None:
        if method is None:
            self._queued.clear()
            self._always.clear()
        else:
            self._queued.pop(method, None)
            self._always.pop(method, None)

    def check(self, method: str) -> None:
        queued = self._queued.get(method)
        if queued:
            raise queued.pop(0)
        if method in self._always:
            raise self._always[method]


class _FakeApi:
    who: str

    def __init__(self, target: WorkspaceTarget, journal: Journal) -> None:
        self.target = target
        self.journal = journal
        self.failures = Failures()
        self._calls: list[Call] = []  # this workspace's only; the journal has every fake's

    def _record(self, method: str, *args: Any) -> None:
        call = Call(self.who, method, args)
        self.journal.append(call)
        self._calls.append(call)
        self.failures.check(method)

    def fail(self, method: str, failure: AzureFailure, *, always: bool = False) -> None:
        self.failures.add(method, failure, always=always)

    def arm_id(self, name: str) -> str:
        return self.target.child_id(self.who, name)

    @property
    def calls(self) -> list[Call]:
        return list(self._calls)

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method not in ("get", "keys")]


class FakeServerlessEndpoints(_FakeApi):
    """Stands in for `azure.serverless.ServerlessEndpoints` of one workspace."""

    who = "serverlessEndpoints"

    def __init__(self, target: WorkspaceTarget, journal: Journal) -> None:
        super().__init__(target, journal)
        self.resources: dict[str, ObservedServerless] = {}
        self.keys_of: dict[str, EndpointKeys] = {}
        # What a PUT leaves the endpoint in; a test may ask for "Creating" to see an operation in flight.
        self.state_after_put = "Succeeded"
        # The models fine-tuning jobs registered, as Azure reports them (`fine_tuned_model`).
        self.fine_tuned: dict[ModelSource, str] = {}

    def add(
        self,
        name: str,
        model_id: str = LLAMA,
        *,
        tags: Mapping[str, str] | None = None,
        provisioning_state: str = "Succeeded",
        endpoint_state: str = "Online",
        content_safety: str | None = "Enabled",
        auth_mode: str = "Key",
    ) -> ObservedServerless:
        """An endpoint that already exists in Azure (made by anyone)."""
        observed = ObservedServerless(
            id=self.arm_id(name),
            name=name,
            model_id=model_id,
            provisioning_state=provisioning_state,
            endpoint_state=endpoint_state,
            inference_uri=f"https://{name}.eastus2.models.ai.azure.com",
            auth_mode=auth_mode,
            content_safety=content_safety,
            tags=dict(tags or {}),
        )
        self.resources[name] = observed
        self.keys_of[name] = EndpointKeys(primary=f"{name}-key-1", secondary=f"{name}-key-2")
        return observed

    async def get(self, name: str) -> ObservedServerless | None:
        self._record("get", name)
        return self.resources.get(name)

    async def begin_put(self, name: str, desired: DesiredServerless) -> None:
        self._record("begin_put", name, desired)
        self.add(
            name,
            desired.model_id,
            tags=desired.tags,
            provisioning_state=self.state_after_put,
            endpoint_state="Online" if self.state_after_put == "Succeeded" else "Creating",
            content_safety=desired.content_safety or "Enabled",
            auth_mode=desired.auth_mode,
        )

    async def fine_tuned_model(self, source: ModelSource) -> str | None:
        self._record("fine_tuned_model", source)
        return self.fine_tuned.get(source)

    async def keys(self, name: str) -> EndpointKeys:
        self._record("keys", name)
        return self.keys_of[name]

    async def begin_delete(self, name: str) -> None:
        self._record("begin_delete", name)
        current = self.resources[name]
        self.resources[name] = replace(current, provisioning_state="Deleting")

    def finish_deletions(self) -> None:
        """Azure completes every deletion in flight."""
        for name, res in list(self.resources.items()):
            if res.provisioning_state == "Deleting":
                del self.resources[name]


class FakeMarketplaceSubscriptions(_FakeApi):
    """Stands in for `azure.subscriptions.MarketplaceSubscriptions` of one workspace (no tags)."""

    who = "marketplaceSubscriptions"

    def __init__(self, target: WorkspaceTarget, journal: Journal) -> None:
        super().__init__(target, journal)
        self.resources: dict[str, ObservedSubscription] = {}

    def add(
        self,
        name: str,
        model_id: str = LLAMA,
        *,
        provisioning_state: str = "Succeeded",
        subscription_status: str = "Subscribed",
    ) -> ObservedSubscription:
        observed = ObservedSubscription(
            id=self.arm_id(name),
            name=name,
            model_id=model_id,
            provisioning_state=provisioning_state,
            subscription_status=subscription_status,
            marketplace_plan={"publisherId": "metagenai", "offerId": "meta-llama-3", "planId": "8b"},
        )
        self.resources[name] = observed
        return observed

    async def get(self, name: str) -> ObservedSubscription | None:
        self._record("get", name)
        return self.resources.get(name)

    async def begin_create(self, name: str, model_id: str) -> None:
        self._record("begin_create", name, model_id)
        self.add(name, model_id)

    async def begin_delete(self, name: str) -> None:
        self._record("begin_delete", name)
        current = self.resources[name]
        self.resources[name] = replace(current, provisioning_state="Deleting")

    def finish_deletions(self) -> None:
        for name, res in list(self.resources.items()):
            if res.provisioning_state == "Deleting":
                del self.resources[name]


class FakeFineTuningJobs(_FakeApi):
    """Stands in for `azure.jobs.FineTuningJobs` of one workspace: jobs walk their phases only when
    a test says so (`advance`)."""

    who = "jobs"
    WORKSPACE_GUID = "11111111-2222-3333-4444-555555555555"

    def __init__(self, target: WorkspaceTarget, journal: Journal) -> None:
        super().__init__(target, journal)
        self.resources: dict[str, ObservedJob] = {}
        self.submitted: dict[str, DesiredJob] = {}

    def add(
        self, name: str, status: str = "NotStarted", *, tags: Mapping[str, str] | None = None
    ) -> ObservedJob:
        job = ObservedJob(
            id=self.arm_id(name),
            name=name,
            status=status,
            tags=dict(tags or {}),
            studio_url=f"https://ml.azure.com/runs/{name}",
            output_model_name=name,
        )
        self.resources[name] = job
        return job

    def advance(
        self, name: str, status: str, *, version: str | None = None, failure: str | None = None
    ) -> None:
        """The job moves on in Azure (a completed one reports `version` of its registered model)."""
        self.resources[name] = replace(
            self.resources[name], status=status, output_model_version=version, failure=failure
        )

    async def get(self, name: str) -> ObservedJob | None:
        self._record("get", name)
        return self.resources.get(name)

    async def begin_create(self, name: str, desired: DesiredJob) -> None:
        self._record("begin_create", name, desired)
        self.submitted[name] = desired
        job = self.add(name, tags=desired.tags)
        self.resources[name] = replace(job, output_model_name=desired.output_model_name)

    async def begin_cancel(self, name: str) -> None:
        self._record("begin_cancel", name)
        self.advance(name, "CancelRequested")

    async def model_id(self, name: str, version: str) -> str:
        self._record("model_id", name, version)
        return (
            f"azureml://locations/eastus2/workspaces/{self.WORKSPACE_GUID}/models/{name}/versions/{version}"
        )


class FakeOnlineEndpoints(_FakeApi):
    """Stands in for `azure.online.OnlineEndpoints` of one workspace: a PUT takes effect at once."""

    who = "onlineEndpoints"

    def __init__(self, target: WorkspaceTarget, journal: Journal) -> None:
        super().__init__(target, journal)
        self.resources: dict[str, ObservedOnlineEndpoint] = {}
        self.tokens_issued = 0
        self.token_lifetime = 3600

    def add(self, name: str, **kwargs: Any) -> ObservedOnlineEndpoint:
        base: dict[str, Any] = {
            "id": self.arm_id(name),
            "name": name,
            "provisioning_state": "Succeeded",
            "auth_mode": "Key",
            "public_network_access": "Enabled",
            "description": None,
            "scoring_uri": f"https://{name}.eastus2.inference.ml.azure.com/score",
            "openapi_uri": None,
        }
        observed = ObservedOnlineEndpoint(**{**base, **kwargs})
        self.resources[name] = observed
        return observed

    async def get(self, name: str) -> ObservedOnlineEndpoint | None:
        self._record("get", name)
        return self.resources.get(name)

    async def begin_put(self, name: str, desired: DesiredOnlineEndpoint) -> None:
        self._record("begin_put", name, desired)
        self.add(
            name,
            auth_mode=desired.auth_mode,
            public_network_access=desired.public_network_access,
            description=desired.description,
            traffic=dict(desired.traffic),
            mirror_traffic=dict(desired.mirror_traffic),
            tags=dict(desired.tags),
        )

    async def keys(self, name: str) -> EndpointKeys:
        self._record("keys", name)
        return EndpointKeys(primary=f"{name}-key-1", secondary=f"{name}-key-2")

    async def token(self, name: str) -> EndpointToken:
        self._record("token", name)
        self.tokens_issued += 1
        now = int(time.time())
        return EndpointToken(
            access_token=f"{name}-token-{self.tokens_issued}",
            expires_at=now + self.token_lifetime,
            refresh_after=now + self.token_lifetime // 2,
        )


class FakeOnlineDeployments(_FakeApi):
    """Stands in for `azure.online.OnlineDeployments` of one workspace, by (endpoint, name)."""

    who = "onlineDeployments"

    def __init__(self, target: WorkspaceTarget, journal: Journal) -> None:
        super().__init__(target, journal)
        self.resources: dict[tuple[str, str], ObservedOnlineDeployment] = {}
        self.state_after_put = "Succeeded"

    def add(self, endpoint: str, name: str, **kwargs: Any) -> ObservedOnlineDeployment:
        base: dict[str, Any] = {
            "id": f"{self.target.child_id('onlineEndpoints', endpoint)}/deployments/{name}",
            "name": name,
            "provisioning_state": "Succeeded",
            "model": None,
            "environment": None,
            "instance_type": "Standard_F4s_v2",  # Azure's default, as the spec's
            "instance_count": 1,
            "egress_public_network_access": "Enabled",
        }
        observed = ObservedOnlineDeployment(**{**base, **kwargs})
        self.resources[(endpoint, name)] = observed
        return observed

    async def get(self, endpoint: str, name: str) -> ObservedOnlineDeployment | None:
        self._record("get", endpoint, name)
        return self.resources.get((endpoint, name))

    async def begin_put(self, endpoint: str, name: str, desired: DesiredOnlineDeployment) -> None:
        self._record("begin_put", endpoint, name, desired)
        self.add(
            endpoint,
            name,
            provisioning_state=self.state_after_put,
            model=desired.model,
            instance_type=desired.instance_type,
            instance_count=desired.instance_count,
            environment_variables=dict(desired.environment_variables),
            tags=dict(desired.tags),
        )

    async def begin_delete(self, endpoint: str, name: str) -> None:
        self._record("begin_delete", endpoint, name)
        self.resources[(endpoint, name)] = replace(
            self.resources[(endpoint, name)], provisioning_state="Deleting"
        )


class FakeConnection:
    """Stands in for `azure.client.Connection`: one workspace reached with one credential."""

    def __init__(self, azure: FakeAzure, target: WorkspaceTarget, credential: CredentialSpec) -> None:
        self.azure = azure
        self.target = target
        self.credential = credential

    async def location(self) -> str:
        return "eastus2"

    async def get_workspace(self) -> ObservedWorkspace:
        self.azure.journal.append(Call("workspace", "get_workspace", (self.target,)))
        self.azure.workspace_failures.check("get_workspace")
        return ObservedWorkspace(
            id=self.target.arm_id, location="eastus2", workspace_id="11111111-2222-3333-4444-555555555555"
        )

    def api(self, collection: str) -> _FakeApi:
        return self.azure.api(self.target, collection)


class FakeAzure:
    """Stands in for the connection pool (`Context.azure`): Azure as a few dictionaries."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.workspace_failures = Failures()
        self._apis: dict[tuple[WorkspaceTarget, str], _FakeApi] = {}
        # Raised by `get`, as the pool raises `CredentialRefused` or azure-identity a ValueError.
        self.connect_error: Exception | None = None

    async def get(self, target: WorkspaceTarget, spec: CredentialSpec) -> FakeConnection:
        self.journal.append(Call("azure", "get", (target, spec)))
        if self.connect_error is not None:
            raise self.connect_error
        return FakeConnection(self, target, spec)

    def api(self, target: WorkspaceTarget, collection: str) -> _FakeApi:
        key = (target, collection)
        if key not in self._apis:
            cls: dict[str, type[_FakeApi]] = {
                "serverlessEndpoints": FakeServerlessEndpoints,
                "marketplaceSubscriptions": FakeMarketplaceSubscriptions,
                "jobs": FakeFineTuningJobs,
                "onlineEndpoints": FakeOnlineEndpoints,
                "onlineDeployments": FakeOnlineDeployments,
            }
            self._apis[key] = cls[collection](target, self.journal)
        return self._apis[key]

    def endpoints(self, target: WorkspaceTarget = DEFAULT_TARGET) -> FakeServerlessEndpoints:
        api = self.api(target, "serverlessEndpoints")
        assert isinstance(api, FakeServerlessEndpoints)
        return api

    def subscriptions(self, target: WorkspaceTarget = DEFAULT_TARGET) -> FakeMarketplaceSubscriptions:
        api = self.api(target, "marketplaceSubscriptions")
        assert isinstance(api, FakeMarketplaceSubscriptions)
        return api

    def deployments(self, target: WorkspaceTarget = DEFAULT_TARGET) -> FakeOnlineDeployments:
        api = self.api(target, "onlineDeployments")
        assert isinstance(api, FakeOnlineDeployments)
        return api

    def online(self, target: WorkspaceTarget = DEFAULT_TARGET) -> FakeOnlineEndpoints:
        api = self.api(target, "onlineEndpoints")
        assert isinstance(api, FakeOnlineEndpoints)
        return api

    def jobs(self, target: WorkspaceTarget = DEFAULT_TARGET) -> FakeFineTuningJobs:
        api = self.api(target, "jobs")
        assert isinstance(api, FakeFineTuningJobs)
        return api


# -- Kubernetes -----------------------------------------------------------------------------------


@dataclass
class FakeSecret:
    data: dict[str, str]
    owner_references: list[dict[str, Any]] = field(default_factory=list)
    finalizers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StatusPatch:
    plural: str
    namespace: str
    name: str
    fields: dict[str, Any]
    uid: str | None


class FakeKube:
    """The `Kube` protocol in memory. `uids` answers `object_uid`, `cluster_claims` answers `claims`
    (by lower-cased ARM id); `object_uid_error` / `claims_error` are raised instead when set."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.secrets: dict[tuple[str, str], FakeSecret] = {}
        self.uids: dict[tuple[str, str, str], str] = {}
        self.cluster_claims: dict[str, list[tuple[str, str, str]]] = {}
        self.claims_error: Exception | None = None
        self.object_uid_error: Exception | None = None
        self.patches: list[StatusPatch] = []
        # Custom objects made by `apply_owned_object`, by (kind, namespace, name).
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}

    def _record(self, method: str, *args: Any) -> None:
        self.journal.append(Call("kube", method, args))

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        self._record("read_secret", namespace, name)
        secret = self.secrets.get((namespace, name))
        return dict(secret.data) if secret is not None else None

    async def apply_owned_secret(
        self, namespace: str, name: str, owner: dict[str, Any], data: dict[str, str]
    ) -> Literal["created", "updated", "unchanged"]:
        self._record("apply_owned_secret", namespace, name, owner, data)
        secret = self.secrets.get((namespace, name))
        if secret is None:
            self.secrets[(namespace, name)] = FakeSecret(dict(data), [dict(owner)])
            return "created"
        if not any(ref.get("uid") == owner["uid"] for ref in secret.owner_references):
            raise SecretNotOwned(f"Secret {name} already exists and is not owned by this object")
        if secret.data == data:
            return "unchanged"
        secret.data = dict(data)
        return "updated"

    async def apply_owned_object(
        self, info: KindInfo, namespace: str, name: str, owner: dict[str, Any], spec: dict[str, Any]
    ) -> Literal["created", "updated", "unchanged"]:
        self._record("apply_owned_object", info.kind, namespace, name, owner, spec)
        key = (info.kind, namespace, name)
        current = self.objects.get(key)
        if current is None:
            self.objects[key] = {"ownerReferences": [dict(owner)], "spec": dict(spec)}
            return "created"
        if not any(ref.get("uid") == owner["uid"] for ref in current["ownerReferences"]):
            raise ObjectNotOwned(
                f"{info.kind} {namespace}/{name} already exists and is not owned by this object"
            )
        if current["spec"] == spec:
            return "unchanged"
        current["spec"] = dict(spec)
        return "updated"

    async def patch_status(
        self, plural: str, namespace: str, name: str, fields: dict[str, Any], uid: str | None = None
    ) -> str | None:
        self._record("patch_status", plural, namespace, name, dict(fields), uid)
        self.patches.append(StatusPatch(plural, namespace, name, dict(fields), uid))
        return str(len(self.patches))

    async def object_uid(self, plural: str, namespace: str, name: str) -> str | None:
        self._record("object_uid", plural, namespace, name)
        if self.object_uid_error is not None:
            raise self.object_uid_error
        return self.uids.get((plural, namespace, name))

    async def claims(self, plural: str, arm_id: str) -> list[tuple[str, str, str]]:
        self._record("claims", plural, arm_id)
        if self.claims_error is not None:
            raise self.claims_error
        return list(self.cluster_claims.get(arm_id.lower(), []))

    async def set_secret_finalizer(self, namespace: str, name: str, finalizer: str, present: bool) -> None:
        self._record("set_secret_finalizer", namespace, name, finalizer, present)
        secret = self.secrets.get((namespace, name))
        if secret is None:
            return
        if present and finalizer not in secret.finalizers:
            secret.finalizers.append(finalizer)
        if not present and finalizer in secret.finalizers:
            secret.finalizers.remove(finalizer)


# -- adapters with fake Azure APIs ----------------------------------------------------------------


class FakeApiServerless(ServerlessEndpointAdapter):
    def azure_api(self, conn: Any) -> Any:
        assert isinstance(conn, FakeConnection)
        return conn.api(self.collection)


class FakeApiSubscription(ModelSubscriptionAdapter):
    def azure_api(self, conn: Any) -> Any:
        assert isinstance(conn, FakeConnection)
        return conn.api(self.collection)


class FakeApiOnlineEndpoint(OnlineEndpointAdapter):
    def azure_api(self, conn: Any) -> Any:
        assert isinstance(conn, FakeConnection)
        return conn.api(self.collection)


class FakeApiFineTune(FineTuneJobAdapter):
    def azure_api(self, conn: Any) -> Any:
        assert isinstance(conn, FakeConnection)
        return conn.api(self.collection)


SERVERLESS = FakeApiServerless()
SUBSCRIPTION = FakeApiSubscription()
FINETUNE = FakeApiFineTune()
ONLINE = FakeApiOnlineEndpoint()
WORKSPACE = WorkspaceAdapter()  # its API is the connection itself
DATA = DataAssetAdapter()  # in the index only: no fake API


class FakeApiOnlineDeployment(OnlineDeploymentAdapter):
    def azure_api(self, conn: Any) -> Any:
        assert isinstance(conn, FakeConnection)
        return conn.api("onlineDeployments")


DEPLOYMENTS = FakeApiOnlineDeployment()
ADAPTERS: dict[str, Adapter] = {
    a.info.kind: a for a in (SERVERLESS, SUBSCRIPTION, FINETUNE, ONLINE, WORKSPACE, DATA, DEPLOYMENTS)
}


# -- bodies ---------------------------------------------------------------------------------------


def body(
    kind: str,
    name: str,
    spec: Mapping[str, Any],
    *,
    uid: str | None = None,
    namespace: str = NAMESPACE,
    annotations: Mapping[str, str] | None = None,
    status: Mapping[str, Any] | None = None,
    generation: int = 1,
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid or f"uid-{kind.lower()}-{namespace}-{name}",
        "generation": generation,
        "annotations": dict(annotations or {}),
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    out: dict[str, Any] = {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": dict(spec)}
    if status is not None:
        out["status"] = dict(status)
    return out


def ready_status(reason: str = "Succeeded", **fields: Any) -> dict[str, Any]:
    condition = {
        "type": "Ready",
        "status": "True",
        "reason": reason,
        "message": "ok",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "observedGeneration": 1,
    }
    return {"conditions": [condition], "observedGeneration": 1, **fields}


def not_ready_status(reason: str, message: str = "", **fields: Any) -> dict[str, Any]:
    status = ready_status(reason, **fields)
    status["conditions"][0].update(status="False", message=message)
    return status


def endpoint(name: str = "llama", model_id: str = LLAMA, **kwargs: Any) -> dict[str, Any]:
    spec = {"modelId": model_id, **kwargs.pop("spec", {})}
    return body("ServerlessEndpoint", name, spec, **kwargs)


def subscription(name: str = "llama-sub", model_id: str = LLAMA, **kwargs: Any) -> dict[str, Any]:
    spec = {"modelId": model_id, **kwargs.pop("spec", {})}
    return body("ModelSubscription", name, spec, **kwargs)


PHI_VERSIONED = f"{PHI}/versions/7"
TRAIN_URI = "azureml://datastores/workspaceblobstore/paths/ft/train.jsonl"


def finetune_job(name: str = "ft", **kwargs: Any) -> dict[str, Any]:
    spec = {
        "task": "ChatCompletion",
        "model": PHI_VERSIONED,
        "trainingData": {"dataAssetRef": {"name": "train"}},
        "validationData": {"uri": TRAIN_URI},
        "hyperparameters": {"num_train_epochs": "1"},
        **kwargs.pop("spec", {}),
    }
    return body("FineTuneJob", name, spec, **kwargs)


def online_endpoint(name: str = "chat", **kwargs: Any) -> dict[str, Any]:
    return body("OnlineEndpoint", name, dict(kwargs.pop("spec", {})), **kwargs)


def online_deployment(name: str, endpoint: str = "chat", **kwargs: Any) -> dict[str, Any]:
    spec = {"endpointRef": {"name": endpoint}, "model": PHI_VERSIONED, **kwargs.pop("spec", {})}
    return body("OnlineDeployment", name, spec, **kwargs)


def data_asset(name: str = "train", version: str = "1", **kwargs: Any) -> dict[str, Any]:
    spec = {"version": version, "type": "uri_file", "path": TRAIN_URI, **kwargs.pop("spec", {})}
    return body("DataAsset", name, spec, **kwargs)


def workspace(name: str = "ws", **kwargs: Any) -> dict[str, Any]:
    spec = {
        "subscriptionId": SUBSCRIPTION_ID,
        "resourceGroup": "rg-team-a",
        "workspaceName": "ws-team-a",
        **kwargs.pop("spec", {}),
    }
    return body("Workspace", name, spec, **kwargs)


def adopt() -> dict[str, str]:
    return {ADOPT_ANNOTATION: "true"}


def policy(value: str) -> dict[str, str]:
    return {POLICY_ANNOTATION: value}


def owner_tags(of: Mapping[str, Any]) -> dict[str, str]:
    """The tags the operator puts on what it creates for the object `of` (a body)."""
    meta = of["metadata"]
    return {OWNER_TAG: f"{meta['namespace']}/{meta['name']}", OWNER_UID_TAG: meta["uid"]}


def uid_of(of: Mapping[str, Any]) -> str:
    return str(of["metadata"]["uid"])


def lookups_of(bodies: Iterable[Mapping[str, Any]]) -> ObjectIndex:
    """The index the operator would hold for these objects."""
    index = ObjectIndex()
    for b in bodies:
        index.put(indexed(b["kind"], b, references(ADAPTERS[b["kind"]])))
    return index


async def deliver(memo: Any, body: Mapping[str, Any], type: str = "MODIFIED") -> None:
    """A watch event, as kopf hands it to the operator: indexed first (but a deletion), then the
    event handler."""
    from azureml_operator import wiring  # only the wiring's tests deliver events

    adapter = ADAPTERS[body["kind"]]
    if type != "DELETED":
        await wiring._indexer(adapter)(body=body, memo=memo)
    await wiring.on_event(adapter, body, memo, type=type)


# -- one pass -------------------------------------------------------------------------------------


@dataclass
class Harness:
    """Azure, the cluster and the index as one pass sees them; `reconcile`/`finalize` run one pass of
    the runtime for a body (which is in the index too, as in the operator)."""

    journal: Journal = field(default_factory=list)
    settings: Settings = field(
        default_factory=lambda: Settings(
            namespaces=(NAMESPACE,),
            default_workspace=DEFAULT_TARGET,
            dev_credential=True,
            cluster_wide_claims=True,
        )
    )
    cluster: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.azure = FakeAzure(self.journal)
        self.kube = FakeKube(self.journal)

    @property
    def endpoints(self) -> FakeServerlessEndpoints:
        return self.azure.endpoints()

    @property
    def subscriptions(self) -> FakeMarketplaceSubscriptions:
        return self.azure.subscriptions()

    @property
    def jobs(self) -> FakeFineTuningJobs:
        return self.azure.jobs()

    @property
    def online(self) -> FakeOnlineEndpoints:
        return self.azure.online()

    @property
    def deployments(self) -> FakeOnlineDeployments:
        return self.azure.deployments()

    def add(self, *bodies: dict[str, Any]) -> None:
        """Objects that exist in the cluster (and so in the index)."""
        self.cluster.extend(bodies)

    def remove(self, of: Mapping[str, Any]) -> None:
        self.cluster = [b for b in self.cluster if uid_of(b) != uid_of(of)]

    def context(self, current: Mapping[str, Any] | None = None) -> Context:
        bodies = list(self.cluster)
        if current is not None and all(uid_of(b) != uid_of(current) for b in bodies):
            bodies.append(dict(current))
        return Context(self.settings, self.azure, self.kube, lookups_of(bodies))

    @staticmethod
    def obj(of: Mapping[str, Any]) -> Obj:
        adapter = ADAPTERS[of["kind"]]
        return Obj.from_body(adapter.info.kind, adapter.info.plural, of)

    async def reconcile(self, of: Mapping[str, Any], attempt: int = 0) -> Verdict:
        return await loop.reconcile(ADAPTERS[of["kind"]], self.obj(of), self.context(of), attempt)

    async def finalize(self, of: Mapping[str, Any], attempt: int = 0) -> Verdict:
        return await loop.finalize(ADAPTERS[of["kind"]], self.obj(of), self.context(of), attempt)

    def kube_calls(self, method: str | None = None) -> list[Call]:
        return [c for c in self.journal if c.who == "kube" and (method is None or c.method == method)]

    def azure_calls(self) -> list[Call]:
        """Every call that reached Azure (connections included)."""
        return [c for c in self.journal if c.who != "kube"]


def event_reasons(verdict: Verdict) -> list[str]:
    return [e.reason for e in verdict.events]


class RecordingScheduler:
    """The wiring's `Scheduler`, recording what it is asked instead of running passes."""

    stopping = False

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.forgotten: list[str] = []
        self.context: contextvars.Context | None = None

    def now(self, uid: str, trigger: str) -> None:
        self.calls.append((uid, trigger))

    def forget(self, uid: str) -> None:
        self.forgotten.append(uid)


class StatusKube:
    """The two Kubernetes calls the kopf wiring makes itself: status patches (recorded; each
    answers resourceVersion "9") and reading an object afresh (`stored`, or raised if an error)."""

    def __init__(self, stored: dict[str, Any] | Exception | None = None) -> None:
        self.stored = stored
        self.patches: list[dict[str, Any]] = []

    async def patch_status(
        self, plural: str, namespace: str, name: str, fields: dict[str, Any], uid: str | None = None
    ) -> str:
        self.patches.append(fields)
        return "9"

    async def read_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        if isinstance(self.stored, Exception):
            raise self.stored
        return self.stored
