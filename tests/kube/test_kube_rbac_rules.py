"""The pieces of RBAC without a server: how a request becomes attributes, how a rule matches
them, when a token stops authenticating, what impersonation makes of a user, and how the
escalation check decides and words what is missing."""

from __future__ import annotations

import pytest

from azureml_standins.kube import impersonation
from azureml_standins.kube.attributes import Attributes, from_request
from azureml_standins.kube.auth import ADMIN, ADMIN_TOKEN, ANONYMOUS, Authenticator, UserInfo
from azureml_standins.kube.errors import ApiError
from azureml_standins.kube.escalation import covers, describe, missing_rules
from azureml_standins.kube.rbac import Rule

BOB = UserInfo("bob", ("system:authenticated",))


def _attrs(method: str, path: str, **query: str) -> Attributes:
    return from_request(method, path, query, BOB)


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/n/configmaps", {}, ("list", "", "configmaps", "", "n", "")),
        (
            "GET",
            "/api/v1/namespaces/n/configmaps",
            {"watch": "true"},
            ("watch", "", "configmaps", "", "n", ""),
        ),
        ("GET", "/api/v1/namespaces/n/configmaps", {"watch": "1"}, ("watch", "", "configmaps", "", "n", "")),
        (
            "GET",
            "/api/v1/namespaces/n/configmaps/c",
            {"watch": "true"},
            ("watch", "", "configmaps", "", "n", "c"),
        ),
        (
            "GET",
            "/api/v1/namespaces/n/configmaps",
            {"fieldSelector": "type=x,metadata.name=c"},
            ("list", "", "configmaps", "", "n", "c"),
        ),
        (
            "GET",
            "/api/v1/configmaps",
            {"fieldSelector": "metadata.name!=c"},
            ("list", "", "configmaps", "", "", ""),
        ),
        ("HEAD", "/api/v1/namespaces/n/secrets/s", {}, ("get", "", "secrets", "", "n", "s")),
        ("DELETE", "/api/v1/namespaces/n/secrets", {}, ("deletecollection", "", "secrets", "", "n", "")),
        ("DELETE", "/api/v1/namespaces/n/secrets/s", {}, ("delete", "", "secrets", "", "n", "s")),
        ("PUT", "/api/v1/namespaces/n", {}, ("update", "", "namespaces", "", "n", "n")),
        ("PUT", "/api/v1/namespaces/n/finalize", {}, ("update", "", "namespaces", "finalize", "n", "n")),
        ("GET", "/api/v1/namespaces", {}, ("list", "", "namespaces", "", "", "")),
        (
            "POST",
            "/api/v1/namespaces/n/serviceaccounts/sa/token",
            {},
            ("create", "", "serviceaccounts", "token", "n", "sa"),
        ),
        (
            "PATCH",
            "/apis/azureml.dev/v1alpha1/namespaces/n/onlineendpoints/e/status",
            {},
            ("patch", "azureml.dev", "onlineendpoints", "status", "n", "e"),
        ),
        (
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            {},
            ("create", "rbac.authorization.k8s.io", "clusterroles", "", "", ""),
        ),
    ],
)
def test_requests_become_the_attributes_a_real_server_authorizes(
    method: str, path: str, query: dict[str, str], expected: tuple[str, ...]
) -> None:
    a = from_request(method, path, query, BOB)
    assert a.resource_request
    assert (a.verb, a.api_group, a.resource, a.subresource, a.namespace, a.name) == expected


@pytest.mark.parametrize(
    "path", ["/api", "/api/v1", "/apis", "/apis/azureml.dev", "/apis/azureml.dev/v1", "/version", "/"]
)
def test_discovery_and_the_rest_are_non_resource_requests(path: str) -> None:
    a = _attrs("GET", path)
    assert not a.resource_request and (a.verb, a.path) == ("get", path)
    assert _attrs("POST", path).verb == "post"


def test_rules_match_verbs_groups_resources_subresources_names_and_paths() -> None:
    status = _attrs("PATCH", "/apis/azureml.dev/v1alpha1/namespaces/n/onlineendpoints/e/status")
    main = _attrs("PATCH", "/apis/azureml.dev/v1alpha1/namespaces/n/onlineendpoints/e")
    endpoints = Rule(("patch",), ("azureml.dev",), ("onlineendpoints",))
    assert endpoints.allows(main) and not endpoints.allows(status)
    assert Rule(("patch",), ("azureml.dev",), ("onlineendpoints/status",)).allows(status)
    assert Rule(("patch",), ("azureml.dev",), ("*/status",)).allows(status)
    assert not Rule(("patch",), ("azureml.dev",), ("*/status",)).allows(main)
    assert Rule(("patch",), ("azureml.dev",), ("*",)).allows(status)  # `*` covers subresources too
    assert Rule(("*",), ("*",), ("*",)).allows(status)
    assert not Rule(("patch",), ("",), ("onlineendpoints",)).allows(main)  # another group
    assert not Rule(("get",), ("azureml.dev",), ("onlineendpoints",)).allows(main)
    named = Rule(("get", "list"), ("",), ("secrets",), ("s",))
    assert named.allows(_attrs("GET", "/api/v1/namespaces/n/secrets/s"))
    assert not named.allows(_attrs("GET", "/api/v1/namespaces/n/secrets/t"))
    assert not named.allows(_attrs("GET", "/api/v1/namespaces/n/secrets"))
    assert named.allows(_attrs("GET", "/api/v1/namespaces/n/secrets", fieldSelector="metadata.name=s"))
    discovery = Rule(("get",), non_resource_urls=("/apis/*", "/healthz"))
    assert discovery.allows(_attrs("GET", "/apis/azureml.dev/v1"))
    assert discovery.allows(_attrs("GET", "/apis/"))
    assert not discovery.allows(_attrs("GET", "/apis"))
    assert not discovery.allows(_attrs("GET", "/healthz/etcd"))
    assert not discovery.allows(_attrs("POST", "/healthz"))
    assert not discovery.allows(_attrs("GET", "/api/v1/namespaces/n/configmaps"))  # a resource request


def test_tokens_expire_and_only_bearer_tokens_count() -> None:
    now = [1000.0]
    accounts = {("n", "sa"): "uid-1"}
    auth = Authenticator(
        lambda ns, name: accounts.get((ns, name)), lambda ns, name: None, clock=lambda: now[0]
    )
    token, expires = auth.issue("n", "sa", "uid-1", 600, ("https://kubernetes.default.svc.cluster.local",))
    assert expires == 1600.0
    user = auth.authenticate(f"Bearer {token}")
    assert user.name == "system:serviceaccount:n:sa" and user.uid == "uid-1"
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:n", "system:authenticated")
    assert auth.authenticate(f"bearer {token} trailing") == user
    now[0] = 1599.0
    assert auth.authenticate_token(token) == user
    now[0] = 1600.0
    assert auth.authenticate_token(token) is None
    with pytest.raises(ApiError) as refused:
        auth.authenticate(f"Bearer {token}")
    assert (refused.value.code, refused.value.reason, refused.value.message) == (
        401,
        "Unauthorized",
        "Unauthorized",
    )
    assert auth.authenticate(f"Bearer {ADMIN_TOKEN}") == ADMIN
    for header in (None, "", "Basic YWRtaW46YWRtaW4=", "Bearer", f"Bearer  {ADMIN_TOKEN}"):
        assert auth.authenticate(header) == ANONYMOUS, header


def test_impersonation_fills_in_groups_as_a_real_server() -> None:
    user, checks = impersonation.impersonate(BOB, "system:serviceaccount:n:sa", [], None, {})
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:n", "system:authenticated")
    assert [(c.verb, c.resource, c.namespace, c.name) for c in checks] == [
        ("impersonate", "serviceaccounts", "n", "sa")
    ]
    user, checks = impersonation.impersonate(BOB, "alice", ["devs"], "u1", {"scopes": ["a"]})
    assert (user.name, user.groups, user.uid) == ("alice", ("devs", "system:authenticated"), "u1")
    assert [(c.api_group, c.resource, c.subresource, c.name) for c in checks] == [
        ("", "users", "", "alice"),
        ("", "groups", "", "devs"),
        ("authentication.k8s.io", "userextras", "scopes", "a"),
        ("authentication.k8s.io", "uids", "", "u1"),
    ]
    assert impersonation.impersonate(BOB, "system:anonymous", [], None, {})[0].groups == (
        "system:unauthenticated",
    )
    assert impersonation.impersonate(BOB, "alice", ["system:unauthenticated"], None, {})[0].groups == (
        "system:unauthenticated",
    )
    with pytest.raises(impersonation.WithoutUser):
        impersonation.impersonate(BOB, None, ["devs"], None, {})


def test_escalation_coverage_and_its_wording() -> None:
    held = [
        Rule(("get", "list"), ("",), ("configmaps",)),
        Rule(("get",), ("apps",), ("*/status",)),
        Rule(("get",), ("",), ("secrets",), ("s",)),
        Rule(("get",), non_resource_urls=("/apis/*",)),
    ]
    assert not missing_rules(held, [Rule(("get",), ("",), ("configmaps",))])
    assert not missing_rules(held, [Rule(("get",), ("apps",), ("deployments/status",))])
    assert not missing_rules(held, [Rule(("get",), ("",), ("secrets",), ("s",))])
    assert not missing_rules(held, [Rule(("get",), non_resource_urls=("/apis/azureml.dev",))])
    assert missing_rules(held, [Rule(("get",), ("",), ("secrets",))]) == [Rule(("get",), ("",), ("secrets",))]
    assert missing_rules(held, [Rule(("get",), ("apps",), ("deployments",))])
    assert not covers(Rule(("*",), ("*",), ("*",)), Rule(("get",), non_resource_urls=("/x",)))
    assert describe(Rule(("get", "list"), ("",), ("secrets",), ("a", "b"))) == (
        '{APIGroups:[""], Resources:["secrets"], ResourceNames:["a" "b"], Verbs:["get" "list"]}'
    )
    assert describe(Rule(("get",), non_resource_urls=("/x",))) == '{NonResourceURLs:["/x"], Verbs:["get"]}'
