"""Serve a `Simulator` over HTTPS with aiohttp: ARM under `/subscriptions/`, the inference data plane
under `/serverless/` and `/online/`, the admin API under `/_sim/`, and the workspace discovery document.

Only this module knows aiohttp; the rules below it work on plain `Request`/`Reply` values.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from azureml_standins.serving import serve_app
from azureml_standins.simulator import admin
from azureml_standins.simulator.core import Admission, Simulator
from azureml_standins.simulator.errors import ArmError
from azureml_standins.simulator.inference import DataPlane
from azureml_standins.simulator.messages import Reply, Request

log = logging.getLogger("azureml_standins.simulator")


def _json_response(reply: Reply, extra: dict[str, str]) -> web.Response:
    headers = {**extra, **reply.headers}
    if reply.body is None:
        return web.Response(status=reply.status, headers=headers)
    if isinstance(reply.body, str):
        headers.setdefault("Content-Type", "text/plain")
        return web.Response(status=reply.status, text=reply.body, headers=headers)
    headers["Content-Type"] = "application/json; charset=utf-8"
    return web.Response(status=reply.status, body=json.dumps(reply.body).encode(), headers=headers)


def make_app(sim: Simulator) -> web.Application:
    plane = DataPlane(sim)
    app = web.Application(client_max_size=64 * 1024 * 1024)

    async def handler(request: web.Request) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        ids = {"x-ms-request-id": request_id, "x-ms-correlation-request-id": request_id}
        if "x-ms-client-request-id" in request.headers:
            ids["x-ms-client-request-id"] = request.headers["x-ms-client-request-id"]
        try:
            return await _serve(request, ids)
        except Exception:  # a simulator bug must still answer in Azure's shape, and be visible
            log.exception("simulator failed on %s %s", request.method, request.path)
            err = ArmError(
                500, "InternalServerError", "The simulator failed to process the request (a simulator bug)."
            )
            return _json_response(Reply(500, err.body()), ids)

    async def _serve(request: web.Request, ids: dict[str, str]) -> web.StreamResponse:
        raw = await request.read()
        body: Any = None
        path = request.path
        bad_content: ArmError | None = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as e:
                bad_content = ArmError(
                    400,
                    "InvalidRequestContent",
                    f"The request content was invalid and could not be deserialized: '{e}'.",
                )
                # ARM authenticates (and throttles) a request before it reads the content: an
                # unauthenticated request with a broken body gets 401, not 400, and is counted.
                if not path.startswith("/subscriptions/"):
                    return _json_response(Reply(400, bad_content.body()), ids)
        req = Request(
            request.method, path, dict(request.query), request.headers, f"https://{request.host}", body
        )
        if path.startswith("/_sim/"):
            return _json_response(admin.handle(sim, req), {})
        if path.startswith(("/serverless/", "/online/")):
            return _json_response(plane.handle(req), ids)
        if path == "/discovery":
            base = req.base_url
            return _json_response(
                Reply(
                    200,
                    {
                        k: base
                        for k in (
                            "api",
                            "catalog",
                            "experimentation",
                            "history",
                            "modelmanagement",
                            "pipelines",
                        )
                    },
                ),
                ids,
            )
        if path.startswith("/subscriptions/"):
            admitted = sim.admit(req)
            if isinstance(admitted, Reply):
                return _json_response(admitted, ids)
            if bad_content is not None:
                return _json_response(Reply(400, bad_content.body(), admitted.headers), ids)
            await _delay(admitted)
            return _json_response(sim.dispatch(req, admitted), ids)
        # Registry discovery and registry model reads (made best-effort by the SDK when deploying a
        # registry model) and anything else: ARM's not-found, which the SDK tolerates there.
        err = ArmError(404, "NotFound", f"No resource is served at '{path}'.")
        return _json_response(Reply(404, err.body()), ids)

    app.router.add_route("*", "/{tail:.*}", handler)
    return app


async def _delay(admitted: Admission) -> None:
    if admitted.firing.latency_ms:
        await asyncio.sleep(admitted.firing.latency_ms / 1000)


async def serve(
    sim: Simulator,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext,
    *,
    on_ready: Callable[[int], Awaitable[None] | None] | None = None,
    stop: asyncio.Event | None = None,
    access_log: bool = False,
) -> None:
    """Serve until `stop` is set (forever without one). `on_ready` gets the bound port."""
    await serve_app(
        make_app(sim),
        host,
        port,
        ssl_context=ssl_context,
        on_ready=on_ready,
        stop=stop,
        access_log=log if access_log else None,
    )


def server_ssl_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx
