"""The default ClusterRoles and ClusterRoleBindings a real API server creates at start (its
"bootstrap policy"), the ones that matter to an operator and its tests:

* `system:discovery`, `system:basic-user` (self reviews) and `system:public-info-viewer` bound to
  `system:authenticated`, the last also to `system:unauthenticated`: any ServiceAccount can read
  discovery, `/version` and `/healthz` and ask what it may do, and nothing else;
* `cluster-admin` (everything) bound to `system:masters`;
* the user-facing `admin`, `edit` and `view`, aggregated (`aggregation.py`) from
  `system:aggregate-to-admin|edit|view` as in Kubernetes 1.32, so that a ClusterRole labelled
  `rbac.authorization.k8s.io/aggregate-to-view: "true"` extends them as it does on a cluster.

They carry the real objects' labels and annotations. Roles for the control plane's own components
(nodes, controllers, the scheduler) are left out: nothing here authenticates as them.
"""

from __future__ import annotations

from typing import Any

from azureml_standins.kube.auth import AUTHENTICATED, MASTERS, UNAUTHENTICATED
from azureml_standins.kube.rbac import GROUP

_META_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
_META_ANNOTATIONS = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
_AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"

READ = ("get", "list", "watch")
WRITE = ("create", "delete", "deletecollection", "patch", "update")
READ_WRITE = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

# (apiGroups, resources, verbs) per rule.
RuleSpec = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]

_VIEW: tuple[RuleSpec, ...] = (
    (
        ("",),
        (
            "configmaps",
            "endpoints",
            "persistentvolumeclaims",
            "persistentvolumeclaims/status",
            "pods",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "serviceaccounts",
            "services",
            "services/status",
        ),
        READ,
    ),
    (
        ("",),
        (
            "bindings",
            "events",
            "limitranges",
            "namespaces/status",
            "pods/log",
            "pods/status",
            "replicationcontrollers/status",
            "resourcequotas",
            "resourcequotas/status",
        ),
        READ,
    ),
    (("",), ("namespaces",), READ),
    (("discovery.k8s.io",), ("endpointslices",), READ),
    (
        ("apps",),
        (
            "controllerrevisions",
            "daemonsets",
            "daemonsets/status",
            "deployments",
            "deployments/scale",
            "deployments/status",
            "replicasets",
            "replicasets/scale",
            "replicasets/status",
            "statefulsets",
            "statefulsets/scale",
            "statefulsets/status",
        ),
        READ,
    ),
    (("autoscaling",), ("horizontalpodautoscalers", "horizontalpodautoscalers/status"), READ),
    (("batch",), ("cronjobs", "cronjobs/status", "jobs", "jobs/status"), READ),
    (
        ("extensions",),
        (
            "daemonsets",
            "daemonsets/status",
            "deployments",
            "deployments/scale",
            "deployments/status",
            "ingresses",
            "ingresses/status",
            "networkpolicies",
            "replicasets",
            "replicasets/scale",
            "replicasets/status",
            "replicationcontrollers/scale",
        ),
        READ,
    ),
    (("policy",), ("poddisruptionbudgets", "poddisruptionbudgets/status"), READ),
    (("networking.k8s.io",), ("ingresses", "ingresses/status", "networkpolicies"), READ),
)

_EDIT: tuple[RuleSpec, ...] = (
    (
        ("",),
        ("pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"),
        READ,
    ),
    (("",), ("serviceaccounts",), ("impersonate",)),
    (("",), ("pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"), WRITE),
    (("",), ("pods/eviction",), ("create",)),
    (
        ("",),
        (
            "configmaps",
            "events",
            "persistentvolumeclaims",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "secrets",
            "serviceaccounts",
            "services",
            "services/proxy",
        ),
        WRITE,
    ),
    (("",), ("serviceaccounts/token",), ("create",)),
    (
        ("apps",),
        (
            "daemonsets",
            "deployments",
            "deployments/rollback",
            "deployments/scale",
            "replicasets",
            "replicasets/scale",
            "statefulsets",
            "statefulsets/scale",
        ),
        WRITE,
    ),
    (("autoscaling",), ("horizontalpodautoscalers",), WRITE),
    (("batch",), ("cronjobs", "jobs"), WRITE),
    (
        ("extensions",),
        (
            "daemonsets",
            "deployments",
            "deployments/rollback",
            "deployments/scale",
            "ingresses",
            "networkpolicies",
            "replicasets",
            "replicasets/scale",
            "replicationcontrollers/scale",
        ),
        WRITE,
    ),
    (("policy",), ("poddisruptionbudgets",), WRITE),
    (("networking.k8s.io",), ("ingresses", "networkpolicies"), WRITE),
    (("coordination.k8s.io",), ("leases",), READ_WRITE),
)

_ADMIN: tuple[RuleSpec, ...] = (
    (("authorization.k8s.io",), ("localsubjectaccessreviews",), ("create",)),
    ((GROUP,), ("rolebindings", "roles"), READ_WRITE),
)

_BASIC_USER: tuple[RuleSpec, ...] = (
    (("authorization.k8s.io",), ("selfsubjectaccessreviews", "selfsubjectrulesreviews"), ("create",)),
    (("authentication.k8s.io",), ("selfsubjectreviews",), ("create",)),
)

_DISCOVERY_URLS = (
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/healthz",
    "/livez",
    "/openapi",
    "/openapi/*",
    "/readyz",
    "/version",
    "/version/",
)
_PUBLIC_INFO_URLS = ("/healthz", "/livez", "/readyz", "/version", "/version/")


def _rules(specs: tuple[RuleSpec, ...]) -> list[dict[str, Any]]:
    return [{"apiGroups": list(g), "resources": list(r), "verbs": list(v)} for g, r, v in specs]


def _meta(name: str, **labels: str) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {**_META_LABELS, **labels},
        "annotations": dict(_META_ANNOTATIONS),
    }


def _role(name: str, rules: list[dict[str, Any]], **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "ClusterRole",
        "metadata": _meta(name, **labels),
        "rules": rules,
    }


def _aggregated(name: str, into: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "ClusterRole",
        "metadata": _meta(name, **labels),
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {f"{_AGGREGATE}{into}": "true"}}]},
        "rules": None,
    }


def _binding(name: str, *groups: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _meta(name),
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": g} for g in groups],
    }


def _non_resource(urls: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"nonResourceURLs": list(urls), "verbs": ["get"]}]


CLUSTER_ROLES: tuple[dict[str, Any], ...] = (
    _aggregated("admin", "admin"),
    _role(
        "cluster-admin",
        [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
    ),
    _aggregated("edit", "edit", **{f"{_AGGREGATE}admin": "true"}),
    _role("system:aggregate-to-admin", _rules(_ADMIN), **{f"{_AGGREGATE}admin": "true"}),
    _role("system:aggregate-to-edit", _rules(_EDIT), **{f"{_AGGREGATE}edit": "true"}),
    _role("system:aggregate-to-view", _rules(_VIEW), **{f"{_AGGREGATE}view": "true"}),
    _role("system:basic-user", _rules(_BASIC_USER)),
    _role("system:discovery", _non_resource(_DISCOVERY_URLS)),
    _role("system:public-info-viewer", _non_resource(_PUBLIC_INFO_URLS)),
    _aggregated("view", "view", **{f"{_AGGREGATE}edit": "true"}),
)

CLUSTER_ROLE_BINDINGS: tuple[dict[str, Any], ...] = (
    _binding("cluster-admin", MASTERS),
    _binding("system:basic-user", AUTHENTICATED),
    _binding("system:discovery", AUTHENTICATED),
    _binding("system:public-info-viewer", AUTHENTICATED, UNAUTHENTICATED),
)
