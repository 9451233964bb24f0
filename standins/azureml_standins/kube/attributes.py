"""What a request asks to do, in the terms an authorizer reads: verb, API group, resource,
subresource, namespace and name, or a non-resource path and verb.

It follows the API server's request-info rules, from the URL alone (an unknown resource is still
authorized before it is found missing): `/api/v1/...` and `/apis/{group}/{version}/...` with at
least a resource are resource requests, everything else (discovery, `/version`, `/healthz`, ...)
is a non-resource request whose verb is the lowercased HTTP method. `GET` of a collection is `list`,
or `watch` with `?watch=true`, and a `metadata.name=` field selector names the object; `DELETE` of a
collection is `deletecollection`. `/namespaces/{name}` (and its `status`/`finalize`) is the
namespace `name` itself. One deliberate difference: this stand-in serves `GET .../{name}?watch=true`
as a watch, so it is authorized as `watch` of that name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from azureml_standins.kube import selectors
from azureml_standins.kube.auth import UserInfo

_METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_SPECIAL_VERBS = ("proxy", "watch")


@dataclass(frozen=True)
class Attributes:
    user: UserInfo
    verb: str
    resource_request: bool
    path: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def combined_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def watch_flag(value: str | None) -> bool:
    """How the server reads `?watch=` (and so how it is authorized)."""
    return (value or "").lower() in ("true", "1")


def _valid_path_segment(name: str) -> bool:
    return name not in (".", "..") and "/" not in name and "%" not in name


def from_request(method: str, path: str, query: Mapping[str, str], user: UserInfo) -> Attributes:
    parts = [p for p in path.split("/") if p]
    non_resource = Attributes(user, method.lower(), False, path=path)
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return non_resource
    group = ""
    rest = parts[1:]
    if parts[0] == "apis":
        if len(rest) < 3:
            return non_resource
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    verb = ""
    if rest[0] in _SPECIAL_VERBS and len(rest) >= 2:
        verb, rest = rest[0], rest[1:]
    else:
        verb = _METHOD_VERBS.get(method, "")
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) >= 2 else ""
    subresource = rest[2] if len(rest) >= 3 and verb != "proxy" else ""
    if not name and verb == "get":
        verb = "watch" if watch_flag(query.get("watch")) else "list"
        exact = selectors.exact_name(query.get("fieldSelector"))
        if exact is not None and _valid_path_segment(exact):
            name = exact
    elif name and verb == "get" and not subresource and watch_flag(query.get("watch")):
        verb = "watch"
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(
        user,
        verb,
        True,
        path=path,
        api_group=group,
        api_version=version,
        resource=resource,
        subresource=subresource,
        namespace=namespace,
        name=name,
    )
