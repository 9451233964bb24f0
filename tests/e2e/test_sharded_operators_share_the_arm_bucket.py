"""Sharding: two operator instances, each watching its own namespace, against one subscription whose
ARM write bucket is far smaller than the operator assumes (10 tokens refilling 4/s, not 200 + 10/s).
Neither instance can count the other's writes; both pace from ARM's
`x-ms-ratelimit-remaining-subscription-writes` header, so together they stay inside the bucket:
every endpoint Ready, each created with one PUT, not one 429 received. With the header pacing
switched off (tried by hand) the same test gets 66 PUTs for 42 endpoints: the rest were refused."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator

import pytest
from e2e_helpers import PLURALS, G, V, manifest, ready
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from azureml_standins.kube.process import KubeProcess
from azureml_standins.operator import OperatorProcess
from azureml_standins.simulator.process import SimulatorProcess

SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg-shards"
WORKSPACES_PER_SHARD = 7
PHI = ["Phi-4-mini-instruct", "Phi-3-mini-4k-instruct", "Phi-3.5-mini-instruct"]  # no subscription needed
SHARDS = ("a", "b")


def workspaces(shard: str) -> list[str]:
    return [f"ws-{shard}-{i}" for i in range(WORKSPACES_PER_SHARD)]


@pytest.fixture
def shared_subscription() -> Iterator[SimulatorProcess]:
    """A simulator of its own: the shared one has a single workspace, and one model serves once per workspace."""
    seeds = [f"--workspace={SUB}/{RG}/{ws}@eastus2" for shard in SHARDS for ws in workspaces(shard)]
    with SimulatorProcess(latency_scale=0.005, extra_args=[*seeds, "--throttle-writes", "10/4"]) as sim:
        yield sim


@pytest.fixture
def shard_namespaces(api_client: client.ApiClient) -> Iterator[dict[str, str]]:
    core, custom = client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)
    names = {shard: f"e2e-shard-{shard}-{uuid.uuid4().hex[:6]}" for shard in SHARDS}
    for ns in names.values():
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    yield names
    for ns in names.values():  # their operators are stopped by now: nothing would remove a finalizer
        for plural in PLURALS.values():
            for obj in custom.list_namespaced_custom_object(G, V, ns, plural).get("items", []):
                name = obj["metadata"]["name"]
                with contextlib.suppress(ApiException):
                    custom.patch_namespaced_custom_object(
                        G, V, ns, plural, name, {"metadata": {"finalizers": None}}
                    )
                    custom.delete_namespaced_custom_object(G, V, ns, plural, name)


def test_two_shards_on_one_subscription_receive_no_429(
    kube: KubeProcess,
    api_client: client.ApiClient,
    shared_subscription: SimulatorProcess,
    shard_namespaces: dict[str, str],
) -> None:
    sim = shared_subscription
    custom = client.CustomObjectsApi(api_client)
    expected: dict[str, list[str]] = {}
    with contextlib.ExitStack() as stack:
        for ns in shard_namespaces.values():
            stack.enter_context(
                OperatorProcess(
                    kubeconfig=kube.kubeconfig,
                    arm_endpoint=sim.base_url,
                    ca=sim.ca,
                    namespaces=[ns],
                    drift_interval=600,
                    default_workspace=None,
                    startup_timeout=180,  # generous: two operators start at once on a shared machine
                )
            )
        for shard, ns in shard_namespaces.items():
            for ws in workspaces(shard):
                spec = {"subscriptionId": SUB, "resourceGroup": RG, "workspaceName": ws}
                custom.create_namespaced_custom_object(
                    G, V, ns, "workspaces", manifest("Workspace", ws, spec)
                )
        for shard, ns in shard_namespaces.items():
            expected[ns] = []
            for ws in workspaces(shard):
                for model in PHI:
                    name = f"{ws}-{model.lower().replace('.', '')}"
                    spec = {
                        "modelId": f"azureml://registries/azureml/models/{model}",
                        "workspaceRef": {"name": ws},
                    }
                    body = manifest("ServerlessEndpoint", name, spec)
                    custom.create_namespaced_custom_object(G, V, ns, "serverlessendpoints", body)
                    expected[ns].append(name)
        assert sum(len(v) for v in expected.values()) == 42

        deadline = time.monotonic() + 180  # ~84 writes at 4/s need ~20 s; generous for a busy machine
        not_ready: dict[str, list[str]] = expected
        while not_ready and time.monotonic() < deadline:
            time.sleep(1.0)
            not_ready = {}
            for ns, names in expected.items():
                items = custom.list_namespaced_custom_object(G, V, ns, "serverlessendpoints")["items"]
                done = {o["metadata"]["name"] for o in items if ready(o).get("status") == "True"}
                missing = [n for n in names if n not in done]
                if missing:
                    not_ready[ns] = missing
        stats = sim.admin("GET", "stats")
        assert not not_ready, f"not Ready: {not_ready}; simulator: {stats}"
        # ARM counts a refused request too: one PUT per endpoint means none was refused and retried.
        assert stats["requests"].get("PUT serverlessEndpoints", 0) == 42  # each created once
        assert stats["throttled"] == 0, stats
