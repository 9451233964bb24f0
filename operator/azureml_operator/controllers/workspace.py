"""Workspace: check that the workspace exists and the credential reaches it; report its region and id.
A Workspace owns nothing in Azure, so there is nothing to delete."""

from __future__ import annotations

from azureml_operator.conditions import Reason
from azureml_operator.controllers.common import (
    Dependencies,
    Obj,
    client_for,
    failure_verdict,
    workspace_from_spec,
)
from azureml_operator.errors import AzureFailure
from azureml_operator.reconcilers.common import Verdict


async def reconcile(obj: Obj, deps: Dependencies, attempt: int) -> Verdict:
    resolved = await workspace_from_spec(obj.name, obj.namespace, obj.spec, deps, attempt)
    client = await client_for(resolved, deps)
    try:
        ws = await client.get_workspace()
    except AzureFailure as failure:
        return failure_verdict(failure, attempt, f"reading workspace {resolved.target}")
    return Verdict.ready(
        Reason.SUCCEEDED,
        f"workspace {resolved.target.workspace_name} in {ws.location}, reached with {resolved.credential.describe()}",
        location=ws.location,
        workspaceId=ws.workspace_id,
    )
