"""What the two stand-ins' servers and command lines share: argument types that fail as usage
errors (not tracebacks), the listening loop (bind, serve, announce the bound port, wait for a stop),
and running it until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web


def port_arg(text: str) -> int:
    # Checked here: an out-of-range port would reach socket.bind and end in an OverflowError
    # traceback instead of a usage error.
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 0 and 65535, got {value}")
    return value


def positive_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        # Without this argparse reports "invalid positive_arg value", naming a private function.
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a number greater than 0")
    return value


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def serve_app(
    app: web.Application,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    on_ready: Callable[[int], Awaitable[None] | None] | None = None,
    stop: asyncio.Event | None = None,
    access_log: logging.Logger | None = None,
    before_cleanup: Callable[[], None] | None = None,
    **runner_options: Any,
) -> None:
    """Serve `app` until `stop` is set (forever without one). `on_ready` gets the bound port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    runner = web.AppRunner(
        app, access_log=access_log, handle_signals=False, shutdown_timeout=1.0, **runner_options
    )
    await runner.setup()
    site = web.SockSite(runner, sock, ssl_context=ssl_context)
    await site.start()
    try:
        if on_ready is not None:
            result = on_ready(bound)
            if asyncio.iscoroutine(result):
                await result
        await (stop.wait() if stop is not None else asyncio.Event().wait())
    finally:
        if before_cleanup is not None:
            before_cleanup()
        await runner.cleanup()


def run_until_signalled(serve: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `serve(stop)` on a new event loop; SIGINT and SIGTERM set `stop`."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(stop)

    asyncio.run(main())
