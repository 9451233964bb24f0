"""Just enough Kubernetes protobuf to read what kubectl's typed commands send.

`kubectl create secret|configmap|namespace|serviceaccount` encode their object as protobuf
(`application/vnd.kubernetes.protobuf`: the magic `k8s\\0`, then a runtime.Unknown envelope whose
`raw` holds the object). Those are the commands a demo or a README uses most, so the stand-in decodes
these kinds, and only the fields a client may set; other protobuf bodies get 415. So do `kubectl
create role|clusterrole|rolebinding|clusterrolebinding|token` and `kubectl auth can-i|whoami`.
"""

from __future__ import annotations

import base64
from typing import Any

from azureml_standins.kube.errors import ApiError, bad_request

MAGIC = b"k8s\x00"

Schema = dict[int, tuple[str, Any]]

_OWNER_REFERENCE: Schema = {
    1: ("kind", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    5: ("apiVersion", "string"),
    6: ("controller", "bool"),
    7: ("blockOwnerDeletion", "bool"),
}
_OBJECT_META: Schema = {
    1: ("name", "string"),
    2: ("generateName", "string"),
    3: ("namespace", "string"),
    11: ("labels", ("map", "string")),
    12: ("annotations", ("map", "string")),
    13: ("ownerReferences", ("repeated", _OWNER_REFERENCE)),
    14: ("finalizers", ("repeated", "string")),
}
_POLICY_RULE: Schema = {
    1: ("verbs", ("repeated", "string")),
    2: ("apiGroups", ("repeated", "string")),
    3: ("resources", ("repeated", "string")),
    4: ("resourceNames", ("repeated", "string")),
    5: ("nonResourceURLs", ("repeated", "string")),
}
_LABEL_SELECTOR: Schema = {
    1: ("matchLabels", ("map", "string")),
    2: (
        "matchExpressions",
        (
            "repeated",
            {1: ("key", "string"), 2: ("operator", "string"), 3: ("values", ("repeated", "string"))},
        ),
    ),
}
_BINDING: Schema = {
    1: ("metadata", _OBJECT_META),
    2: (
        "subjects",
        (
            "repeated",
            {
                1: ("kind", "string"),
                2: ("apiGroup", "string"),
                3: ("name", "string"),
                4: ("namespace", "string"),
            },
        ),
    ),
    3: ("roleRef", {1: ("apiGroup", "string"), 2: ("kind", "string"), 3: ("name", "string")}),
}
_RESOURCE_ATTRIBUTES: Schema = {
    1: ("namespace", "string"),
    2: ("verb", "string"),
    3: ("group", "string"),
    4: ("version", "string"),
    5: ("resource", "string"),
    6: ("subresource", "string"),
    7: ("name", "string"),
}
_NON_RESOURCE_ATTRIBUTES: Schema = {1: ("path", "string"), 2: ("verb", "string")}
_ACCESS_REVIEW_SPEC: Schema = {
    1: ("resourceAttributes", _RESOURCE_ATTRIBUTES),
    2: ("nonResourceAttributes", _NON_RESOURCE_ATTRIBUTES),
    3: ("user", "string"),
    4: ("groups", ("repeated", "string")),
    6: ("uid", "string"),
}
_RBAC = "rbac.authorization.k8s.io/v1"
_AUTHZ = "authorization.k8s.io/v1"
_AUTHN = "authentication.k8s.io/v1"

_KINDS: dict[tuple[str, str], Schema] = {
    ("v1", "Secret"): {
        1: ("metadata", _OBJECT_META),
        2: ("data", ("map", "bytes")),
        3: ("type", "string"),
        4: ("stringData", ("map", "string")),
        5: ("immutable", "bool"),
    },
    ("v1", "ConfigMap"): {
        1: ("metadata", _OBJECT_META),
        2: ("data", ("map", "string")),
        3: ("binaryData", ("map", "bytes")),
        4: ("immutable", "bool"),
    },
    ("v1", "Namespace"): {
        1: ("metadata", _OBJECT_META),
        2: ("spec", {1: ("finalizers", ("repeated", "string"))}),
    },
    ("v1", "ServiceAccount"): {
        1: ("metadata", _OBJECT_META),
        3: ("imagePullSecrets", ("repeated", {1: ("name", "string")})),
        4: ("automountServiceAccountToken", "bool"),
    },
    (_RBAC, "Role"): {1: ("metadata", _OBJECT_META), 2: ("rules", ("repeated", _POLICY_RULE))},
    (_RBAC, "ClusterRole"): {
        1: ("metadata", _OBJECT_META),
        2: ("rules", ("repeated", _POLICY_RULE)),
        3: ("aggregationRule", {1: ("clusterRoleSelectors", ("repeated", _LABEL_SELECTOR))}),
    },
    (_RBAC, "RoleBinding"): _BINDING,
    (_RBAC, "ClusterRoleBinding"): _BINDING,
    (_AUTHZ, "SelfSubjectAccessReview"): {1: ("metadata", _OBJECT_META), 2: ("spec", _ACCESS_REVIEW_SPEC)},
    (_AUTHZ, "SubjectAccessReview"): {1: ("metadata", _OBJECT_META), 2: ("spec", _ACCESS_REVIEW_SPEC)},
    (_AUTHZ, "LocalSubjectAccessReview"): {1: ("metadata", _OBJECT_META), 2: ("spec", _ACCESS_REVIEW_SPEC)},
    (_AUTHZ, "SelfSubjectRulesReview"): {
        1: ("metadata", _OBJECT_META),
        2: ("spec", {1: ("namespace", "string")}),
    },
    (_AUTHN, "SelfSubjectReview"): {1: ("metadata", _OBJECT_META)},
    (_AUTHN, "TokenRequest"): {
        1: ("metadata", _OBJECT_META),
        2: (
            "spec",
            {
                1: ("audiences", ("repeated", "string")),
                3: (
                    "boundObjectRef",
                    {
                        1: ("kind", "string"),
                        2: ("apiVersion", "string"),
                        3: ("name", "string"),
                        4: ("uid", "string"),
                    },
                ),
                4: ("expirationSeconds", "int"),
            },
        ),
    },
}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise bad_request("truncated protobuf body")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            out.append((number, data[pos : pos + length]))
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise bad_request(f"unsupported protobuf wire type {wire}")
    return out


def _scalar(kind: str, value: int | bytes) -> Any:
    if kind == "bool":
        return bool(value)
    if kind == "int":
        assert isinstance(value, int)
        return value - (1 << 64) if value >= 1 << 63 else value  # int64, two's complement
    assert isinstance(value, bytes)
    if kind == "raw":
        return value
    return value.decode() if kind == "string" else base64.b64encode(value).decode()


def _message(schema: Schema, data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(kind, dict):
            assert isinstance(value, bytes)
            out[name] = _message(kind, value)
        elif isinstance(kind, tuple) and kind[0] == "map":
            assert isinstance(value, bytes)
            entry = dict(_fields(value))
            out.setdefault(name, {})[_scalar("string", entry.get(1, b""))] = _scalar(
                kind[1], entry.get(2, b"")
            )
        elif isinstance(kind, tuple):
            item = _message(kind[1], value) if isinstance(kind[1], dict) else _scalar(kind[1], value)  # type: ignore[arg-type]
            out.setdefault(name, []).append(item)
        else:
            scalar = _scalar(kind, value)
            if scalar != "":
                out[name] = scalar
    return out


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object of one of the kinds above."""
    if not body.startswith(MAGIC):
        raise bad_request("protobuf body without the k8s magic prefix")
    envelope = _message(
        {1: ("typeMeta", {1: ("apiVersion", "string"), 2: ("kind", "string")}), 2: ("raw", "raw")},
        body[len(MAGIC) :],
    )
    api_version = envelope.get("typeMeta", {}).get("apiVersion", "")
    kind = envelope.get("typeMeta", {}).get("kind", "")
    schema = _KINDS.get((api_version, kind))
    if schema is None:
        raise ApiError(
            415,
            f"the stand-in reads protobuf only for {', '.join(k for _, k in _KINDS)}; send {kind or 'this'} as application/json",
        )
    return {"apiVersion": api_version, "kind": kind, **_message(schema, envelope.get("raw", b""))}
