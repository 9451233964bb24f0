"""RBAC's escalation check: nobody grants what they do not hold.

A real API server refuses to create or update a Role or ClusterRole whose rules are not all
covered by the rules its author holds (in that namespace, for a Role), unless the author may
`escalate` roles; setting an `aggregationRule` needs cluster-admin-like authority. It refuses a
binding unless its author may `bind` the role it names, or holds every rule of that role. Members
of `system:masters` are exempt, and so is an update that only touches ownerReferences or
finalizers (what the garbage collector writes). The refusal is a 403 such as

    roles.rbac.authorization.k8s.io "r" is forbidden: user "U" (groups=["g1" "g2"]) is attempting
    to grant RBAC permissions not currently held:
    {APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from azureml_standins.kube.attributes import Attributes
from azureml_standins.kube.auth import UserInfo
from azureml_standins.kube.errors import not_found
from azureml_standins.kube.rbac import (
    ALL,
    GROUP,
    Authorizer,
    Binding,
    Rule,
    aggregate,
    forbidden_for,
    rules_of,
)
from azureml_standins.kube.store import Guard

FULL_AUTHORITY = (
    Rule(verbs=(ALL,), api_groups=(ALL,), resources=(ALL,)),
    Rule(verbs=(ALL,), non_resource_urls=(ALL,)),
)


def breakdown(rule: Rule) -> list[Rule]:
    """The rule as rules of one verb, one group, one resource and at most one name each."""
    out = []
    for group in rule.api_groups:
        for resource in rule.resources:
            for verb in rule.verbs:
                for name in rule.resource_names or ("",):
                    out.append(Rule((verb,), (group,), (resource,), (name,) if name else ()))
    for url in rule.non_resource_urls:
        for verb in rule.verbs:
            out.append(Rule((verb,), non_resource_urls=(url,)))
    return out


def _resources_cover(owner: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    if ALL in owner:
        return True
    for resource in wanted:
        if resource in owner:
            continue
        if "/" not in resource or f"*/{resource.split('/', 1)[1]}" not in owner:
            return False
    return True


def _url_covers(owner: str, wanted: str) -> bool:
    return owner == wanted or (owner.endswith("*") and wanted.startswith(owner.rstrip("*")))


def covers(owner: Rule, sub: Rule) -> bool:
    """Whether `owner` allows everything the broken-down rule `sub` does."""
    if ALL not in owner.verbs and not set(sub.verbs) <= set(owner.verbs):
        return False
    if ALL not in owner.api_groups and not set(sub.api_groups) <= set(owner.api_groups):
        return False
    if not _resources_cover(owner.resources, sub.resources):
        return False
    if not all(any(_url_covers(o, u) for o in owner.non_resource_urls) for u in sub.non_resource_urls):
        return False
    if sub.resource_names:
        return not owner.resource_names or set(sub.resource_names) <= set(owner.resource_names)
    return not owner.resource_names


def missing_rules(held: Iterable[Rule], wanted: Iterable[Rule]) -> list[Rule]:
    held = list(held)
    return [sub for rule in wanted for sub in breakdown(rule) if not any(covers(h, sub) for h in held)]


def _go_list(values: Iterable[str]) -> str:
    return "[" + " ".join(f'"{v}"' for v in values) + "]"


def describe(rule: Rule) -> str:
    parts = []
    for label, values in (
        ("APIGroups", rule.api_groups),
        ("Resources", rule.resources),
        ("NonResourceURLs", rule.non_resource_urls),
        ("ResourceNames", rule.resource_names),
        ("Verbs", rule.verbs),
    ):
        if values:
            parts.append(f"{label}:{_go_list(values)}")
    return "{" + ", ".join(parts) + "}"


def _compact(missing: list[Rule]) -> list[Rule]:
    """Missing rules of one group and resource (and name) merged into one rule with their verbs."""
    merged: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    others = []
    for rule in missing:
        if rule.non_resource_urls or len(rule.api_groups) != 1 or len(rule.resources) != 1:
            others.append(rule)
            continue
        verbs = merged.setdefault((rule.api_groups[0], rule.resources[0], rule.resource_names), [])
        verbs.extend(v for v in rule.verbs if v not in verbs)
    return others + [Rule(tuple(v), (g,), (r,), names) for (g, r, names), v in merged.items()]


def no_escalation_error(
    authorizer: Authorizer, user: UserInfo, namespace: str, wanted: Iterable[Rule]
) -> str | None:
    held, errors = authorizer.rules_for(user, namespace)
    missing = missing_rules(held, wanted)
    if not missing:
        return None
    descriptions = sorted({describe(rule) for rule in _compact(missing)})
    message = (
        f'user "{user.name}" (groups={_go_list(user.groups)}) is attempting to grant RBAC permissions '
        "not currently held:\n" + "\n".join(descriptions)
    )
    if errors:
        message += f"; resolution errors: [{aggregate(errors)}]"
    return message


def _only_gc_fields_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    changed = copy.deepcopy(new)
    meta, old_meta = changed["metadata"], old["metadata"]
    for field in ("ownerReferences", "finalizers", "resourceVersion", "generation"):
        if field in old_meta:
            meta[field] = old_meta[field]
        else:
            meta.pop(field, None)
    return changed == old


def _has_aggregation(obj: dict[str, Any] | None) -> bool:
    rule = (obj or {}).get("aggregationRule")
    return isinstance(rule, dict) and bool(rule.get("clusterRoleSelectors"))


def guard(authorizer: Authorizer, attrs: Attributes) -> Guard | None:
    """The check for a write (`attrs`) to an RBAC resource, None when nothing is to be checked."""
    user, plural = attrs.user, attrs.resource
    if user.privileged or attrs.api_group != GROUP or attrs.subresource:
        return None
    if plural not in ("roles", "clusterroles", "rolebindings", "clusterrolebindings"):
        return None
    namespace = attrs.namespace if plural in ("roles", "rolebindings") else ""

    def check_role(old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        if old is not None and _only_gc_fields_changed(old, new):
            return
        escalate = Attributes(
            user,
            "escalate",
            True,
            api_group=GROUP,
            api_version="*",
            resource=plural,
            namespace=namespace,
            name=attrs.name,
        )
        if authorizer.allows(escalate):
            return
        name = new["metadata"]["name"]
        error = no_escalation_error(authorizer, user, namespace, rules_of(new))
        if error is not None:
            raise forbidden_for(GROUP, plural, name, error)
        aggregating = plural == "clusterroles" and (_has_aggregation(new) or _has_aggregation(old))
        if aggregating and no_escalation_error(authorizer, user, "", FULL_AUTHORITY) is not None:
            raise forbidden_for(
                GROUP, plural, name, "must have cluster-admin privileges to use the aggregationRule"
            )

    def check_binding(old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        if old is not None and _only_gc_fields_changed(old, new):
            return
        ref = new.get("roleRef") or {}
        role_plural = {"Role": "roles", "ClusterRole": "clusterroles"}.get(ref.get("kind", ""))
        if role_plural is None:
            return  # validation has refused it already
        bind = Attributes(
            user,
            "bind",
            True,
            api_group=GROUP,
            resource=role_plural,
            namespace=namespace,
            name=ref.get("name", ""),
        )
        if authorizer.allows(bind):
            return
        binding = Binding.from_json("RoleBinding" if namespace else "ClusterRoleBinding", new)
        rules, missing = authorizer.index.role_rules(binding)
        if missing is not None:
            raise not_found(role_plural.removesuffix("s"), GROUP, ref.get("name", ""))
        error = no_escalation_error(authorizer, user, namespace, rules)
        if error is not None:
            raise forbidden_for(GROUP, plural, new["metadata"]["name"], error)

    return check_role if plural in ("roles", "clusterroles") else check_binding
