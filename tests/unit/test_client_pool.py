"""`ClientPool` without a simulator: one session (credential object and ARM pipeline) per distinct
credential, shared by all the workspaces reached with it and by no other credential's; each closed
once; and the requests a connection sends for what used to go through azure-ai-ml, each after a
rate-limit token (through a session whose pipeline records instead of sending)."""

from __future__ import annotations

from typing import Any

import pytest

from azureml_operator.azure.client import WorkspaceTarget
from azureml_operator.azure.credentials import CredentialSpec, StaticTokenCredential
from azureml_operator.azure.mlclient import WORKSPACE_API_VERSION, CredentialSession
from azureml_operator.azure.pool import ClientPool
from azureml_operator.azure.ratelimit import ArmRateLimiter
from azureml_operator.azure.serverless import ServerlessEndpoints
from azureml_operator.azure.subscriptions import MarketplaceSubscriptions
from azureml_operator.errors import NotFound

ARM = "https://127.0.0.1:8443"
SUB = "00000000-0000-0000-0000-000000000000"
WS_A = WorkspaceTarget(SUB, "rg-1", "ws-a")
WS_B = WorkspaceTarget(SUB, "rg-1", "ws-b")
STATIC = CredentialSpec("static")
LLAMA = "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct"


class ClosingCredential(StaticTokenCredential):
    def __init__(self) -> None:
        super().__init__()
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class RecordingRest:
    """Stands in for a session's `ArmRest`: records each request, answers from `answers` by path
    (a missing path is a 404, as `ArmRest` raises it; here already classified)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str, Any]] = []
        self.answers: dict[str, Any] = {}
        self.closed = 0

    def request(self, method: str, path: str, api_version: str, body: Any = None) -> Any:
        self.sent.append((method, path, api_version, body))
        if method == "GET" and path not in self.answers:
            raise NotFound(f"{path} was not found")
        return self.answers.get(path)

    def close(self) -> None:
        self.closed += 1


class RecordingLimiter(ArmRateLimiter):
    def __init__(self) -> None:
        super().__init__()
        self.tokens: list[tuple[str, str]] = []

    async def acquire(self, subscription: str, method: str) -> float:
        self.tokens.append((subscription, method))
        return 0.0


@pytest.fixture
def built() -> list[tuple[CredentialSpec, CredentialSession]]:
    return []


@pytest.fixture
def pool(built: list[tuple[CredentialSpec, CredentialSession]]) -> Any:
    limiter = RecordingLimiter()

    def factory(spec: CredentialSpec) -> CredentialSession:
        session = CredentialSession(
            ClosingCredential(), arm_endpoint=ARM, limiter=limiter, executor=p.executor
        )
        session.rest = RecordingRest()  # type: ignore[assignment]
        built.append((spec, session))
        return session

    p = ClientPool(ARM, limiter=limiter, session_factory=factory)
    yield p
    p.close()


async def test_two_workspaces_with_one_credential_share_one_pipeline(
    pool: ClientPool, built: list[Any]
) -> None:
    a = await pool.get(WS_A, STATIC)
    b = await pool.get(WS_B, CredentialSpec("static"))  # an equal spec, not the same object
    assert a is not b and (a.target, b.target) == (WS_A, WS_B)
    assert a.rest is b.rest
    assert await pool.get(WS_A, STATIC) is a
    assert (len(pool), pool.sessions, len(built)) == (2, 1, 1)


async def test_two_credentials_never_share_a_pipeline(pool: ClientPool, built: list[Any]) -> None:
    specs = [
        STATIC,
        CredentialSpec("operator"),
        CredentialSpec("workload-identity", client_id="app-1"),
        CredentialSpec("workload-identity", client_id="app-2"),
        CredentialSpec("service-principal", "app-1", "tenant-1", "secret-1"),
        CredentialSpec("service-principal", "app-1", "tenant-1", "secret-2"),  # a rotated secret
        CredentialSpec("service-principal", "app-1", "tenant-2", "secret-1"),
    ]
    conns = [await pool.get(WS_A, spec) for spec in specs]
    assert len({id(c.rest) for c in conns}) == len(specs)
    assert [spec for spec, _ in built] == specs  # each session built from its own credential
    assert len({id(session.credential) for _, session in built}) == len(specs)
    again = await pool.get(WS_B, CredentialSpec("service-principal", "app-1", "tenant-1", "secret-2"))
    assert again.rest is conns[5].rest and again.rest is not conns[4].rest


async def test_closing_closes_each_pipeline_and_credential_once(pool: ClientPool, built: list[Any]) -> None:
    for ws in (WS_A, WS_B):
        for spec in (STATIC, CredentialSpec("operator")):
            await pool.get(ws, spec)
    assert len(built) == 2
    pool.close()
    assert [(s.rest.closed, s.credential.closed) for _, s in built] == [(1, 1), (1, 1)]
    assert (len(pool), pool.sessions) == (0, 0)


async def test_concurrent_gets_of_one_credential_build_one_session(
    pool: ClientPool, built: list[Any]
) -> None:
    import asyncio

    conns = await asyncio.gather(
        *(pool.get(WorkspaceTarget(SUB, "rg", f"ws-{i}"), STATIC) for i in range(20))
    )
    assert len(built) == 1 and len({id(c.rest) for c in conns}) == 1


WS_A_BODY = {
    "id": WS_A.arm_id,
    "name": "ws-a",
    "location": "eastus2",
    "properties": {"workspaceId": "guid-a"},
}


async def test_the_workspace_is_one_arm_get_after_a_token_and_its_location_comes_with_it(
    pool: ClientPool, built: list[Any]
) -> None:
    conn = await pool.get(WS_A, STATIC)
    rest = built[0][1].rest
    rest.answers[WS_A.arm_id] = WS_A_BODY
    ws = await conn.get_workspace()
    assert (ws.id, ws.location, ws.workspace_id) == (WS_A.arm_id, "eastus2", "guid-a")
    assert await conn.location() == "eastus2" and await conn.location() == "eastus2"
    assert [s[:3] for s in rest.sent] == [("GET", WS_A.arm_id, WORKSPACE_API_VERSION)]
    assert pool.limiter.tokens == [(SUB, "GET")]  # type: ignore[attr-defined]


async def test_the_objects_of_a_workspace_asking_its_location_at_once_share_one_read(
    pool: ClientPool, built: list[Any]
) -> None:
    import asyncio

    conn = await pool.get(WS_A, STATIC)
    rest = built[0][1].rest
    failed = await asyncio.gather(*(conn.location() for _ in range(8)), return_exceptions=True)
    assert all(isinstance(f, NotFound) for f in failed)
    assert len(rest.sent) == 1  # failed together, and the failure is not kept:
    rest.answers[WS_A.arm_id] = WS_A_BODY
    assert await asyncio.gather(*(conn.location() for _ in range(8))) == ["eastus2"] * 8
    assert len(rest.sent) == 2


async def test_subscription_calls_are_the_sdks_requests(pool: ClientPool, built: list[Any]) -> None:
    conn = await pool.get(WS_A, STATIC)
    rest = built[0][1].rest
    path = WS_A.child_id("marketplaceSubscriptions", "llama")
    subs = MarketplaceSubscriptions(conn)
    assert await subs.get("llama") is None
    await subs.begin_create("llama", LLAMA)
    rest.answers[path] = {
        "id": path,
        "name": "llama",
        "properties": {
            "modelId": LLAMA,
            "provisioningState": "Succeeded",
            "marketplaceSubscriptionStatus": "Subscribed",
            "marketplacePlan": {"publisherId": "p", "offerId": "o", "planId": "pl", "termId": "t"},
        },
    }
    got = await subs.get("llama")
    assert got is not None
    assert (got.id, got.name, got.model_id) == (path, "llama", LLAMA)
    assert (got.provisioning_state, got.subscription_status) == ("Succeeded", "Subscribed")
    assert got.marketplace_plan == {"publisherId": "p", "offerId": "o", "planId": "pl"}
    await subs.begin_delete("llama")
    assert rest.sent == [
        ("GET", path, "2024-01-01-preview", None),
        ("PUT", path, "2024-01-01-preview", {"properties": {"modelId": LLAMA}}),
        ("GET", path, "2024-01-01-preview", None),
        ("DELETE", path, "2024-01-01-preview", None),
    ]
    assert [m for _, m in pool.limiter.tokens] == ["GET", "PUT", "GET", "DELETE"]  # type: ignore[attr-defined]


async def test_serverless_keys_and_delete_are_the_sdks_requests(pool: ClientPool, built: list[Any]) -> None:
    conn = await pool.get(WS_A, STATIC)
    rest = built[0][1].rest
    path = WS_A.child_id("serverlessEndpoints", "phi")
    rest.answers[f"{path}/listKeys"] = {"primaryKey": "k1", "secondaryKey": "k2"}
    keys = await ServerlessEndpoints(conn).keys("phi")
    assert (keys.primary, keys.secondary) == ("k1", "k2")
    await ServerlessEndpoints(conn).begin_delete("phi")
    assert rest.sent == [
        ("POST", f"{path}/listKeys", "2024-01-01-preview", None),
        ("DELETE", path, "2024-01-01-preview", None),
    ]
    assert [m for _, m in pool.limiter.tokens] == ["POST", "DELETE"]  # type: ignore[attr-defined]
