"""The review kinds: created to ask a question, answered at once, never stored.

* `SelfSubjectAccessReview` (authorization.k8s.io/v1): may I do this? `kubectl auth can-i`.
* `SubjectAccessReview` / `LocalSubjectAccessReview`: may that user (with exactly the groups
  given) do this, cluster-wide / in this namespace?
* `SelfSubjectRulesReview`: what may I do in this namespace? `kubectl auth can-i --list`.
* `SelfSubjectReview` (authentication.k8s.io/v1): who am I? `kubectl auth whoami`.

Answers are the request with `status` filled in, as a real server returns them (201 Created).
RBAC never denies outright, so `status.denied` is never set; `status.reason` says which binding
allowed the request, or why rules could not be found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from azureml_standins.kube.attributes import Attributes
from azureml_standins.kube.auth import UserInfo
from azureml_standins.kube.errors import bad_request, invalid
from azureml_standins.kube.rbac import ALL, Authorizer, Rule, aggregate
from azureml_standins.kube.store import now

AUTHZ = "authorization.k8s.io"
AUTHN = "authentication.k8s.io"

Obj = dict[str, Any]


def _go_struct(kind: str, value: Any) -> str:
    if not isinstance(value, dict):
        return '"null"'
    fields = ", ".join(f'{k[:1].upper()}{k[1:]}:"{v}"' for k, v in value.items())
    return f"authorization.{kind}{{{fields}}}"


def _attributes_errors(spec: Obj) -> list[str]:
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if resource is not None and non_resource is not None:
        return [
            f"spec.nonResourceAttributes: Invalid value: {_go_struct('NonResourceAttributes', non_resource)}: "
            "cannot be specified in combination with resourceAttributes"
        ]
    if resource is None and non_resource is None:
        return [
            'spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or '
            "resourceAttributes must be specified"
        ]
    return []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def attributes_of(spec: Obj, user: UserInfo) -> Attributes:
    resource = spec.get("resourceAttributes")
    if isinstance(resource, dict):
        return Attributes(
            user,
            _str(resource.get("verb")),
            True,
            api_group=_str(resource.get("group")),
            api_version=_str(resource.get("version")),
            resource=_str(resource.get("resource")),
            subresource=_str(resource.get("subresource")),
            namespace=_str(resource.get("namespace")),
            name=_str(resource.get("name")),
        )
    non_resource = spec.get("nonResourceAttributes") or {}
    return Attributes(user, _str(non_resource.get("verb")), False, path=_str(non_resource.get("path")))


def _answer(kind: str, group: str, body: Obj, status: Obj, *, spec: Obj | None = None) -> Obj:
    meta = dict(body.get("metadata") or {})
    meta.setdefault("creationTimestamp", None)
    out: Obj = {"kind": kind, "apiVersion": f"{group}/v1", "metadata": meta}
    out["spec"] = (body.get("spec") or {}) if spec is None else spec
    out["status"] = status
    return out


def _access_status(authorizer: Authorizer, attrs: Attributes) -> Obj:
    decision = authorizer.authorize(attrs)
    status: Obj = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return status


def _spec(kind: str, group: str, body: Obj) -> Obj:
    spec = body.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise bad_request(f'{kind} in version "v1" cannot be handled as a {kind}: spec must be an object')
    return spec


def self_subject_access_review(
    body: Obj, user: UserInfo, authorizer: Authorizer, namespace: str | None
) -> Obj:
    kind = "SelfSubjectAccessReview"
    spec = _spec(kind, AUTHZ, body)
    errors = _attributes_errors(spec)
    if errors:
        raise invalid(kind, AUTHZ, "", errors)
    return _answer(kind, AUTHZ, body, _access_status(authorizer, attributes_of(spec, user)))


def _subject_of(spec: Obj) -> UserInfo:
    groups = spec.get("groups") or []
    extra = spec.get("extra") or {}
    return UserInfo(
        _str(spec.get("user")),
        tuple(g for g in groups if isinstance(g, str)),
        _str(spec.get("uid")),
        {k: tuple(v) for k, v in extra.items() if isinstance(v, list)} if isinstance(extra, dict) else {},
    )


def _subject_errors(spec: Obj) -> list[str]:
    if not spec.get("user") and not spec.get("groups"):
        return [
            f'spec.user: Invalid value: "{_str(spec.get("user"))}": at least one of user or group must be specified'
        ]
    return []


def subject_access_review(body: Obj, user: UserInfo, authorizer: Authorizer, namespace: str | None) -> Obj:
    kind = "SubjectAccessReview"
    spec = _spec(kind, AUTHZ, body)
    errors = _attributes_errors(spec) + _subject_errors(spec)
    if errors:
        raise invalid(kind, AUTHZ, "", errors)
    return _answer(kind, AUTHZ, body, _access_status(authorizer, attributes_of(spec, _subject_of(spec))))


def local_subject_access_review(
    body: Obj, user: UserInfo, authorizer: Authorizer, namespace: str | None
) -> Obj:
    kind = "LocalSubjectAccessReview"
    assert namespace is not None
    spec = _spec(kind, AUTHZ, body)
    meta = body.setdefault("metadata", {})
    if meta.get("namespace") not in (None, "", namespace):
        raise bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    meta["namespace"] = namespace
    errors = _attributes_errors(spec) + _subject_errors(spec)
    resource = spec.get("resourceAttributes")
    if isinstance(resource, dict) and resource.get("namespace") != namespace:
        errors.append(
            f'spec.resourceAttributes.namespace: Invalid value: "{_str(resource.get("namespace"))}": must match metadata.namespace'
        )
    if spec.get("nonResourceAttributes") is not None:
        errors.append(
            f"spec.nonResourceAttributes: Invalid value: {_go_struct('NonResourceAttributes', spec['nonResourceAttributes'])}: "
            "disallowed on this kind of request"
        )
    if errors:
        raise invalid(kind, AUTHZ, "", errors)
    return _answer(kind, AUTHZ, body, _access_status(authorizer, attributes_of(spec, _subject_of(spec))))


def _resource_rule(rule: Rule) -> Obj:
    out: Obj = {
        "verbs": list(rule.verbs),
        "apiGroups": list(rule.api_groups),
        "resources": list(rule.resources),
    }
    if rule.resource_names:
        out["resourceNames"] = list(rule.resource_names)
    return out


def self_subject_rules_review(
    body: Obj, user: UserInfo, authorizer: Authorizer, namespace: str | None
) -> Obj:
    kind = "SelfSubjectRulesReview"
    spec = _spec(kind, AUTHZ, body)
    target = _str(spec.get("namespace"))
    if not target:
        raise bad_request("no namespace on request")
    rules, errors = authorizer.rules_for(user, target)
    if user.privileged:  # what the privileged-group authorizer reports, ahead of RBAC's rules
        rules = [Rule((ALL,), (ALL,), (ALL,)), Rule((ALL,), non_resource_urls=(ALL,)), *rules]
    status: Obj = {
        "resourceRules": [_resource_rule(r) for r in rules if r.resources],
        "nonResourceRules": [
            {"verbs": list(r.verbs), "nonResourceURLs": list(r.non_resource_urls)}
            for r in rules
            if r.non_resource_urls
        ],
        "incomplete": False,
    }
    if errors:
        status["evaluationError"] = aggregate(errors)
    return _answer(kind, AUTHZ, {"metadata": body.get("metadata")}, status, spec={})


def self_subject_review(body: Obj, user: UserInfo, authorizer: Authorizer, namespace: str | None) -> Obj:
    meta = dict(body.get("metadata") or {})
    meta["creationTimestamp"] = now()
    return {
        "kind": "SelfSubjectReview",
        "apiVersion": f"{AUTHN}/v1",
        "metadata": meta,
        "status": {"userInfo": user.as_json()},
    }


Review = Callable[[Obj, UserInfo, Authorizer, str | None], Obj]

# (group, plural) -> how to answer it.
REVIEWS: dict[tuple[str, str], Review] = {
    (AUTHZ, "selfsubjectaccessreviews"): self_subject_access_review,
    (AUTHZ, "subjectaccessreviews"): subject_access_review,
    (AUTHZ, "localsubjectaccessreviews"): local_subject_access_review,
    (AUTHZ, "selfsubjectrulesreviews"): self_subject_rules_review,
    (AUTHN, "selfsubjectreviews"): self_subject_review,
}
