"""Which resources the stand-in serves, and the discovery documents that announce them.

kopf reads `/api`, `/apis` and `/apis/{group}/{version}` before it lists or watches anything, and
waits silently for resources it cannot find; kubectl resolves `get amlsls` through the same
documents. Built-in resources are a fixed table; custom resources come and go with their CRDs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# Kubernetes release the stand-in claims to be; kubectl only warns about large skews.
VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0",
    "gitCommit": "azureml-operator-kube-standin",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.4",
    "compiler": "gc",
    "platform": "linux/amd64",
}

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUB_VERBS = ("get", "patch", "update")
CREATE_ONLY = ("create",)

# Subresources that are not a view of their parent: another kind, in another group, create only.
_SUBRESOURCE_SHAPES: dict[str, dict[str, Any]] = {
    "finalize": {"verbs": ["update"]},
    "token": {"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest", "verbs": ["create"]},
}


@dataclass(frozen=True)
class ResourceInfo:
    """One served resource in one version. Objects are stored per (group, plural), so all served
    versions of a CRD share them (conversion strategy None: only `apiVersion` differs)."""

    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    list_kind: str = ""
    # Field selectors a real server accepts beyond metadata.name and metadata.namespace.
    selectable_fields: tuple[str, ...] = ()
    crd: dict[str, Any] | None = field(default=None, compare=False, hash=False, repr=False)
    # The CRD version entry (schema, subresources, printer columns) this resource serves.
    crd_version: dict[str, Any] | None = field(default=None, compare=False, hash=False, repr=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def is_custom(self) -> bool:
        return self.crd is not None

    def api_resources(self) -> list[dict[str, Any]]:
        main: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        out = [main]
        for sub in self.subresources:
            shape = _SUBRESOURCE_SHAPES.get(sub, {})
            entry: dict[str, Any] = {
                "name": f"{self.plural}/{sub}",
                "singularName": "",
                "namespaced": self.namespaced,
            }
            if "group" in shape:
                entry["group"], entry["version"] = shape["group"], shape["version"]
            entry["kind"] = shape.get("kind", self.kind)
            entry["verbs"] = list(shape.get("verbs", SUB_VERBS))
            out.append(entry)
        return out


def _builtin(
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespaced: bool,
    *,
    short: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    subresources: tuple[str, ...] = (),
    verbs: tuple[str, ...] = ALL_VERBS,
    fields: tuple[str, ...] = (),
) -> ResourceInfo:
    return ResourceInfo(
        group=group,
        version=version,
        plural=plural,
        kind=kind,
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=short,
        categories=categories,
        subresources=subresources,
        verbs=verbs,
        list_kind=f"{kind}List",
        selectable_fields=fields,
    )


_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)

BUILTINS: tuple[ResourceInfo, ...] = (
    _builtin(
        "",
        "v1",
        "namespaces",
        "Namespace",
        False,
        short=("ns",),
        subresources=("status",),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        fields=("status.phase",),
    ),
    _builtin("", "v1", "secrets", "Secret", True, fields=("type",)),
    _builtin("", "v1", "configmaps", "ConfigMap", True, short=("cm",)),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", True, short=("sa",), subresources=("token",)),
    _builtin("", "v1", "events", "Event", True, short=("ev",), fields=_EVENT_FIELDS),
    _builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        short=("crd", "crds"),
        categories=("api-extensions",),
        subresources=("status",),
    ),
    _builtin(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        True,
        short=("ev",),
        fields=("reason", "regarding.kind", "regarding.name", "regarding.namespace", "type"),
    ),
    _builtin("coordination.k8s.io", "v1", "leases", "Lease", True),
    _builtin(
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        False,
        categories=("api-extensions",),
    ),
    _builtin(
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        False,
        categories=("api-extensions",),
    ),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    _builtin("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    # Reviews are answered, never stored (`reviews.py`): create is their only verb.
    _builtin(
        "authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False, verbs=CREATE_ONLY
    ),
    _builtin(
        "authorization.k8s.io",
        "v1",
        "localsubjectaccessreviews",
        "LocalSubjectAccessReview",
        True,
        verbs=CREATE_ONLY,
    ),
    _builtin(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        False,
        verbs=CREATE_ONLY,
    ),
    _builtin(
        "authorization.k8s.io",
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        False,
        verbs=CREATE_ONLY,
    ),
    _builtin(
        "authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False, verbs=CREATE_ONLY
    ),
)


def from_crd(crd: dict[str, Any]) -> list[ResourceInfo]:
    """The resources a CustomResourceDefinition serves: one per served version."""
    spec = crd["spec"]
    names = spec["names"]
    kind = names["kind"]
    out = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        selectable = tuple(
            f["jsonPath"].lstrip(".") for f in version.get("selectableFields", []) if "jsonPath" in f
        )
        out.append(
            ResourceInfo(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                kind=kind,
                singular=names.get("singular") or kind.lower(),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=tuple(
                    sorted(s for s in (version.get("subresources") or {}) if s in ("status", "scale"))
                ),
                list_kind=names.get("listKind") or f"{kind}List",
                selectable_fields=selectable,
                crd=crd,
                crd_version=version,
            )
        )
    return out


_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key, best first, as Kubernetes orders versions: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > other."""
    m = _KUBE_VERSION.match(version)
    if not m:
        return (3, 0, 0, version)
    stage = {None: 0, "beta": 1, "alpha": 2}[m[2]]
    return (stage, -int(m[1]), -int(m[3] or 0), "")


class Registry:
    """Served resources by group and version, in the order groups were first registered."""

    def __init__(self, resources: Iterable[ResourceInfo] = BUILTINS) -> None:
        self._by_gv: dict[tuple[str, str], dict[str, ResourceInfo]] = {}
        self._crd_resources: dict[str, list[ResourceInfo]] = {}
        for info in resources:
            self._add(info)

    def _add(self, info: ResourceInfo) -> None:
        self._by_gv.setdefault((info.group, info.version), {})[info.plural] = info

    def _remove(self, info: ResourceInfo) -> None:
        served = self._by_gv.get((info.group, info.version), {})
        served.pop(info.plural, None)
        if not served:
            self._by_gv.pop((info.group, info.version), None)

    def set_crd(self, crd_name: str, crd: dict[str, Any] | None) -> list[ResourceInfo]:
        """Serve what `crd` describes (None: stop serving it); returns the resources now served."""
        for info in self._crd_resources.pop(crd_name, []):
            self._remove(info)
        if crd is None:
            return []
        infos = from_crd(crd)
        for info in infos:
            self._add(info)
        self._crd_resources[crd_name] = infos
        return infos

    def get(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        return self._by_gv.get((group, version), {}).get(plural)

    def find(self, group: str, plural: str) -> ResourceInfo | None:
        """The best served version of (group, plural)."""
        candidates = [
            served[plural] for (g, _), served in self._by_gv.items() if g == group and plural in served
        ]
        return min(candidates, key=lambda info: version_priority(info.version), default=None)

    def __iter__(self) -> Iterator[ResourceInfo]:
        for served in list(self._by_gv.values()):
            yield from list(served.values())

    def groups(self) -> dict[str, list[str]]:
        """Served versions per named group, best first."""
        out: dict[str, list[str]] = {}
        for group, version in self._by_gv:
            if group:
                out.setdefault(group, []).append(version)
        return {group: sorted(versions, key=version_priority) for group, versions in out.items()}

    # -- documents ---------------------------------------------------------------------------

    def api_versions(self, server_address: str) -> dict[str, Any]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        }

    def _group_doc(self, group: str, versions: list[str]) -> dict[str, Any]:
        preferred = versions[0]
        return {
            "name": group,
            "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
            "preferredVersion": {"groupVersion": f"{group}/{preferred}", "version": preferred},
        }

    def api_group_list(self) -> dict[str, Any]:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [self._group_doc(g, vs) for g, vs in self.groups().items()],
        }

    def api_group(self, group: str) -> dict[str, Any] | None:
        versions = self.groups().get(group)
        if not versions:
            return None
        return {"kind": "APIGroup", "apiVersion": "v1", **self._group_doc(group, versions)}

    def api_resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        served = self._by_gv.get((group, version))
        if served is None:
            return None
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": [entry for info in served.values() for entry in info.api_resources()],
        }
