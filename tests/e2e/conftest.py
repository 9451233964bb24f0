"""End-to-end fixtures: the real operator (`azureml-operator run`, a child process running kopf)
against the Kubernetes stand-in and the ARM simulator over TLS. The stand-in and the simulator are
shared by the session; every test gets a fresh namespace, a reset simulator, and its own operator
watching only that namespace."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2e_helpers import DRIFT_INTERVAL, ROOT, Cluster, Operators, forget_namespace
from kubernetes import client

from azureml_standins.kube.process import KubeProcess
from azureml_standins.operator import OperatorProcess
from azureml_standins.simulator.process import SimulatorProcess

# Short enough that a test sees a drift check, long enough that an idle object is quiet.
E2E_LATENCY_SCALE = 0.005  # a serverless create takes ~0.3 s simulated


@pytest.fixture(scope="session")
def kube() -> Iterator[KubeProcess]:
    with KubeProcess(crds=[ROOT / "crds"], bookmark_interval=1.0) as process:
        yield process


@pytest.fixture(scope="session")
def api_client(kube: KubeProcess) -> client.ApiClient:
    return kube.client()


@pytest.fixture
def sim(simulator: SimulatorProcess) -> SimulatorProcess:
    simulator.admin("POST", "reset")
    simulator.admin("POST", "latency", {"scale": E2E_LATENCY_SCALE})
    return simulator


@pytest.fixture
def namespace(api_client: client.ApiClient) -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api_client).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    forget_namespace(api_client, name)


@pytest.fixture
def start_operator(
    kube: KubeProcess, sim: SimulatorProcess, namespace: str
) -> Iterator[Callable[..., OperatorProcess]]:
    """Start (another) operator for this test's namespace; all are stopped at the end."""
    started: list[OperatorProcess] = []

    def start(**kwargs: Any) -> OperatorProcess:
        kwargs.setdefault("drift_interval", DRIFT_INTERVAL)
        op = OperatorProcess(
            kubeconfig=kube.kubeconfig, arm_endpoint=sim.base_url, ca=sim.ca, namespaces=[namespace], **kwargs
        )
        started.append(op)
        return op.start()

    yield start
    for op in started:
        op.close()


@pytest.fixture
def operator(start_operator: Callable[..., OperatorProcess]) -> OperatorProcess:
    return start_operator()


@pytest.fixture
def cluster(api_client: client.ApiClient, namespace: str, operator: OperatorProcess) -> Cluster:
    """The test's namespace, with an operator watching it."""
    return Cluster(api_client, namespace, operator.log_text)


@pytest.fixture
def operators(start_operator: Callable[..., OperatorProcess]) -> Iterator[Operators]:
    """Operators started in turn (the first now), for tests that stop, kill and restart them."""
    ops = Operators(start_operator)
    ops.start()
    yield ops


@pytest.fixture
def restartable(api_client: client.ApiClient, namespace: str, operators: Operators) -> Cluster:
    return Cluster(api_client, namespace, operators.log)
