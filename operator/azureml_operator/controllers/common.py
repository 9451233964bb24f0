"""What every controller needs: the object being reconciled, the operator's dependencies, the
workspace (and credential) an object uses, and the verdict for a failed Azure call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from azureml_operator.azure import credentials
from azureml_operator.azure.client import WorkspaceApi, WorkspaceTarget
from azureml_operator.azure.pool import ClientPool
from azureml_operator.conditions import Reason
from azureml_operator.errors import AzureFailure, Terminal, Throttled
from azureml_operator.kubeapi import KubeApi
from azureml_operator.reconcilers.common import RETRY_UNAVAILABLE, WAIT_DEPENDENCY, Verdict
from azureml_operator.settings import Settings


@dataclass(frozen=True)
class Obj:
    """The parts of a custom object a controller reads."""

    api_version: str
    kind: str
    plural: str
    namespace: str
    name: str
    uid: str
    generation: int
    annotations: dict[str, str]
    spec: dict[str, Any]
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def owner_reference(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


class Lookups(Protocol):
    """Other objects the operator already watches (kopf indexes): no API call, never stale by much."""

    def workspace(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Workspace's spec, or None if there is no such object."""

    def subscription(self, namespace: str, name: str) -> dict[str, Any] | None:
        """`{"ready": bool, "reason": str, "message": str, "modelId": str}` of a ModelSubscription."""

    def endpoints_using(self, namespace: str, workspace: str | None, model_id: str) -> list[dict[str, Any]]:
        """Bodies (apiVersion, kind, metadata) of ServerlessEndpoints in the namespace serving model_id."""


@dataclass
class Dependencies:
    settings: Settings
    pool: ClientPool
    kube: KubeApi
    lookups: Lookups


class Blocked(Exception):
    """The reconcile cannot go on; `verdict` says why and when to look again."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict


@dataclass(frozen=True)
class ResolvedWorkspace:
    name: str | None  # the Workspace object's name; None for the operator's default workspace
    target: WorkspaceTarget
    credential: credentials.CredentialSpec


async def resolve_workspace(obj: Obj, deps: Dependencies, attempt: int) -> ResolvedWorkspace:
    ref = (obj.spec.get("workspaceRef") or {}).get("name")
    if ref is None:
        target = deps.settings.default_workspace
        if target is None:
            raise Blocked(
                Verdict.not_ready(
                    Reason.INVALID_SPEC,
                    "spec.workspaceRef is not set and the operator has no default workspace "
                    "(--default-workspace); name a Workspace in this namespace",
                )
            )
        return ResolvedWorkspace(
            None, target, credentials.CredentialSpec(deps.settings.operator_credential_kind)
        )
    spec = deps.lookups.workspace(obj.namespace, ref)
    if spec is None:
        raise Blocked(
            Verdict.not_ready(
                Reason.WAITING_FOR_WORKSPACE,
                f"Workspace {ref} does not exist in namespace {obj.namespace}",
                requeue_after=WAIT_DEPENDENCY.delay(attempt),
            )
        )
    return await workspace_from_spec(ref, obj.namespace, spec, deps, attempt)


async def workspace_from_spec(
    name: str, namespace: str, spec: dict[str, Any], deps: Dependencies, attempt: int
) -> ResolvedWorkspace:
    target = WorkspaceTarget(spec["subscriptionId"], spec["resourceGroup"], spec["workspaceName"])
    cred = spec.get("credential") or {}
    if cred.get("clientId"):
        return ResolvedWorkspace(
            name, target, credentials.CredentialSpec("workload-identity", client_id=cred["clientId"])
        )
    secret_name = (cred.get("secretRef") or {}).get("name")
    if not secret_name:
        return ResolvedWorkspace(
            name, target, credentials.CredentialSpec(deps.settings.operator_credential_kind)
        )
    data = await deps.kube.read_secret(namespace, secret_name)
    if data is None:
        raise Blocked(
            Verdict.not_ready(
                Reason.INVALID_SPEC,
                f"credential Secret {secret_name} (Workspace {name}) does not exist in namespace {namespace}",
                requeue_after=WAIT_DEPENDENCY.delay(attempt),
            )
        )
    missing = [k for k in ("clientId", "clientSecret", "tenantId") if not data.get(k)]
    if missing:
        raise Blocked(
            Verdict.not_ready(
                Reason.INVALID_SPEC,
                f"credential Secret {secret_name} (Workspace {name}) lacks {', '.join(missing)}",
                requeue_after=WAIT_DEPENDENCY.delay(attempt),
            )
        )
    return ResolvedWorkspace(
        name,
        target,
        credentials.CredentialSpec(
            "service-principal",
            client_id=data["clientId"],
            tenant_id=data["tenantId"],
            client_secret=data["clientSecret"],
        ),
    )


async def client_for(resolved: ResolvedWorkspace, deps: Dependencies) -> WorkspaceApi:
    try:
        return await deps.pool.get(resolved.target, resolved.credential)
    except credentials.CredentialRefused as err:
        raise Blocked(Verdict.not_ready(Reason.CREDENTIAL_REJECTED, str(err))) from None
    except ValueError as err:  # azure-identity rejects malformed ids at construction
        raise Blocked(
            Verdict.not_ready(Reason.CREDENTIAL_REJECTED, f"{resolved.credential.describe()}: {err}")
        ) from None


def failure_verdict(failure: AzureFailure, attempt: int, doing: str) -> Verdict:
    """Throttled and transient failures retry on their own; the rest wait for a person (and the
    drift check). The message always carries what Azure said."""
    if isinstance(failure, Throttled):
        return Verdict.not_ready(
            Reason.THROTTLED,
            f"Azure throttled {doing}; retrying in {failure.retry_after:.0f} s",
            requeue_after=failure.retry_after,
        )
    if isinstance(failure, Terminal):
        return Verdict.not_ready(failure.reason, f"{doing} failed: {failure.message}")
    delay = RETRY_UNAVAILABLE.delay(attempt)
    return Verdict.not_ready(
        failure.reason, f"{doing} failed: {failure.message}; retrying in {delay:.0f} s", requeue_after=delay
    )
