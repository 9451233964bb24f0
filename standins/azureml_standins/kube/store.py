"""The object store: every object, one global resourceVersion, the watch event history, and the
server-side behaviours that hang off writes (finalizers, garbage collection, namespaces, CRDs).

kopf guards its finalizer patches with a `test` of `metadata.resourceVersion` and then waits for
the watch event carrying exactly the resourceVersion its PATCH returned, so every write bumps one
monotonic counter and every event is kept (up to a limit) for watches that resume from an RV.
All methods are synchronous and run under one lock: a check (resourceVersion, `test` op, name
taken) and the write it guards are atomic, and a watch's snapshot and subscription are taken in
the same critical section, so no event falls between them. Watchers' queues are asyncio queues
and must belong to the loop that calls the store (the server's).
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import json
import random
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azureml_standins.kube import leases, patching, validation
from azureml_standins.kube.discovery import Registry, ResourceInfo
from azureml_standins.kube.errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    gone,
    invalid,
    not_found,
)

Key = tuple[str, str]  # (group, plural): all served versions of a resource share its objects
Obj = dict[str, Any]
Matcher = Callable[[Obj], bool]
# Called with (old or None, new) after admission and before a create or update is stored (or, with
# dryRun, answered); raising an ApiError refuses the write. RBAC's escalation check is one.
Guard = Callable[[Obj | None, Obj], None]

NAMESPACES: Key = ("", "namespaces")
CRDS: Key = ("apiextensions.k8s.io", "customresourcedefinitions")
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public")
_SERVER_META = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
    "namespace",
    "name",
)
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


# etcd's default --max-request-bytes (1.5 MiB): a write body below the API server's 3 MiB can still
# make a stored object etcd refuses.
ETCD_MAX_REQUEST_BYTES = 1536 * 1024


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Event:
    rv: int
    key: Key
    namespace: str
    type: str  # ADDED, MODIFIED, DELETED
    obj: Obj
    old: Obj | None = None


@dataclass(eq=False)
class Watcher:
    key: Key
    namespace: str | None
    labels: Matcher
    fields: Matcher
    queue: asyncio.Queue[tuple[str, Obj] | None] = field(default_factory=asyncio.Queue)

    def matches(self, obj: Obj) -> bool:
        return self.labels(obj) and self.fields(obj)

    def translate(self, event: Event) -> tuple[str, Obj] | None:
        """The event as this watcher sees it: an object entering the selection is ADDED, one
        leaving it is DELETED, as on a real server."""
        if event.key != self.key or (self.namespace is not None and event.namespace != self.namespace):
            return None
        now_in = self.matches(event.obj)
        if event.type == "MODIFIED":
            was_in = event.old is not None and self.matches(event.old)
            if now_in and was_in:
                return ("MODIFIED", event.obj)
            if now_in:
                return ("ADDED", event.obj)
            if was_in:
                return ("DELETED", event.obj)
            return None
        return (event.type, event.obj) if now_in else None

    def close(self) -> None:
        self.queue.put_nowait(None)


def _ordered(obj: Obj) -> Obj:
    head = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
    return {**head, **{k: v for k, v in obj.items() if k not in head}}


def _content(obj: Obj, *, with_status: bool) -> Obj:
    """What `generation` tracks: everything but metadata (and status, with a status subresource)."""
    skip = {"metadata", "apiVersion", "kind", *(("status",) if not with_status else ())}
    return {k: v for k, v in obj.items() if k not in skip}


class Store:
    def __init__(self, *, history_limit: int = 10_000, strict_fields: bool = False) -> None:
        self.registry = Registry()
        self.rv = 0
        self.history_limit = history_limit
        self.strict_fields = strict_fields
        self._objects: dict[Key, dict[tuple[str, str], Obj]] = {}
        self._uids: dict[str, tuple[Key, str, str]] = {}
        self._history: deque[Event] = deque()
        self._floor = 0  # events with rv <= floor are forgotten
        self._watchers: set[Watcher] = set()
        self._listeners: list[Callable[[Event], None]] = []
        self._lock = threading.RLock()
        ns_info = self.registry.get("", "v1", "namespaces")
        assert ns_info is not None
        for name in INITIAL_NAMESPACES:
            self.create(ns_info, None, {"metadata": {"name": name}})

    # -- reading -------------------------------------------------------------------------------

    def _bucket(self, key: Key) -> dict[tuple[str, str], Obj]:
        return self._objects.setdefault(key, {})

    def _ns(self, info: ResourceInfo, namespace: str | None) -> str:
        return (namespace or "") if info.namespaced else ""

    def get(self, info: ResourceInfo, namespace: str | None, name: str) -> Obj:
        with self._lock:
            obj = self._bucket(info.key).get((self._ns(info, namespace), name))
            if obj is None:
                raise not_found(info.plural, info.group, name)
            return obj

    def _select(
        self, info: ResourceInfo, namespace: str | None, labels: Matcher, fields: Matcher
    ) -> list[Obj]:
        bucket = self._bucket(info.key)
        return [
            bucket[k]
            for k in sorted(bucket)
            if (namespace is None or k[0] == namespace) and labels(bucket[k]) and fields(bucket[k])
        ]

    def list(
        self, info: ResourceInfo, namespace: str | None, labels: Matcher, fields: Matcher
    ) -> tuple[list[Obj], str]:
        """Matching objects (namespace None: all namespaces) and the current resourceVersion."""
        with self._lock:
            return self._select(info, namespace, labels, fields), str(self.rv)

    # -- watching ------------------------------------------------------------------------------

    def watch(
        self,
        info: ResourceInfo,
        namespace: str | None,
        labels: Matcher,
        fields: Matcher,
        since: str | None,
        *,
        initial_snapshot: bool = False,
    ) -> tuple[Watcher, list[tuple[str, Obj]]]:
        """Subscribe; returns the watcher and the events to send first: the current objects as
        ADDED (no RV, RV 0, or `initial_snapshot`), else every retained change after `since`.
        Raises 410 Gone when `since` is older than the retained history."""
        with self._lock:
            watcher = Watcher(info.key, namespace if info.namespaced else None, labels, fields)
            if initial_snapshot or since in (None, "", "0"):
                first = [("ADDED", obj) for obj in self._select(info, watcher.namespace, labels, fields)]
            else:
                try:
                    start = int(since)  # type: ignore[arg-type]
                except ValueError:
                    raise bad_request(f'invalid resource version "{since}"') from None
                if start < self._floor:
                    raise gone(f"too old resource version: {start} ({self._floor + 1})")
                first = [t for e in self._history if e.rv > start and (t := watcher.translate(e)) is not None]
            self._watchers.add(watcher)
            return watcher, first

    def unwatch(self, watcher: Watcher) -> None:
        with self._lock:
            self._watchers.discard(watcher)

    def close_watches(self, key: Key | None = None) -> None:
        with self._lock:
            for watcher in list(self._watchers):
                if key is None or watcher.key == key:
                    self._watchers.discard(watcher)
                    watcher.close()

    # -- faults (for tests: `POST /_standin/faults`) ------------------------------------------

    def compact(self) -> int:
        """Forget the event history up to now, as etcd's compaction does: a watch resuming from an
        earlier resourceVersion is answered 410 Gone, one resuming from now on is served. Returns
        the compacted resourceVersion."""
        with self._lock:
            self._history.clear()
            self._floor = self.rv
            return self.rv

    def drop_watches(self) -> int:
        """End every open watch stream now (an API server restarting, a load balancer closing
        idle connections): clients resume from the last resourceVersion they saw. Returns how many."""
        with self._lock:
            dropped = len(self._watchers)
            self.close_watches()
            return dropped

    def expire_watches(self) -> int:
        """End every open watch with an ERROR event of a 410 Status, as a watch served from etcd
        ends when compaction overtakes it: clients must relist. UNVERIFIED: with the watch cache
        on, a real server ends a lagging watch without the event; kopf relists either way once
        its resumption is refused. Returns how many."""
        with self._lock:
            watchers = list(self._watchers)
            for watcher in watchers:
                self._watchers.discard(watcher)
                expired = gone("The resourceVersion for the provided watch is too old.").status()
                watcher.queue.put_nowait(("ERROR", expired))
                watcher.close()
            return len(watchers)

    def listen(self, listener: Callable[[Event], None]) -> list[tuple[Key, Obj]]:
        """Call `listener` with every write event from now on, in order and under the store's lock
        (it may write in turn; its events follow). Returns every object stored now, so that the
        listener can start from them without missing a write."""
        with self._lock:
            self._listeners.append(listener)
            return [(key, obj) for key, bucket in self._objects.items() for obj in bucket.values()]

    def _emit(self, key: Key, type_: str, obj: Obj, old: Obj | None = None) -> None:
        event = Event(self.rv, key, obj["metadata"].get("namespace", ""), type_, obj, old)
        self._history.append(event)
        while len(self._history) > self.history_limit:
            self._floor = self._history.popleft().rv
        for watcher in list(self._watchers):
            translated = watcher.translate(event)
            if translated is not None:
                watcher.queue.put_nowait(translated)
        for listener in list(self._listeners):
            listener(event)

    # -- writing: helpers ----------------------------------------------------------------------

    def _bump(self) -> str:
        self.rv += 1
        return str(self.rv)

    def _store(self, key: Key, obj: Obj, type_: str, old: Obj | None) -> Obj:
        if len(json.dumps(obj, separators=(",", ":")).encode()) > ETCD_MAX_REQUEST_BYTES:
            # What kube-apiserver answers when etcd refuses the write (kubernetes#112152: a 500, not
            # a 4xx). Custom objects are stored as JSON; the exact threshold, which also counts the
            # key and etcd's framing, is UNVERIFIED.
            raise ApiError(500, "etcdserver: request is too large")
        meta = obj["metadata"]
        meta["resourceVersion"] = self._bump()
        obj = _ordered(obj)
        self._bucket(key)[(meta.get("namespace", ""), meta["name"])] = obj
        self._uids[meta["uid"]] = (key, meta.get("namespace", ""), meta["name"])
        self._emit(key, type_, obj, old)
        return obj

    def _field_validation(self, requested: str | None) -> str:
        if self.strict_fields:
            return validation.STRICT
        if requested in (validation.STRICT, validation.WARN, validation.IGNORE):
            return requested
        if requested:
            raise bad_request(f"fieldValidation parameter unsupported: {requested}")
        return validation.WARN

    def _admit(
        self,
        info: ResourceInfo,
        obj: Obj,
        old: Obj | None,
        *,
        part: str,
        field_validation: str | None,
        warnings: list[str],
    ) -> Obj:
        meta = obj["metadata"]
        errors = validation.metadata_errors(meta)
        if errors:
            raise invalid(info.kind, info.group, meta.get("name", ""), errors)
        if info.is_custom:
            return validation.admit_custom(
                info,
                obj,
                old,
                part=part,
                field_validation=self._field_validation(field_validation),
                warnings=warnings,
            )
        return validation.admit_builtin(info, obj, old)

    # -- create --------------------------------------------------------------------------------

    def create(
        self,
        info: ResourceInfo,
        namespace: str | None,
        body: Any,
        *,
        dry_run: bool = False,
        field_validation: str | None = None,
        warnings: list[str] | None = None,
        guard: Guard | None = None,
    ) -> Obj:
        warnings = warnings if warnings is not None else []
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise bad_request("the body of the request must be a JSON object with an object `metadata`")
        with self._lock:
            obj = copy.deepcopy(body)
            self.check_type(info, obj)
            obj["apiVersion"], obj["kind"] = info.api_version, info.kind
            meta = obj.setdefault("metadata", {})
            if info.namespaced:
                assert namespace is not None
                if meta.get("namespace") not in (None, "", namespace):
                    raise bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request"
                    )
                meta["namespace"] = namespace
                ns = self._bucket(NAMESPACES).get(("", namespace))
                if ns is None:
                    raise not_found("namespaces", "", namespace)
                if ns["metadata"].get("deletionTimestamp"):
                    raise ApiError(
                        403,
                        f'{info.plural} "{meta.get("name") or meta.get("generateName", "")}" is forbidden: unable to create '
                        f"new content in namespace {namespace} because it is being terminated",
                        details={"name": meta.get("name", ""), "kind": info.plural},
                    )
            else:
                meta.pop("namespace", None)
            if meta.get("resourceVersion"):
                raise bad_request("resourceVersion should not be set on objects to be created")
            if not meta.get("name"):
                if not meta.get("generateName"):
                    raise invalid(
                        info.kind,
                        info.group,
                        "",
                        ["metadata.name: Required value: name or generateName is required"],
                    )
                meta["name"] = self._generate_name(info, meta["generateName"], meta.get("namespace", ""))
            errors = validation.name_errors(info, meta["name"])
            if errors:
                raise invalid(info.kind, info.group, meta["name"], errors)
            if (meta.get("namespace", ""), meta["name"]) in self._bucket(info.key):
                raise already_exists(info.plural, info.group, meta["name"])
            for server_field in ("deletionTimestamp", "deletionGracePeriodSeconds"):
                meta.pop(server_field, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now()
            meta["generation"] = 1
            if info.has_status and info.is_custom:
                obj.pop("status", None)  # a real server drops it: status is written through /status
            obj = self._admit(
                info, obj, None, part="main", field_validation=field_validation, warnings=warnings
            )
            if info.key == CRDS:
                obj["status"] = self._crd_status(obj, obj.get("status"))
            if guard is not None:
                guard(None, obj)
            if dry_run:
                return _ordered(obj)
            stored = self._store(info.key, obj, "ADDED", None)
            if info.key == CRDS:
                self.registry.set_crd(stored["metadata"]["name"], stored)
            return stored

    def check_type(self, info: ResourceInfo, obj: Obj) -> None:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version and api_version.rpartition("/")[0] != info.group:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version ({info.api_version})"
            )
        if kind and kind != info.kind:
            raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({info.kind})")

    def _generate_name(self, info: ResourceInfo, prefix: str, namespace: str) -> str:
        bucket = self._bucket(info.key)
        for _ in range(16):
            name = prefix + "".join(random.choices(_NAME_ALPHABET, k=5))
            if (namespace, name) not in bucket:
                return name
        raise already_exists(info.plural, info.group, prefix)

    def _crd_status(self, crd: Obj, previous: Obj | None) -> Obj:
        """Names accepted and Established at once (a real server takes a moment to say so)."""
        previous = previous or {}
        names = dict(crd["spec"]["names"])
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", f"{names['kind']}List")
        stamp = now()
        stored = [v["name"] for v in crd["spec"]["versions"] if v.get("storage")]
        return {
            "acceptedNames": names,
            "conditions": previous.get("conditions")
            or [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": stamp,
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": stamp,
                },
            ],
            "storedVersions": list(dict.fromkeys([*(previous.get("storedVersions") or []), *stored])),
        }

    # -- update and patch ----------------------------------------------------------------------

    def replace(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str | None = None,
        warnings: list[str] | None = None,
        guard: Guard | None = None,
    ) -> Obj:
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise bad_request("the body of the request must be a JSON object with an object `metadata`")
        with self._lock:
            old = self.get(info, namespace, name)
            candidate = copy.deepcopy(body)
            candidate.setdefault("metadata", {})
            if (info.is_custom or info.key in (CRDS, leases.KEY)) and not candidate["metadata"].get(
                "resourceVersion"
            ):
                # Their strategies disallow unconditional updates (built-ins such as ConfigMaps allow them).
                raise invalid(
                    info.kind,
                    info.group,
                    name,
                    ["metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"],
                )
            return self._update(info, old, candidate, subresource, dry_run, field_validation, warnings, guard)

    def patch(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        content_type: str,
        patch: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str | None = None,
        warnings: list[str] | None = None,
        guard: Guard | None = None,
    ) -> Obj:
        with self._lock:
            old = self.get(info, namespace, name)
            candidate = patching.apply_patch(old, content_type, patch, custom=info.is_custom)
            if not isinstance(candidate.get("metadata"), dict):
                raise ApiError(422, "the patch removed or replaced metadata")
            return self._update(info, old, candidate, subresource, dry_run, field_validation, warnings, guard)

    def _update(
        self,
        info: ResourceInfo,
        old: Obj,
        candidate: Obj,
        subresource: str | None,
        dry_run: bool,
        field_validation: str | None,
        warnings: list[str] | None,
        guard: Guard | None = None,
    ) -> Obj:
        warnings = warnings if warnings is not None else []
        old_meta = old["metadata"]
        name = old_meta["name"]
        meta = candidate["metadata"]
        # Preconditions and identity: the same object, at the version the writer last saw.
        if meta.get("resourceVersion") and meta["resourceVersion"] != old_meta["resourceVersion"]:
            raise conflict(info.plural, info.group, name)
        if meta.get("uid") and meta["uid"] != old_meta["uid"]:
            raise conflict(
                info.plural,
                info.group,
                name,
                f"Precondition failed: UID in precondition: {old_meta['uid']}, UID in object meta: {meta['uid']}",
            )
        if meta.get("name") not in (None, name):
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        if info.namespaced and meta.get("namespace") not in (None, "", old_meta.get("namespace")):
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        self.check_type(info, candidate)
        candidate["apiVersion"], candidate["kind"] = info.api_version, info.kind

        if subresource == "status":
            # A /status write changes status only.
            new = copy.deepcopy(old)
            new.pop("status", None)
            if "status" in candidate:
                new["status"] = candidate["status"]
            candidate = new
            meta = candidate["metadata"]
        else:
            for server_field in _SERVER_META:
                if server_field in old_meta:
                    meta[server_field] = old_meta[server_field]
                else:
                    meta.pop(server_field, None)
            if info.has_status:
                # With a status subresource, the main resource ignores status.
                candidate.pop("status", None)
                if "status" in old:
                    candidate["status"] = copy.deepcopy(old["status"])
            if old_meta.get("deletionTimestamp"):
                added = [
                    f for f in meta.get("finalizers") or [] if f not in (old_meta.get("finalizers") or [])
                ]
                if added:
                    raise invalid(
                        info.kind,
                        info.group,
                        name,
                        [
                            "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being "
                            f"deleted, found new finalizers {added}"
                        ],
                    )
        candidate = self._admit(
            info,
            candidate,
            old,
            part="status" if subresource == "status" else "main",
            field_validation=field_validation,
            warnings=warnings,
        )
        if info.key == CRDS and subresource != "status":
            candidate["status"] = self._crd_status(candidate, old.get("status"))
        candidate["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        if _content(candidate, with_status=not info.has_status) != _content(
            old, with_status=not info.has_status
        ):
            candidate["metadata"]["generation"] = old_meta.get("generation", 0) + 1
        if _ordered(candidate) == old:
            return old  # a no-op write changes nothing, not even the resourceVersion
        if guard is not None:
            guard(old, candidate)
        if dry_run:
            return _ordered(candidate)
        if self._finalizable(info.key, candidate):
            return self._hard_delete(info.key, candidate)
        stored = self._store(info.key, candidate, "MODIFIED", old)
        if info.key == CRDS:
            self.registry.set_crd(name, stored)
        return stored

    # -- delete --------------------------------------------------------------------------------

    def delete(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        options: Obj | None = None,
        *,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Delete, or start deleting (finalizers); returns the object and whether it is gone."""
        options = options or {}
        policy = options.get("propagationPolicy")
        if policy not in (None, "Background", "Foreground", "Orphan"):
            raise bad_request(f'propagationPolicy: Unsupported value: "{policy}"')
        with self._lock:
            obj = self.get(info, namespace, name)
            if info.key == NAMESPACES and name in UNDELETABLE_NAMESPACES:
                raise ApiError(
                    403,
                    f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                    details={"name": name, "kind": "namespaces"},
                )
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != obj["metadata"]["uid"]:
                raise conflict(
                    info.plural,
                    info.group,
                    name,
                    f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {obj['metadata']['uid']}",
                )
            if pre.get("resourceVersion") and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]:
                raise conflict(
                    info.plural,
                    info.group,
                    name,
                    f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                    f"ResourceVersion in object meta: {obj['metadata']['resourceVersion']}",
                )
            if dry_run:
                return obj, False
            return self._delete_object(info.key, obj)

    def delete_collection(
        self,
        info: ResourceInfo,
        namespace: str | None,
        labels: Matcher,
        fields: Matcher,
        options: Obj | None = None,
    ) -> list[Obj]:
        with self._lock:
            out = []
            for obj in self._select(info, namespace, labels, fields):
                current = self._bucket(info.key).get(
                    (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
                )
                if current is not None:
                    out.append(self._delete_object(info.key, current)[0])
            return out

    def _delete_object(self, key: Key, obj: Obj) -> tuple[Obj, bool]:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return obj, False  # already being deleted: a repeated DELETE changes nothing
        if key == NAMESPACES or meta.get("finalizers"):
            new = copy.deepcopy(obj)
            new["metadata"]["deletionTimestamp"] = now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            if new["metadata"].get("generation"):
                new["metadata"]["generation"] += 1  # as a real server does on graceful deletion
            if key == NAMESPACES:
                new.setdefault("status", {})["phase"] = "Terminating"
            if self._finalizable(key, new):
                return self._hard_delete(key, new), True
            stored = self._store(key, new, "MODIFIED", obj)
            if key == NAMESPACES:
                self._empty_namespace(meta["name"])
                current = self._bucket(NAMESPACES).get(("", meta["name"]))
                return (current or stored), current is None
            return stored, False
        return self._hard_delete(key, obj), True

    def _finalizable(self, key: Key, obj: Obj) -> bool:
        """Marked for deletion and nothing holds it back any more."""
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return False
        if key == NAMESPACES:
            name = meta["name"]
            return not any(k[0] == name for bucket in self._objects.values() for k in bucket)
        return True

    def _hard_delete(self, key: Key, obj: Obj) -> Obj:
        if key == CRDS:
            self._drop_crd(obj)
        meta = obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        old = self._bucket(key).pop((ns, name), None)
        self._uids.pop(meta["uid"], None)
        final = _ordered(copy.deepcopy(obj))
        final["metadata"]["resourceVersion"] = self._bump()
        self._emit(key, "DELETED", final, old)
        self._collect_garbage(meta["uid"])
        if ns:
            namespace = self._bucket(NAMESPACES).get(("", ns))
            if namespace is not None and self._finalizable(NAMESPACES, namespace):
                self._hard_delete(NAMESPACES, namespace)
        return final

    def _drop_crd(self, crd: Obj) -> None:
        """A deleted CRD takes its objects with it (without waiting for their finalizers)."""
        key = (crd["spec"]["group"], crd["spec"]["names"]["plural"])
        for obj in list(self._bucket(key).values()):
            self._hard_delete(key, obj)
        self._objects.pop(key, None)
        self.registry.set_crd(crd["metadata"]["name"], None)
        self.close_watches(key)

    def _empty_namespace(self, namespace: str) -> None:
        for key, bucket in list(self._objects.items()):
            for (ns, _), obj in list(bucket.items()):
                if ns == namespace and bucket.get((ns, obj["metadata"]["name"])) is obj:
                    self._delete_object(key, obj)

    def _collect_garbage(self, owner_uid: str) -> None:
        """Background cascading deletion: dependents of a deleted owner go too, unless another
        owner of theirs still exists (then only the dangling reference is removed)."""
        for key, bucket in list(self._objects.items()):
            for obj in list(bucket.values()):
                refs = obj["metadata"].get("ownerReferences") or []
                if not any(ref.get("uid") == owner_uid for ref in refs):
                    continue
                current = bucket.get((obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))
                if current is None:
                    continue
                alive = [ref for ref in refs if ref.get("uid") != owner_uid and ref.get("uid") in self._uids]
                if alive:
                    new = copy.deepcopy(current)
                    new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != owner_uid]
                    self._store(key, new, "MODIFIED", current)
                else:
                    self._delete_object(key, current)
