"""Workspace: check that the workspace exists and the credential reaches it; report its region and id.

A Workspace owns nothing in Azure, but every object that names it needs it to the end: its deletion
waits until none is left (a namespace deleted as a whole, or `kubectl delete -f` of a manifest with
the Workspace in it, must still delete the endpoints in Azure), and the credential Secret it names
carries a finalizer meanwhile, so the Secret cannot go first either.
"""

from __future__ import annotations

from enum import Enum

from azureml_operator.api.common import GROUP
from azureml_operator.api.workspace import KIND, WorkspaceSpec, WorkspaceStatus
from azureml_operator.azure.client import Connection, ObservedWorkspace
from azureml_operator.conditions import Reason
from azureml_operator.reconcilers.adapters import Adapter, Decision, Effect, Observation, Outcome
from azureml_operator.reconcilers.common import Verdict
from azureml_operator.reconcilers.context import Context
from azureml_operator.reconcilers.objects import Obj
from azureml_operator.reconcilers.status import fields_of

CREDENTIAL_FINALIZER = f"{GROUP}/credential-in-use"


class Action(Enum):
    READY = "ready"


class WorkspaceAdapter(Adapter):
    info = KIND
    uses_workspace = False
    deletes_in_azure = False
    held_while_referenced = True

    def describe(self, name: str) -> str:
        return f"workspace {name}"

    def decide(self, o: Observation) -> Decision:
        ws: ObservedWorkspace = o.observed
        spec: WorkspaceSpec = o.spec
        message = f"workspace {spec.workspace_name} in {ws.location}"
        status = WorkspaceStatus(location=ws.location, workspace_id=ws.workspace_id)
        return Decision(
            Action.READY, message, Outcome(Effect.PUBLISH, Reason.SUCCEEDED, ready=True), fields_of(status)
        )

    def azure_api(self, conn: Connection) -> Connection:
        return conn

    async def read(self, api: Connection, name: str) -> ObservedWorkspace:
        return await api.get_workspace()

    async def publish(self, ctx: Context, api: Connection, o: Observation, verdict: Verdict) -> Verdict:
        secret = _credential_secret(o.spec)
        if secret is not None:
            await ctx.kube.set_secret_finalizer(o.obj.namespace, secret, CREDENTIAL_FINALIZER, present=True)
        verdict.message += f", reached with {describe_credential(o.spec)}"
        return verdict

    async def released(self, ctx: Context, obj: Obj) -> None:
        secret = (obj.spec.get("credential") or {}).get("secretRef", {}).get("name")
        if secret:
            await ctx.kube.set_secret_finalizer(obj.namespace, secret, CREDENTIAL_FINALIZER, present=False)


def _credential_secret(spec: WorkspaceSpec) -> str | None:
    cred = spec.credential
    return cred.secret_ref.name if cred is not None and cred.secret_ref is not None else None


def describe_credential(spec: WorkspaceSpec) -> str:
    cred = spec.credential
    if cred is not None and cred.client_id:
        return f"workload identity {cred.client_id}"
    if cred is not None and cred.secret_ref is not None:
        return f"the service principal in Secret {cred.secret_ref.name}"
    return "the operator's own identity"


ADAPTER = WorkspaceAdapter()
