"""Workspace: which Azure ML workspace (or Foundry project) objects in a namespace use, and with which credential.

Other kinds name it with `spec.workspaceRef.name` in their own namespace only, so that one namespace
can never borrow another's credential.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from azureml_operator.api.common import (
    ApiModel,
    CommonStatus,
    LocalObjectReference,
    cel,
    immutable,
    validations,
)
from azureml_operator.api.kinds import AGE, READY, KindInfo, column

GUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class Credential(ApiModel):
    """How the operator authenticates for this workspace. Empty: the operator's own identity
    (DefaultAzureCredential, covering AKS workload identity and managed identity)."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!(has(self.clientId) && has(self.secretRef))",
                "credential takes clientId or secretRef, not both",
            )
        )
    }

    client_id: Annotated[str, Field(pattern=GUID)] | None = None
    """Client id of a user-assigned identity federated with the operator's service account (workload identity)."""
    secret_ref: LocalObjectReference | None = None
    """A Secret in this namespace with keys clientId, clientSecret and tenantId (a service principal)."""


class WorkspaceSpec(ApiModel):
    """Which workspace, and how to authenticate to it."""

    subscription_id: Annotated[
        str, Field(pattern=GUID, json_schema_extra=validations(immutable("subscriptionId")))
    ]
    """Azure subscription id of the workspace."""
    resource_group: Annotated[
        str,
        Field(
            min_length=1,
            max_length=90,
            pattern=r"^[-\w._()]*[-\w_()]$",
            json_schema_extra=validations(immutable("resourceGroup")),
        ),
    ]
    """Resource group of the workspace."""
    workspace_name: Annotated[
        str,
        Field(
            min_length=3,
            max_length=33,
            pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$",
            json_schema_extra=validations(immutable("workspaceName")),
        ),
    ]
    """Name of the Azure Machine Learning workspace or Azure AI Foundry project."""
    credential: Credential | None = None
    """Credential to use; omitted or empty means the operator's own identity."""


class WorkspaceStatus(CommonStatus):
    """What the operator last observed of the workspace."""

    location: str | None = None
    """Azure region of the workspace."""
    workspace_id: str | None = None
    """The workspace's immutable GUID."""


class Workspace(ApiModel):
    """An Azure ML workspace or Foundry project, and the credential to reach it."""

    spec: WorkspaceSpec
    status: WorkspaceStatus | None = None


KIND = KindInfo(
    "Workspace",
    "workspaces",
    ("amlws",),
    Workspace,
    (
        READY,
        column("Workspace", ".spec.workspaceName"),
        column("Location", ".status.location"),
        column("Resource Group", ".spec.resourceGroup", priority=1),
        AGE,
    ),
)
