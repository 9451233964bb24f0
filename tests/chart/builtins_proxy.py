"""A proxy in front of the Kubernetes stand-in that also accepts the built-in kinds the stand-in
does not serve (Deployments, Services, PodDisruptionBudgets, NetworkPolicies, RBAC until the
stand-in has it, prometheus-operator's ServiceMonitors), so that Helm can install the whole chart.

helm-sdkpy has no `helm template`: the only way to have Helm render a chart is an install, and Helm
maps every manifest to a served resource before it creates anything. Everything the stand-in
serves (CRDs, ServiceAccounts, ConfigMaps, Secrets, Helm's own release Secrets) is forwarded and so
really applied and validated there; the kinds it lacks are kept here, in memory, unvalidated, and
the tests check them structurally (the kubernetes client's pydantic models). Which kinds those are
is read from the stand-in's discovery, so a kind it learns to serve is forwarded from then on.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import yaml
from aiohttp import ClientSession, TCPConnector, web

from azureml_standins.kube.auth import ADMIN_TOKEN


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def resource(self) -> dict[str, Any]:
        return {
            "name": self.plural,
            "singularName": self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
        }


# What the chart renders, beyond what every Kubernetes API stand-in must serve for Helm to work at all.
CHART_KINDS = (
    Kind("", "v1", "services", "Service", True),
    Kind("apps", "v1", "deployments", "Deployment", True),
    Kind("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True),
    Kind("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True),
    Kind("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    Kind("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    Kind("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    Kind("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    Kind("monitoring.coreos.com", "v1", "servicemonitors", "ServiceMonitor", True),
    Kind("monitoring.coreos.com", "v1", "prometheusrules", "PrometheusRule", True),
)


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    body |= {"message": message, "reason": reason, "code": code}
    return web.json_response(body, status=code)


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 merge patch. Helm sends strategic merge patches for built-ins on upgrade; for the
    flat manifests of this chart a merge patch gives the same object."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


class BuiltinsProxy:
    """`with BuiltinsProxy(kube.url, tmp_dir, ca=kube.ca) as proxy:` then point Helm at
    `proxy.kubeconfig`. The stand-in serves HTTPS with its own CA and authenticates every request:
    the proxy adds `token` (the stand-in's admin by default) to what it forwards, since client-go
    sends no bearer token to a plain-HTTP server such as this proxy."""

    def __init__(self, upstream: str, directory: Path, *, ca: Path, token: str = ADMIN_TOKEN) -> None:
        self.upstream = upstream.rstrip("/")
        self.kubeconfig = directory / "proxy-kubeconfig"
        self.ca, self.token = ca, token
        served = self._served()
        # Only the kinds the stand-in lacks are emulated; the rest go through.
        self.emulated = {
            (k.group, k.plural): k for k in CHART_KINDS if (k.group_version, k.plural) not in served
        }
        self.objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.url = ""

    def _served(self) -> set[tuple[str, str]]:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token}"

        def get(path: str) -> Any:
            # verify per request: a session's own is overridden by REQUESTS_CA_BUNDLE (the simulator's)
            return session.get(f"{self.upstream}{path}", timeout=10, verify=str(self.ca)).json()

        found = {("v1", r["name"]) for r in get("/api/v1")["resources"]}
        for group in get("/apis")["groups"]:
            for version in group["versions"]:
                gv = version["groupVersion"]
                found |= {(gv, r["name"]) for r in get(f"/apis/{gv}")["resources"]}
        return found

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> BuiltinsProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the builtins proxy did not start")
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "proxy", "cluster": {"server": self.url}}],
            "users": [{"name": "proxy", "user": {"token": self.token}}],
            "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "proxy"}}],
            "current-context": "proxy",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        self._session = ClientSession(
            connector=TCPConnector(ssl=ssl.create_default_context(cafile=str(self.ca)))
        )
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        await self._stop.wait()
        await self._session.close()
        await runner.cleanup()

    # -- what tests read ------------------------------------------------------------------------

    def kept(self, kind: str) -> Iterator[dict[str, Any]]:
        """The emulated objects of this kind (apps/v1 Deployment, ...), as Helm created them."""
        return (obj for obj in self.objects.values() if obj.get("kind") == kind)

    # -- requests -------------------------------------------------------------------------------

    def _route(self, path: str) -> tuple[Kind, str, str] | None:
        """(kind, namespace, name) when the path names an emulated resource (or its collection)."""
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            group, rest = "", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, rest = parts[1], parts[3:]
        else:
            return None
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 2:
            return None
        kind = self.emulated.get((group, rest[0]))
        if kind is None:
            return None
        return kind, namespace, rest[1] if len(rest) == 2 else ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        routed = self._route(path)
        if routed is not None:
            return await self._emulate(request, *routed)
        if request.method == "GET" and (path in ("/api/v1", "/apis") or path.startswith("/apis/")):
            extended = await self._discovery(path)
            if extended is not None:
                return extended
        return await self._forward(request)

    async def _discovery(self, path: str) -> web.StreamResponse | None:
        """The stand-in's discovery documents, with the emulated kinds added."""
        parts = [p for p in path.split("/") if p]
        kinds = list(self.emulated.values())
        if len(parts) > 3 or (
            len(parts) > 1 and parts[0] == "apis" and not any(k.group == parts[1] for k in kinds)
        ):
            return None
        status, body = await self._upstream_json(path)
        if path == "/api/v1":
            body["resources"] += [k.resource() for k in kinds if not k.group]
            return web.json_response(body)
        if path == "/apis":
            known = {g["name"] for g in body["groups"]}
            for group in sorted({k.group for k in kinds if k.group and k.group not in known}):
                version = next(k.version for k in kinds if k.group == group)
                gv = {"groupVersion": f"{group}/{version}", "version": version}
                body["groups"].append({"name": group, "versions": [gv], "preferredVersion": gv})
            return web.json_response(body)
        group = parts[1]
        mine = [k for k in kinds if k.group == group]
        if len(parts) == 2:  # /apis/{group}
            gv = {"groupVersion": mine[0].group_version, "version": mine[0].version}
            doc = {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [gv]}
            return web.json_response(doc | {"preferredVersion": gv})
        version = parts[2]
        resources = [k.resource() for k in mine if k.version == version]
        if status == 200:
            body["resources"] += resources
        else:
            body = {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}"}
            body["resources"] = resources
        return web.json_response(body)

    async def _upstream_json(self, path: str) -> tuple[int, Any]:
        headers = {"Accept": "application/json", "Authorization": f"Bearer {self.token}"}
        async with self._session.get(self.upstream + path, headers=headers) as resp:
            return resp.status, await resp.json(content_type=None)

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        # client-go sends no bearer token to a plain-HTTP server (this proxy): the proxy adds its own.
        headers.setdefault("Authorization", f"Bearer {self.token}")
        body = await request.read()
        if request.method == "DELETE" and "protobuf" in request.content_type:
            # Helm's release store deletes its Secret with a protobuf DeleteOptions body, which the
            # stand-in refuses (415); the options are the defaults, so the body can go.
            body = b""
            headers.pop("Content-Type", None)
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body or None
        ) as resp:
            out = web.StreamResponse(status=resp.status)
            for key, value in resp.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "date", "server"):
                    out.headers[key] = value
            await out.prepare(request)
            async for chunk in resp.content.iter_any():
                await out.write(chunk)
            await out.write_eof()
            return out

    async def _emulate(
        self, request: web.Request, kind: Kind, namespace: str, name: str
    ) -> web.StreamResponse:
        key = (kind.group, kind.plural, namespace, name)
        what = f'{kind.plural}{"." + kind.group if kind.group else ""} "{name}"'
        if request.method == "GET" and not name:
            items = [
                o for (g, p, ns, _), o in self.objects.items() if (g, p) == key[:2] and ns in ("", namespace)
            ]
            return web.json_response(
                {"kind": f"{kind.kind}List", "apiVersion": kind.group_version, "items": items}
            )
        if request.method == "POST" and not name:
            obj = json.loads(await request.read())
            meta = obj.setdefault("metadata", {})
            key = (kind.group, kind.plural, namespace, meta["name"])
            if key in self.objects:
                return _status(409, "AlreadyExists", f'{what[:-2]}"{meta["name"]}" already exists')
            if kind.namespaced:
                meta["namespace"] = namespace
            meta |= {
                "uid": str(uuid.uuid4()),
                "resourceVersion": "1",
                "creationTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            self.objects[key] = obj
            return web.json_response(obj, status=201)
        if key not in self.objects:
            return _status(404, "NotFound", f"{what} not found")
        if request.method == "GET":
            return web.json_response(self.objects[key])
        if request.method == "DELETE":
            gone = self.objects.pop(key)
            return web.json_response(gone)
        if request.method in ("PUT", "PATCH"):
            body = json.loads(await request.read())
            current = self.objects[key]
            new = body if request.method == "PUT" else _merge(current, body)
            new.setdefault("metadata", {})["uid"] = current["metadata"]["uid"]
            new["metadata"]["resourceVersion"] = str(int(current["metadata"]["resourceVersion"]) + 1)
            self.objects[key] = new
            return web.json_response(new)
        return _status(405, "MethodNotAllowed", f"{request.method} is not supported here")
