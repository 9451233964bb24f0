"""RBAC evaluation, as the API server's RBAC authorizer does it (`--authorization-mode=RBAC`).

A request is allowed when a rule of a role bound to its user allows it: ClusterRoleBindings bind
a ClusterRole everywhere (cluster scope, every namespace, non-resource URLs); RoleBindings bind a
Role of their namespace, or a ClusterRole, in their namespace only. Subjects are Users, Groups and
ServiceAccounts (a ServiceAccount subject without a namespace means the binding's). A rule matches
by verb, API group, `resource` or `resource/subresource` (`*` and `*/subresource` wildcards) and,
with `resourceNames`, only requests that name one of them (so never a plain list, watch, create or
deletecollection); non-resource rules match a path exactly or by a trailing `*`. Nothing denies:
no matching rule is "no opinion", which RBAC being the only authorizer makes a 403. Members of
`system:masters` are allowed before RBAC is asked, as the real server's privileged-group check does.

`Index` keeps roles' rules and bindings indexed by subject, updated from the store's write events
(like the informers a real server evaluates against), so a check looks up the user's name and
groups instead of scanning every binding.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from azureml_standins.kube.attributes import Attributes
from azureml_standins.kube.auth import UserInfo, service_account_username
from azureml_standins.kube.errors import ApiError

GROUP = "rbac.authorization.k8s.io"
ROLES = (GROUP, "roles")
CLUSTER_ROLES = (GROUP, "clusterroles")
ROLE_BINDINGS = (GROUP, "rolebindings")
CLUSTER_ROLE_BINDINGS = (GROUP, "clusterrolebindings")
KEYS = (ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS)
ALL = "*"


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


@dataclass(frozen=True)
class Rule:
    verbs: tuple[str, ...] = ()
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, rule: Any) -> Rule:
        if not isinstance(rule, dict):
            return cls()
        return cls(
            _strings(rule.get("verbs")),
            _strings(rule.get("apiGroups")),
            _strings(rule.get("resources")),
            _strings(rule.get("resourceNames")),
            _strings(rule.get("nonResourceURLs")),
        )

    def as_json(self) -> dict[str, list[str]]:
        out = {"verbs": list(self.verbs)}
        for key, values in (
            ("apiGroups", self.api_groups),
            ("resources", self.resources),
            ("resourceNames", self.resource_names),
            ("nonResourceURLs", self.non_resource_urls),
        ):
            if values:
                out[key] = list(values)
        return out

    def allows(self, attrs: Attributes) -> bool:
        if ALL not in self.verbs and attrs.verb not in self.verbs:
            return False
        if not attrs.resource_request:
            return any(_url_matches(url, attrs.path) for url in self.non_resource_urls)
        if ALL not in self.api_groups and attrs.api_group not in self.api_groups:
            return False
        if not self._resource_matches(attrs.combined_resource, attrs.subresource):
            return False
        return not self.resource_names or attrs.name in self.resource_names

    def _resource_matches(self, combined: str, subresource: str) -> bool:
        for resource in self.resources:
            if resource in (ALL, combined):
                return True
            if subresource and resource == f"*/{subresource}":
                return True
        return False


def _url_matches(rule_url: str, path: str) -> bool:
    if rule_url in (ALL, path):
        return True
    return rule_url.endswith("*") and path.startswith(rule_url.rstrip("*"))


def rules_of(obj: dict[str, Any]) -> tuple[Rule, ...]:
    rules = obj.get("rules")
    return tuple(Rule.from_json(r) for r in rules) if isinstance(rules, list) else ()


Subject = tuple[str, str, str]  # (kind, name, namespace) as written in the binding
SubjectKey = tuple[str, str]  # ("user", name) or ("group", name)


@dataclass(frozen=True)
class Binding:
    kind: str  # RoleBinding or ClusterRoleBinding
    namespace: str  # "" for a ClusterRoleBinding
    name: str
    role_kind: str
    role_name: str
    subjects: tuple[Subject, ...]

    @cached_property
    def keys(self) -> tuple[SubjectKey | None, ...]:
        """Each subject's key, in order (computed once: checks compare them on every request)."""
        return tuple(self.subject_key(s) for s in self.subjects)

    @classmethod
    def from_json(cls, kind: str, obj: dict[str, Any]) -> Binding:
        meta = obj.get("metadata") or {}
        ref = obj.get("roleRef") if isinstance(obj.get("roleRef"), dict) else {}
        subjects = []
        for s in obj.get("subjects") or []:
            if isinstance(s, dict):
                subjects.append(
                    (str(s.get("kind", "")), str(s.get("name", "")), str(s.get("namespace") or ""))
                )
        return cls(
            kind,
            meta.get("namespace", ""),
            meta.get("name", ""),
            str(ref.get("kind", "")),
            str(ref.get("name", "")),
            tuple(subjects),
        )

    def subject_key(self, subject: Subject) -> SubjectKey | None:
        """Whom a subject names, as the user (or group) a request is made by."""
        kind, name, namespace = subject
        if kind == "User":
            return ("user", name)
        if kind == "Group":
            return ("group", name)
        if kind == "ServiceAccount":
            namespace = namespace or self.namespace
            return ("user", service_account_username(namespace, name)) if namespace else None
        return None

    def first_subject(self, keys: frozenset[SubjectKey]) -> Subject | None:
        return next((s for s, k in zip(self.subjects, self.keys, strict=True) if k in keys), None)

    def describe(self, subject: Subject) -> str:
        kind, name, namespace = subject
        who = (
            f'{kind} "{name}/{namespace or self.namespace}"'
            if kind == "ServiceAccount"
            else f'{kind} "{name}"'
        )
        binding = self.name if self.kind == "ClusterRoleBinding" else f"{self.name}/{self.namespace}"
        return f'{self.kind} "{binding}" of {self.role_kind} "{self.role_name}" to {who}'


def user_keys(user: UserInfo) -> frozenset[SubjectKey]:
    return frozenset({("user", user.name), *(("group", g) for g in user.groups)})


class Index:
    """Roles' rules and bindings by subject, kept current from the store's write events."""

    def __init__(self) -> None:
        self._roles: dict[tuple[str, str], tuple[Rule, ...]] = {}
        self._cluster_roles: dict[str, tuple[Rule, ...]] = {}
        self._bindings: dict[tuple[str, str], Binding] = {}  # (namespace, name); "" for cluster bindings
        self._by_subject: dict[tuple[str, SubjectKey], set[str]] = {}  # (namespace, key) -> names

    def apply(self, key: tuple[str, str], type_: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        gone = type_ == "DELETED"
        if key == ROLES:
            self._set(self._roles, (namespace, name), None if gone else rules_of(obj))
        elif key == CLUSTER_ROLES:
            self._set(self._cluster_roles, name, None if gone else rules_of(obj))
        elif key in (ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS):
            kind = "RoleBinding" if key == ROLE_BINDINGS else "ClusterRoleBinding"
            self._unbind(namespace, name)
            if not gone:
                self._bind(Binding.from_json(kind, obj))

    @staticmethod
    def _set(table: dict[Any, tuple[Rule, ...]], key: Any, rules: tuple[Rule, ...] | None) -> None:
        if rules is None:
            table.pop(key, None)
        else:
            table[key] = rules

    def _bind(self, binding: Binding) -> None:
        self._bindings[(binding.namespace, binding.name)] = binding
        for key in binding.keys:
            if key is not None:
                self._by_subject.setdefault((binding.namespace, key), set()).add(binding.name)

    def _unbind(self, namespace: str, name: str) -> None:
        old = self._bindings.pop((namespace, name), None)
        if old is None:
            return
        for key in old.keys:
            names = self._by_subject.get((namespace, key)) if key is not None else None
            if names is not None:
                names.discard(name)
                if not names:
                    del self._by_subject[(namespace, key)]  # type: ignore[arg-type]

    def bindings_for(self, user: UserInfo, namespace: str) -> Iterator[tuple[Binding, Subject]]:
        """The bindings that apply to `user` for a request in `namespace` ("" for cluster scope),
        ClusterRoleBindings first, each with the first of its subjects that names the user."""
        keys = user_keys(user)
        for scope in ("", namespace) if namespace else ("",):
            found = [names for key in keys if (names := self._by_subject.get((scope, key)))]
            if not found:
                continue
            for name in sorted(set().union(*found)) if len(found) > 1 else sorted(found[0]):
                binding = self._bindings[(scope, name)]
                subject = binding.first_subject(keys)
                if subject is not None:
                    yield binding, subject

    def role_rules(self, binding: Binding) -> tuple[tuple[Rule, ...], str | None]:
        """The rules a binding grants, or the error a real server reports for a missing role."""
        if binding.role_kind == "Role":
            rules = self._roles.get((binding.namespace, binding.role_name))
            missing = f'role.{GROUP} "{binding.role_name}" not found'
        elif binding.role_kind == "ClusterRole":
            rules = self._cluster_roles.get(binding.role_name)
            missing = f'clusterrole.{GROUP} "{binding.role_name}" not found'
        else:
            return (), f'unsupported role reference kind: "{binding.role_kind}"'
        return (rules, None) if rules is not None else ((), missing)


def aggregate(errors: Sequence[str]) -> str:
    """Several errors as Kubernetes joins them: one alone, else `[a, b]` without repeats."""
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


class Authorizer:
    def __init__(self, index: Index) -> None:
        self.index = index

    def authorize(self, attrs: Attributes) -> Decision:
        if attrs.user.privileged:
            return Decision(True)
        errors: list[str] = []
        for binding, subject in self.index.bindings_for(attrs.user, attrs.namespace):
            rules, error = self.index.role_rules(binding)
            if error is not None:
                errors.append(error)
            if any(rule.allows(attrs) for rule in rules):
                return Decision(True, f"RBAC: allowed by {binding.describe(subject)}")
        return Decision(False, f"RBAC: {aggregate(errors)}" if errors else "")

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[Rule], list[str]]:
        """Every rule that applies to `user` in `namespace`, and the errors met finding them."""
        rules: list[Rule] = []
        errors: list[str] = []
        for binding, _ in self.index.bindings_for(user, namespace):
            found, error = self.index.role_rules(binding)
            rules.extend(found)
            if error is not None:
                errors.append(error)
        return rules, errors

    def allows(self, attrs: Attributes) -> bool:
        return self.authorize(attrs).allowed


def forbidden_message(attrs: Attributes) -> str:
    who = f'User "{attrs.user.name}"'
    if not attrs.resource_request:
        return f'{who} cannot {attrs.verb} path "{attrs.path}"'
    what = f'{who} cannot {attrs.verb} resource "{attrs.combined_resource}" in API group "{attrs.api_group}"'
    if attrs.namespace:
        return f'{what} in the namespace "{attrs.namespace}"'
    return f"{what} at the cluster scope"


def forbidden(attrs: Attributes, reason: str = "") -> ApiError:
    """The 403 a real server answers: `<resource>[.<group>] ["<name>"] is forbidden: User ...`."""
    message = forbidden_message(attrs)
    if reason:
        message = f"{message}: {reason}"
    return forbidden_for(
        attrs.api_group, attrs.resource if attrs.resource_request else "", attrs.name, message
    )


def forbidden_for(group: str, resource: str, name: str, why: str) -> ApiError:
    details: dict[str, str] = {}
    if not resource:
        return ApiError(403, f"forbidden: {why}", details=details)
    qualified = f"{resource}.{group}" if group else resource
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = resource
    prefix = f'{qualified} "{name}"' if name else qualified
    return ApiError(403, f"{prefix} is forbidden: {why}", details=details)


def compact(rules: Iterable[Rule]) -> list[dict[str, list[str]]]:
    return [rule.as_json() for rule in rules]
