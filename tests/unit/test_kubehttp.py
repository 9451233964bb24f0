"""kopf's session: requests other than watches are bounded, watches never wait for them, and no more
connections are opened than requests may be in flight."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from azureml_operator import kubehttp


class Server:
    def __init__(self) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.peers: set[object] = set()
        self.release_watch = asyncio.Event()

    async def item(self, request: web.Request) -> web.Response:
        self.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        if request.query.get("watch") == "true":
            response = web.StreamResponse()
            await response.prepare(request)
            await response.write(b'{"type": "ADDED"}\n')
            await self.release_watch.wait()
            return response  # type: ignore[return-value]
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.02)
            return web.json_response({"name": request.match_info["name"]})
        finally:
            self.in_flight -= 1


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    state = Server()
    app = web.Application()
    app.router.add_get("/items/{name}", state.item)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield state, f"http://127.0.0.1:{port}"
    finally:
        state.release_watch.set()
        await runner.cleanup()


def session(limit: int) -> aiohttp.ClientSession:
    return kubehttp.session(
        ssl_context=ssl.create_default_context(), headers={}, proxy=None, trust_env=False, limit=limit
    )


async def test_at_most_the_limit_of_requests_are_in_flight_and_each_body_is_still_there(
    server: tuple[Server, str],
) -> None:
    state, base = server
    async with session(limit=4) as http:

        async def get(i: int) -> object:
            response = await http.get(f"{base}/items/{i}")
            return await response.json()

        bodies = await asyncio.gather(*(get(i) for i in range(40)))
    assert bodies == [{"name": str(i)} for i in range(40)]
    assert state.most_in_flight == 4
    assert len(state.peers) <= 4  # a burst opens no more connections than may be in flight


async def test_a_watch_holds_no_slot(server: tuple[Server, str]) -> None:
    state, base = server
    async with session(limit=1) as http:
        watch = await asyncio.wait_for(http.get(f"{base}/items/all?watch=true"), timeout=5)
        assert await watch.content.readline() == b'{"type": "ADDED"}\n'
        # The one slot is free although the watch stays open.
        response = await asyncio.wait_for(http.get(f"{base}/items/x"), timeout=5)
        assert await response.json() == {"name": "x"}
        state.release_watch.set()
        watch.close()


async def test_the_login_hands_kopf_a_bounded_session_with_the_credentials_it_read() -> None:
    import kopf

    from azureml_operator.running import bounded_session

    info = kopf.ConnectionInfo(server="https://kube.example:6443", token="t0k", default_namespace="ns1")
    context = bounded_session(info, info.as_ssl_context())
    try:
        assert context.server == "https://kube.example:6443"
        assert context.default_namespace == "ns1"
        assert context.aiohttp_session.headers["Authorization"] == "Bearer t0k"
        assert any(isinstance(m, kubehttp.RequestBound) for m in context.aiohttp_session._middlewares)
    finally:
        await context.aiohttp_session.close()
