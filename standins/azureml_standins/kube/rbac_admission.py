"""Defaulting and validation of Roles, ClusterRoles, RoleBindings and ClusterRoleBindings, as the
API server's rbac/v1 defaults and `pkg/apis/rbac/validation` do them (the messages are theirs):
subjects' and roleRefs' `apiGroup` default, rules need verbs and either resources (with API
groups) or non-resource URLs (ClusterRoles only), a binding's `roleRef` names a Role or ClusterRole
of `rbac.authorization.k8s.io` and can never change, a ClusterRoleBinding's ServiceAccount subject
needs a namespace, and an `aggregationRule` needs a selector.
"""

from __future__ import annotations

import re
from typing import Any

from azureml_standins.kube.errors import bad_request
from azureml_standins.kube.rbac import GROUP

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_KINDS = {
    "roles": "Role",
    "clusterroles": "ClusterRole",
    "rolebindings": "RoleBinding",
    "clusterrolebindings": "ClusterRoleBinding",
}


def _go_strings(values: list[str]) -> str:
    return "[]string{" + ", ".join(f'"{v}"' for v in values) + "}"


def path_segment_errors(name: str) -> list[str]:
    """What RBAC names must be (`system:discovery` is fine): not `.`/`..`, no `/` or `%`."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def _require_list(kind: str, obj: dict[str, Any], field: str, of: type) -> None:
    value = obj.get(field)
    if value is not None and (not isinstance(value, list) or not all(isinstance(v, of) for v in value)):
        raise bad_request(
            f'{kind} in version "v1" cannot be handled as a {kind}: {field} must be a list of '
            f"{'objects' if of is dict else 'strings'}"
        )


def _rule_errors(kind: str, rule: dict[str, Any], path: str) -> list[str]:
    for field in ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"):
        _require_list(kind, rule, field, str)
    namespaced = kind == "Role"
    errors = []
    if not rule.get("verbs"):
        errors.append(f"{path}.verbs: Required value: verbs must contain at least one value")
    urls = rule.get("nonResourceURLs") or []
    if urls:
        if namespaced:
            errors.append(
                f"{path}.nonResourceURLs: Invalid value: {_go_strings(urls)}: namespaced rules cannot apply to non-resource URLs"
            )
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            errors.append(
                f"{path}.nonResourceURLs: Invalid value: {_go_strings(urls)}: rules cannot apply to both regular resources and non-resource URLs"
            )
        return errors
    if not rule.get("apiGroups"):
        errors.append(f"{path}.apiGroups: Required value: resource rules must supply at least one api group")
    if not rule.get("resources"):
        errors.append(f"{path}.resources: Required value: resource rules must supply at least one resource")
    return errors


def _role_errors(kind: str, obj: dict[str, Any]) -> list[str]:
    _require_list(kind, obj, "rules", dict)
    obj.setdefault("rules", None)  # never omitted on a real server: `rules: null`
    errors = []
    for i, rule in enumerate(obj.get("rules") or []):
        errors.extend(_rule_errors(kind, rule, f"rules[{i}]"))
    if kind == "ClusterRole" and "aggregationRule" in obj and obj["aggregationRule"] is not None:
        rule = obj["aggregationRule"]
        selectors = rule.get("clusterRoleSelectors") if isinstance(rule, dict) else None
        if not selectors:
            errors.append(
                "aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector "
                "required if aggregationRule is non-nil"
            )
        elif not isinstance(selectors, list) or not all(isinstance(s, dict) for s in selectors):
            raise bad_request(
                'ClusterRole in version "v1" cannot be handled as a ClusterRole: '
                "aggregationRule.clusterRoleSelectors must be a list of label selectors"
            )
    return errors


def _unsupported(path: str, value: str, supported: tuple[str, ...]) -> str:
    return f'{path}: Unsupported value: "{value}": supported values: ' + ", ".join(
        f'"{s}"' for s in supported
    )


def _role_ref_repr(ref: dict[str, Any]) -> str:
    return (
        f'rbac.RoleRef{{APIGroup:"{ref.get("apiGroup", "")}", Kind:"{ref.get("kind", "")}", '
        f'Name:"{ref.get("name", "")}"}}'
    )


def _binding_errors(kind: str, obj: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    _require_list(kind, obj, "subjects", dict)
    ref = obj.get("roleRef")
    if not isinstance(ref, dict):
        ref = obj["roleRef"] = {}
    ref.setdefault("apiGroup", GROUP)
    if not ref["apiGroup"]:
        ref["apiGroup"] = GROUP
    namespaced = kind == "RoleBinding"
    errors = []
    if ref.get("apiGroup") != GROUP:
        errors.append(_unsupported("roleRef.apiGroup", str(ref.get("apiGroup")), (GROUP,)))
    ref_kinds = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    if ref.get("kind") not in ref_kinds:
        errors.append(_unsupported("roleRef.kind", str(ref.get("kind", "")), ref_kinds))
    ref_name = str(ref.get("name") or "")
    if not ref_name:
        errors.append("roleRef.name: Required value")
    for msg in path_segment_errors(ref_name) if ref_name else []:
        errors.append(f'roleRef.name: Invalid value: "{ref_name}": {msg}')
    for i, subject in enumerate(obj.get("subjects") or []):
        errors.extend(_subject_errors(subject, f"subjects[{i}]", namespaced))
    if old is not None and old.get("roleRef") != ref:
        errors.append(f"roleRef: Invalid value: {_role_ref_repr(ref)}: cannot change roleRef")
    return errors


def _subject_errors(subject: dict[str, Any], path: str, namespaced: bool) -> list[str]:
    kind, name = subject.get("kind", ""), subject.get("name") or ""
    if not subject.get("apiGroup"):
        subject["apiGroup"] = GROUP if kind in ("User", "Group") else ""
    errors = []
    if not name:
        errors.append(f"{path}.name: Required value")
    if kind == "ServiceAccount":
        if name and (len(name) > 253 or not _SUBDOMAIN.match(name)):
            errors.append(
                f'{path}.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case '
                "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            )
        if subject["apiGroup"]:
            errors.append(_unsupported(f"{path}.apiGroup", subject["apiGroup"], ("",)))
        if not namespaced and not subject.get("namespace"):
            errors.append(f"{path}.namespace: Required value")
    elif kind in ("User", "Group"):
        if subject["apiGroup"] != GROUP:
            errors.append(_unsupported(f"{path}.apiGroup", subject["apiGroup"], (GROUP,)))
    else:
        errors.append(_unsupported(f"{path}.kind", str(kind), ("ServiceAccount", "User", "Group")))
    return errors


def admit(plural: str, obj: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    """Default `obj` in place; returns its validation errors (field: reason)."""
    kind = _KINDS[plural]
    if plural in ("roles", "clusterroles"):
        return _role_errors(kind, obj)
    return _binding_errors(kind, obj, old)
