"""The operator's few direct Kubernetes API calls (kopf does the rest): read a credential Secret,
keep an endpoint's keys Secret in step, and record an intent in an object's status before an Azure
create. The kubernetes client is synchronous, so each call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal, TypedDict, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from azureml_operator.api.common import GROUP, VERSION
from azureml_operator.api.kinds import KindInfo
from azureml_operator.reconcilers.context import (
    KubeForbidden,
    ObjectGone,
    ObjectNotOwned,
    SecretNotOwned,
    SecretNotText,
)

MANAGED_BY = {"app.kubernetes.io/managed-by": "azureml-operator"}
# The SHA-256 of a published Secret's data, for reloaders (and pod-template checksums) that restart
# consumers when it changes; it changes exactly when the data does.
KEYS_HASH_ANNOTATION = f"{GROUP}/keys-hash"


class _CustomObjectMeta(TypedDict, total=False):
    name: str
    namespace: str  # absent on cluster-scoped objects
    uid: str
    resourceVersion: str
    ownerReferences: list[dict[str, Any]]
    deletionTimestamp: str


class _CustomObject(TypedDict, total=False):
    """The little of a custom object's JSON read here (the client returns it untyped)."""

    metadata: _CustomObjectMeta
    spec: dict[str, Any]
    status: dict[str, Any]


class _CustomObjectList(TypedDict, total=False):
    items: list[_CustomObject]


_CONFLICT_RETRIES = 3


class KubeRequestFailed(ApiException):
    """The API server refused a request. An `ApiException` (callers may catch that) whose text is one
    bounded line: the status and the server's own message. `str(ApiException)` is the whole HTTP
    exchange, headers included, and that would end up in a condition and an Event."""

    def __init__(self, doing: str, err: ApiException) -> None:
        super().__init__(status=err.status, reason=err.reason)
        self.body = err.body
        self.headers = err.headers
        self.message = _one_line(f"{doing}: {err.status} {err.reason or ''}: {_status_message(err)}")

    def __str__(self) -> str:
        return self.message


_MAX_MESSAGE = 512


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_MESSAGE else flat[: _MAX_MESSAGE - 1] + "…"


def _status_message(err: ApiException) -> str:
    """The `message` of the metav1.Status the server answered with, if it did."""
    try:
        status = json.loads(err.body or "")
    except (TypeError, ValueError):
        return ""
    message = status.get("message") if isinstance(status, dict) else None
    return message if isinstance(message, str) else ""


def _kept_changing(what: str) -> KubeRequestFailed:
    """Every read-compare-replace round lost to another writer."""
    return KubeRequestFailed(
        f"updating {what}",
        ApiException(status=409, reason=f"Conflict (changed {_CONFLICT_RETRIES} times while being written)"),
    )


class KubeRequestForbidden(KubeRequestFailed, KubeForbidden):
    """403: the operator's RBAC lacks a verb. Both an `ApiException` and the runtime's `KubeForbidden`,
    which the runtime reports in the object's condition."""


def refusal(doing: str, err: ApiException) -> KubeRequestFailed:
    return KubeRequestForbidden(doing, err) if err.status == 403 else KubeRequestFailed(doing, err)


@contextmanager
def _refused(doing: str) -> Iterator[None]:
    try:
        yield
    except KubeRequestFailed:
        raise
    except ApiException as err:
        raise refusal(doing, err) from None


def _raw(data: Mapping[str, str | bytes] | None) -> dict[str, bytes | None]:
    """Secret data as the bytes it holds (None: not even base64, which a real server never sends)."""
    raw: dict[str, bytes | None] = {}
    for key, value in (data or {}).items():
        try:
            raw[key] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw[key] = None
    return raw


def _decode(namespace: str, name: str, data: Mapping[str, str | bytes] | None) -> dict[str, str]:
    text: dict[str, str] = {}
    bad: list[str] = []
    for key, value in _raw(data).items():
        try:
            if value is None:
                raise ValueError(key)
            text[key] = value.decode("utf-8")
        except ValueError:  # UnicodeDecodeError is one
            bad.append(key)
    if bad:
        raise SecretNotText(namespace, name, sorted(bad))
    return text


def keys_hash(data: Mapping[str, str]) -> str:
    """`sha256:<hex>` of the data, keys sorted, each key and value length-prefixed (no two data
    sets share an input)."""
    digest = hashlib.sha256()
    for key in sorted(data):
        for part in (key.encode(), data[key].encode()):
            digest.update(len(part).to_bytes(8, "big") + part)
    return f"sha256:{digest.hexdigest()}"


def _encode(data: Mapping[str, str]) -> dict[str, str | bytes]:
    """Secret `data` as the wire has it, in the value type `V1Secret.data` declares."""
    return {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}


class KubeApi:
    def __init__(self, api_client: client.ApiClient | None = None) -> None:
        self._api_client = api_client or client.ApiClient()
        self._core = client.CoreV1Api(self._api_client)
        self._custom = client.CustomObjectsApi(self._api_client)

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """The Secret's data as text; None if there is no such Secret; `SecretNotText` if a value is
        not UTF-8."""

        def read() -> dict[str, str] | None:
            try:
                secret = self._core.read_namespaced_secret(name, namespace)
            except ApiException as err:
                if err.status == 404:
                    return None
                raise refusal(f"reading Secret {namespace}/{name}", err) from None
            return _decode(namespace, name, secret.data)

        return await asyncio.to_thread(read)

    async def apply_owned_secret(
        self, namespace: str, name: str, owner: dict[str, Any], data: dict[str, str]
    ) -> Literal["created", "updated", "unchanged"]:
        """Make Secret `name` hold exactly `data`, owned by `owner` (garbage-collected with it), with
        annotation `azureml.dev/keys-hash` the hash of that data. Writes only when something differs.

        The comparison is of bytes, so a value that is not text is simply different. The write is a
        replace carrying the resourceVersion just read: it sets `data` to exactly these keys (a
        strategic-merge or merge patch of `data` only adds and replaces unless every extra key is
        nulled, and one added meanwhile would survive), it keeps everything else as read (others'
        labels and annotations), and the server refuses it with 409 if the Secret changed since the
        read, in which case it is read again."""
        want = {k: v.encode() for k, v in data.items()}
        hashed = {KEYS_HASH_ANNOTATION: keys_hash(data)}

        def apply() -> Literal["created", "updated", "unchanged"]:
            for _ in range(_CONFLICT_RETRIES):
                try:
                    secret = self._core.read_namespaced_secret(name, namespace)
                except ApiException as err:
                    if err.status != 404:
                        raise refusal(f"reading Secret {namespace}/{name}", err) from None
                    body = client.V1Secret(
                        metadata=client.V1ObjectMeta(
                            name=name,
                            namespace=namespace,
                            labels=dict(MANAGED_BY),
                            annotations=dict(hashed),
                            owner_references=[client.V1OwnerReference.model_validate(owner)],
                        ),
                        type="Opaque",
                        data=_encode(data),
                    )
                    try:
                        self._core.create_namespaced_secret(namespace, body)
                    except ApiException as err:
                        if err.status == 409:  # created meanwhile: look at it
                            continue
                        raise refusal(f"creating Secret {namespace}/{name}", err) from None
                    return "created"
                assert secret.metadata is not None  # the API server always returns it
                refs = secret.metadata.owner_references or []
                if not any(ref.uid == owner["uid"] for ref in refs):
                    raise SecretNotOwned(
                        f"Secret {name} already exists and is not owned by this object; "
                        "delete it or set spec.keysSecretName to another name"
                    )
                annotations = dict(secret.metadata.annotations or {})
                same = _raw(secret.data) == want
                if same and annotations.get(KEYS_HASH_ANNOTATION) == hashed[KEYS_HASH_ANNOTATION]:
                    return "unchanged"
                secret.data = _encode(data)
                # Only the hash of a Secret published before it existed (an upgrade) is new: that
                # is no change of keys, and says so.
                secret.metadata.annotations = {**annotations, **hashed}
                try:
                    self._core.replace_namespaced_secret(name, namespace, secret)
                except ApiException as err:
                    if err.status == 409:  # written since the read
                        continue
                    raise refusal(f"updating Secret {namespace}/{name}", err) from None
                return "unchanged" if same else "updated"
            raise _kept_changing(f"Secret {namespace}/{name}")

        return await asyncio.to_thread(apply)

    async def apply_owned_object(
        self, info: KindInfo, namespace: str, name: str, owner: dict[str, Any], spec: dict[str, Any]
    ) -> Literal["created", "updated", "unchanged"]:
        """Make custom object `name` of this API group have exactly `spec`, owned by `owner` (so it is
        garbage-collected with it): a child object, such as the ServerlessEndpoint of a FineTuneJob.
        Writes only when the spec differs; a replace carrying the resourceVersion read, retried
        when the object changed meanwhile. One being deleted is left to go (and made again later)."""
        plural, what = info.plural, f"{info.kind} {namespace}/{name}"

        def apply() -> Literal["created", "updated", "unchanged"]:
            for _ in range(_CONFLICT_RETRIES):
                try:
                    current = cast(
                        _CustomObject,
                        self._custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name),
                    )
                except ApiException as err:
                    if err.status != 404:
                        raise refusal(f"reading {what}", err) from None
                    body = {
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "kind": info.kind,
                        "metadata": {
                            "name": name,
                            "namespace": namespace,
                            "labels": dict(MANAGED_BY),
                            "ownerReferences": [dict(owner)],
                        },
                        "spec": spec,
                    }
                    try:
                        self._custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)
                    except ApiException as err:
                        if err.status == 409:  # created meanwhile: look at it
                            continue
                        raise refusal(f"creating {what}", err) from None
                    return "created"
                meta = current.get("metadata") or {}
                if not any(ref.get("uid") == owner["uid"] for ref in meta.get("ownerReferences") or []):
                    raise ObjectNotOwned(
                        f"{what} already exists and is not owned by {owner['kind']} {owner['name']}; "
                        "delete it or choose another name"
                    )
                if current.get("spec") == spec or meta.get("deletionTimestamp"):
                    return "unchanged"
                replacement = {**current, "spec": spec}
                try:
                    self._custom.replace_namespaced_custom_object(
                        GROUP, VERSION, namespace, plural, name, replacement
                    )
                except ApiException as err:
                    if err.status == 409:  # written since the read
                        continue
                    raise refusal(f"updating {what}", err) from None
                return "updated"
            raise _kept_changing(what)

        return await asyncio.to_thread(apply)

    async def patch_status(
        self, plural: str, namespace: str, name: str, fields: dict[str, Any], uid: str | None = None
    ) -> str | None:
        """Merge `fields` into the object's status; the object's resourceVersion after the write. With
        `uid`, the write is for that object only: the API server refuses it if the name now belongs
        to a newer object."""
        body: dict[str, Any] = {"status": fields}
        if uid:
            body["metadata"] = {"uid": uid}

        def patch() -> str | None:
            try:
                written = cast(
                    _CustomObject,
                    self._custom.patch_namespaced_custom_object_status(
                        GROUP, VERSION, namespace, plural, name, body
                    ),
                )
            except ApiException as err:
                # 404: deleted; 409 (422 on some servers): the uid precondition, a newer object.
                if uid and err.status in (404, 409, 422):
                    raise ObjectGone(f"{plural} {namespace}/{name} (uid {uid}) is gone") from None
                raise refusal(f"patching the status of {plural} {namespace}/{name}", err) from None
            return (written.get("metadata") or {}).get("resourceVersion")

        return await asyncio.to_thread(patch)

    async def read_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object of that name as the API server holds it now, or None if there is none."""

        def read() -> dict[str, Any] | None:
            try:
                return cast(
                    dict[str, Any],
                    self._custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name),
                )
            except ApiException as err:
                if err.status == 404:
                    return None
                raise refusal(f"reading {plural} {namespace}/{name}", err) from None

        return await asyncio.to_thread(read)

    async def object_uid(self, plural: str, namespace: str, name: str) -> str | None:
        """The uid of the object of that name now, or None if there is none."""
        obj = await self.read_object(plural, namespace, name)
        return None if obj is None else str(obj["metadata"]["uid"])

    async def claims(self, plural: str, arm_id: str) -> list[tuple[str, str, str]]:
        """(namespace, name, uid) of every object of the kind, in any namespace, whose status
        records `arm_id`. Raises when the operator may not list the whole cluster."""

        def scan() -> list[tuple[str, str, str]]:
            with _refused(f"listing {plural} in all namespaces"):
                listed = cast(
                    _CustomObjectList, self._custom.list_cluster_custom_object(GROUP, VERSION, plural)
                )
            wanted = arm_id.lower()
            return [
                (o["metadata"].get("namespace", ""), o["metadata"]["name"], o["metadata"]["uid"])
                for o in listed.get("items", [])
                if str((o.get("status") or {}).get("azureResourceId") or "").lower() == wanted
            ]

        return await asyncio.to_thread(scan)

    async def set_secret_finalizer(self, namespace: str, name: str, finalizer: str, present: bool) -> None:
        """Add or remove one finalizer on a Secret, leaving the others; nothing when already so, or
        when there is no such Secret."""

        def apply() -> None:
            try:
                secret = self._core.read_namespaced_secret(name, namespace)
            except ApiException as err:
                if err.status == 404:
                    return
                raise refusal(f"reading Secret {namespace}/{name}", err) from None
            assert secret.metadata is not None  # the API server always returns it
            current = list(secret.metadata.finalizers or [])
            if (finalizer in current) == present:
                return
            if present and secret.metadata.deletion_timestamp:
                return  # a Secret being deleted takes no new finalizers
            wanted = [*current, finalizer] if present else [f for f in current if f != finalizer]
            # The resourceVersion makes this a compare-and-swap: finalizers are a list that a merge
            # patch replaces whole, so a concurrent change by someone else must not be lost.
            patch = {"metadata": {"finalizers": wanted, "resourceVersion": secret.metadata.resource_version}}
            with _refused(f"updating the finalizers of Secret {namespace}/{name}"):
                self._core.patch_namespaced_secret(name, namespace, patch)

        await asyncio.to_thread(apply)
