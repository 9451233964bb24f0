"""The operator as the chart installs it: its ServiceAccount's token, the chart's rendered Role and
ClusterRole, the stand-in's RBAC authorizer. Every example reconciles to Ready with not one request
refused, watching one namespace (a Role there) and watching all (one ClusterRole); and a verb taken
from the Role shows in the object's condition, not as a crash, and is recovered from once the verb
is back."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import PHI, ROOT, Cluster, manifest, ready
from kubernetes import client

from azureml_standins import demo, stories
from azureml_standins.kube.process import KubeProcess
from azureml_standins.operator import OperatorProcess
from azureml_standins.simulator.process import SimulatorProcess

# Test directories are not packages: the chart tests' Helm harness is imported from its folder.
sys.path.append(str(ROOT / "tests" / "chart"))
from builtins_proxy import BuiltinsProxy
from chart_helpers import Helm, Release

# conftest.py's, not imported from it: run beside tests/kube, `conftest` may name that one.
DRIFT_INTERVAL = 3.0


@pytest.fixture
def charted(
    kube: KubeProcess, api_client: client.ApiClient, namespace: str, sim: SimulatorProcess, tmp_path: Path
) -> Iterator[tuple[Cluster, Release, OperatorProcess]]:
    """The chart installed for this test's namespace (CRDs are the session's already), and the
    operator run with the chart's ServiceAccount token, as its pod would be."""
    release_name, ops = f"rbac-{uuid.uuid4().hex[:6]}", f"{namespace}-ops"
    with BuiltinsProxy(kube.url, tmp_path, ca=kube.ca) as proxy:
        release = Helm(proxy.kubeconfig).install(
            {"watchNamespaces": [namespace], "crds": {"install": False}}, release=release_name, namespace=ops
        )
    account = release.one("ServiceAccount")["metadata"]["name"]
    kubeconfig = kube.service_account_kubeconfig(ops, account, path=tmp_path / "operator-kubeconfig")
    kube.reset_denied()
    op = OperatorProcess(
        kubeconfig=kubeconfig,
        arm_endpoint=sim.base_url,
        ca=sim.ca,
        namespaces=[namespace],
        drift_interval=DRIFT_INTERVAL,
        # As the chart's Deployment runs it: scoped to its namespaces, listing nothing outside them.
        cluster_wide_claims="--cluster-wide-claims" in release.container["args"],
    ).start()
    try:
        yield Cluster(api_client, namespace, op.log_text), release, op
    finally:
        op.close()
        rbac = client.RbacAuthorizationV1Api(api_client)
        for role in release.of("ClusterRole"):
            rbac.delete_cluster_role(role["metadata"]["name"])
        for binding in release.of("ClusterRoleBinding"):
            rbac.delete_cluster_role_binding(binding["metadata"]["name"])


@pytest.fixture
def cluster_wide(sim: SimulatorProcess, tmp_path: Path) -> Iterator[tuple[Cluster, KubeProcess]]:
    """A stand-in of its own (the operator watches every namespace there), the chart installed
    cluster-wide (one ClusterRole), the operator run as its ServiceAccount with --all-namespaces."""
    with KubeProcess(crds=[ROOT / "crds"], bookmark_interval=1.0) as kube:
        with BuiltinsProxy(kube.url, tmp_path, ca=kube.ca) as proxy:
            release = Helm(proxy.kubeconfig).install(
                {"crds": {"install": False}}, namespace="azureml-operator"
            )
        assert release.of("ClusterRole") and not release.of("Role")
        account = release.one("ServiceAccount")["metadata"]["name"]
        kubeconfig = kube.service_account_kubeconfig(
            "azureml-operator", account, path=tmp_path / "sa-kubeconfig"
        )
        api = kube.client()
        client.CoreV1Api(api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name="team-a"))
        )
        kube.reset_denied()
        op = OperatorProcess(
            kubeconfig=kubeconfig,
            arm_endpoint=sim.base_url,
            ca=sim.ca,
            namespaces=[],
            drift_interval=DRIFT_INTERVAL,
            extra_args=["--all-namespaces"],
        ).start()
        try:
            yield Cluster(api, "team-a", op.log_text), kube
        finally:
            op.close()


def test_cluster_wide_the_charts_cluster_role_is_enough_too(
    cluster_wide: tuple[Cluster, KubeProcess],
) -> None:
    cluster, kube = cluster_wide
    docs = stories.starting_manifests(ROOT / "examples")
    for doc in docs:
        cluster.apply(doc)
    for doc in docs:
        cluster.wait_ready(doc["kind"], doc["metadata"]["name"], timeout=120)
    assert kube.denied()["count"] == 0, refusals(kube)


def converged(cluster: Cluster, kind: str, name: str) -> bool:
    return stories.converged(cluster.get(kind, name))


def refusals(kube: KubeProcess) -> list[dict[str, Any]]:
    return list(kube.denied()["denied"])


def test_every_example_reconciles_under_the_charts_rbac_with_nothing_refused(
    kube: KubeProcess, charted: tuple[Cluster, Release, OperatorProcess]
) -> None:
    cluster, _, _ = charted
    docs = stories.starting_manifests(ROOT / "examples")
    for doc in docs:
        cluster.apply(doc)
    for doc in docs:
        cluster.wait_ready(doc["kind"], doc["metadata"]["name"], timeout=120)
    cluster.wait_ready("ServerlessEndpoint", "phi-ft", timeout=60)  # the FineTuneJob's own child
    assert kube.denied()["count"] == 0, refusals(kube)
    assert cluster.secret("phi-chat-keys") and cluster.secret("chat-online-keys")
    # Then what comes after creation, under the same RBAC: the online story's steps (traffic maps
    # updated, a deployment's deletion held until its traffic moves), then every object deleted
    # (Azure deletions, finalizers released, Secrets left to their owner references).
    for step in stories.steps(ROOT / "examples"):
        for doc in step.docs:
            kind, name = doc["kind"], doc["metadata"]["name"]
            if step.deletes:
                cluster.delete(kind, name)
                cluster.wait_gone(kind, name, timeout=60)
            else:
                demo.apply(cluster.custom, cluster.namespace, doc, 30, quiet=True)
                cluster.wait(
                    f"{kind} {name} to converge", lambda k=kind, n=name: converged(cluster, k, n), 60
                )
    for doc in reversed(docs):
        if cluster.get(doc["kind"], doc["metadata"]["name"]) is not None:
            cluster.delete(doc["kind"], doc["metadata"]["name"])
    for doc in [*docs, manifest("ServerlessEndpoint", "phi-ft", {})]:
        cluster.wait_gone(doc["kind"], doc["metadata"]["name"], timeout=90)
    assert kube.denied()["count"] == 0, refusals(kube)


def test_a_verb_taken_from_the_role_is_a_condition_and_its_return_a_recovery(
    kube: KubeProcess, api_client: client.ApiClient, charted: tuple[Cluster, Release, OperatorProcess]
) -> None:
    cluster, release, op = charted
    rbac = client.RbacAuthorizationV1Api(api_client)
    [role] = [r for r in release.of("Role") if r["metadata"]["namespace"] == cluster.namespace]
    name = role["metadata"]["name"]
    full = rbac.read_namespaced_role(name, cluster.namespace)
    trimmed = [
        client.V1PolicyRule(
            api_groups=r.api_groups,
            resources=r.resources,
            verbs=[v for v in r.verbs if not ("secrets" in r.resources and v == "create")],
            resource_names=r.resource_names,
        )
        for r in full.rules
    ]
    wire = api_client.sanitize_for_serialization
    rbac.patch_namespaced_role(name, cluster.namespace, {"rules": wire(trimmed)})

    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI}))
    refused = cluster.wait_reason("ServerlessEndpoint", "phi", "KubernetesForbidden", timeout=60)
    assert 'cannot create resource "secrets"' in ready(refused)["message"], ready(refused)
    assert "Role or ClusterRole" in ready(refused)["message"]
    assert op.proc is not None and op.proc.poll() is None  # still running
    assert any(d["resource"] == "secrets" and d["verb"] == "create" for d in refusals(kube))

    rbac.patch_namespaced_role(name, cluster.namespace, {"rules": wire(full.rules)})
    cluster.wait_ready("ServerlessEndpoint", "phi", timeout=60)
    assert cluster.secret("phi-keys")
