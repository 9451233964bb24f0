"""The server embedded in a test's own event loop (`serve()` with a `Store`), and watch streams
whose clients disconnect: they must unsubscribe at once rather than linger."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from azureml_standins.kube.auth import ADMIN_TOKEN
from azureml_standins.kube.server import serve
from azureml_standins.kube.store import Store


async def test_disconnected_watches_unsubscribe() -> None:
    store = Store()
    stop = asyncio.Event()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve(store, "127.0.0.1", 0, on_ready=ready.set_result, stop=stop))
    port = await asyncio.wait_for(ready, 10)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as session:
            async with session.get(f"{base}/api/v1/namespaces/default/configmaps?watch=true") as resp:
                async with session.post(
                    f"{base}/api/v1/namespaces/default/configmaps", json={"metadata": {"name": "a"}}
                ) as created:
                    assert created.status == 201
                line = await asyncio.wait_for(resp.content.readline(), 5)
                assert json.loads(line)["type"] == "ADDED"
                assert len(store._watchers) == 1
            for _ in range(200):
                if not store._watchers:
                    break
                await asyncio.sleep(0.01)
            assert not store._watchers
            # The server keeps serving, and shuts down with open watches.
            async with session.get(f"{base}/api/v1/namespaces/default/configmaps?watch=true") as resp:
                assert resp.status == 200
                stop.set()
                await asyncio.wait_for(server, 10)
    finally:
        stop.set()
        await asyncio.wait_for(server, 10)
