"""Two replicas of the operator as the chart runs them with `replicas: 2`: its ServiceAccount and
RBAC (the leader-election Role included), its leader-election flags, one Lease. Only the leader
reconciles; killed (SIGKILL) in the middle of creations, the standby takes the Lease once it has
expired and finishes every creation, each Azure resource PUT exactly once. Stopped gracefully, the
leader hands the Lease over at once. The failover times are printed (pytest -s) and recorded in
docs/high-availability.md."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pytest
import requests
from e2e_helpers import LLAMA, MISTRAL, PHI, ROOT, Cluster, free_port, manifest, ready, stats
from kubernetes import client

from azureml_standins.kube.process import KubeProcess
from azureml_standins.operator import STARTED, OperatorProcess
from azureml_standins.simulator.process import SimulatorProcess

sys.path.append(str(ROOT / "tests" / "chart"))
from builtins_proxy import BuiltinsProxy
from chart_helpers import Helm, Release

CANDIDATE = "is a candidate for lease"
# conftest.py's values, not imported from it: run beside tests/kube, `conftest` may name that one.
DRIFT_INTERVAL = 3.0
E2E_LATENCY_SCALE = 0.005
PHI3 = "azureml://registries/azureml/models/Phi-3-mini-4k-instruct"
PHI35 = "azureml://registries/azureml/models/Phi-3.5-mini-instruct"


class Replica(OperatorProcess):
    """One pod of the Deployment: its own POD_NAME; started once it is a candidate (a standby
    never logs kopf's start)."""

    def __init__(self, pod: str, **kwargs: Any) -> None:
        # A candidate imports what the operator's start needs before it stands: slow on a busy machine.
        super().__init__(startup_timeout=180, **kwargs)
        self.pod = pod
        self.env["POD_NAME"] = pod

    def start(self) -> Self:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if CANDIDATE in self.log_text():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.pod} did not start; log:\n{self.log_text()}")

    @property
    def leads(self) -> bool:
        return STARTED in self.log_text()


@dataclass
class HA:
    cluster: Cluster
    kube: KubeProcess
    release: Release
    replicas: list[Replica]
    lease: tuple[str, str]  # namespace, name
    health_ports: dict[str, int]

    def holder(self) -> str | None:
        api = client.CoordinationV1Api(self.kube.client())
        try:
            spec = api.read_namespaced_lease(self.lease[1], self.lease[0]).spec
        except client.ApiException:
            return None
        return spec.holder_identity

    def leader(self) -> Replica:
        def led() -> Replica | None:
            holder = self.holder() or ""
            return next((r for r in self.replicas if holder.startswith(r.pod + "_") and r.leads), None)

        found: Replica = self.cluster.wait("a replica to lead", led, timeout=60)
        return found

    def log(self) -> str:
        return "\n".join(f"=== {r.pod} ===\n{r.log_text()}" for r in self.replicas)


def election_args(release: Release) -> list[str]:
    """The chart's leader-election flags, as its Deployment passes them."""
    args = [a for a in release.container["args"] if a.startswith(("--leader-election", "--lease-"))]
    assert "--leader-election" in args and any(a.startswith("--lease-name=") for a in args), args
    return args


@pytest.fixture
def ha(
    kube: KubeProcess, api_client: client.ApiClient, namespace: str, sim: SimulatorProcess, tmp_path: Path
) -> Iterator[HA]:
    release_name, ops = f"ha-{uuid.uuid4().hex[:6]}", f"{namespace}-ops"
    with BuiltinsProxy(kube.url, tmp_path, ca=kube.ca) as proxy:
        release = Helm(proxy.kubeconfig).install(
            {"replicas": 2, "watchNamespaces": [namespace], "crds": {"install": False}},
            release=release_name,
            namespace=ops,
        )
    assert release.deployment["spec"]["replicas"] == 2
    account = release.one("ServiceAccount")["metadata"]["name"]
    kubeconfig = kube.service_account_kubeconfig(ops, account, path=tmp_path / "operator-kubeconfig")
    flags = election_args(release)
    lease_name = next(a.split("=", 1)[1] for a in flags if a.startswith("--lease-name="))
    ports = {pod: free_port() for pod in ("pod-a", "pod-b")}
    replicas = [
        Replica(
            pod,
            kubeconfig=kubeconfig,
            arm_endpoint=sim.base_url,
            ca=sim.ca,
            namespaces=[namespace],
            drift_interval=DRIFT_INTERVAL,
            extra_args=[*flags, "--health-port", str(ports[pod])],
        )
        for pod in ports
    ]
    for replica in replicas:
        replica.env["POD_NAMESPACE"] = ops  # the downward API's, in a pod
    kube.reset_denied()
    state = HA(Cluster(api_client, namespace, lambda: ""), kube, release, replicas, (ops, lease_name), ports)
    state.cluster = Cluster(api_client, namespace, state.log)
    try:
        yield state
    finally:
        for replica in replicas:
            replica.close()
        rbac = client.RbacAuthorizationV1Api(api_client)
        for role in release.of("ClusterRole"):
            rbac.delete_cluster_role(role["metadata"]["name"])
        for binding in release.of("ClusterRoleBinding"):
            rbac.delete_cluster_role_binding(binding["metadata"]["name"])


def healthz(port: int) -> dict[str, Any]:
    resp = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json() if resp.content else {}
    return body


OBJECTS = [
    manifest("ModelSubscription", "llama", {"modelId": LLAMA}),
    manifest("ModelSubscription", "mistral", {"modelId": MISTRAL}),
    manifest("ServerlessEndpoint", "phi4", {"modelId": PHI}),
    manifest("ServerlessEndpoint", "phi3", {"modelId": PHI3}),
    manifest("ServerlessEndpoint", "phi35", {"modelId": PHI35}),
    manifest("ServerlessEndpoint", "llama-chat", {"modelId": LLAMA, "subscriptionRef": {"name": "llama"}}),
    manifest(
        "ServerlessEndpoint", "mistral-chat", {"modelId": MISTRAL, "subscriptionRef": {"name": "mistral"}}
    ),
]
ARM_TYPES = {"ModelSubscription": "marketplaceSubscriptions", "ServerlessEndpoint": "serverlessEndpoints"}


def azure_requests(sim: SimulatorProcess) -> int:
    return sum(stats(sim)["requests"].values())


def test_killed_mid_creation_the_standby_takes_over_and_creates_nothing_twice(
    ha: HA, sim: SimulatorProcess
) -> None:
    a, b = ha.replicas
    a.start()
    assert ha.leader() is a
    b.start()
    standby = healthz(ha.health_ports["pod-b"])
    assert standby["leader"] is False and standby["identity"].startswith("pod-b_"), standby

    sim.admin("POST", "latency", {"scale": 1.0})  # a serverless create takes 120 simulated seconds
    for doc in OBJECTS:
        ha.cluster.apply(doc)

    def creating() -> list[str] | None:
        objs = [ha.cluster.get("ServerlessEndpoint", d["metadata"]["name"]) for d in OBJECTS[2:]]
        names = [
            o["metadata"]["name"]
            for o in objs
            if o and (o.get("status") or {}).get("azureResourceId") and ready(o).get("reason") == "Creating"
        ]
        return names or None

    in_flight = ha.cluster.wait("a creation in flight", creating, timeout=60)
    assert not b.leads, "the standby must not run kopf while the leader lives"

    a.kill()
    killed = time.monotonic()
    # A request the leader sent just before it died may reach the simulator a moment later; the
    # standby cannot act for a lease duration, so a second's wait takes nothing from it.
    time.sleep(1.0)
    before = azure_requests(sim)
    ha.cluster.wait("the standby's first Azure request", lambda: azure_requests(sim) > before, timeout=90)
    failover = time.monotonic() - killed
    print(
        f"\nfailover (SIGKILL -> the standby's first Azure request): {failover:.1f} s; in flight: {in_flight}"
    )
    timings = dict(a.split("=", 1) for a in election_args(ha.release) if "=" in a)
    # Never before the Lease ran out (the leader might only have paused), and not forever.
    assert failover >= float(timings["--lease-duration"]) - float(timings["--lease-retry-period"]), failover
    assert failover < 60, failover
    assert b.leads and (ha.holder() or "").startswith("pod-b_")

    # Azure finishes the creations in flight, and those still to come are quick.
    sim.admin("POST", "latency", {"scale": E2E_LATENCY_SCALE})
    sim.admin("POST", "clock", {"advanceSeconds": 300})
    for doc in OBJECTS:
        ha.cluster.wait_ready(doc["kind"], doc["metadata"]["name"], timeout=90)

    after = stats(sim)
    for kind, arm_type in ARM_TYPES.items():
        wanted = sum(1 for d in OBJECTS if d["kind"] == kind)
        # Each of the `wanted` resources exists, so each took at least one PUT: as many PUTs as
        # resources means exactly one each.
        assert after["resources"].get(arm_type) == wanted, after["resources"]
        assert after["requests"].get(f"PUT {arm_type}", 0) == wanted, after["requests"]
    for doc in OBJECTS[2:]:
        assert ha.cluster.secret(f"{doc['metadata']['name']}-keys"), doc["metadata"]["name"]
    assert not [e for e in ha.cluster.events() if e["reason"] == "Conflict"]
    assert ha.kube.denied()["count"] == 0, ha.kube.denied()["denied"]


def test_a_leader_stopped_gracefully_hands_the_lease_over_at_once(ha: HA, sim: SimulatorProcess) -> None:
    a, b = ha.replicas
    a.start()
    assert ha.leader() is a
    b.start()
    ha.cluster.apply(manifest("ServerlessEndpoint", "phi4", {"modelId": PHI}))
    ha.cluster.wait_ready("ServerlessEndpoint", "phi4", timeout=60)
    before = stats(sim)

    stopping = time.monotonic()
    a.stop()  # SIGTERM, as a rolling update or a drain
    assert "released lease" in a.log_text()
    ha.cluster.wait("pod-b to hold the Lease", lambda: (ha.holder() or "").startswith("pod-b_"), timeout=30)
    handover = time.monotonic() - stopping
    print(f"\nhandover (SIGTERM -> the standby holds the Lease): {handover:.1f} s")
    # The released Lease is taken at the standby's next look, not after a lease duration.
    assert handover < float(
        dict(a.split("=", 1) for a in election_args(ha.release) if "=" in a)["--lease-duration"]
    )
    assert ha.leader() is b

    ha.cluster.apply(manifest("ServerlessEndpoint", "phi3", {"modelId": PHI3}))
    ha.cluster.wait_ready("ServerlessEndpoint", "phi3", timeout=60)
    after = stats(sim)
    assert (
        after["requests"].get("PUT serverlessEndpoints", 0)
        == before["requests"].get("PUT serverlessEndpoints", 0) + 1
    )
    assert ha.kube.denied()["count"] == 0, ha.kube.denied()["denied"]
