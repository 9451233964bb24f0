"""The custom resources: pydantic models that are the single source of truth for the CRDs.

`KINDS` describes each kind for the CRD generator and the operator: names, printer columns, and
rules that need the whole object (metadata.name, or the Azure identity across updates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from azureml_operator.api.common import API_VERSION, GROUP, VERSION, cel
from azureml_operator.api.model_subscription import SUBSCRIPTION_NAME, ModelSubscription
from azureml_operator.api.serverless_endpoint import ENDPOINT_NAME, ServerlessEndpoint
from azureml_operator.api.workspace import Workspace

CATEGORY = "azureml"
READY = '.status.conditions[?(@.type=="Ready")].status'


@dataclass(frozen=True)
class KindInfo:
    kind: str
    plural: str
    short_names: tuple[str, ...]
    model: type[BaseModel]
    columns: tuple[dict[str, Any], ...]
    root_rules: tuple[dict[str, str], ...] = field(default_factory=tuple)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


def _column(
    name: str, path: str, *, type_: str = "string", priority: int = 0, description: str = ""
) -> dict[str, Any]:
    col: dict[str, Any] = {"name": name, "type": type_, "jsonPath": path}
    if priority:
        col["priority"] = priority
    if description:
        col["description"] = description
    return col


_READY = _column("Ready", READY, description="Whether the Azure resource is usable")
_AGE = _column("Age", ".metadata.creationTimestamp", type_="date")


def _workspace_ref_immutable() -> dict[str, str]:
    return cel(
        "has(self.spec.workspaceRef) == has(oldSelf.spec.workspaceRef) && (!has(self.spec.workspaceRef) || "
        "self.spec.workspaceRef.name == oldSelf.spec.workspaceRef.name)",
        "spec.workspaceRef is immutable: moving a resource to another workspace means a new object",
        reason="FieldValueForbidden",
    )


def _azure_name_rules(field_name: str, pattern: str, what: str) -> tuple[dict[str, str], ...]:
    """metadata.name stands in for spec.<field> when omitted, so it must satisfy Azure's rule then;
    and the effective Azure name may never change."""
    effective = f"(has(self.spec.{field_name}) ? self.spec.{field_name} : self.metadata.name)"
    old = f"(has(oldSelf.spec.{field_name}) ? oldSelf.spec.{field_name} : oldSelf.metadata.name)"
    return (
        cel(
            f"has(self.spec.{field_name}) || self.metadata.name.matches('{pattern}')",
            f"metadata.name is not a valid {what} name ({pattern}); set spec.{field_name}",
        ),
        cel(
            f"{effective} == {old}",
            f"the {what} name (spec.{field_name}, or metadata.name) is immutable",
            reason="FieldValueForbidden",
        ),
    )


# Limits that bind metadata.name through what the operator derives from it. Root CEL can read the
# name but not the namespace, so the bound assumes the longest namespace (an RFC 1123 label: 63).
NAMESPACE_MAX = 63
# Azure Resource Manager's limit on a tag value (its tag name limit is 512); documented by ARM, not in
# shared/reference, and not enforced by the simulator.
TAG_VALUE_MAX = 256
# The owner tag (azure/client.py OWNER_TAG, `<GROUP>-owner`) holds `<namespace>/<name>`.
OWNER_TAG_NAME_MAX = TAG_VALUE_MAX - NAMESPACE_MAX - 1


def _owner_tag_fits() -> dict[str, str]:
    """Serverless endpoints are tagged with their object's `<namespace>/<name>`, so a longer name can
    never be created in Azure. The default keys Secret `<name>-keys` (at most 253) needs a name of at
    most 248: this tighter bound covers it."""
    return cel(
        f"size(self.metadata.name) <= {OWNER_TAG_NAME_MAX}",
        f"metadata.name may have at most {OWNER_TAG_NAME_MAX} characters: the operator tags the Azure "
        f"endpoint {GROUP}-owner=<namespace>/<name>, Azure allows {TAG_VALUE_MAX} characters in a tag "
        f"value, and the namespace may have up to {NAMESPACE_MAX}",
    )


KINDS: tuple[KindInfo, ...] = (
    KindInfo(
        "Workspace",
        "workspaces",
        ("amlws",),
        Workspace,
        (
            _READY,
            _column("Workspace", ".spec.workspaceName"),
            _column("Location", ".status.location"),
            _column("Resource Group", ".spec.resourceGroup", priority=1),
            _AGE,
        ),
    ),
    KindInfo(
        "ModelSubscription",
        "modelsubscriptions",
        ("amlsub",),
        ModelSubscription,
        (_READY, _column("State", ".status.subscriptionStatus"), _column("Model", ".spec.modelId"), _AGE),
        (
            _workspace_ref_immutable(),
            *_azure_name_rules("subscriptionName", SUBSCRIPTION_NAME, "marketplace subscription"),
        ),
    ),
    KindInfo(
        "ServerlessEndpoint",
        "serverlessendpoints",
        ("amlsls",),
        ServerlessEndpoint,
        (
            _READY,
            _column("State", ".status.endpointState"),
            _column("URI", ".status.inferenceUri"),
            _column("Model", ".spec.modelId", priority=1),
            _AGE,
        ),
        (
            _workspace_ref_immutable(),
            *_azure_name_rules("endpointName", ENDPOINT_NAME, "serverless endpoint"),
            _owner_tag_fits(),
        ),
    ),
)

__all__ = ["API_VERSION", "CATEGORY", "GROUP", "KINDS", "VERSION", "KindInfo"]
