"""Types every kind shares: object references, deletion policy, the metav1.Condition shape and the
status fields common to all kinds.

Python attributes are snake_case; the wire (and the CRD schema) is camelCase through aliases.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "azureml.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# Registry model ids without a version: serverless endpoints and subscriptions always use the latest.
UNVERSIONED_MODEL_ID = r"^azureml://registries/[a-zA-Z0-9][a-zA-Z0-9._-]*/models/[a-zA-Z0-9][a-zA-Z0-9._-]*$"


def cel(
    rule: str, message: str, *, reason: str | None = None, field_path: str | None = None
) -> dict[str, str]:
    """One `x-kubernetes-validations` entry."""
    entry = {"rule": rule, "message": message}
    if reason:
        entry["reason"] = reason
    if field_path:
        entry["fieldPath"] = field_path
    return entry


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    return {"x-kubernetes-validations": list(rules)}


def immutable(field: str) -> dict[str, str]:
    """A rule on a required field: it keeps the value it was created with."""
    return cel(
        "self == oldSelf", f"{field} is immutable: it names the Azure resource", reason="FieldValueForbidden"
    )


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", use_attribute_docstrings=True
    )


class DeletionPolicy(StrEnum):
    """What deleting the Kubernetes object does to the Azure resource."""

    DELETE = "Delete"
    RETAIN = "Retain"


class LocalObjectReference(ApiModel):
    """A reference to an object in the same namespace."""

    name: Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
    """Name of the object, in this object's namespace."""
    namespace: Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)] | None = None
    """Only ever this object's own namespace: objects use no other namespace's Workspaces,
    credentials or endpoints, and a reference to another namespace is refused (InvalidSpec)."""


class Condition(ApiModel):
    """The metav1.Condition shape."""

    type: Annotated[str, Field(min_length=1, max_length=316)]
    """Condition type, e.g. Ready."""
    status: Literal["True", "False", "Unknown"]
    """Whether the condition holds."""
    reason: Annotated[str, Field(min_length=1, max_length=1024)]
    """Machine-readable CamelCase reason for the last transition."""
    message: Annotated[str, Field(max_length=32768)] = ""
    """Human-readable details of the last transition."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The metadata.generation this condition was computed from."""
    last_transition_time: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    """When status last changed."""


class CommonStatus(ApiModel):
    observed_generation: int | None = None
    """The metadata.generation the operator last reconciled."""
    conditions: Annotated[
        list[Condition],
        Field(json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}),
    ] = []
    """Ready, and further conditions explaining it."""
