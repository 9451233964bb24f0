"""kopf's own Kubernetes requests (finalizers, Events, lists), a bounded number at a time.

kopf's built-in HTTP session has no connection limit: it opens a connection for every request in
flight and keeps each one it ever opened. Every TLS connection carries asyncio's 256 KiB read
buffer, zero-filled and so resident. When 10 000 objects arrived at once, kopf added finalizers to
hundreds of them at the same moment: about 480 connections, +160 MB of RSS for the rest of the
process's life (benchmarks/README.md).

A connection limit would not do: it counts watch streams too, one per kind and namespace, each open
for minutes, so any fixed limit either starves the watches or bounds nothing. What is bounded here
is requests in flight other than watches; the body is read inside the bound, so the connection is
back in the pool before the next request takes the slot. Waiting for a slot counts against kopf's
own request timeout, as waiting for a connection would.
"""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
from aiohttp.client_middlewares import ClientHandlerType

REQUESTS_AT_ONCE = 32


def is_watch(request: aiohttp.ClientRequest) -> bool:
    return request.url.query.get("watch") in ("true", "1")


class RequestBound:
    """An aiohttp client middleware: at most `limit` requests other than watches at a time."""

    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: ClientHandlerType
    ) -> aiohttp.ClientResponse:
        if is_watch(request):
            return await handler(request)
        async with self._slots:
            response = await handler(request)
            await response.read()  # kept on the response; whoever reads it later gets it from there
            return response


def session(
    *,
    ssl_context: ssl.SSLContext,
    headers: dict[str, str],
    proxy: str | None,
    trust_env: bool,
    limit: int = REQUESTS_AT_ONCE,
) -> aiohttp.ClientSession:
    """What kopf builds from its connection info (credentials travel in `headers`), with requests
    bounded. kopf owns it, and closes it, once a login handler returns it."""
    return aiohttp.ClientSession(
        # No connection limit, deliberately: the watches need theirs whatever is in flight.
        connector=aiohttp.TCPConnector(limit=0, ssl=ssl_context),
        headers=headers,
        proxy=proxy,
        trust_env=trust_env,
        middlewares=(RequestBound(limit),),
    )
