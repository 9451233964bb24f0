"""The chart's RBAC is exactly the documented least-privilege set, in both shapes (every namespace:
one ClusterRole; named namespaces: a Role in each plus a small ClusterRole), and every Kubernetes
call the operator makes itself (kubeapi.py) is covered by a rule. A change to either is deliberate:
these tables change with it."""

from __future__ import annotations

import ast
from typing import Any

import pytest
from chart_helpers import ROOT, Helm, Release

from azureml_operator.api import KINDS

PLURALS = sorted(info.plural for info in KINDS)
STATUS = sorted(f"{p}/status" for p in PLURALS)

# (apiGroup, resources, verbs) where the operator watches; the Role in each namespace, or part of
# the ClusterRole when it watches all of them.
WATCH_RULES = [
    ("azureml.dev", PLURALS, ["get", "list", "watch", "patch"]),
    ("azureml.dev", STATUS, ["patch"]),
    ("azureml.dev", ["serverlessendpoints"], ["create", "update"]),
    (
        "azureml.dev",
        ["finetunejobs/finalizers", "onlineendpoints/finalizers", "serverlessendpoints/finalizers"],
        ["update"],
    ),
    ("", ["secrets"], ["get", "create", "update", "patch"]),
    ("", ["events"], ["create"]),
]
CRD_SCAN = ("apiextensions.k8s.io", ["customresourcedefinitions"], ["list", "watch"])
NAMESPACE_OBSERVER = ("", ["namespaces"], ["list", "watch"])
CLAIMS = ("azureml.dev", PLURALS, ["get", "list"])


def rules(role: dict[str, Any]) -> list[tuple[str, list[str], list[str]]]:
    out = []
    for rule in role["rules"]:
        [group] = rule["apiGroups"]
        assert set(rule) == {"apiGroups", "resources", "verbs"}, rule  # no resourceNames, no wildcards
        out.append((group, rule["resources"], rule["verbs"]))
    return out


def bound_to_the_operator(release: Release, binding: dict[str, Any], role: dict[str, Any]) -> None:
    sa = release.one("ServiceAccount")["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": release.namespace}]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": role["kind"],
        "name": role["metadata"]["name"],
    }
    assert binding["metadata"].get("namespace") == role["metadata"].get("namespace")


def test_watching_every_namespace_is_one_cluster_role(helm: Helm) -> None:
    release = helm.install()
    role = release.one("ClusterRole")
    assert rules(role) == [CRD_SCAN, *WATCH_RULES]
    assert not release.of("Role") and not release.of("RoleBinding")
    bound_to_the_operator(release, release.one("ClusterRoleBinding"), role)
    assert "--all-namespaces" in release.container["args"]


def test_named_namespaces_get_a_role_each_and_the_cluster_keeps_only_reads(helm: Helm) -> None:
    release = helm.install({"watchNamespaces": ["team-a", "team-b"]})
    cluster_role = release.one("ClusterRole")
    assert rules(cluster_role) == [CRD_SCAN, NAMESPACE_OBSERVER]
    assert "--cluster-wide-claims" not in release.container["args"]
    bound_to_the_operator(release, release.one("ClusterRoleBinding"), cluster_role)
    roles = {r["metadata"]["namespace"]: r for r in release.of("Role")}
    bindings = {b["metadata"]["namespace"]: b for b in release.of("RoleBinding")}
    assert sorted(roles) == sorted(bindings) == ["team-a", "team-b"]
    for namespace, role in roles.items():
        assert rules(role) == WATCH_RULES
        bound_to_the_operator(release, bindings[namespace], role)
    # Nothing cluster-wide can write, or read a Secret.
    for _, resources, verbs in rules(cluster_role):
        assert set(verbs) <= {"get", "list", "watch"} and "secrets" not in resources


def test_cluster_wide_claims_are_granted_and_used_only_when_asked_for(helm: Helm) -> None:
    release = helm.install({"watchNamespaces": ["team-a"], "rbac": {"clusterWideClaims": True}})
    assert rules(release.one("ClusterRole")) == [CRD_SCAN, NAMESPACE_OBSERVER, CLAIMS]
    assert "--cluster-wide-claims" in release.container["args"]


def test_rbac_create_false_renders_none(helm: Helm) -> None:
    release = helm.install({"rbac": {"create": False}, "watchNamespaces": ["team-a"]})
    assert not {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"} & set(release.kinds())


# What each kubernetes client method kubeapi.py calls needs: (apiGroup, resource, verb, scope).
CLIENT_CALLS = {
    "read_namespaced_secret": ("", "secrets", "get", "namespace"),
    "create_namespaced_secret": ("", "secrets", "create", "namespace"),
    "replace_namespaced_secret": ("", "secrets", "update", "namespace"),
    "patch_namespaced_secret": ("", "secrets", "patch", "namespace"),
    "get_namespaced_custom_object": ("azureml.dev", "*", "get", "namespace"),
    # apply_owned_object is only ever called for a FineTuneJob's ServerlessEndpoint.
    "create_namespaced_custom_object": ("azureml.dev", "serverlessendpoints", "create", "namespace"),
    "replace_namespaced_custom_object": ("azureml.dev", "serverlessendpoints", "update", "namespace"),
    "patch_namespaced_custom_object_status": ("azureml.dev", "*/status", "patch", "namespace"),
    "list_cluster_custom_object": ("azureml.dev", "*", "list", "cluster"),
}


def kubeapi_calls() -> set[str]:
    """The client methods kubeapi.py calls on its CoreV1Api and CustomObjectsApi."""
    tree = ast.parse((ROOT / "operator" / "azureml_operator" / "kubeapi.py").read_text())
    calls = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Attribute) and owner.attr in ("_core", "_custom"):
                calls.add(node.func.attr)
    return calls


def test_every_call_kubeapi_makes_has_its_entry_here() -> None:
    assert kubeapi_calls() == set(CLIENT_CALLS), (
        "kubeapi.py calls another Kubernetes API method: add it to CLIENT_CALLS and the chart's RBAC"
    )


def _allowed(
    role_rules: list[tuple[str, list[str], list[str]]], group: str, resource: str, verb: str
) -> bool:
    resources = {
        "*": PLURALS,
        "*/status": STATUS,
    }.get(resource, [resource])
    return all(any(g == group and r in rs and verb in vs for g, rs, vs in role_rules) for r in resources)


# Made only by an operator that may list its kinds in every namespace (kubeapi.claims).
CLUSTER_WIDE_ONLY = {"list_cluster_custom_object"}


@pytest.mark.parametrize(
    "values",
    [
        None,
        {"watchNamespaces": ["team-a"]},
        {"watchNamespaces": ["team-a"], "rbac": {"clusterWideClaims": True}},
    ],
    ids=["all-namespaces", "named-namespaces", "named-namespaces-cluster-wide-claims"],
)
def test_the_rules_allow_every_call_kubeapi_makes(helm: Helm, values: dict[str, Any] | None) -> None:
    release = helm.install(values)
    args = release.container["args"]
    cluster = rules(release.one("ClusterRole"))
    where = rules(release.one("Role")) if values else cluster
    lists_cluster = "--all-namespaces" in args or "--cluster-wide-claims" in args
    for method, (group, resource, verb, scope) in CLIENT_CALLS.items():
        if method in CLUSTER_WIDE_ONLY and not lists_cluster:
            continue  # the operator, told so by its flags, never makes the call
        assert _allowed(cluster if scope == "cluster" else where, group, resource, verb), method
