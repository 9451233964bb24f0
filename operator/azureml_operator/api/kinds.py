"""What the CRD generator and the operator know of each kind beyond its pydantic model: names,
printer columns, the rules that need the whole object, and how to parse a spec once per pass.

Each kind's API module defines one `KIND`; `azureml_operator.api` collects them, so a new kind is a
new module and nothing else here changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

from pydantic import BaseModel, ValidationError

from azureml_operator.api.common import GROUP, cel
from azureml_operator.errors import InvalidSpec

READY_PATH = '.status.conditions[?(@.type=="Ready")].status'
REASON_PATH = '.status.conditions[?(@.type=="Ready")].reason'
MESSAGE_PATH = '.status.conditions[?(@.type=="Ready")].message'


class PrinterColumn(TypedDict):
    """One `additionalPrinterColumns` entry of a CRD version (wire names)."""

    name: str
    type: str
    jsonPath: str
    priority: NotRequired[int]
    description: NotRequired[str]


@dataclass(frozen=True)
class KindInfo:
    kind: str
    plural: str
    short_names: tuple[str, ...]
    model: type[BaseModel]
    columns: tuple[PrinterColumn, ...]
    root_rules: tuple[dict[str, str], ...] = field(default_factory=tuple)

    @property
    def printer_columns(self) -> tuple[PrinterColumn, ...]:
        """The kind's columns with, for every kind alike, Ready's reason beside Ready (so `kubectl
        get azureml` says why something is not Ready) and its message at `-o wide`, before Age."""
        cols = list(self.columns)
        at = next((i + 1 for i, c in enumerate(cols) if c["jsonPath"] == READY_PATH), 0)
        cols.insert(at, REASON)
        age = next((i for i, c in enumerate(cols) if c["jsonPath"] == AGE["jsonPath"]), len(cols))
        cols.insert(age, MESSAGE)
        return tuple(cols)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"

    @property
    def spec_model(self) -> type[BaseModel]:
        return _field_model(self.model, "spec")

    @property
    def status_model(self) -> type[BaseModel]:
        return _field_model(self.model, "status")

    def parse_spec(self, raw: dict[str, Any] | None) -> Any:
        """The typed spec, defaults applied; `InvalidSpec` with pydantic's field path when it is not
        valid (an object admitted by an older CRD, or a server without its CEL rules)."""
        try:
            return self.spec_model.model_validate(raw or {})
        except ValidationError as err:
            raise InvalidSpec(describe_validation_error(err, "spec")) from None


def _field_model(model: type[BaseModel], name: str) -> type[BaseModel]:
    annotation = model.model_fields[name].annotation
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    raise TypeError(f"{model.__name__}.{name} is not a model")


def describe_validation_error(err: ValidationError, root: str) -> str:
    """`spec.modelId: String should match pattern ...; ...` — the wire names a user wrote."""
    parts = []
    for problem in err.errors(include_url=False)[:5]:
        path = ".".join([root, *(str(p) for p in problem["loc"])])
        parts.append(f"{path}: {problem['msg'].removeprefix('Value error, ')}")
    more = len(err.errors()) - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def column(
    name: str, path: str, *, type_: str = "string", priority: int = 0, description: str = ""
) -> PrinterColumn:
    col: PrinterColumn = {"name": name, "type": type_, "jsonPath": path}
    if priority:
        col["priority"] = priority
    if description:
        col["description"] = description
    return col


READY = column("Ready", READY_PATH, description="Whether the Azure resource is usable")
AGE = column("Age", ".metadata.creationTimestamp", type_="date")
REASON = column("Reason", REASON_PATH, description="Why it is (not) Ready: docs/conditions.md")
MESSAGE = column("Message", MESSAGE_PATH, priority=1, description="What the operator says about it")


def workspace_ref_immutable() -> dict[str, str]:
    return cel(
        "has(self.spec.workspaceRef) == has(oldSelf.spec.workspaceRef) && (!has(self.spec.workspaceRef) || "
        "self.spec.workspaceRef.name == oldSelf.spec.workspaceRef.name)",
        "spec.workspaceRef is immutable: moving a resource to another workspace means a new object",
        reason="FieldValueForbidden",
    )


def azure_name_rules(field_name: str, pattern: str, what: str) -> tuple[dict[str, str], ...]:
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


def owner_tag_fits() -> dict[str, str]:
    """A kind whose Azure resource is tagged with its object's `<namespace>/<name>` can never be
    created with a longer name. (The default keys Secret `<name>-keys`, at most 253, needs a name of
    at most 248: this tighter bound covers it.)"""
    return cel(
        f"size(self.metadata.name) <= {OWNER_TAG_NAME_MAX}",
        f"metadata.name may have at most {OWNER_TAG_NAME_MAX} characters: the operator tags the Azure "
        f"endpoint {GROUP}-owner=<namespace>/<name>, Azure allows {TAG_VALUE_MAX} characters in a tag "
        f"value, and the namespace may have up to {NAMESPACE_MAX}",
    )
