"""OnlineEndpoint and OnlineDeployment end to end (issue 9): the seed's blue/green story, as the
manifests of examples/online/ step by step, each step checked by real scoring calls, made with the
key from the endpoint's Secret, counted by the simulator per deployment (routed and mirrored)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
from e2e_helpers import ROOT, Cluster, arm, free_port, manifest, metrics_text, ready, stats

from azureml_standins import demo, stories
from azureml_standins.operator import OperatorProcess
from azureml_standins.simulator.process import SimulatorProcess

PHI = "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1"
CALLS = 400


def deployment(name: str) -> dict[str, Any]:
    return manifest(
        "OnlineDeployment",
        name,
        {"endpointRef": {"name": "chat"}, "model": PHI, "instanceType": "Standard_DS3_v2"},
    )


def score(cluster: Cluster, n: int = CALLS, endpoint: str = "chat") -> dict[str, dict[str, int]]:
    """n scoring calls with the key from the Secret; the simulator's counts they added, by deployment."""
    keys = cluster.secret(f"{endpoint}-keys")
    assert keys is not None
    before = stats_of(cluster.sim, endpoint)
    for _ in range(n):
        reply = requests.post(
            keys["scoringUri"],
            json={"input": "hello"},
            headers={"Authorization": f"Bearer {keys['primaryKey']}"},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
    after = stats_of(cluster.sim, endpoint)
    return {
        d: {k: after.get(d, {}).get(k, 0) - before.get(d, {}).get(k, 0) for k in ("routed", "mirrored")}
        for d in {*after, *before}
    }


def stats_of(sim: SimulatorProcess, endpoint: str) -> dict[str, dict[str, int]]:
    deployments = stats(sim)["deployments"].items()
    return {k.split("/", 1)[1]: v for k, v in deployments if k.startswith(f"{endpoint}/")}


def wait_maps(
    cluster: Cluster,
    traffic: dict[str, int],
    mirror: dict[str, int],
    timeout: float = 90,
    endpoint: str = "chat",
) -> dict[str, Any]:
    """The endpoint Ready with these maps in effect in Azure, and its deployments reporting their
    shares of them."""

    def probe() -> dict[str, Any] | None:
        obj = cluster.get("OnlineEndpoint", endpoint)
        status = (obj or {}).get("status") or {}
        ok = status.get("traffic") == traffic and (status.get("mirrorTraffic") or {}) == mirror
        deployments = cluster.custom.list_namespaced_custom_object(
            "azureml.dev", "v1alpha1", cluster.namespace, "onlinedeployments"
        )["items"]
        ok = ok and obj is not None and stories.shares_agree([obj], deployments)
        return obj if ok and stories.converged(obj) else None

    return cluster.wait(
        f"traffic {traffic}, mirror {mirror}", probe, timeout, lambda: cluster.get("OnlineEndpoint", endpoint)
    )


def within(count: int, expected: float) -> bool:
    """A binomial count within 4 standard deviations of its expectation (and exact at 0 % or 100 %)."""
    if expected in (0, CALLS):
        return count == expected
    p = expected / CALLS
    return abs(count - expected) <= 4 * (CALLS * p * (1 - p)) ** 0.5


STORY = ROOT / "examples" / "online"
# What each step of examples/online/ declares, in effect: live traffic and mirror, without zeros.
STEPS = {
    "1-green-mirrored": ({"blue": 100}, {"green": 10}),
    "2-live-90-10": ({"blue": 90, "green": 10}, {}),
    "3-live-0-100": ({"green": 100}, {}),
    "4-delete-blue": ({"green": 100}, {}),
}


def test_the_blue_green_example_converges_step_by_step(cluster: Cluster, sim: SimulatorProcess) -> None:
    cluster.sim = sim  # type: ignore[attr-defined]
    for doc in stories.starting_manifests(STORY):
        cluster.apply(doc)
    wait_maps(cluster, {"blue": 100}, {}, endpoint="chat-online")
    assert score(cluster, endpoint="chat-online")["blue"] == {"routed": CALLS, "mirrored": 0}
    walked = stories.steps(STORY)
    assert [step.title for step in walked] == list(STEPS)
    for step in walked:
        traffic, mirror = STEPS[step.title]
        for doc in step.docs:
            if step.deletes:
                cluster.delete(doc["kind"], doc["metadata"]["name"])
                cluster.wait_gone(doc["kind"], doc["metadata"]["name"], timeout=60)
            else:
                demo.apply(cluster.custom, cluster.namespace, doc, 30, quiet=True)
        wait_maps(cluster, traffic, mirror, endpoint="chat-online")
        counts = score(cluster, endpoint="chat-online")
        for name in ("blue", "green"):
            got = counts.get(name, {"routed": 0, "mirrored": 0})
            assert within(got["routed"], CALLS * traffic.get(name, 0) / 100), (step.title, counts)
            assert within(got["mirrored"], CALLS * mirror.get(name, 0) / 100), (step.title, counts)
    listed = arm(sim, "GET", "onlineEndpoints/chat-online/deployments", api_version="2023-04-01-preview")
    assert [d["name"] for d in listed["value"]] == ["green"]
    green = cluster.get("OnlineDeployment", "green")
    assert green is not None and green["status"]["traffic"] == 100


def test_a_map_naming_a_failed_deployment_stays_pending_and_writes_nothing(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    sim.admin(
        "POST",
        "faults",
        {
            "method": "PUT",
            "resourceType": "onlineEndpoints/deployments",
            "name": "blue",
            "failOperation": True,
            "code": "ImageBuildFailure",
            "message": "Image build failed: conda env could not be solved.",
        },
    )
    cluster.apply(manifest("OnlineEndpoint", "chat", {"traffic": {"blue": 100}}))
    cluster.apply(deployment("blue"))
    failed = cluster.wait_reason("OnlineDeployment", "blue", "ProvisioningFailed", timeout=60)
    assert "ImageBuildFailure: Image build failed" in ready(failed)["message"]
    pending = cluster.wait_reason("OnlineEndpoint", "chat", "TrafficPending", timeout=30)
    assert pending["status"]["waitingFor"] == ["blue"] and "until blue is Ready" in ready(pending)["message"]
    assert stats(sim)["requests"].get("PUT onlineEndpoints") == 1  # the create; no traffic was sent
    assert not (pending["status"].get("traffic") or {})


def test_a_deployment_with_live_traffic_is_deleted_only_once_the_traffic_moves(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    cluster.sim = sim  # type: ignore[attr-defined]
    cluster.apply(manifest("OnlineEndpoint", "chat", {"traffic": {"blue": 100}}))
    cluster.apply(deployment("blue"))
    wait_maps(cluster, {"blue": 100}, {})
    cluster.delete("OnlineDeployment", "blue")
    held = cluster.wait_reason("OnlineDeployment", "blue", "DeletionBlocked", timeout=30)
    assert "still sends 100 % of its live traffic" in ready(held)["message"]
    cluster.wait_event("blue", "DeletionBlocked", "Warning", kind="OnlineDeployment")
    assert score(cluster, 20)["blue"]["routed"] == 20  # still serving meanwhile
    cluster.patch("OnlineEndpoint", "chat", {"spec": {"traffic": {"blue": 0}}})
    cluster.wait_gone("OnlineDeployment", "blue", timeout=60)
    listed = arm(sim, "GET", "onlineEndpoints/chat/deployments", api_version="2023-04-01-preview")["value"]
    assert listed == []
    assert stats(sim)["requests"].get("DELETE onlineEndpoints/deployments") == 1


def test_weights_and_a_mirror_changed_outside_kubernetes_are_restored_and_counted(
    start_operator: Callable[..., OperatorProcess], api_client: Any, namespace: str, sim: SimulatorProcess
) -> None:
    port = free_port()
    cluster = Cluster(api_client, namespace, start_operator(metrics_port=port).log_text)
    spec = {"traffic": {"blue": 90, "green": 10}, "mirrorTraffic": {"shadow": 10}}
    cluster.apply(manifest("OnlineEndpoint", "chat", spec))
    for name in ("blue", "green", "shadow"):
        cluster.apply(deployment(name))
    wait_maps(cluster, {"blue": 90, "green": 10}, {"shadow": 10})
    counted = 'azureml_operator_drift_repairs_total{action="update",kind="OnlineEndpoint"}'
    assert f"{counted} 0.0" in metrics_text(port)  # there from the start, at zero
    # Someone updates the endpoint outside Kubernetes with a client that drops mirrorTraffic.
    body = arm(sim, "GET", "onlineEndpoints/chat", api_version="2022-02-01-preview")
    body["properties"]["traffic"] = {"blue": 50, "green": 50}
    body["properties"].pop("mirrorTraffic", None)
    arm(sim, "PUT", "onlineEndpoints/chat", body, api_version="2022-02-01-preview")
    [repair] = cluster.wait_event("chat", "DriftRepaired", kind="OnlineEndpoint", timeout=30)
    assert repair["message"].startswith("changed in Azure outside Kubernetes: "), repair
    assert "mirrorTraffic: {} -> {shadow: 10}" in repair["message"], repair
    restored = wait_maps(cluster, {"blue": 90, "green": 10}, {"shadow": 10}, timeout=30)
    in_azure = arm(sim, "GET", "onlineEndpoints/chat", api_version="2022-02-01-preview")["properties"]
    assert {k: v for k, v in in_azure["traffic"].items() if v} == {"blue": 90, "green": 10}
    assert {k: v for k, v in in_azure["mirrorTraffic"].items() if v} == {"shadow": 10}
    assert ready(restored)["status"] == "True"
    assert f"{counted} 1.0" in metrics_text(port)


def test_an_amltoken_endpoint_secret_always_holds_an_unexpired_token_that_scores(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    # Tokens that live 20 s (refresh time at 10 s): the operator must replace them, again and again.
    sim.admin("POST", "tokens", {"lifetimeSeconds": 20})
    cluster.apply(manifest("OnlineEndpoint", "chat", {"authMode": "AMLToken", "traffic": {"blue": 100}}))
    cluster.apply(deployment("blue"))
    wait_maps(cluster, {"blue": 100}, {})
    seen: set[str] = set()
    deadline = time.monotonic() + 17
    while time.monotonic() < deadline:
        secret = cluster.secret("chat-keys")
        assert secret is not None and "primaryKey" not in secret
        left = int(secret["expiresAt"]) - time.time()
        assert left > 3, f"the Secret's token expires in {left:.1f} s"
        assert int(secret["refreshAfter"]) <= int(secret["expiresAt"])
        if secret["accessToken"] not in seen:
            seen.add(secret["accessToken"])
            reply = requests.post(
                secret["scoringUri"],
                json={"input": "hi"},
                headers={"Authorization": f"Bearer {secret['accessToken']}"},
                timeout=30,
            )
            assert reply.status_code == 200, reply.text
        time.sleep(0.5)
    assert len(seen) >= 3, f"{len(seen)} tokens in 17 s"
    assert (
        requests.post(
            secret["scoringUri"], json={"input": "hi"}, headers={"Authorization": "Bearer forged"}, timeout=30
        ).status_code
        == 401
    )


def test_deleting_the_endpoint_and_its_deployments_deletes_once_in_azure(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    cluster.apply(manifest("OnlineEndpoint", "chat", {"traffic": {"blue": 100}}))
    cluster.apply(deployment("blue"))
    wait_maps(cluster, {"blue": 100}, {})
    cluster.delete("OnlineEndpoint", "chat")
    cluster.delete("OnlineDeployment", "blue")
    cluster.wait_gone("OnlineDeployment", "blue", timeout=30)
    cluster.wait_gone("OnlineEndpoint", "chat", timeout=60)
    requests_seen = stats(sim)["requests"]
    assert requests_seen.get("DELETE onlineEndpoints") == 1
    assert not requests_seen.get("DELETE onlineEndpoints/deployments")  # Azure deletes them with it
    assert "onlineEndpoints" not in stats(sim)["resources"]
