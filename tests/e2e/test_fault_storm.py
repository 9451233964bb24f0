"""Fault storm (issue 11): the storm of creates, updates and deletes of crash storm, but with Azure
misbehaving — 429s with Retry-After, a rate of 500s and 503s, slow answers, operations Azure accepts
and then fails — and the Kubernetes API breaking its watches (streams dropped, history compacted so
that resumptions get 410 Gone, streams ended with an ERROR 410 event). Once Azure recovers,
everything converges (storm_helpers), and during the storm the operator stayed within the ARM call
budget its schedule allows.

The budget. Each object has one loop, whose passes never overlap. Between two passes of one object
lies the verdict's delay, at least the smallest of: POLL_OPERATION 2 s and WAIT_DEPENDENTS 2 s
(-20 % jitter: 1.6 s), WAIT_DEPENDENCY 3 s (2.4 s), RETRY_UNAVAILABLE 5 s (4 s), the drift interval
(3 s here: checks are spread over up to 20 % more, never less) and a 429's Retry-After (RETRY_AFTER s) — so MIN_GAP = 1.6 s — unless the
object is woken: by a change to its spec or annotations, or a related object's Ready flipping, at
most WAKES times per object in this storm (it changes each object at most twice; a Ready flip
wakes only the few objects related to it). A pass makes at most CALLS_PER_PASS ARM requests (read
the resource, one write, listKeys, one more read: the workspace or the resource it depends on);
the SDK's own retries are off, so a failed request is not repeated within the pass. Deletion runs
on the same schedule. So over a window of T seconds with N objects:

    ARM requests <= N * (T / MIN_GAP + 1 + WAKES) * CALLS_PER_PASS

A hot loop (a retry without its back-off, a status write that wakes its own loop) breaks it at
once: it has no delay between passes. Once converged, with Azure well and nothing changing, only
the drift check runs: N * (T / DRIFT_GAP + 1) * CALLS_PER_PASS."""

from __future__ import annotations

import os
import random
import time
from typing import Any

from e2e_helpers import Cluster, ready, stats
from storm_helpers import Op, Storm

from azureml_standins.kube.process import KubeProcess
from azureml_standins.simulator.process import SimulatorProcess

SEED = int(os.environ.get("STORM_SEED", random.SystemRandom().randrange(1_000_000)))
RETRY_AFTER = 2
MIN_GAP = 1.6
WAKES = 6
CALLS_PER_PASS = 4
ROUNDS = 8
DRIFT_GAP = 3.0  # the e2e drift interval: no drift check comes sooner
QUIET = 6.0
FAULTS: list[dict[str, Any]] = [
    {"status": 429, "code": "TooManyRequests", "retryAfter": RETRY_AFTER, "rate": 0.05},
    {"status": 503, "rate": 0.05},
    {"status": 500, "rate": 0.03},
    {"latencyMs": 400, "rate": 0.2},
    # Accepted, then failed: the endpoint is deleted afterwards (a failed resource must go too)...
    {
        "method": "PUT",
        "resourceType": "serverlessEndpoints",
        "name": "tmp",
        "failOperation": True,
        "count": 1,
    },
    # ... and the deployment is fixed by a spec change, as its condition asks.
    {
        "method": "PUT",
        "resourceType": "onlineEndpoints/deployments",
        "name": "green",
        "failOperation": True,
        "count": 1,
    },
]


def fix_when_failed(storm: Storm, kind: str, name: str, body: dict[str, Any]) -> tuple[str, Op]:
    """What a person does about ProvisioningFailed: change the spec (nothing, if it never failed)."""

    def op() -> bool:
        condition = ready(storm.cluster.get(kind, name))
        if condition.get("reason") == "ProvisioningFailed":
            storm.cluster.patch(kind, name, body)
            return True
        return condition.get("status") == "True"

    return f"fix {kind}/{name} if it failed", op


def break_watches(kube: KubeProcess, cluster: Cluster, rng: random.Random) -> str:
    if rng.random() < 0.5:
        # A write no watch of the operator's kinds sees, then compaction: a watch that resumes from
        # the last resourceVersion it saw is older than the history, and gets 410.
        cluster.core.create_namespaced_config_map(
            cluster.namespace, {"metadata": {"generateName": "compaction-"}}
        )
        kube.watch_faults(compact=True, drop_watches=True)
        return "<compact + drop watches>"
    kube.watch_faults(expire_watches=True)
    return "<expire watches>"


def test_through_azure_faults_and_broken_watches_everything_converges_within_budget(
    cluster: Cluster, sim: SimulatorProcess, kube: KubeProcess
) -> None:
    storm = Storm(cluster, sim, SEED)
    storm.standard()
    storm.chain(fix_when_failed(storm, "OnlineDeployment", "green", {"spec": {"instanceCount": 2}}))
    rng = random.Random(SEED + 2)
    refused_before = kube.expired_resumptions()
    before = stats(sim)
    started = time.monotonic()
    sim.admin("POST", "faults", {"faults": FAULTS})

    storm.apply_base()
    for _ in range(ROUNDS):
        storm.play(rng.randint(1, 3))
        time.sleep(rng.uniform(0.5, 1.5))
        storm.played.append(break_watches(kube, cluster, rng))
    storm.play_rest(timeout=60)
    time.sleep(5)  # the storm goes on a while after the last change

    during = stats(sim)
    window = time.monotonic() - started
    sim.admin("DELETE", "faults")  # Azure recovers

    objects = sum(len(names) for names in storm.wanted.values()) + sum(
        1 for what in storm.played if what.startswith("delete ")
    )
    budget = objects * (window / MIN_GAP + 1 + WAKES) * CALLS_PER_PASS
    made = during["totalRequests"] - before["totalRequests"]
    context = f"{storm.context()}; {made} ARM requests in {window:.1f} s for {objects} objects"
    assert made <= budget, f"{context}: over the budget of {budget:.0f}\n{cluster.log()[-6000:]}"
    assert during["faultsFired"] > 0, context
    assert kube.expired_resumptions() > refused_before, f"{context}: no watch resumption was refused with 410"
    print(f"\n{context}; budget {budget:.0f}; faults fired {during['faultsFired']}")

    storm.wait_converged(timeout=90)

    # Converged, Azure well again, nothing changing: only the drift check runs (DRIFT_GAP apart).
    quiet_before, quiet_started = stats(sim), time.monotonic()
    time.sleep(QUIET)
    quiet = stats(sim)["totalRequests"] - quiet_before["totalRequests"]
    live = sum(len(names) for names in storm.wanted.values())
    quiet_budget = live * ((time.monotonic() - quiet_started) / DRIFT_GAP + 1) * CALLS_PER_PASS
    assert quiet <= quiet_budget, (
        f"{storm.context()}: {quiet} ARM requests in {QUIET} s of quiet for {live} objects"
    )
    print(f"quiet: {quiet} ARM requests in {QUIET} s for {live} objects; budget {quiet_budget:.0f}")
