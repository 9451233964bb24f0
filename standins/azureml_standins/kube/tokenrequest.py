"""The TokenRequest subresource: `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`
(what `kubectl create token` sends) answers a token for that ServiceAccount, as a real server:
404 when it does not exist, `expirationSeconds` defaulted to an hour and kept between ten minutes
and 2^32 seconds, `audiences` defaulted to the API server's, optionally bound to a Secret (the
token dies with it). Nothing is stored but the token's digest (`auth.Authenticator`).
"""

from __future__ import annotations

import datetime
from typing import Any

from azureml_standins.kube.auth import API_AUDIENCES, Authenticator
from azureml_standins.kube.errors import bad_request, conflict, invalid, not_found
from azureml_standins.kube.store import Store, now

GROUP = "authentication.k8s.io"
DEFAULT_SECONDS = 3600
MIN_SECONDS = 600
MAX_SECONDS = 1 << 32

Obj = dict[str, Any]


def _stamp(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bound_secret(store: Store, namespace: str, ref: Any) -> tuple[str, str] | None:
    if ref is None:
        return None
    if not isinstance(ref, dict):
        raise bad_request(
            'TokenRequest in version "v1" cannot be handled as a TokenRequest: boundObjectRef must be an object'
        )
    api_version, kind, name = ref.get("apiVersion") or "", ref.get("kind") or "", ref.get("name") or ""
    group, _, version = api_version.rpartition("/")
    if group == "" and kind in ("Pod", "Node"):
        raise not_found(f"{kind.lower()}s", "", name)  # the stand-in runs neither Pods nor Nodes
    if group != "" or kind != "Secret":
        raise bad_request(f"cannot bind token to object of type {group}/{version}, Kind={kind}")
    info = store.registry.get("", "v1", "secrets")
    assert info is not None
    secret = store.get(info, namespace, name)
    uid = secret["metadata"]["uid"]
    if ref.get("uid") and ref["uid"] != uid:
        raise conflict(
            "Secret",
            "",
            name,
            f"the UID in the bound object reference ({ref['uid']}) does not match the UID in record ({uid}). "
            "The object might have been deleted and then recreated",
        )
    return name, uid


def create_token(store: Store, authenticator: Authenticator, namespace: str, name: str, body: Any) -> Obj:
    if not isinstance(body, dict) or not isinstance(body.get("metadata") or {}, dict):
        raise bad_request("the body of the request must be a JSON object with an object `metadata`")
    if body.get("kind") not in (None, "", "TokenRequest"):
        raise bad_request(
            f"the kind in the data ({body['kind']}) does not match the expected kind (TokenRequest)"
        )
    meta = dict(body.get("metadata") or {})
    if meta.get("namespace") not in (None, "", namespace):
        raise bad_request(
            f'namespace mismatch, request namespace "{namespace}" does not match token request namespace "{meta["namespace"]}"'
        )
    info = store.registry.get("", "v1", "serviceaccounts")
    assert info is not None
    account = store.get(info, namespace, name)  # 404 `serviceaccounts "name" not found`
    spec = dict(body.get("spec") or {})
    seconds = spec.get("expirationSeconds")
    if seconds is None:
        seconds = DEFAULT_SECONDS
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise bad_request(
            'TokenRequest in version "v1" cannot be handled as a TokenRequest: spec.expirationSeconds must be an integer'
        )
    audiences = spec.get("audiences") or list(API_AUDIENCES)
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise bad_request(
            'TokenRequest in version "v1" cannot be handled as a TokenRequest: spec.audiences must be strings'
        )
    errors = []
    if seconds < MIN_SECONDS:
        errors.append(
            f"spec.expirationSeconds: Invalid value: {seconds}: may not specify a duration less than 10 minutes"
        )
    if seconds > MAX_SECONDS:
        errors.append(
            f"spec.expirationSeconds: Invalid value: {seconds}: may not specify a duration larger than 2^32 seconds"
        )
    if errors:
        raise invalid("TokenRequest", GROUP, "", errors)
    bound = _bound_secret(store, namespace, spec.get("boundObjectRef"))
    token, expires = authenticator.issue(
        namespace, name, account["metadata"]["uid"], seconds, tuple(audiences), bound_secret=bound
    )
    meta.update({"name": meta.get("name") or name, "namespace": namespace, "creationTimestamp": now()})
    spec.update({"audiences": audiences, "expirationSeconds": seconds})
    return {
        "kind": "TokenRequest",
        "apiVersion": f"{GROUP}/v1",
        "metadata": meta,
        "spec": spec,
        "status": {"token": token, "expirationTimestamp": _stamp(expires)},
    }
