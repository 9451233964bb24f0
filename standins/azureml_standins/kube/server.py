"""The HTTP face of the stand-in: Kubernetes REST paths over aiohttp (HTTPS from the command line).

Every request first passes the gate (`gate.py`): authentication, impersonation, RBAC. Routes:
`/version`, `/healthz`, discovery (`/api`, `/api/v1`, `/apis`, `/apis/{g}`, `/apis/{g}/{v}`)
and, for every served resource, the collection (`GET` list or `?watch=true`, `POST`, `DELETE`
collection) and object (`GET`, `PUT`, `PATCH`, `DELETE`, plus `/status`) paths, namespaced and
cluster-wide; the review kinds (create only, `reviews.py`) and `serviceaccounts/{name}/token`
(`tokenrequest.py`). Outside the Kubernetes API, for the admin token only: `GET /_standin/denied`
and `POST /_standin/denied/reset` (`denials.py`); `GET`/`POST /_standin/faults` (watch faults, below). Bodies are JSON or YAML (and protobuf for the
few kinds in `protobuf.py`); answers are JSON, or `Table`s when kubectl asks for server-side
printing. `/openapi/v2` is an empty document and `/openapi/v3` answers 404, which kubectl takes
as "no schema here": it validates nothing itself and leaves validation to the server.

Known differences from a real API server:
* authentication knows the admin token and TokenRequest tokens only (no client certificates, no
  legacy Secret-based ServiceAccount tokens, no TokenReview); RBAC is the only authorizer (no Node
  authorizer, no webhooks); the escalation check runs after admission, so an invalid escalating
  write gets 422 where a real server says 403;
* no admission webhooks; no controllers (no default ServiceAccount, no Pods, no
  kube-root-ca.crt), so only the resources in `discovery.BUILTINS` exist; ClusterRole aggregation
  is emulated synchronously (`aggregation.py`);
* no server-side apply (`application/apply-patch+yaml` gets 415) and no `managedFields`;
  strategic merge patches of built-ins replace lists instead of merging them by key;
* built-ins have no schema: unknown fields are kept and only the rules in `validation.py` apply;
  every object gets `metadata.generation` (real ConfigMaps, Secrets and Namespaces have none);
* CRD versions share their objects with `apiVersion` rewritten (conversion strategy None); CRD
  conditions are True at once; deleting a CRD removes its objects without waiting for finalizers;
* garbage collection runs synchronously at the owner's final deletion, `Foreground` and `Orphan`
  act as `Background`, and dependents whose owner never existed are kept;
* `limit`/`continue` page through the current state, not a snapshot; `resourceVersion` on GET
  and LIST is ignored (always the latest state); events.k8s.io and core Events are separate stores;
* `kubectl explain` and kubectl's client-side schema validation have no OpenAPI to read.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import yaml
from aiohttp import web

from azureml_standins.kube import impersonation, leases, protobuf, selectors, tables, tokenrequest
from azureml_standins.kube.attributes import Attributes, watch_flag
from azureml_standins.kube.auth import UserInfo
from azureml_standins.kube.discovery import VERSION, ResourceInfo
from azureml_standins.kube.errors import (
    ApiError,
    bad_request,
    method_not_allowed,
    resource_not_found,
    success_status,
)
from azureml_standins.kube.gate import Gate
from azureml_standins.kube.rbac import forbidden
from azureml_standins.kube.reviews import REVIEWS
from azureml_standins.kube.store import CRDS, NAMESPACES, Store
from azureml_standins.serving import serve_app

log = logging.getLogger("azureml_standins.kube")

STORE_KEY: web.AppKey[Store] = web.AppKey("store", Store)  # for code that embeds the app
GATE_KEY: web.AppKey[Gate] = web.AppKey("gate", Gate)
SERVICE_ACCOUNTS = ("", "serviceaccounts")

# Deleting these answers with the object; other built-ins answer with a Status, as on a real server.
_RETURNS_DELETED_OBJECT = {NAMESPACES, CRDS}
# Resources whose strategy has AllowCreateOnUpdate (a PUT of a missing object creates it).
# UNVERIFIED: core Events' strategy is believed to allow it too; not emulated (nobody here PUTs a
# missing Event), so the stand-in answers such a PUT 404.
CREATE_ON_UPDATE = {leases.KEY}


def _protobuf_field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (all this document needs)."""
    length, out = len(payload), bytearray([number << 3 | 2])
    while True:
        byte, length = length & 0x7F, length >> 7
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out) + payload


# kubectl's default client-side validation (apply, create) first downloads /openapi/v2 as protobuf
# and fails when it cannot. An OpenAPI v2 document with no definitions makes kubectl validate
# nothing on the client side and leave validation to the server (fields: swagger=1, info=2 with
# title=1 and version=2, as in gnostic's openapi_v2.Document). /openapi/v3 answers 404.
OPENAPI_V2_MEDIA = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
OPENAPI_V2 = _protobuf_field(1, b"2.0") + _protobuf_field(
    2, _protobuf_field(1, b"Kubernetes") + _protobuf_field(2, VERSION["gitVersion"].encode())
)


def _json(body: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    resp = web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(), status=status, content_type="application/json"
    )
    for warning in warnings or []:
        resp.headers.add("Warning", f'299 - "{warning.replace(chr(34), chr(92) + chr(34))}"')
    return resp


def _present(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """The object as seen through `info`'s version (objects are shared by all served versions)."""
    return obj if obj.get("apiVersion") == info.api_version else {**obj, "apiVersion": info.api_version}


_flag = watch_flag  # one reading of boolean query flags, shared with authorization


# kube-apiserver's MaxRequestBodyBytes: it refuses a longer write body before decoding it.
MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    if len(raw) > MAX_REQUEST_BODY_BYTES:
        raise ApiError(
            413,
            f"Request entity too large: limit is {MAX_REQUEST_BODY_BYTES}",
            reason="RequestEntityTooLarge",
        )
    media = request.content_type.lower()
    if media == "application/vnd.kubernetes.protobuf" and request.method in ("POST", "PUT"):
        return protobuf.decode(raw)  # kubectl's typed commands: `create secret`, `create namespace`
    if "protobuf" in media or "cbor" in media:
        raise ApiError(
            415,
            f'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml; got "{media}"',
        )
    try:
        if "yaml" in media:
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as e:
        raise bad_request(
            f"the request body is not valid {'YAML' if 'yaml' in media else 'JSON'}: {e}"
        ) from None


def _full_rows(request: web.Request) -> bool:
    return request.query.get("includeObject") == "Object"


def _dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    if any(v != "All" for v in values):
        raise bad_request(f'dryRun: Unsupported value: "{values[0]}": supported values: "All"')
    return bool(values)


class Handler:
    def __init__(self, store: Store, gate: Gate, *, bookmark_interval: float) -> None:
        self.store = store
        self.gate = gate
        self.bookmark_interval = bookmark_interval
        self.expired_resumptions = 0  # watches refused with 410, for tests (`GET /_standin/faults`)

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        try:
            user = self.gate.authenticate(request.headers)
            if request.path.split("/")[1:2] == ["_standin"]:
                return await self.standin(request, user)
            attrs = self.gate.admit(request.method, request.path, request.query, request.headers, user)
            return await self.route(request, attrs)
        except ApiError as e:
            return _json(e.status(), e.code)
        except impersonation.WithoutUser as e:
            # What a real server answers, plain text and all.
            return web.Response(status=500, text=f"Internal Server Error: {request.path_qs!r}: {e}")
        except Exception as e:
            log.exception("%s %s failed", request.method, request.path_qs)
            return _json(ApiError(500, f"Internal error occurred: {e!r}").status(), 500)

    async def standin(self, request: web.Request, user: UserInfo) -> web.Response:
        """The stand-in's own routes, outside the Kubernetes API: the admin token only."""
        if not user.privileged:
            raise forbidden(Attributes(user, request.method.lower(), False, path=request.path))
        body = await _body(request) if request.method == "POST" else None
        parts = [p for p in request.path.split("/") if p]
        if parts == ["_standin", "denied"]:
            if request.method != "GET":
                raise method_not_allowed(request.method)
            return _json(self.gate.denials.as_json())
        if parts == ["_standin", "faults"]:
            return self.faults(request.method, body)
        if parts == ["_standin", "denied", "reset"]:
            if request.method != "POST":
                raise method_not_allowed(request.method)
            self.gate.denials.reset()
            return _json(self.gate.denials.as_json())
        raise resource_not_found()

    def faults(self, method: str, body: Any) -> web.Response:
        """`POST /_standin/faults` with any of `{"compact": true}` (forget the watch history up to
        now: resuming from an earlier resourceVersion gets 410), `{"dropWatches": true}` (end every
        open watch stream; clients resume) and `{"expireWatches": true}` (end every open watch with
        an ERROR 410 event; clients relist), applied in that order; the answer says what was done.
        `GET` tells how many watch resumptions were refused with 410 since the start."""
        if method == "GET":
            return _json({"expiredResumptions": self.expired_resumptions})
        if method != "POST":
            raise method_not_allowed(method)
        known = {"compact", "dropWatches", "expireWatches"}
        if not isinstance(body, dict) or not body or set(body) - known:
            raise bad_request(f"a watch fault is an object with any of {sorted(known)}")
        if not all(isinstance(v, bool) for v in body.values()):
            raise bad_request("watch fault flags are booleans")
        answer: dict[str, Any] = {}
        if body.get("compact"):
            answer["compactedResourceVersion"] = str(self.store.compact())
        if body.get("dropWatches"):
            answer["dropped"] = self.store.drop_watches()
        if body.get("expireWatches"):
            answer["expired"] = self.store.expire_watches()
        return _json(answer)

    async def route(self, request: web.Request, attrs: Attributes) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        registry = self.store.registry
        if parts in (["version"], ["healthz"], ["livez"], ["readyz"]):
            if request.method != "GET":
                raise method_not_allowed(request.method)
            return _json(VERSION) if parts == ["version"] else web.Response(text="ok")
        if parts == ["openapi", "v2"] and request.method == "GET":
            return web.Response(body=OPENAPI_V2, content_type=OPENAPI_V2_MEDIA)
        if parts[:1] == ["api"]:
            if len(parts) == 1:
                return _json(registry.api_versions(request.host))
            if parts[1] != "v1":
                raise resource_not_found()
            return await self.resource(request, attrs, "", "v1", parts[2:])
        if parts[:1] == ["apis"]:
            if len(parts) == 1:
                return _json(registry.api_group_list())
            if len(parts) == 2:
                group = registry.api_group(parts[1])
                if group is None:
                    raise resource_not_found()
                return _json(group)
            return await self.resource(request, attrs, parts[1], parts[2], parts[3:])
        raise resource_not_found()

    async def resource(
        self, request: web.Request, attrs: Attributes, group: str, version: str, parts: list[str]
    ) -> web.StreamResponse:
        registry = self.store.registry
        if not parts:
            doc = registry.api_resource_list(group, version)
            if doc is None:
                raise resource_not_found()
            return _json(doc)
        namespace: str | None = None
        rest = parts
        if (
            parts[0] == "namespaces"
            and len(parts) >= 3
            and not (len(parts) == 3 and registry.get(group, version, parts[2]) is None)
        ):
            namespace, rest = parts[1], parts[2:]
        if len(rest) > 3:
            raise resource_not_found()
        info = registry.get(group, version, rest[0])
        if info is None or (namespace is not None and not info.namespaced):
            raise resource_not_found()
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        if name is not None and info.namespaced and namespace is None:
            raise resource_not_found()
        if subresource is not None and subresource not in info.subresources:
            raise resource_not_found()
        method = request.method
        review = REVIEWS.get(info.key)
        if review is not None:  # create-only kinds, answered and never stored
            if name is not None or (info.namespaced and namespace is None):
                raise resource_not_found()
            if method != "POST":
                raise method_not_allowed(method)
            body = await _body(request)
            if not isinstance(body, dict):
                raise bad_request("the body of the request must be a JSON object")
            self.store.check_type(info, body)
            return _json(review(body, attrs.user, self.gate.authorizer, namespace), 201)
        if info.key == SERVICE_ACCOUNTS and subresource == "token":
            if method != "POST":
                raise method_not_allowed(method)
            assert namespace is not None and name is not None
            answer = tokenrequest.create_token(
                self.store, self.gate.authenticator, namespace, name, await _body(request)
            )
            return _json(answer, 201)
        if name is None:
            if method == "GET":
                if _flag(request.query.get("watch")):
                    return await self.watch(request, info, namespace, None)
                return self.list(request, info, namespace)
            if method == "POST":
                if info.namespaced and namespace is None:
                    raise resource_not_found()
                return await self.create(request, attrs, info, namespace)
            if method == "DELETE":
                return await self.delete_collection(request, info, namespace)
            raise method_not_allowed(method)
        if method == "GET":
            if subresource is None and _flag(request.query.get("watch")):
                return await self.watch(request, info, namespace, name)
            obj = _present(info, self.store.get(info, namespace, name))
            if subresource is None and tables.wants_table(request.headers.get("Accept", "")):
                meta = {"resourceVersion": obj["metadata"]["resourceVersion"]}
                return _json(tables.table(info, [obj], meta, full=_full_rows(request)))
            return _json(obj)
        if method in ("PUT", "PATCH"):
            body = await _body(request)
            warnings: list[str] = []
            common: dict[str, Any] = {
                "subresource": subresource,
                "dry_run": _dry_run(request),
                "field_validation": request.query.get("fieldValidation"),
                "warnings": warnings,
                "guard": self.gate.guard(attrs),
            }
            if method == "PUT" and subresource is None and self._creates_on_update(info, namespace, name):
                return self._create_on_update(info, attrs, namespace, name, body, common)
            if method == "PUT":
                obj = self.store.replace(info, namespace, name, body, **common)
            else:
                if request.content_type.lower().startswith("application/apply-patch"):
                    body = None  # refused below, whatever the body is
                obj = self.store.patch(info, namespace, name, request.content_type, body, **common)
            return _json(_present(info, obj), warnings=warnings)
        if method == "DELETE" and subresource is None:
            options = await self._delete_options(request)
            obj, gone = self.store.delete(info, namespace, name, options, dry_run=_dry_run(request))
            if gone and info.key not in _RETURNS_DELETED_OBJECT and not info.is_custom:
                return _json(
                    success_status(
                        {
                            "name": name,
                            "group": info.group,
                            "kind": info.plural,
                            "uid": obj["metadata"]["uid"],
                        }
                    )
                )
            return _json(_present(info, obj))
        raise method_not_allowed(method)

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        options = await _body(request) or {}
        if not isinstance(options, dict):
            raise bad_request("DeleteOptions must be a JSON object")
        if "propagationPolicy" in request.query:
            options["propagationPolicy"] = request.query["propagationPolicy"]
        return options

    def _selectors(
        self, request: web.Request, info: ResourceInfo
    ) -> tuple[selectors.Matcher, selectors.Matcher]:
        return (
            selectors.label_selector(request.query.get("labelSelector")),
            selectors.field_selector(request.query.get("fieldSelector"), info.selectable_fields),
        )

    def list(self, request: web.Request, info: ResourceInfo, namespace: str | None) -> web.Response:
        labels, fields = self._selectors(request, info)
        items, rv = self.store.list(info, namespace, labels, fields)
        meta: dict[str, Any] = {"resourceVersion": rv}
        token = request.query.get("continue")
        if token:
            try:
                after = json.loads(base64.urlsafe_b64decode(token.encode()))
            except ValueError:
                raise bad_request("continue key is not valid") from None
            items = [o for o in items if [o["metadata"].get("namespace", ""), o["metadata"]["name"]] > after]
        limit = int(request.query.get("limit") or 0)
        if limit > 0 and len(items) > limit:
            last = items[limit - 1]["metadata"]
            meta["continue"] = base64.urlsafe_b64encode(
                json.dumps([last.get("namespace", ""), last["name"]]).encode()
            ).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        presented = [_present(info, o) for o in items]
        if tables.wants_table(request.headers.get("Accept", "")):
            return _json(tables.table(info, presented, meta, full=_full_rows(request)))
        return _json(
            {"apiVersion": info.api_version, "kind": info.list_kind, "metadata": meta, "items": presented}
        )

    async def create(
        self, request: web.Request, attrs: Attributes, info: ResourceInfo, namespace: str | None
    ) -> web.Response:
        body = await _body(request)
        warnings: list[str] = []
        obj = self.store.create(
            info,
            namespace,
            body,
            dry_run=_dry_run(request),
            field_validation=request.query.get("fieldValidation"),
            warnings=warnings,
            guard=self.gate.guard(attrs),
        )
        return _json(_present(info, obj), 201, warnings)

    def _creates_on_update(self, info: ResourceInfo, namespace: str | None, name: str) -> bool:
        """A PUT of a missing object creates it where the resource's strategy allows it."""
        if info.key not in CREATE_ON_UPDATE:
            return False
        try:
            self.store.get(info, namespace, name)
        except ApiError as e:
            if e.code == 404:
                return True
            raise
        return False

    def _create_on_update(
        self,
        info: ResourceInfo,
        attrs: Attributes,
        namespace: str | None,
        name: str,
        body: Any,
        common: dict[str, Any],
    ) -> web.Response:
        """As kube-apiserver's update handler: the write is also authorized as a `create`, and
        answers 201."""
        self.gate.authorize(dataclasses.replace(attrs, verb="create"))
        if isinstance(body, dict) and isinstance(body.get("metadata"), dict):
            meta = body["metadata"]
            if meta.get("name") not in (None, name):
                raise bad_request(
                    f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
                )
            meta["name"] = name
            # UNVERIFIED: a real server ignores a resourceVersion sent to create through an update
            # (the storage's create path never sees it); the stand-in drops it likewise.
            meta.pop("resourceVersion", None)
        obj = self.store.create(
            info,
            namespace,
            body,
            dry_run=common["dry_run"],
            field_validation=common["field_validation"],
            warnings=common["warnings"],
            guard=common["guard"],
        )
        return _json(_present(info, obj), 201, common["warnings"])

    async def delete_collection(
        self, request: web.Request, info: ResourceInfo, namespace: str | None
    ) -> web.Response:
        labels, fields = self._selectors(request, info)
        options = await self._delete_options(request)
        deleted = self.store.delete_collection(info, namespace, labels, fields, options)
        return _json(
            {
                "apiVersion": info.api_version,
                "kind": info.list_kind,
                "metadata": {"resourceVersion": str(self.store.rv)},
                "items": [_present(info, o) for o in deleted],
            }
        )

    async def watch(
        self, request: web.Request, info: ResourceInfo, namespace: str | None, name: str | None
    ) -> web.StreamResponse:
        query = request.query
        labels, fields = self._selectors(request, info)
        if name is not None:
            by_field = fields
            fields = lambda obj: obj["metadata"]["name"] == name and by_field(obj)  # noqa: E731
        timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        bookmarks = _flag(query.get("allowWatchBookmarks"))
        initial = _flag(query.get("sendInitialEvents"))
        if initial and not bookmarks:
            raise bad_request("sendInitialEvents requires allowWatchBookmarks=true")
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()

        as_table = tables.wants_table(request.headers.get("Accept", ""))

        async def send(type_: str, obj: dict[str, Any]) -> None:
            if type_ in ("ADDED", "MODIFIED", "DELETED"):
                obj = _present(info, obj)
            if as_table and type_ in ("ADDED", "MODIFIED", "DELETED"):
                meta = {"resourceVersion": obj["metadata"]["resourceVersion"]}
                obj = tables.table(info, [obj], meta, full=_full_rows(request))
            await resp.write(
                json.dumps({"type": type_, "object": obj}, separators=(",", ":")).encode() + b"\n"
            )

        def bookmark(annotations: dict[str, str] | None = None) -> dict[str, Any]:
            meta: dict[str, Any] = {"resourceVersion": str(self.store.rv)}
            if annotations:
                meta["annotations"] = annotations
            return {"kind": info.kind, "apiVersion": info.api_version, "metadata": meta}

        try:
            watcher, first = self.store.watch(
                info, namespace, labels, fields, query.get("resourceVersion"), initial_snapshot=initial
            )
        except ApiError as e:
            if e.code != 410:
                raise
            # A real server answers a too-old resourceVersion with an ERROR event in a 200 stream.
            self.expired_resumptions += 1
            await resp.prepare(request)
            await send("ERROR", e.status())
            await resp.write_eof()
            return resp
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        try:
            await resp.prepare(request)
            for type_, obj in first:
                await send(type_, obj)
            if initial:
                await send("BOOKMARK", bookmark({"k8s.io/initial-events-end": "true"}))
            next_bookmark = loop.time() + self.bookmark_interval
            while True:
                if not watcher.queue.empty():
                    item = watcher.queue.get_nowait()
                    if item is None:
                        break
                    await send(item[0], item[1])
                    continue
                current = loop.time()
                if deadline is not None and current >= deadline:
                    break
                if bookmarks and current >= next_bookmark:
                    await send("BOOKMARK", bookmark())
                    next_bookmark = current + self.bookmark_interval
                    continue
                wakeups = [t for t in (deadline, next_bookmark if bookmarks else None) if t is not None]
                wait = min(wakeups) - current if wakeups else None
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), timeout=wait)
                except TimeoutError:
                    continue
                if item is None:
                    break
                await send(item[0], item[1])
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client went away
        finally:
            self.store.unwatch(watcher)
        return resp


def make_app(store: Store, *, bookmark_interval: float = 5.0, gate: Gate | None = None) -> web.Application:
    """The API over `store`; `gate` (authentication, RBAC, the bootstrap policy) is made for the
    store unless given, and reachable as `app[GATE_KEY]`."""
    gate = gate or Gate(store)
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[STORE_KEY] = store
    app[GATE_KEY] = gate
    handler = Handler(store, gate, bookmark_interval=bookmark_interval)

    async def handle(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def serve(
    store: Store,
    host: str,
    port: int,
    *,
    on_ready: Callable[[int], Awaitable[None] | None] | None = None,
    stop: asyncio.Event | None = None,
    bookmark_interval: float = 5.0,
    access_log: bool = False,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Serve until `stop` is set (forever without one). `on_ready` gets the bound port. The
    command line serves HTTPS (`ssl_context`); embedded in a test, plain HTTP is allowed."""
    await serve_app(
        make_app(store, bookmark_interval=bookmark_interval),
        host,
        port,
        ssl_context=ssl_context,
        on_ready=on_ready,
        stop=stop,
        access_log=log if access_log else None,
        before_cleanup=store.close_watches,
        # A watch whose client went away ends (and unsubscribes) at once.
        handler_cancellation=True,
    )
