"""What one object may know of the others, without an API call: the `ObjectIndex`, an entry per
object built from its body as the watch delivers it (`wiring` files every event of every kind), and
the `Lookups` the runtime asks.

Dependencies between kinds are declared by the kinds (`adapters.Dependency`); the index files every
object under each name it refers to, so "who refers to this Workspace" and "is that
ModelSubscription Ready" are one dictionary lookup each.

The entry is also where a pass finds the object's body between events: kept as compact JSON (a
third of the decoded dicts' size), decoded only by the pass that acts on it. At 10 000 objects the
bodies, held decoded twice (kopf's index and the schedule), were most of the operator's memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from azureml_operator import conditions
from azureml_operator.api.common import API_VERSION

Key = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Indexed:
    """One object as the index holds it."""

    kind: str
    namespace: str
    name: str
    uid: str
    ready: bool
    reason: str | None
    message: str | None
    claim: str | None  # status.azureResourceId, lower-cased
    deleting: bool = False  # its deletion has begun (an endpoint drops the mirror to it first)
    # The ("ref", kind, namespace, name) keys of what its spec names: where `ObjectIndex` files it,
    # kept so that filing it again never decodes the stored body.
    names: tuple[Key, ...] = ()
    # The body as delivered, without managedFields, as compact JSON: see `document`.
    stored: bytes = b"{}"

    @property
    def body(self) -> dict[str, Any]:
        """Enough of the object to post an Event about it."""
        meta = {"namespace": self.namespace, "name": self.name, "uid": self.uid}
        return {"apiVersion": API_VERSION, "kind": self.kind, "metadata": meta}

    def document(self) -> dict[str, Any]:
        """The object's body as the watch last delivered it (managedFields left out), decoded
        afresh: the caller may change it."""
        decoded: dict[str, Any] = json.loads(self.stored)
        return decoded

    @property
    def spec(self) -> Mapping[str, Any]:
        """Its spec, decoded afresh (lookups read it seldom: a dependency's, once a pass)."""
        return self.document().get("spec") or {}

    @property
    def status(self) -> Mapping[str, Any]:
        """What the object reports (e.g. a FineTuneJob's registered model), for kinds that build on it."""
        return self.document().get("status") or {}


FEW = frozenset({"obj", "claim"})  # keys that name one object (but for a moment)


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


def indexed(kind: str, body: Mapping[str, Any], refs: Iterable[tuple[str, str]] = ()) -> Indexed:
    """The index entry of one object, from its body; `refs` are its kind's (kind, spec field)
    references."""
    meta = body.get("metadata") or {}
    namespace, spec = str(meta.get("namespace") or ""), body.get("spec") or {}
    status = body.get("status") or {}
    ready = conditions.get(status.get("conditions")) or {}
    claim = status.get("azureResourceId")
    kept = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {k: v for k, v in meta.items() if k != "managedFields"},
        "spec": spec,
        "status": status,
    }
    named = ((target_kind, ref_name(spec, path)) for target_kind, path in refs)
    return Indexed(
        kind=kind,
        namespace=namespace,
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        ready=ready.get("status") == "True",
        reason=ready.get("reason"),
        message=ready.get("message"),
        claim=claim.lower() if isinstance(claim, str) and claim else None,
        deleting=bool(meta.get("deletionTimestamp")),
        names=tuple(("ref", target_kind, namespace, target) for target_kind, target in named if target),
        stored=json.dumps(kept, separators=(",", ":")).encode(),
    )


def keys_of(entry: Indexed) -> list[Key]:
    """Where an entry is filed: under its name, its kind in its namespace, the ARM id it claims,
    and each object its spec names."""
    keys: list[Key] = [
        ("obj", entry.kind, entry.namespace, entry.name),
        ("kind", entry.kind, entry.namespace),
    ]
    if entry.claim:
        keys.append(("claim", entry.claim))
    return [*keys, *entry.names]


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


class ObjectIndex:
    """`Lookups` over every object the operator watches: `put` on each of its events, `drop` on its
    deletion. Two objects of one name may both be filed for a while (a deletion may be told after
    the next creation of that name); `get` gives the first filed, and callers compare uids.

    Names and claims hold one object each but for such moments, so they are filed as tuples; the
    groups that grow (a kind in a namespace, what names one object) as dicts by uid. An entry's
    keys are computed again from it when it goes, not kept beside it: at 10 000 objects each of
    these is megabytes."""

    def __init__(self) -> None:
        self._by_uid: dict[str, Indexed] = {}
        self._few: dict[Key, tuple[Indexed, ...]] = {}  # "obj" and "claim" keys
        self._many: dict[Key, dict[str, Indexed]] = {}  # "kind" and "ref" keys

    def put(self, entry: Indexed) -> None:
        old = self._by_uid.get(entry.uid)
        keys = keys_of(entry)
        if old is not None:
            for key in set(keys_of(old)) - set(keys):
                self._unfile(key, old.uid)
        self._by_uid[entry.uid] = entry
        for key in keys:
            if key[0] in FEW:
                filed = self._few.get(key, ())
                at = next((i for i, e in enumerate(filed) if e.uid == entry.uid), None)
                # In place when refiled: the first filed of a name stays first.
                self._few[key] = (*filed, entry) if at is None else (*filed[:at], entry, *filed[at + 1 :])
            else:
                self._many.setdefault(key, {})[entry.uid] = entry

    def drop(self, uid: str) -> None:
        """Forget the object."""
        old = self._by_uid.pop(uid, None)
        if old is not None:
            for key in keys_of(old):
                self._unfile(key, uid)

    def _unfile(self, key: Key, uid: str) -> None:
        if key[0] in FEW:
            rest = tuple(e for e in self._few.get(key, ()) if e.uid != uid)
            if rest:
                self._few[key] = rest
            else:
                self._few.pop(key, None)
        elif (filed := self._many.get(key)) is not None:
            filed.pop(uid, None)
            if not filed:
                del self._many[key]

    def __len__(self) -> int:
        return len(self._by_uid)

    def get(self, kind: str, namespace: str, name: str) -> Indexed | None:
        filed = self._few.get(("obj", kind, namespace, name))
        return filed[0] if filed else None

    def by_uid(self, uid: str) -> Indexed | None:
        return self._by_uid.get(uid)

    def document(self, uid: str) -> dict[str, Any]:
        """The object's body as last filed (decoded afresh), or {} if it is not filed."""
        entry = self.by_uid(uid)
        return entry.document() if entry is not None else {}

    def claims(self, arm_id: str) -> list[Indexed]:
        return list(self._few.get(("claim", arm_id.lower()), ()))

    def referencing(self, kind: str, namespace: str, name: str) -> list[Indexed]:
        return list((self._many.get(("ref", kind, namespace, name)) or {}).values())

    def all(self, kind: str, namespace: str) -> list[Indexed]:
        return list((self._many.get(("kind", kind, namespace)) or {}).values())
