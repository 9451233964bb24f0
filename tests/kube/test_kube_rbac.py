"""RBAC as kube-apiserver --authorization-mode=RBAC applies it: ServiceAccount tokens from the
TokenRequest API, 401 for tokens that are not (or no longer) valid, 403s worded as a real server
words them, Roles and ClusterRoles bound by RoleBindings and ClusterRoleBindings, resourceNames,
subresources, aggregated ClusterRoles, the review kinds `kubectl auth can-i` uses, impersonation,
the escalation check, and the record of refusals on /_standin/denied.

Every test works in namespaces of its own, with ServiceAccounts and cluster-scoped objects of
unique names, so that tests sharing the session's stand-in (one per xdist worker) never see each
other's grants. Tests that change what everyone shares start a stand-in of their own.
"""

from __future__ import annotations

import calendar
import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kube_helpers import Http, eventually
from kubernetes import client

from azureml_standins.kube.process import KubeProcess

RBAC = "/apis/rbac.authorization.k8s.io/v1"
AUTHZ = "/apis/authorization.k8s.io/v1"
kubectl_installed = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


def _uid() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def ns2(core: client.CoreV1Api) -> str:
    """A second fresh namespace, to show what a grant in the first does not reach."""
    name = f"t-{_uid()}"
    core.create_namespace({"metadata": {"name": name}})
    return name


def _as_sa(kube: KubeProcess, namespace: str, name: str = "op") -> Http:
    """Plain HTTP as a new ServiceAccount `namespace/name` (created here), with a fresh token."""
    return Http(kube.url, kube.service_account_token(namespace, name, create=True), ca=kube.ca)


def _sa_user(namespace: str, name: str = "op") -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def _create(http: Http, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, answer, _ = http("POST", path, body)
    assert status == 201, answer
    result: dict[str, Any] = answer
    return result


def _role(http: Http, namespace: str, name: str, rules: list[dict[str, Any]]) -> None:
    _create(http, f"{RBAC}/namespaces/{namespace}/roles", {"metadata": {"name": name}, "rules": rules})


def _cluster_role(http: Http, name: str, rules: list[dict[str, Any]], **extra: Any) -> None:
    _create(http, f"{RBAC}/clusterroles", {"metadata": {"name": name}, "rules": rules, **extra})


def _sa_subject(namespace: str, name: str = "op") -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def _role_binding(
    http: Http, namespace: str, name: str, kind: str, role: str, subject: dict[str, str]
) -> None:
    _create(
        http,
        f"{RBAC}/namespaces/{namespace}/rolebindings",
        {"metadata": {"name": name}, "roleRef": {"kind": kind, "name": role}, "subjects": [subject]},
    )


def _forbidden(status: int, body: Any, message: str) -> None:
    assert status == 403, body
    assert body["kind"] == "Status" and body["reason"] == "Forbidden" and body["code"] == 403, body
    assert body["message"] == message


def test_a_fresh_service_account_can_discover_but_not_list_secrets(
    kube: KubeProcess, http: Http, ns: str
) -> None:
    sa = _as_sa(kube, ns)
    for path in ("/api", "/api/v1", "/apis", "/apis/rbac.authorization.k8s.io/v1", "/version", "/healthz"):
        status, body, _ = sa("GET", path)
        assert status == 200, (path, body)
    status, body, _ = sa("GET", f"/api/v1/namespaces/{ns}/secrets")
    assert status == 403
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'secrets is forbidden: User "{_sa_user(ns)}" cannot list resource "secrets" in API group "" '
        f'in the namespace "{ns}"',
        "reason": "Forbidden",
        "details": {"kind": "secrets"},
        "code": 403,
    }
    status, body, _ = sa("GET", f"/api/v1/namespaces/{ns}/secrets/s1")
    _forbidden(
        status,
        body,
        f'secrets "s1" is forbidden: User "{_sa_user(ns)}" cannot get resource "secrets" in API group "" '
        f'in the namespace "{ns}"',
    )
    assert body["details"] == {"name": "s1", "kind": "secrets"}
    status, body, _ = sa("GET", "/api/v1/namespaces")
    _forbidden(
        status,
        body,
        f'namespaces is forbidden: User "{_sa_user(ns)}" cannot list resource "namespaces" in API group "" '
        "at the cluster scope",
    )
    status, body, _ = sa("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions?watch=true")
    _forbidden(
        status,
        body,
        f'customresourcedefinitions.apiextensions.k8s.io is forbidden: User "{_sa_user(ns)}" cannot watch '
        'resource "customresourcedefinitions" in API group "apiextensions.k8s.io" at the cluster scope',
    )
    assert body["details"] == {"group": "apiextensions.k8s.io", "kind": "customresourcedefinitions"}
    status, body, _ = sa("GET", "/")
    _forbidden(status, body, f'forbidden: User "{_sa_user(ns)}" cannot get path "/"')
    assert body["details"] == {}
    # The admin, meanwhile, lists them.
    assert http("GET", f"/api/v1/namespaces/{ns}/secrets")[0] == 200


def test_a_role_binding_grants_exactly_the_listed_verbs_in_its_namespace_only(
    kube: KubeProcess, http: Http, ns: str, ns2: str
) -> None:
    sa = _as_sa(kube, ns)
    _create(http, f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "cfg"}})
    _role(http, ns, "reader", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}])
    assert sa("GET", f"/api/v1/namespaces/{ns}/configmaps")[0] == 403  # a Role alone grants nothing
    _role_binding(http, ns, "reader", "Role", "reader", _sa_subject(ns))
    assert sa("GET", f"/api/v1/namespaces/{ns}/configmaps")[0] == 200
    assert sa("GET", f"/api/v1/namespaces/{ns}/configmaps/cfg")[0] == 200
    user = _sa_user(ns)
    for method, path, body, verb in (
        ("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "new"}}, "create"),
        ("DELETE", f"/api/v1/namespaces/{ns}/configmaps/cfg", None, "delete"),
        ("DELETE", f"/api/v1/namespaces/{ns}/configmaps", None, "deletecollection"),
        ("PUT", f"/api/v1/namespaces/{ns}/configmaps/cfg", {"metadata": {"name": "cfg"}}, "update"),
        ("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=true", None, "watch"),
    ):
        status, answer, _ = sa(method, path, body)
        assert status == 403, (verb, answer)
        assert (
            f'User "{user}" cannot {verb} resource "configmaps" in API group "" in the namespace "{ns}"'
            in (answer["message"])
        )
    status, answer, _ = sa(
        "PATCH", f"/api/v1/namespaces/{ns}/configmaps/cfg", {}, content_type="application/merge-patch+json"
    )
    assert status == 403 and "cannot patch" in answer["message"]
    assert sa("GET", f"/api/v1/namespaces/{ns}/secrets")[0] == 403
    assert sa("GET", f"/api/v1/namespaces/{ns2}/configmaps")[0] == 403
    assert sa("GET", "/api/v1/configmaps")[0] == 403  # all namespaces is the cluster scope
    assert http("GET", f"/api/v1/namespaces/{ns}/configmaps/cfg")[0] == 200  # nothing was deleted


def test_a_cluster_role_bound_by_a_role_binding_applies_in_that_namespace_only(
    kube: KubeProcess, http: Http, ns: str, ns2: str
) -> None:
    sa = _as_sa(kube, ns)
    role = f"secret-reader-{_uid()}"
    _cluster_role(
        http, role, [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}]
    )
    _role_binding(http, ns2, "read-secrets", "ClusterRole", role, _sa_subject(ns))
    assert sa("GET", f"/api/v1/namespaces/{ns2}/secrets")[0] == 200
    assert sa("GET", f"/api/v1/namespaces/{ns}/secrets")[0] == 403
    status, body, _ = sa("GET", "/api/v1/secrets")
    _forbidden(
        status,
        body,
        f'secrets is forbidden: User "{_sa_user(ns)}" cannot list resource "secrets" in API group "" at the cluster scope',
    )


def test_a_cluster_role_binding_applies_everywhere(kube: KubeProcess, http: Http, ns: str, ns2: str) -> None:
    sa = _as_sa(kube, ns)
    role = f"secret-reader-{_uid()}"
    _cluster_role(http, role, [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}])
    assert sa("GET", f"/api/v1/namespaces/{ns2}/secrets")[0] == 403
    _create(
        http,
        f"{RBAC}/clusterrolebindings",
        {
            "metadata": {"name": role},
            "roleRef": {"kind": "ClusterRole", "name": role},
            "subjects": [_sa_subject(ns)],
        },
    )
    for path in (f"/api/v1/namespaces/{ns}/secrets", f"/api/v1/namespaces/{ns2}/secrets", "/api/v1/secrets"):
        assert sa("GET", path)[0] == 200, path
    assert sa("GET", f"/api/v1/namespaces/{ns}/secrets/x")[0] == 403  # list, not get
    # Removing the binding takes the grant away at once.
    assert http("DELETE", f"{RBAC}/clusterrolebindings/{role}")[0] == 200
    assert sa("GET", "/api/v1/secrets")[0] == 403


def test_resource_names_allow_the_named_object_and_never_a_plain_list(
    kube: KubeProcess, http: Http, ns: str
) -> None:
    sa = _as_sa(kube, ns)
    for name in ("a", "b"):
        _create(http, f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": name}})
    _role(
        http,
        ns,
        "only-a",
        [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": ["a"],
                "verbs": ["get", "list", "watch", "create"],
            }
        ],
    )
    _role_binding(http, ns, "only-a", "Role", "only-a", _sa_subject(ns))
    assert sa("GET", f"/api/v1/namespaces/{ns}/configmaps/a")[0] == 200
    status, body, _ = sa("GET", f"/api/v1/namespaces/{ns}/configmaps/b")
    _forbidden(
        status,
        body,
        f'configmaps "b" is forbidden: User "{_sa_user(ns)}" cannot get resource "configmaps" in API group "" '
        f'in the namespace "{ns}"',
    )
    assert sa("GET", f"/api/v1/namespaces/{ns}/configmaps")[0] == 403
    assert sa("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=true")[0] == 403
    assert sa("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "a2"}})[0] == 403
    # A list or watch pinned to the name by a field selector is a request for that object.
    status, body, _ = sa(
        "GET", f"/api/v1/namespaces/{ns}/configmaps", params={"fieldSelector": "metadata.name=a"}
    )
    assert status == 200 and [i["metadata"]["name"] for i in body["items"]] == ["a"]
    status, body, _ = sa(
        "GET", f"/api/v1/namespaces/{ns}/configmaps", params={"fieldSelector": "metadata.name=b"}
    )
    assert status == 403 and body["message"].startswith('configmaps "b" is forbidden: ')
    assert (
        sa("GET", f"/api/v1/namespaces/{ns}/configmaps", params={"fieldSelector": "metadata.name!=b"})[0]
        == 403
    )


def _endpoint(name: str = "chat") -> dict[str, Any]:
    return {
        "apiVersion": "azureml.dev/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": name},
        "spec": {},
    }


@pytest.mark.usefixtures("project_crds")
def test_the_status_subresource_needs_a_rule_of_its_own(kube: KubeProcess, http: Http, ns: str) -> None:
    sa = _as_sa(kube, ns)
    base = f"/apis/azureml.dev/v1alpha1/namespaces/{ns}/onlineendpoints"
    _create(http, base, _endpoint())
    _role(
        http,
        ns,
        "endpoints",
        [{"apiGroups": ["azureml.dev"], "resources": ["onlineendpoints"], "verbs": ["get", "patch"]}],
    )
    _role_binding(http, ns, "endpoints", "Role", "endpoints", _sa_subject(ns))
    merge = "application/merge-patch+json"
    patch = {"metadata": {"labels": {"seen": "yes"}}}
    assert sa("PATCH", f"{base}/chat", patch, content_type=merge)[0] == 200
    status, body, _ = sa("PATCH", f"{base}/chat/status", {"status": {"scoringUri": "x"}}, content_type=merge)
    _forbidden(
        status,
        body,
        f'onlineendpoints.azureml.dev "chat" is forbidden: User "{_sa_user(ns)}" cannot patch resource '
        f'"onlineendpoints/status" in API group "azureml.dev" in the namespace "{ns}"',
    )
    assert body["details"] == {"name": "chat", "group": "azureml.dev", "kind": "onlineendpoints"}
    assert sa("GET", f"{base}/chat/status")[0] == 403
    _role(http, ns, "status", [{"apiGroups": ["azureml.dev"], "resources": ["*/status"], "verbs": ["patch"]}])
    _role_binding(http, ns, "status", "Role", "status", _sa_subject(ns))
    status, body, _ = sa("PATCH", f"{base}/chat/status", {"status": {"scoringUri": "x"}}, content_type=merge)
    assert status == 200 and body["status"]["scoringUri"] == "x"


def test_an_aggregated_cluster_role_picks_up_a_labelled_role_added_later(
    kube: KubeProcess, http: Http, ns: str
) -> None:
    sa = _as_sa(kube, ns)
    tag = _uid()
    label = f"example.dev/aggregate-to-{tag}"
    aggregated, part = f"agg-{tag}", f"agg-{tag}-part"
    _cluster_role(
        http, aggregated, [], aggregationRule={"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]}
    )
    _role_binding(http, ns, "agg", "ClusterRole", aggregated, _sa_subject(ns))
    assert sa("GET", f"/api/v1/namespaces/{ns}/configmaps")[0] == 403
    rules = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]
    _create(
        http, f"{RBAC}/clusterroles", {"metadata": {"name": part, "labels": {label: "true"}}, "rules": rules}
    )

    def aggregated_rules() -> Any:
        return http("GET", f"{RBAC}/clusterroles/{aggregated}")[1]["rules"]

    assert aggregated_rules() == rules
    assert sa("GET", f"/api/v1/namespaces/{ns}/configmaps")[0] == 200
    more = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "get"]}]
    http("PATCH", f"{RBAC}/clusterroles/{part}", {"rules": more}, content_type="application/merge-patch+json")
    assert aggregated_rules() == more
    # The controller owns the rules: writing them by hand is undone at once.
    http(
        "PATCH",
        f"{RBAC}/clusterroles/{aggregated}",
        {"rules": []},
        content_type="application/merge-patch+json",
    )
    assert aggregated_rules() == more
    assert http("DELETE", f"{RBAC}/clusterroles/{part}")[0] == 200
    assert aggregated_rules() == []
    assert sa("GET", f"/api/v1/namespaces/{ns}/configmaps")[0] == 403


def test_the_default_view_edit_and_admin_roles_aggregate(kube: KubeProcess, http: Http, ns: str) -> None:
    sa = _as_sa(kube, ns)
    _role_binding(http, ns, "view", "ClusterRole", "view", _sa_subject(ns))
    assert sa("GET", f"/api/v1/namespaces/{ns}/configmaps")[0] == 200
    assert sa("GET", f"/api/v1/namespaces/{ns}/secrets")[0] == 403  # view never shows secrets
    assert sa("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "c"}})[0] == 403
    tag = _uid()
    extra = {"apiGroups": [f"{tag}.example.dev"], "resources": ["widgets"], "verbs": ["get", "list", "watch"]}
    name = f"widgets-{tag}-view"
    labels = {"rbac.authorization.k8s.io/aggregate-to-view": "true"}
    _create(http, f"{RBAC}/clusterroles", {"metadata": {"name": name, "labels": labels}, "rules": [extra]})
    for role in ("view", "edit", "admin"):  # view is aggregated into edit, and edit into admin
        assert extra in http("GET", f"{RBAC}/clusterroles/{role}")[1]["rules"], role
    assert sa("GET", f"/apis/{tag}.example.dev/v1/namespaces/{ns}/widgets")[0] == 404  # allowed, not served
    assert http("DELETE", f"{RBAC}/clusterroles/{name}")[0] == 200
    assert extra not in http("GET", f"{RBAC}/clusterroles/admin")[1]["rules"]
    assert sa("GET", f"/apis/{tag}.example.dev/v1/namespaces/{ns}/widgets")[0] == 403


def _kubectl(kubeconfig: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@kubectl_installed
def test_kubectl_auth_can_i_answers_through_self_subject_access_reviews(
    kube: KubeProcess, http: Http, ns: str, tmp_path: Path
) -> None:
    kubeconfig = kube.service_account_kubeconfig(ns, "op", create=True, path=tmp_path / "kubeconfig")
    cache = tmp_path / "cache"
    no = _kubectl(kubeconfig, cache, "auth", "can-i", "list", "secrets", "-n", ns)
    assert (no.returncode, no.stdout.strip()) == (1, "no"), no.stderr
    assert _kubectl(kubeconfig, cache, "auth", "can-i", "get", "/healthz").stdout.strip() == "yes"
    whoami = _kubectl(kubeconfig, cache, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert whoami.stdout == _sa_user(ns), whoami.stderr
    _role(http, ns, "secrets", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}])
    _role_binding(http, ns, "secrets", "Role", "secrets", _sa_subject(ns))
    yes = _kubectl(kubeconfig, cache, "auth", "can-i", "list", "secrets", "-n", ns)
    assert (yes.returncode, yes.stdout.strip()) == (0, "yes"), yes.stderr
    assert (
        _kubectl(kubeconfig, cache, "auth", "can-i", "list", "secrets", "-n", "default").stdout.strip()
        == "no"
    )
    listed = _kubectl(kubeconfig, cache, "get", "secrets", "-n", "default")
    assert listed.returncode == 1
    assert (
        f'Error from server (Forbidden): secrets is forbidden: User "{_sa_user(ns)}" cannot list resource '
        '"secrets" in API group "" in the namespace "default"'
    ) in listed.stderr
    # The admin asks on the ServiceAccount's behalf by impersonating it.
    admin = kube.kubeconfig
    as_sa = ("--as", _sa_user(ns))
    assert (
        _kubectl(admin, cache, *as_sa, "auth", "can-i", "list", "secrets", "-n", ns).stdout.strip() == "yes"
    )
    assert (
        _kubectl(admin, cache, *as_sa, "auth", "can-i", "delete", "secrets", "-n", ns).stdout.strip() == "no"
    )
    rules = _kubectl(kubeconfig, cache, "auth", "can-i", "--list", "-n", ns)
    assert any(line.split()[:1] == ["secrets"] and "[list]" in line for line in rules.stdout.splitlines()), (
        rules.stdout
    )


@kubectl_installed
def test_kubectl_creates_tokens_roles_and_bindings(kube: KubeProcess, ns: str, tmp_path: Path) -> None:
    admin, cache = kube.kubeconfig, tmp_path / "cache"
    for args in (
        ("create", "serviceaccount", "bot", "-n", ns),
        ("create", "role", "cm", "--verb=get,list", "--resource=configmaps", "-n", ns),
        ("create", "rolebinding", "cm", "--role=cm", f"--serviceaccount={ns}:bot", "-n", ns),
    ):
        done = _kubectl(admin, cache, *args)
        assert done.returncode == 0, done.stderr
    token = _kubectl(admin, cache, "create", "token", "bot", "-n", ns, "--duration=15m")
    assert token.returncode == 0, token.stderr
    sa = Http(kube.url, token.stdout.strip(), ca=kube.ca)
    assert sa("GET", f"/api/v1/namespaces/{ns}/configmaps")[0] == 200
    assert sa("GET", f"/api/v1/namespaces/{ns}/secrets")[0] == 403


def test_token_requests_are_validated_and_answered_as_a_real_server_does(
    kube: KubeProcess, http: Http, ns: str
) -> None:
    path = f"/api/v1/namespaces/{ns}/serviceaccounts"
    status, body, _ = http("POST", f"{path}/nobody/token", {"spec": {}})
    assert status == 404 and body["message"] == 'serviceaccounts "nobody" not found', body
    _create(http, path, {"metadata": {"name": "op"}})
    status, body, _ = http("POST", f"{path}/op/token", {"spec": {"expirationSeconds": 60}})
    assert status == 422, body
    assert body["message"] == (
        'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 60: '
        "may not specify a duration less than 10 minutes"
    )
    before = time.time()
    answer = _create(
        http, f"{path}/op/token", {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest"}
    )
    assert answer["kind"] == "TokenRequest" and answer["apiVersion"] == "authentication.k8s.io/v1"
    assert answer["metadata"]["name"] == "op" and answer["metadata"]["namespace"] == ns
    assert answer["spec"] == {
        "audiences": ["https://kubernetes.default.svc.cluster.local"],
        "expirationSeconds": 3600,
    }
    expires = calendar.timegm(time.strptime(answer["status"]["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(expires - before - 3600) < 5
    token = answer["status"]["token"]
    # Opaque: nothing of who it is for (a two-letter name can turn up in 64 random characters).
    assert len(token) >= 40 and ns not in token and "serviceaccount" not in token
    assert Http(kube.url, token, ca=kube.ca)("GET", "/api")[0] == 200
    other = _create(http, f"{path}/op/token", {"spec": {}})["status"]["token"]
    assert other != token
    # A token for another audience is no good for the API server.
    vault = _create(http, f"{path}/op/token", {"spec": {"audiences": ["vault"]}})["status"]["token"]
    assert Http(kube.url, vault, ca=kube.ca)("GET", "/api")[0] == 401
    assert http("GET", f"{path}/op/token")[0] == 405


def test_a_token_dies_with_its_service_account_and_bad_tokens_are_401(
    kube: KubeProcess, http: Http, ns: str
) -> None:
    token = kube.service_account_token(ns, "op", create=True)
    sa = Http(kube.url, token, ca=kube.ca)
    assert sa("GET", "/api")[0] == 200
    assert http("DELETE", f"/api/v1/namespaces/{ns}/serviceaccounts/op")[0] == 200
    unauthorized = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    assert sa("GET", "/api")[:2] == (401, unauthorized)
    _create(http, f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "op"}})
    assert sa("GET", "/api")[:2] == (401, unauthorized)  # a namesake is another ServiceAccount
    assert Http(kube.url, "not-a-token", ca=kube.ca)("GET", "/version")[:2] == (401, unauthorized)
    # No credentials at all is the anonymous user: public info only.
    anonymous = Http(kube.url, None, ca=kube.ca)
    assert anonymous("GET", "/version")[0] == 200
    status, body, _ = anonymous("GET", "/api")
    _forbidden(status, body, 'forbidden: User "system:anonymous" cannot get path "/api"')


def test_a_token_bound_to_a_secret_dies_with_the_secret(kube: KubeProcess, http: Http, ns: str) -> None:
    secret = _create(http, f"/api/v1/namespaces/{ns}/secrets", {"metadata": {"name": "anchor"}})
    _create(http, f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "op"}})
    ref = {"kind": "Secret", "apiVersion": "v1", "name": "anchor", "uid": secret["metadata"]["uid"]}
    token = _create(
        http, f"/api/v1/namespaces/{ns}/serviceaccounts/op/token", {"spec": {"boundObjectRef": ref}}
    )
    sa = Http(kube.url, token["status"]["token"], ca=kube.ca)
    assert sa("GET", "/api")[0] == 200
    assert http("DELETE", f"/api/v1/namespaces/{ns}/secrets/anchor")[0] == 200
    assert sa("GET", "/api")[0] == 401
    status, body, _ = http(
        "POST", f"/api/v1/namespaces/{ns}/serviceaccounts/op/token", {"spec": {"boundObjectRef": ref}}
    )
    assert status == 404 and body["message"] == 'secrets "anchor" not found'


def test_the_admin_kubeconfig_can_do_anything(
    kube: KubeProcess, api_client: client.ApiClient, ns: str
) -> None:
    config = kubernetes.config.new_client_from_config(config_file=str(kube.kubeconfig))
    core, rbac = client.CoreV1Api(config), client.RbacAuthorizationV1Api(config)
    core.create_namespaced_secret(ns, {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
    assert [
        s.metadata.name for s in core.list_secret_for_all_namespaces().items if s.metadata.namespace == ns
    ] == ["s"]
    name = f"anything-{_uid()}"
    rbac.create_cluster_role(
        {"metadata": {"name": name}, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}
    )
    review = client.AuthorizationV1Api(config).create_self_subject_access_review(
        {"spec": {"resourceAttributes": {"verb": "delete", "resource": "nodes"}}}
    )
    assert review.status.allowed is True
    whoami = client.AuthenticationV1Api(config).create_self_subject_review({})
    assert whoami.status.user_info.username == "admin" and "system:masters" in whoami.status.user_info.groups
    assert isinstance(kube.denied()["count"], int)


def test_system_masters_need_no_binding() -> None:
    """The privileged group is allowed before RBAC is asked: deleting the cluster-admin binding
    changes nothing for the admin (a stand-in of its own, since this takes a default away)."""
    with KubeProcess() as kube:
        http = Http(kube.url, ca=kube.ca)
        assert http("DELETE", f"{RBAC}/clusterrolebindings/cluster-admin")[0] == 200
        assert http("DELETE", f"{RBAC}/clusterroles/cluster-admin")[0] == 200
        assert http("GET", "/api/v1/secrets")[0] == 200
        assert http("POST", "/api/v1/namespaces", {"metadata": {"name": "still"}})[0] == 201


def test_self_subject_access_reviews_say_which_binding_allowed_it(
    kube: KubeProcess, http: Http, ns: str
) -> None:
    sa = _as_sa(kube, ns)
    _role(http, ns, "r", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}])
    _role_binding(
        http, ns, "rb", "Role", "r", {"kind": "ServiceAccount", "name": "op"}
    )  # namespace defaulted

    def review(**attributes: str) -> dict[str, Any]:
        body = {"spec": {"resourceAttributes": attributes}}
        status, answer, _ = sa("POST", f"{AUTHZ}/selfsubjectaccessreviews", body)
        assert status == 201, answer
        assert answer["kind"] == "SelfSubjectAccessReview" and answer["spec"] == body["spec"]
        result: dict[str, Any] = answer["status"]
        return result

    assert review(namespace=ns, verb="get", resource="configmaps") == {
        "allowed": True,
        "reason": f'RBAC: allowed by RoleBinding "rb/{ns}" of Role "r" to ServiceAccount "op/{ns}"',
    }
    assert review(namespace=ns, verb="list", resource="configmaps") == {"allowed": False}
    assert review(verb="get", resource="configmaps") == {"allowed": False}  # all namespaces
    status, answer, _ = sa("POST", f"{AUTHZ}/selfsubjectaccessreviews", {"spec": {}})
    assert status == 422 and answer["message"] == (
        'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: '
        '"null": exactly one of nonResourceAttributes or resourceAttributes must be specified'
    )
    # A binding to a role that does not exist says so in every refusal it could have allowed.
    _role_binding(http, ns, "dangling", "Role", "missing", _sa_subject(ns))
    assert review(namespace=ns, verb="list", resource="configmaps") == {
        "allowed": False,
        "reason": 'RBAC: role.rbac.authorization.k8s.io "missing" not found',
    }
    status, body, _ = sa("GET", f"/api/v1/namespaces/{ns}/secrets")
    assert status == 403 and body["message"].endswith(
        ': RBAC: role.rbac.authorization.k8s.io "missing" not found'
    )
    # SubjectAccessReview asks about someone else, as given: a user with exactly the groups named.
    attributes = {"namespace": ns, "verb": "get", "resource": "configmaps"}
    question: dict[str, Any] = {"spec": {"user": _sa_user(ns), "resourceAttributes": attributes}}
    assert sa("POST", f"{AUTHZ}/subjectaccessreviews", question)[0] == 403  # only the admin may, here
    status, answer, _ = http("POST", f"{AUTHZ}/subjectaccessreviews", question)
    assert status == 201 and answer["status"]["allowed"] is True
    alice = {"spec": {"user": "alice", "groups": ["readers"], "resourceAttributes": attributes}}
    assert http("POST", f"{AUTHZ}/subjectaccessreviews", alice)[1]["status"] == {"allowed": False}
    _role_binding(http, ns, "readers", "Role", "r", {"kind": "Group", "name": "readers"})
    assert http("POST", f"{AUTHZ}/subjectaccessreviews", alice)[1]["status"] == {
        "allowed": True,
        "reason": f'RBAC: allowed by RoleBinding "readers/{ns}" of Role "r" to Group "readers"',
    }
    local = f"{AUTHZ}/namespaces/{ns}/localsubjectaccessreviews"
    assert http("POST", local, alice)[1]["status"]["allowed"] is True
    elsewhere = {"spec": {**alice["spec"], "resourceAttributes": {**attributes, "namespace": "default"}}}
    status, answer, _ = http("POST", local, elsewhere)
    assert status == 422 and answer["message"].endswith(
        'spec.resourceAttributes.namespace: Invalid value: "default": must match metadata.namespace'
    )
    # Reviews are created, never listed or read back.
    assert http("GET", f"{AUTHZ}/selfsubjectaccessreviews")[0] == 405
    assert sa("GET", f"{AUTHZ}/selfsubjectaccessreviews")[0] == 403


def test_impersonation_needs_permission_to_impersonate(kube: KubeProcess, http: Http, ns: str) -> None:
    sa = _as_sa(kube, ns)
    resp = sa.session.get(kube.url + "/api", headers={"Impersonate-User": "bob"}, verify=sa.verify)
    _forbidden(
        resp.status_code,
        resp.json(),
        f'users "bob" is forbidden: User "{_sa_user(ns)}" cannot impersonate resource "users" in API group "" '
        "at the cluster scope",
    )
    role = f"impersonate-bob-{_uid()}"
    _cluster_role(
        http,
        role,
        [{"apiGroups": [""], "resources": ["users"], "resourceNames": ["bob"], "verbs": ["impersonate"]}],
    )
    _create(
        http,
        f"{RBAC}/clusterrolebindings",
        {
            "metadata": {"name": role},
            "roleRef": {"kind": "ClusterRole", "name": role},
            "subjects": [_sa_subject(ns)],
        },
    )
    whoami = sa.session.post(
        kube.url + "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        json={},
        headers={"Impersonate-User": "bob"},
        verify=sa.verify,
    )
    assert whoami.status_code == 201, whoami.text
    assert whoami.json()["status"]["userInfo"] == {"username": "bob", "groups": ["system:authenticated"]}
    group = sa.session.get(
        kube.url + "/api",
        headers={"Impersonate-User": "bob", "Impersonate-Group": "admins"},
        verify=sa.verify,
    )
    assert group.status_code == 403 and group.json()["message"].startswith('groups "admins" is forbidden: ')


def test_nobody_grants_what_they_do_not_hold(kube: KubeProcess, http: Http, ns: str) -> None:
    sa = _as_sa(kube, ns)
    _role(
        http,
        ns,
        "rbac-writer",
        [
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["roles", "rolebindings"],
                "verbs": ["create"],
            },
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
        ],
    )
    _role_binding(http, ns, "rbac-writer", "Role", "rbac-writer", _sa_subject(ns))
    roles = f"{RBAC}/namespaces/{ns}/roles"
    held = {
        "metadata": {"name": "held"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    }
    assert sa("POST", roles, held)[0] == 201
    wider = {
        "metadata": {"name": "wider"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["get", "list"]}],
    }
    status, body, _ = sa("POST", roles, wider)
    user = _sa_user(ns)
    _forbidden(
        status,
        body,
        f'roles.rbac.authorization.k8s.io "wider" is forbidden: user "{user}" (groups=["system:serviceaccounts" '
        f'"system:serviceaccounts:{ns}" "system:authenticated"]) is attempting to grant RBAC permissions not '
        'currently held:\n{APIGroups:[""], Resources:["configmaps"], Verbs:["list"]}\n'
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}',
    )
    bindings = f"{RBAC}/namespaces/{ns}/rolebindings"
    binding = {"roleRef": {"kind": "ClusterRole", "name": "edit"}, "subjects": [_sa_subject(ns)]}
    status, body, _ = sa("POST", bindings, {"metadata": {"name": "edit"}, **binding})
    assert status == 403 and body["message"].startswith(
        f'rolebindings.rbac.authorization.k8s.io "edit" is forbidden: user "{user}"'
    )
    assert (
        sa(
            "POST",
            bindings,
            {
                "metadata": {"name": "held"},
                "roleRef": {"kind": "Role", "name": "held"},
                "subjects": [_sa_subject(ns, "x")],
            },
        )[0]
        == 201
    )
    status, body, _ = sa(
        "POST", bindings, {"metadata": {"name": "gone"}, "roleRef": {"kind": "Role", "name": "nope"}}
    )
    assert status == 404 and body["message"] == 'role.rbac.authorization.k8s.io "nope" not found'
    # `escalate` on roles lets one write rules one does not hold, `bind` on a role lets one bind it.
    _role(
        http,
        ns,
        "escalator",
        [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]}],
    )
    _role_binding(http, ns, "escalator", "Role", "escalator", _sa_subject(ns))
    assert sa("POST", roles, wider)[0] == 201
    _role(
        http,
        ns,
        "binder",
        [
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["clusterroles"],
                "resourceNames": ["edit"],
                "verbs": ["bind"],
            }
        ],
    )
    _role_binding(http, ns, "binder", "Role", "binder", _sa_subject(ns))
    assert sa("POST", bindings, {"metadata": {"name": "edit"}, **binding})[0] == 201


def test_rbac_objects_are_defaulted_and_validated(http: Http, ns: str) -> None:
    created = _create(
        http,
        f"{RBAC}/namespaces/{ns}/rolebindings",
        {
            "metadata": {"name": "b"},
            "roleRef": {"kind": "Role", "name": "r"},
            "subjects": [{"kind": "User", "name": "u"}],
        },
    )
    assert created["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}
    assert created["subjects"] == [{"kind": "User", "name": "u", "apiGroup": "rbac.authorization.k8s.io"}]
    status, body, _ = http(
        "PATCH",
        f"{RBAC}/namespaces/{ns}/rolebindings/b",
        {"roleRef": {"name": "other"}},
        content_type="application/merge-patch+json",
    )
    assert status == 422 and body["message"] == (
        'RoleBinding.rbac.authorization.k8s.io "b" is invalid: roleRef: Invalid value: '
        'rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", Name:"other"}: cannot change roleRef'
    )
    status, body, _ = http(
        "POST",
        f"{RBAC}/clusterrolebindings",
        {
            "metadata": {"name": f"b-{_uid()}"},
            "roleRef": {"kind": "Role", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "op"}],
        },
    )
    assert status == 422 and body["message"].endswith(
        '[roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole", subjects[0].namespace: Required value]'
    )
    status, body, _ = http(
        "POST",
        f"{RBAC}/namespaces/{ns}/roles",
        {"metadata": {"name": "r"}, "rules": [{"nonResourceURLs": ["/x"], "verbs": ["get"]}]},
    )
    assert status == 422 and "namespaced rules cannot apply to non-resource URLs" in body["message"]
    role = _create(http, f"{RBAC}/clusterroles", {"metadata": {"name": f"system:empty-{_uid()}"}})
    assert role["rules"] is None  # `rules` is never omitted, and ':' is fine in RBAC names


def test_a_watch_is_authorized_once_when_it_starts(kube: KubeProcess, http: Http, ns: str) -> None:
    sa = _as_sa(kube, ns)
    _role(http, ns, "watcher", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["watch"]}])
    _role_binding(http, ns, "watcher", "Role", "watcher", _sa_subject(ns))
    names: list[str] = []
    opened = threading.Event()

    def watch() -> None:
        url = f"{kube.url}/api/v1/namespaces/{ns}/configmaps"
        with sa.session.get(url, params={"watch": "true"}, stream=True, verify=sa.verify, timeout=15) as resp:
            assert resp.status_code == 200, resp.text
            opened.set()
            for line in resp.iter_lines():
                if line:
                    names.append(json.loads(line)["object"]["metadata"]["name"])
                if len(names) == 2:
                    return

    thread = threading.Thread(target=watch)
    thread.start()
    assert opened.wait(10)
    _create(http, f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "first"}})
    eventually(lambda: names == ["first"], "the first event")
    assert http("DELETE", f"{RBAC}/namespaces/{ns}/rolebindings/watcher")[0] == 200
    _create(http, f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "second"}})
    thread.join(15)
    assert names == ["first", "second"]
    assert sa("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=true")[0] == 403  # a new watch is refused


def test_refusals_are_recorded_for_the_admin_to_read(kube: KubeProcess, http: Http, ns: str) -> None:
    sa = _as_sa(kube, ns)
    kube.reset_denied()
    assert kube.denied() == {"count": 0, "unauthorized": 0, "denied": []}
    sa("GET", f"/api/v1/namespaces/{ns}/secrets")
    sa(
        "PATCH",
        f"/api/v1/namespaces/{ns}/configmaps/c/status",
        {},
        content_type="application/merge-patch+json",
    )
    Http(kube.url, "wrong", ca=kube.ca)("GET", "/api")
    record = kube.denied()
    assert record["count"] == 2 and record["unauthorized"] == 1
    first, second = record["denied"]
    assert first == {
        "user": _sa_user(ns),
        "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"],
        "verb": "list",
        "apiGroup": "",
        "resource": "secrets",
        "subresource": "",
        "namespace": ns,
        "name": "",
        "path": f"/api/v1/namespaces/{ns}/secrets",
        "message": f'secrets is forbidden: User "{_sa_user(ns)}" cannot list resource "secrets" in API group "" '
        f'in the namespace "{ns}"',
    }
    assert (second["verb"], second["resource"], second["subresource"], second["name"]) == (
        "patch",
        "configmaps",
        "status",
        "c",
    )
    # Only the admin reads (or resets) the record; it is not part of the Kubernetes API.
    status, body, _ = sa("GET", "/_standin/denied")
    _forbidden(status, body, f'forbidden: User "{_sa_user(ns)}" cannot get path "/_standin/denied"')
    assert sa("POST", "/_standin/denied/reset")[0] == 403
    assert kube.denied()["count"] == 2
    assert http("POST", "/_standin/denied/reset")[1] == {"count": 0, "unauthorized": 0, "denied": []}


@pytest.fixture
def as_sa_kubeconfig(kube: KubeProcess, ns: str, tmp_path: Path) -> Iterator[Path]:
    yield kube.service_account_kubeconfig(ns, "op", create=True, path=tmp_path / "sa-kubeconfig")


def test_a_service_account_kubeconfig_works_with_the_kubernetes_client(
    kube: KubeProcess, http: Http, ns: str, as_sa_kubeconfig: Path
) -> None:
    api = kubernetes.config.new_client_from_config(config_file=str(as_sa_kubeconfig))
    core = client.CoreV1Api(api)
    with pytest.raises(client.ApiException) as refused:
        core.list_namespaced_config_map(ns)
    assert refused.value.status == 403
    _role(http, ns, "cm", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}])
    _role_binding(http, ns, "cm", "Role", "cm", _sa_subject(ns))
    assert core.list_namespaced_config_map(ns).items == []
    _, current = kubernetes.config.list_kube_config_contexts(config_file=str(as_sa_kubeconfig))
    assert current["context"]["namespace"] == ns
