"""Admission: what a real API server checks, defaults or rewrites before it stores an object.

Custom resources go through the CRD's structural schema (pruning of undeclared fields, or a 400 for
them under `fieldValidation=Strict`), then `azureml_standins.admission.validate` (OpenAPI
plus CEL rules with `self`/`oldSelf`), then defaulting. With a status subresource, writes to the
main resource are checked without `status` and writes to `/status` check `status` only. Built-ins
get the few rules that matter to an operator: object names, metadata shapes, ownerReferences,
Secret `stringData`, immutable Secrets/ConfigMaps, CRD names.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from typing import Any

from azureml_standins import admission
from azureml_standins.kube import leases, rbac_admission
from azureml_standins.kube.discovery import ResourceInfo
from azureml_standins.kube.errors import ApiError, bad_request, invalid

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ROOT_KEEP = ("apiVersion", "kind", "metadata")

STRICT, WARN, IGNORE = "Strict", "Warn", "Ignore"


def name_errors(info: ResourceInfo, name: str) -> list[str]:
    if info.group == rbac_admission.GROUP:
        return [
            f'metadata.name: Invalid value: "{name}": {msg}'
            for msg in rbac_admission.path_segment_errors(name)
        ]
    if info.plural == "namespaces" and not info.group:
        if len(name) > 63 or not _LABEL.match(name):
            return [
                f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 label must consist of lower case '
                "alphanumeric characters or '-', and must start and end with an alphanumeric character"
            ]
        return []
    if len(name) > 253 or not _SUBDOMAIN.match(name):
        return [
            f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case '
            "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        ]
    return []


# apimachinery's limits on labels and annotations (validation.IsQualifiedName, IsValidLabelValue,
# ValidateAnnotations' TotalAnnotationSizeLimitB).
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ANNOTATIONS_MAX_BYTES = 256 * 1024
NAME_PART = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


def qualified_name_errors(key: str) -> list[str]:
    prefix, slash, name = key.rpartition("/")
    errors = []
    if slash and (not prefix or len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        errors.append(
            "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        )
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    elif not _QUALIFIED_NAME.match(name):
        errors.append(NAME_PART)
    return errors


def _map_errors(field: str, value: dict[str, str]) -> list[str]:
    errors = []
    for key, item in value.items():
        # Annotation keys are checked lowercased, label keys as they are (ValidateAnnotations).
        for msg in qualified_name_errors(key.lower() if field == "annotations" else key):
            errors.append(f'metadata.{field}: Invalid value: "{key}": {msg}')
        if field == "labels" and (len(item) > 63 or not _LABEL_VALUE.match(item)):
            errors.append(
                f'metadata.labels: Invalid value: "{item}": a valid label must be an empty string or consist '
                "of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
                "character, and be no more than 63 characters"
            )
    if field == "annotations":
        size = sum(len(k.encode()) + len(v.encode()) for k, v in value.items())
        if size > ANNOTATIONS_MAX_BYTES:
            errors.append(f"metadata.annotations: Too long: must have at most {ANNOTATIONS_MAX_BYTES} bytes")
    return errors


def metadata_errors(meta: dict[str, Any]) -> list[str]:
    errors = []
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is not None and (
            not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())
        ):
            errors.append(f"metadata.{field}: Invalid value: must be a map of strings")
        elif value:
            errors.extend(_map_errors(field, value))
    finalizers = meta.get("finalizers")
    if finalizers is not None and (
        not isinstance(finalizers, list) or not all(isinstance(f, str) and f for f in finalizers)
    ):
        errors.append("metadata.finalizers: Invalid value: must be a list of non-empty strings")
    refs = meta.get("ownerReferences")
    if refs is not None:
        if not isinstance(refs, list):
            errors.append("metadata.ownerReferences: Invalid value: must be a list")
        else:
            for i, ref in enumerate(refs):
                for key in ("apiVersion", "kind", "name", "uid"):
                    if not isinstance(ref, dict) or not ref.get(key):
                        errors.append(
                            f'metadata.ownerReferences[{i}].{key}: Invalid value: "": {key} must not be empty'
                        )
            if sum(1 for ref in refs if isinstance(ref, dict) and ref.get("controller")) > 1:
                errors.append(
                    "metadata.ownerReferences: Invalid value: Only one reference can have Controller set to true"
                )
    return errors


# -- custom resources --------------------------------------------------------------------------


def _prune(schema: dict[str, Any], value: Any, path: str, pruned: list[str], *, root: bool = False) -> None:
    """Drop fields the structural schema does not declare (in place), recording their paths."""
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        embedded = schema.get("x-kubernetes-embedded-resource")
        for key in list(value):
            sub = f"{path}.{key}" if path else key
            if (root or embedded) and key in _ROOT_KEEP:
                continue  # object metadata is the server's business, never pruned
            if props is not None and key in props:
                _prune(props[key], value[key], sub, pruned)
            elif isinstance(extra, dict):
                _prune(extra, value[key], sub, pruned)
            elif props is not None and not preserve and extra is not True:
                del value[key]
                pruned.append(sub)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _prune(schema["items"], item, f"{path}[{i}]", pruned)


def _view_schema(info: ResourceInfo, part: str) -> dict[str, Any]:
    """The root schema restricted to what a write to `part` ("main" or "status") may change."""
    assert info.crd_version is not None
    schema = (info.crd_version.get("schema") or {}).get("openAPIV3Schema") or {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    view = copy.copy(schema)
    props = dict(schema.get("properties") or {})
    # Every object has these, whether or not the CRD's schema declares them.
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    # A CRD may constrain metadata.name; labels, annotations and the rest are always allowed.
    props["metadata"] = {
        **(props.get("metadata") or {"type": "object"}),
        "x-kubernetes-preserve-unknown-fields": True,
    }
    view["properties"] = props
    if not info.has_status:
        return view
    if part == "status":
        view["properties"] = {k: v for k, v in props.items() if k in (*_ROOT_KEEP, "status")}
        view["required"] = [r for r in schema.get("required", []) if r in view["properties"]]
        # Rules on the root read spec and metadata, which a status write cannot change.
        view.pop("x-kubernetes-validations", None)
    else:
        props.pop("status", None)
        view["properties"] = props
        view["required"] = [r for r in schema.get("required", []) if r != "status"]
    if not view["required"]:
        view.pop("required")
    return view


def admit_custom(
    info: ResourceInfo,
    obj: dict[str, Any],
    old: dict[str, Any] | None,
    *,
    part: str,
    field_validation: str,
    warnings: list[str],
) -> dict[str, Any]:
    """Prune, validate and default the part of `obj` a write may change; returns the admitted object."""
    schema = _view_schema(info, part)
    keep = set((schema.get("properties") or {}).keys()) | set(_ROOT_KEEP) if info.has_status else None

    def view_of(o: dict[str, Any]) -> dict[str, Any]:
        if keep is None:
            return copy.deepcopy(o)
        if part == "status":
            return {k: copy.deepcopy(v) for k, v in o.items() if k in keep}
        return {k: copy.deepcopy(v) for k, v in o.items() if k != "status"}

    view = view_of(obj)
    pruned: list[str] = []
    _prune(schema, view, "", pruned, root=True)
    if pruned:
        if field_validation == STRICT:
            raise bad_request("strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in pruned))
        if field_validation == WARN:
            warnings.extend(f'unknown field "{p}"' for p in pruned)
    old_view = view_of(old) if old is not None else None
    if old_view is not None:
        _prune(schema, old_view, "", [], root=True)
    try:
        errors = admission.validate(
            {"spec": {"versions": [{"schema": {"openAPIV3Schema": schema}}]}}, view, old=old_view
        )
    except admission.CelError as e:
        raise ApiError(500, f"Internal error occurred: {e}") from None
    if errors:
        name = obj.get("metadata", {}).get("name", "")
        raise invalid(info.kind, info.group, name, errors)
    admission.apply_defaults(schema, view)
    if part == "status":
        admitted = copy.deepcopy(obj)
        admitted.pop("status", None)
        if "status" in view:
            admitted["status"] = view["status"]
        return admitted
    if keep is not None and "status" in obj:
        view["status"] = copy.deepcopy(obj["status"])
    return view


# -- built-ins ---------------------------------------------------------------------------------


def admit_builtin(info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    name = obj.get("metadata", {}).get("name", "")
    if info.group == "" and info.plural == "secrets":
        data = dict(obj.get("data") or {})
        errors = []
        for key, value in data.items():
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, TypeError, ValueError):
                errors.append(f"data[{key}]: Invalid value: illegal base64 data")
        for key, value in (obj.pop("stringData", None) or {}).items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        if data or "data" in obj:
            obj["data"] = data
        obj.setdefault("type", "Opaque")
        if old is not None and old.get("type", "Opaque") != obj["type"]:
            errors.append("type: Invalid value: field is immutable")
        if errors:
            raise invalid(info.kind, info.group, name, errors)
    if (
        info.group == ""
        and info.plural in ("secrets", "configmaps")
        and old is not None
        and old.get("immutable")
    ):
        for field in ("data", "binaryData", "immutable"):
            if obj.get(field) != old.get(field):
                raise invalid(
                    info.kind,
                    info.group,
                    name,
                    [f"{field}: Forbidden: field is immutable when `immutable` is set"],
                )
    if info.group == "" and info.plural == "namespaces":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        if old is None:
            obj["status"] = {"phase": "Active"}
    if info.group == "apiextensions.k8s.io" and info.plural == "customresourcedefinitions":
        errors = crd_errors(obj, old)
        if errors:
            raise invalid(info.kind, info.group, name, errors)
    if info.key == leases.KEY:
        obj = leases.admit(obj, old)
    if info.group == rbac_admission.GROUP:
        errors = rbac_admission.admit(info.plural, obj, old)
        if errors:
            raise invalid(info.kind, info.group, name, errors)
    return obj


def crd_errors(crd: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return ["spec: Required value"]
    errors = []
    group = spec.get("group") or ""
    names = spec.get("names") or {}
    plural = names.get("plural") or ""
    if not group or "." not in group:
        errors.append(f'spec.group: Invalid value: "{group}": should be a domain with at least one dot')
    if not plural or not _LABEL.match(plural):
        errors.append(f'spec.names.plural: Invalid value: "{plural}": a lowercase RFC 1123 label is required')
    if not names.get("kind"):
        errors.append("spec.names.kind: Required value")
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        errors.append(
            f'spec.scope: Unsupported value: "{spec.get("scope")}": supported values: "Cluster", "Namespaced"'
        )
    name = crd.get("metadata", {}).get("name")
    if name != f"{plural}.{group}":
        errors.append(f'metadata.name: Invalid value: "{name}": must be spec.names.plural+"."+spec.group')
    versions = spec.get("versions") or []
    if not versions or sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) != 1:
        errors.append("spec.versions: Invalid value: must have exactly one version marked as storage version")
    for i, version in enumerate(versions):
        if not isinstance(version, dict) or not version.get("name"):
            errors.append(f"spec.versions[{i}].name: Required value")
        elif not (version.get("schema") or {}).get("openAPIV3Schema"):
            errors.append(f"spec.versions[{i}].schema.openAPIV3Schema: Required value: schemas are required")
    if old is not None:
        for path, new_value, old_value in (
            ("spec.group", group, old["spec"].get("group")),
            ("spec.scope", spec.get("scope"), old["spec"].get("scope")),
            ("spec.names.plural", plural, old["spec"]["names"].get("plural")),
        ):
            if new_value != old_value:
                errors.append(f"{path}: Invalid value: field is immutable")
    return errors
