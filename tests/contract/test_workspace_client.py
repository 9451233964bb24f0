"""`WorkspaceConnection`s built by `ClientPool`, against the simulator: what each `Connection` method
observes and writes, how failures are classified, how 429s pause the subscription's rate limiter,
how connections and pipelines are shared, and that no Azure call ever blocks the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from polling import eventually

from azureml_operator.azure import credentials
from azureml_operator.azure.client import Connection, DesiredServerless, WorkspaceTarget
from azureml_operator.azure.credentials import CredentialSpec
from azureml_operator.azure.mlclient import CredentialSession
from azureml_operator.azure.pool import ClientPool
from azureml_operator.azure.ratelimit import ArmRateLimiter
from azureml_operator.azure.serverless import ServerlessEndpoints
from azureml_operator.azure.subscriptions import MarketplaceSubscriptions
from azureml_operator.conditions import Reason
from azureml_operator.errors import Recoverable, Terminal, Throttled
from azureml_standins.simulator.process import SimulatorProcess

SUB = "00000000-0000-0000-0000-000000000000"
OTHER_SUB = "11111111-1111-1111-1111-111111111111"
HOME = WorkspaceTarget(SUB, "rg-sim", "ws-sim")
STATIC = CredentialSpec("static")
PHI = "azureml://registries/azureml/models/Phi-4-mini-instruct"
LLAMA = "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct"
PHI_ENDPOINT = DesiredServerless(PHI, "Key", "Disabled", {"team": "a", "owner": "contract"})

PoolMaker = Callable[..., ClientPool]


@pytest.fixture
def make_pool(sim: SimulatorProcess) -> Iterator[PoolMaker]:
    """Pools against the simulator (or `arm_endpoint`), all closed after the test."""
    pools: list[ClientPool] = []

    def make(arm_endpoint: str | None = None, **kwargs: Any) -> ClientPool:
        pools.append(ClientPool(arm_endpoint or sim.base_url, **kwargs))
        return pools[-1]

    yield make
    for p in pools:
        p.close()


@pytest.fixture
def pool(make_pool: PoolMaker) -> ClientPool:
    return make_pool()


@pytest.fixture
async def client(pool: ClientPool) -> Connection:
    return await pool.get(HOME, STATIC)


@pytest.fixture(scope="module")
def two_workspace_sim(simulator: SimulatorProcess) -> Iterator[SimulatorProcess]:
    """A simulator of its own with a second eastus2 workspace, sharing the session's CA."""
    proc = SimulatorProcess(
        latency_scale=0.001,
        cert_dir=simulator.cert_dir,
        extra_args=["--workspace", f"{SUB}/rg-two/ws-two@eastus2"],
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.close()


class FakeClock:
    """Clock and sleep for `ArmRateLimiter`: sleeping only moves the clock, and is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def fault(sim: SimulatorProcess, **rule: Any) -> None:
    sim.admin("POST", "faults", rule)


# -- workspace -----------------------------------------------------------------------------------


async def test_get_workspace(client: Connection) -> None:
    ws = await client.get_workspace()
    assert ws.id == HOME.arm_id
    assert ws.location == "eastus2"
    assert ws.workspace_id == "00000000-0000-0000-0000-00000000abcd"


# -- Marketplace subscriptions -------------------------------------------------------------------


async def test_subscription_lifecycle(client: Connection, sim: SimulatorProcess) -> None:
    assert await MarketplaceSubscriptions(client).get("llama-sub") is None

    sim.admin("POST", "latency", {"scale": 1})  # a 30 s create: begin_* must not wait for it
    started = time.monotonic()
    await MarketplaceSubscriptions(client).begin_create("llama-sub", LLAMA)
    assert time.monotonic() - started < 5
    creating = await MarketplaceSubscriptions(client).get("llama-sub")
    assert creating is not None
    assert creating.provisioning_state == "Creating"
    assert creating.name == "llama-sub" and creating.model_id == LLAMA
    assert creating.id == HOME.child_id("marketplaceSubscriptions", "llama-sub")

    sim.admin("POST", "clock", {"advanceSeconds": 60})
    done = await eventually(
        lambda: MarketplaceSubscriptions(client).get("llama-sub"),
        lambda s: s.provisioning_state == "Succeeded",
    )
    assert (done.provisioning_state, done.subscription_status) == ("Succeeded", "Subscribed")
    assert done.marketplace_plan == {
        "publisherId": "metagenai",
        "offerId": "meta-llama-3-8b-chat-offer",
        "planId": "meta-llama-3-8b-chat-plan",
    }

    sim.admin("POST", "latency", {"scale": 0.001})
    await MarketplaceSubscriptions(client).begin_delete("llama-sub")
    assert (
        await eventually(lambda: MarketplaceSubscriptions(client).get("llama-sub"), lambda s: s is None)
        is None
    )
    await MarketplaceSubscriptions(client).begin_delete("llama-sub")  # deleting what is gone is not an error


# -- serverless endpoints ------------------------------------------------------------------------


async def test_serverless_lifecycle(client: Connection, sim: SimulatorProcess) -> None:
    assert await ServerlessEndpoints(client).get("phi") is None
    await ServerlessEndpoints(client).begin_put("phi", PHI_ENDPOINT)
    ep = await eventually(
        lambda: ServerlessEndpoints(client).get("phi"), lambda e: e.endpoint_state == "Online"
    )
    assert ep.id == HOME.child_id("serverlessEndpoints", "phi")
    assert (ep.name, ep.model_id) == ("phi", PHI)
    assert (ep.provisioning_state, ep.endpoint_state) == ("Succeeded", "Online")
    assert ep.content_safety == "Disabled"  # stored, not the service's default (Enabled)
    assert ep.auth_mode == "Key"
    assert ep.tags == {"team": "a", "owner": "contract"}
    assert ep.inference_uri == f"{sim.base_url}/serverless/eastus2/phi"

    keys = await ServerlessEndpoints(client).keys("phi")
    assert len(keys.primary) == 32 and len(keys.secondary) == 32
    assert keys.primary != keys.secondary
    assert keys.primary not in repr(keys) and keys.secondary not in repr(keys)

    await ServerlessEndpoints(client).begin_delete("phi")
    assert await eventually(lambda: ServerlessEndpoints(client).get("phi"), lambda e: e is None) is None


async def test_unchanged_put_starts_no_operation(client: Connection, sim: SimulatorProcess) -> None:
    await ServerlessEndpoints(client).begin_put("phi", PHI_ENDPOINT)
    await eventually(
        lambda: ServerlessEndpoints(client).get("phi"), lambda e: e.provisioning_state == "Succeeded"
    )
    sim.admin("POST", "latency", {"scale": 1})  # any real update would now stay Updating for 30 s

    await ServerlessEndpoints(client).begin_put("phi", PHI_ENDPOINT)
    same = await ServerlessEndpoints(client).get("phi")
    assert same is not None and same.provisioning_state == "Succeeded"
    assert sim.admin("GET", "stats")["requests"]["PUT serverlessEndpoints"] == 2

    changed = DesiredServerless(PHI, "Key", "Enabled", {"team": "b"})
    await ServerlessEndpoints(client).begin_put("phi", changed)
    updating = await ServerlessEndpoints(client).get("phi")
    assert updating is not None and updating.provisioning_state == "Updating"
    assert (updating.content_safety, updating.tags) == ("Enabled", {"team": "b"})


# -- failure classification ----------------------------------------------------------------------


async def test_partner_model_without_subscription_is_terminal(client: Connection) -> None:
    with pytest.raises(Terminal) as info:
        await ServerlessEndpoints(client).begin_put("llama", DesiredServerless(LLAMA, "Key", None, {}))
    assert info.value.reason == Reason.SUBSCRIPTION_MISSING
    assert info.value.status == 400
    assert await ServerlessEndpoints(client).get("llama") is None


async def test_name_taken_in_the_region_is_terminal(
    two_workspace_sim: SimulatorProcess, make_pool: PoolMaker
) -> None:
    other = two_workspace_sim
    other.admin("POST", "reset")
    pool = make_pool(other.base_url)
    home = await pool.get(HOME, STATIC)
    neighbour = await pool.get(WorkspaceTarget(SUB, "rg-two", "ws-two"), STATIC)
    await ServerlessEndpoints(home).begin_put("shared", PHI_ENDPOINT)

    assert await ServerlessEndpoints(neighbour).get("shared") is None  # the name is not in this workspace...
    with pytest.raises(Terminal) as info:  # ...but it is taken in eastus2
        await ServerlessEndpoints(neighbour).begin_put("shared", PHI_ENDPOINT)
    assert (info.value.reason, info.value.status) == (Reason.NAME_TAKEN, 409)


@pytest.mark.parametrize(
    "target",
    [
        WorkspaceTarget(SUB, "rg-sim", "ws-missing"),
        WorkspaceTarget(SUB, "rg-missing", "ws-sim"),
        WorkspaceTarget(OTHER_SUB, "rg-sim", "ws-sim"),
    ],
    ids=["workspace", "resource-group", "subscription"],
)
async def test_missing_workspace_is_terminal_for_every_call(
    pool: ClientPool, target: WorkspaceTarget
) -> None:
    ws = await pool.get(target, STATIC)
    calls: list[Callable[[], Awaitable[Any]]] = [
        ws.get_workspace,
        lambda: MarketplaceSubscriptions(ws).get("llama-sub"),
        lambda: ServerlessEndpoints(ws).get("phi"),  # never None: the workspace, not the endpoint, is missing
        lambda: ServerlessEndpoints(ws).begin_put("phi", PHI_ENDPOINT),
    ]
    for call in calls:
        with pytest.raises(Terminal) as info:
            await call()
        assert info.value.reason == Reason.WORKSPACE_NOT_FOUND


async def test_server_error_is_recoverable_and_does_not_pause(
    client: Connection, pool: ClientPool, sim: SimulatorProcess
) -> None:
    fault(sim, method="GET", resourceType="serverlessEndpoints", status=503, count=1)
    with pytest.raises(Recoverable) as info:
        await ServerlessEndpoints(client).get("phi")
    assert not isinstance(info.value, Throttled)
    assert (info.value.reason, info.value.status) == (Reason.AZURE_UNAVAILABLE, 503)
    assert await pool.limiter.acquire(SUB, "GET") == 0.0
    assert await ServerlessEndpoints(client).get("phi") is None  # the next call goes through


@pytest.mark.parametrize("resource_type", ["workspaces", "serverlessEndpoints"])
async def test_429_pauses_the_subscription_for_retry_after(
    make_pool: PoolMaker, sim: SimulatorProcess, resource_type: str
) -> None:
    clock = FakeClock()
    pool = make_pool(limiter=ArmRateLimiter(clock=clock, sleep=clock.sleep))
    ws = await pool.get(HOME, STATIC)
    fault(sim, resourceType=resource_type, status=429, retryAfter=7, count=1)
    with pytest.raises(Throttled) as info:
        await (ws.get_workspace() if resource_type == "workspaces" else ServerlessEndpoints(ws).get("phi"))
    assert info.value.retry_after == 7.0
    assert info.value.reason == Reason.THROTTLED
    assert clock.slept == []

    assert await pool.limiter.acquire(OTHER_SUB, "GET") == 0.0  # other subscriptions are not held
    assert (await ws.get_workspace()).location == "eastus2"  # the client's own next call waits first
    assert clock.slept == [7.0]
    assert await pool.limiter.acquire(SUB, "PUT") == 0.0  # and the pause is over


async def test_rejected_token_is_classified_alike_on_every_call(
    client: Connection, sim: SimulatorProcess
) -> None:
    fault(sim, status=401, code="InvalidAuthenticationToken", message="The access token is invalid.")
    for call in (
        client.get_workspace,
        lambda: ServerlessEndpoints(client).keys("phi"),
        lambda: ServerlessEndpoints(client).get("phi"),
        lambda: MarketplaceSubscriptions(client).get("llama-sub"),
    ):
        with pytest.raises(Terminal) as info:
            await call()
        assert info.value.reason == Reason.CREDENTIAL_REJECTED


# -- client sharing ------------------------------------------------------------------------------


async def test_pool_shares_one_client_per_target_and_credential(pool: ClientPool) -> None:
    first = await pool.get(HOME, STATIC)
    assert await pool.get(WorkspaceTarget(SUB, "rg-sim", "ws-sim"), CredentialSpec("static")) is first
    sp1 = await pool.get(HOME, CredentialSpec("service-principal", "app", "tenant", "secret-1"))
    sp2 = await pool.get(HOME, CredentialSpec("service-principal", "app", "tenant", "secret-2"))
    operator = await pool.get(HOME, CredentialSpec("operator"))
    other_ws = await pool.get(WorkspaceTarget(SUB, "rg-sim", "ws-other"), STATIC)
    assert len({id(c) for c in (first, sp1, sp2, operator, other_ws)}) == 5
    assert await pool.get(HOME, CredentialSpec("service-principal", "app", "tenant", "secret-1")) is sp1
    assert len(pool) == 5


async def test_concurrent_gets_build_one_session_off_the_loop(
    make_pool: PoolMaker, sim: SimulatorProcess
) -> None:
    builds: list[str] = []
    loop_thread = threading.current_thread().name

    def factory(spec: CredentialSpec) -> CredentialSession:
        builds.append(threading.current_thread().name)
        time.sleep(0.1)  # a slow build widens the window for a second one
        return CredentialSession(
            credentials.build(spec, sim.base_url),
            arm_endpoint=sim.base_url,
            limiter=pool.limiter,
            executor=pool.executor,
        )

    pool = make_pool(session_factory=factory)
    clients = await asyncio.gather(*(pool.get(HOME, CredentialSpec("static")) for _ in range(5)))
    assert len(builds) == 1
    assert builds[0] != loop_thread and builds[0].startswith("azure")
    assert all(c is clients[0] for c in clients)
    assert (await clients[0].get_workspace()).location == "eastus2"


# -- the event loop ------------------------------------------------------------------------------


async def test_slow_azure_call_does_not_block_the_event_loop(
    client: Connection, sim: SimulatorProcess
) -> None:
    fault(sim, method="GET", resourceType="workspaces", latencyMs=600, count=1)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    try:
        await client.get_workspace()
    finally:
        task.cancel()
    elapsed = time.monotonic() - started
    assert elapsed >= 0.6  # the injected latency really applied
    assert ticks >= 0.25 * elapsed / 0.01, f"ticker ran {ticks} times in {elapsed:.2f} s"


async def test_slow_calls_run_in_parallel(client: Connection, sim: SimulatorProcess) -> None:
    fault(sim, method="GET", resourceType="workspaces", latencyMs=500, count=4)
    started = time.monotonic()
    results = await asyncio.gather(*(client.get_workspace() for _ in range(4)))
    assert [r.location for r in results] == ["eastus2"] * 4
    assert time.monotonic() - started < 1.5  # serialised, they would take at least 2 s


async def test_one_credential_pipeline_keeps_a_connection_for_every_thread(
    make_pool: PoolMaker, sim: SimulatorProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """All workspaces of a credential share its one connection pool: with more threads than
    requests' default of ten, none may open a connection the pool then drops."""
    pool = make_pool(concurrency=16)
    conns = [await pool.get(WorkspaceTarget(SUB, "rg-sim", f"ws-{i}"), STATIC) for i in range(16)]
    assert len({id(c.rest) for c in conns}) == 1
    fault(sim, method="GET", resourceType="serverlessEndpoints", latencyMs=300, count=32)
    for _ in range(2):  # the second round reuses what the first opened
        await asyncio.gather(*(ServerlessEndpoints(c).get("phi") for c in conns), return_exceptions=True)
    assert not [r for r in caplog.records if "Connection pool is full" in r.getMessage()]
