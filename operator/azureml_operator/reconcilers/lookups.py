"""What one object may know of the others, without an API call: an index entry per object, built
from its body by `index_keys` (kopf keeps the index; `wiring` registers it for every kind), and the
`Lookups` the runtime asks.

Dependencies between kinds are declared by the kinds (`adapters.Dependency`); the index files every
object under each name it refers to, so "who refers to this Workspace" and "is that
ModelSubscription Ready" are one dictionary lookup each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from azureml_operator import conditions
from azureml_operator.api.common import API_VERSION


@dataclass(frozen=True)
class Indexed:
    """One object as the index holds it."""

    kind: str
    namespace: str
    name: str
    uid: str
    spec: Mapping[str, Any]
    ready: bool
    reason: str | None
    message: str | None
    claim: str | None  # status.azureResourceId, lower-cased
    # What the object reports (e.g. a FineTuneJob's registered model), for kinds that build on it.
    status: Mapping[str, Any] = field(default_factory=dict)
    deleting: bool = False  # its deletion has begun (an endpoint drops the mirror to it first)

    @property
    def body(self) -> dict[str, Any]:
        """Enough of the object to post an Event about it."""
        meta = {"namespace": self.namespace, "name": self.name, "uid": self.uid}
        return {"apiVersion": API_VERSION, "kind": self.kind, "metadata": meta}


Key = tuple[str, ...]


def ref_name(spec: Mapping[str, Any], path: str) -> str | None:
    """The name in `spec.<path>.name`, or in `spec.<path>` itself when that is a string
    (`modelRef.fineTuneJob`); `path` may be dotted (`trainingData.dataAssetRef`)."""
    value: Any = spec
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    name = value.get("name") if isinstance(value, Mapping) else value
    return name if isinstance(name, str) and name else None


def foreign_reference(spec: Any, namespace: str, path: str = "spec") -> str | None:
    """The first reference in the spec (any `...Ref` with a `namespace`) to another namespace, as
    `spec.<field>` and that namespace; None when every reference stays in `namespace`."""
    if isinstance(spec, Mapping):
        for key, value in spec.items():
            where = f"{path}.{key}"
            if key.endswith("Ref") and isinstance(value, Mapping):
                theirs = value.get("namespace")
                if isinstance(theirs, str) and theirs != namespace:
                    return f"{where} names namespace {theirs}"
            if (found := foreign_reference(value, namespace, where)) is not None:
                return found
    elif isinstance(spec, list):
        for i, item in enumerate(spec):
            if (found := foreign_reference(item, namespace, f"{path}[{i}]")) is not None:
                return found
    return None


def workspace_mismatch(entry: Indexed, obj_kind: str, obj_spec: Mapping[str, Any], field: str) -> str | None:
    """Why `entry`, which an `obj_kind` object names in `spec.<field>`, cannot serve it: it belongs to
    another workspace (a subscription, a data asset and a registered model are per workspace)."""
    their_ws, our_ws = ref_name(entry.spec, "workspaceRef"), ref_name(obj_spec, "workspaceRef")
    if their_ws == our_ws:
        return None
    where = f"Workspace {their_ws}" if their_ws else "the operator's default workspace"
    return (
        f"spec.{field} names {entry.kind} {entry.name} of {where}, but this {obj_kind} is in "
        f"{f'Workspace {our_ws}' if our_ws else 'the default workspace'}"
    )


def index_keys(kind: str, body: Mapping[str, Any], refs: Iterable[tuple[str, str]]) -> dict[Key, Indexed]:
    """The index entries of one object: under its name, its uid, the ARM id it claims, and each
    (kind, spec field) it refers to."""
    meta = body.get("metadata") or {}
    spec = dict(body.get("spec") or {})
    status = body.get("status") or {}
    ready = conditions.get(status.get("conditions")) or {}
    claim = status.get("azureResourceId")
    entry = Indexed(
        kind=kind,
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        spec=spec,
        ready=ready.get("status") == "True",
        reason=ready.get("reason"),
        message=ready.get("message"),
        claim=claim.lower() if isinstance(claim, str) and claim else None,
        status=dict(status),
        deleting=bool(meta.get("deletionTimestamp")),
    )
    keys: dict[Key, Indexed] = {
        ("obj", kind, entry.namespace, entry.name): entry,
        ("uid", entry.uid): entry,
        ("kind", kind, entry.namespace): entry,
    }
    if entry.claim:
        keys[("claim", entry.claim)] = entry
    for target_kind, path in refs:
        target = ref_name(spec, path)
        if target:
            keys[("ref", target_kind, entry.namespace, target)] = entry
    return keys


class Lookups(Protocol):
    def get(self, kind: str, namespace: str, name: str) -> Indexed | None: ...

    def by_uid(self, uid: str) -> Indexed | None: ...

    def claims(self, arm_id: str) -> list[Indexed]:
        """Objects whose status records this ARM id."""
        ...

    def referencing(self, kind: str, namespace: str, name: str) -> list[Indexed]:
        """Objects in `namespace` that name the `kind` object `name` in their spec."""
        ...

    def all(self, kind: str, namespace: str) -> list[Indexed]: ...


class MappingLookups:
    """`Lookups` over mappings of key -> entries: kopf's indexes, or a plain dict in tests."""

    def __init__(self, indexes: Iterable[Mapping[Key, Iterable[Indexed]]]) -> None:
        self._indexes = list(indexes)

    def _all(self, key: Key) -> list[Indexed]:
        found: list[Indexed] = []
        for index in self._indexes:
            store = index.get(key)
            if store:
                found.extend(store)
        return found

    def get(self, kind: str, namespace: str, name: str) -> Indexed | None:
        return next(iter(self._all(("obj", kind, namespace, name))), None)

    def by_uid(self, uid: str) -> Indexed | None:
        return next(iter(self._all(("uid", uid))), None)

    def claims(self, arm_id: str) -> list[Indexed]:
        return self._all(("claim", arm_id.lower()))

    def referencing(self, kind: str, namespace: str, name: str) -> list[Indexed]:
        return self._all(("ref", kind, namespace, name))

    def all(self, kind: str, namespace: str) -> list[Indexed]:
        return self._all(("kind", kind, namespace))


def build_index(entries: Iterable[Mapping[Key, Indexed]]) -> dict[Key, list[Indexed]]:
    """A plain index, as kopf would build it from `index_keys` of several objects (for tests)."""
    index: dict[Key, list[Indexed]] = {}
    for keys in entries:
        for key, entry in keys.items():
            index.setdefault(key, []).append(entry)
    return index
