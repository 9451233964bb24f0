"""What every controller needs: the object being reconciled, the operator's dependencies, the
workspace (and credential) an object uses, and the verdict for a failed Azure call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from azureml_operator.azure import credentials
from azureml_operator.azure.client import WorkspaceApi, WorkspaceTarget
from azureml_operator.azure.pool import ClientPool
from azureml_operator.conditions import Reason
from azureml_operator.errors import AzureFailure, Terminal, Throttled
from azureml_operator.kubeapi import KubeApi, SecretNotText
from azureml_operator.reconcilers.common import (
    ADOPT_ANNOTATION,
    POLL_OPERATION,
    RETRY_UNAVAILABLE,
    WAIT_DEPENDENCY,
    Event,
    Ownership,
    Verdict,
    ownership,
)
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
    try:
        data = await deps.kube.read_secret(namespace, secret_name)
    except SecretNotText as err:
        raise Blocked(
            Verdict.not_ready(
                Reason.INVALID_SPEC,
                f"credential Secret {secret_name} (Workspace {name}): {', '.join(err.keys)} "
                f"{'is' if len(err.keys) == 1 else 'are'} not UTF-8 text; store the values as plain text",
                requeue_after=WAIT_DEPENDENCY.delay(attempt),
            )
        ) from None
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


class Observed(Protocol):
    id: str
    provisioning_state: str | None


def owner_of(obj: Obj, observed: Observed | None, *, adopt: bool) -> Ownership | None:
    """Whose is the resource Azure holds under this object's name (None: there is none)."""
    if observed is None:
        return None
    return ownership(
        observed_id=observed.id,
        observed_tags=getattr(observed, "tags", None),
        recorded_id=obj.status.get("azureResourceId"),
        uid=obj.uid,
        adopt=adopt,
    )


async def create_recorded(
    obj: Obj,
    deps: Dependencies,
    expected_id: str,
    create: Callable[[], Awaitable[None]],
    message: str,
    fields: dict[str, Any],
) -> Verdict:
    """Write the expected ARM id to status *before* asking Azure to create it, so a restart between
    the two still recognises the creation as this object's; take it back if Azure said no."""
    await deps.kube.patch_status(obj.plural, obj.namespace, obj.name, {"azureResourceId": expected_id})
    try:
        await create()
    except Terminal:
        await deps.kube.patch_status(obj.plural, obj.namespace, obj.name, {"azureResourceId": None})
        raise
    verdict = Verdict.not_ready(
        Reason.CREATING,
        message,
        requeue_after=POLL_OPERATION.delay(0),
        **{**fields, "azureResourceId": expected_id},
    )
    verdict.events.append(Event("Normal", "Creating", message))
    return verdict


def note_adoption(verdict: Verdict, owner: Ownership | None, what: str) -> Verdict:
    """An Adopted event once the object has taken over a resource it did not create."""
    if owner is Ownership.ADOPT and verdict.fields.get("azureResourceId"):
        verdict.events.append(
            Event("Normal", "Adopted", f"took over the existing {what} ({ADOPT_ANNOTATION})")
        )
    return verdict


async def delete_owned(
    obj: Obj,
    deps: Dependencies,
    attempt: int,
    *,
    what: str,
    get: Callable[[WorkspaceApi], Awaitable[Observed | None]],
    delete: Callable[[WorkspaceApi], Awaitable[None]],
    also: Callable[[], list[Event]] = list,
) -> Verdict:
    """The deletion every kind shares: delete the Azure resource if this object made (or adopted) it,
    wait for it to go, and release the object — at once whenever nothing can or should be deleted."""
    if not obj.status.get("azureResourceId"):
        return Verdict.release("nothing in Azure to delete")
    try:
        client = await client_for(await resolve_workspace(obj, deps, attempt), deps)
    except Blocked as blocked:
        message = f"could not delete {what}: {blocked.verdict.message}"
        return Verdict.release(f"left {what} in Azure", Event("Warning", "Orphaned", message))
    try:
        observed = await get(client)
        if observed is None:
            return Verdict.release(f"{what} is gone")
        if owner_of(obj, observed, adopt=False) is not Ownership.OURS:
            return Verdict.release(f"{what} was not created by this object: left alone")
        verdict = Verdict.not_ready(
            Reason.DELETING, f"deleting {what}", requeue_after=POLL_OPERATION.delay(attempt)
        )
        if (observed.provisioning_state or "").lower() != "deleting":
            await delete(client)
            verdict.events += [Event("Normal", "Deleting", verdict.message), *also()]
        return verdict
    except AzureFailure as failure:
        if failure.reason is Reason.WORKSPACE_NOT_FOUND:
            return Verdict.release(f"the workspace is gone, and {what} with it")
        verdict = failure_verdict(failure, attempt, f"deleting {what}")
        if verdict.requeue_after is None:  # a finalizer must either release or come back
            verdict.requeue_after = RETRY_UNAVAILABLE.delay(attempt)
        return verdict
