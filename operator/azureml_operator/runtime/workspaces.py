"""Which workspace an object uses and with which credential: a Workspace in its own namespace (by
`spec.workspaceRef`), or the operator's default workspace with the operator's own identity."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from azureml_operator.api.kinds import describe_validation_error
from azureml_operator.api.workspace import WorkspaceSpec
from azureml_operator.azure import credentials
from azureml_operator.azure.client import Connection, WorkspaceTarget
from azureml_operator.conditions import Reason
from azureml_operator.reconcilers.common import WAIT_DEPENDENCY, Verdict
from azureml_operator.reconcilers.context import Context, SecretNotText

CREDENTIAL_KEYS = ("clientId", "clientSecret", "tenantId")


class Blocked(Exception):
    """The pass cannot go on; `verdict` says why and when to look again."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict


def waiting(reason: Reason, message: str, attempt: int) -> Blocked:
    return Blocked(Verdict.not_ready(reason, message, requeue_after=WAIT_DEPENDENCY.delay(attempt)))


@dataclass(frozen=True)
class ResolvedWorkspace:
    name: str | None  # the Workspace object's name; None for the operator's default workspace
    target: WorkspaceTarget
    credential: credentials.CredentialSpec


async def by_reference(ref: str | None, namespace: str, ctx: Context, attempt: int) -> ResolvedWorkspace:
    if ref is None:
        target = ctx.settings.default_workspace
        if target is None:
            raise Blocked(
                Verdict.not_ready(
                    Reason.INVALID_SPEC,
                    "spec.workspaceRef is not set and the operator has no default workspace "
                    "(--default-workspace); name a Workspace in this namespace",
                )
            )
        return ResolvedWorkspace(
            None, target, credentials.CredentialSpec(ctx.settings.operator_credential_kind)
        )
    entry = ctx.lookups.get("Workspace", namespace, ref)
    if entry is None:
        raise waiting(
            Reason.WAITING_FOR_WORKSPACE, f"Workspace {ref} does not exist in namespace {namespace}", attempt
        )
    try:
        spec = WorkspaceSpec.model_validate(dict(entry.spec))
    except ValidationError as err:
        raise Blocked(
            Verdict.not_ready(
                Reason.INVALID_SPEC, f"Workspace {ref}: {describe_validation_error(err, 'spec')}"
            )
        ) from None
    return await from_spec(ref, namespace, spec, ctx, attempt)


async def from_spec(
    name: str, namespace: str, spec: WorkspaceSpec, ctx: Context, attempt: int
) -> ResolvedWorkspace:
    target = WorkspaceTarget(spec.subscription_id, spec.resource_group, spec.workspace_name)
    cred = spec.credential
    if cred is not None and cred.client_id:
        return ResolvedWorkspace(
            name, target, credentials.CredentialSpec("workload-identity", client_id=cred.client_id)
        )
    if cred is None or cred.secret_ref is None:
        return ResolvedWorkspace(
            name, target, credentials.CredentialSpec(ctx.settings.operator_credential_kind)
        )
    secret_name = cred.secret_ref.name

    def blocked(problem: str) -> Blocked:
        # Retried by itself: the Secret may appear or be fixed without a change to this object.
        return waiting(
            Reason.INVALID_SPEC, f"credential Secret {secret_name} (Workspace {name}){problem}", attempt
        )

    try:
        data = await ctx.kube.read_secret(namespace, secret_name)
    except SecretNotText as err:  # the keys are named; the values never are
        verb = "is" if len(err.keys) == 1 else "are"
        raise blocked(
            f": {', '.join(err.keys)} {verb} not UTF-8 text; store the values as plain text"
        ) from None
    if data is None:
        raise blocked(f" does not exist in namespace {namespace}")
    missing = [k for k in CREDENTIAL_KEYS if not data.get(k)]
    if missing:
        raise blocked(f" lacks {', '.join(missing)}")
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


async def connect(resolved: ResolvedWorkspace, ctx: Context) -> Connection:
    try:
        return await ctx.azure.get(resolved.target, resolved.credential)
    except credentials.CredentialRefused as err:
        raise Blocked(Verdict.not_ready(Reason.CREDENTIAL_REJECTED, str(err))) from None
    except ValueError as err:  # azure-identity rejects malformed ids at construction
        raise Blocked(
            Verdict.not_ready(Reason.CREDENTIAL_REJECTED, f"{resolved.credential.describe()}: {err}")
        ) from None
