"""Azure misbehaving: transient 5xx, a persistent outage, a 429 with Retry-After, and an operation
that Azure accepts and then fails. The operator must converge when Azure recovers, must back off
rather than hammer a failing Azure, and must never create an endpoint twice."""

from __future__ import annotations

import time
from typing import Any

from e2e_helpers import PHI, Cluster, arm, count, manifest, ready, stats

from azureml_standins.simulator.process import SimulatorProcess

KIND = "ServerlessEndpoint"


def endpoints_in_azure(sim: SimulatorProcess) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = arm(sim, "GET", "serverlessEndpoints")["value"]
    return listed


def test_transient_503s_on_create_are_retried_until_ready(cluster: Cluster, sim: SimulatorProcess) -> None:
    sim.admin(
        "POST", "faults", {"method": "PUT", "resourceType": "serverlessEndpoints", "status": 503, "count": 2}
    )

    cluster.apply(manifest(KIND, "phi", {"modelId": PHI}))

    obj = cluster.wait_ready(KIND, "phi", timeout=25)
    assert obj["status"]["endpointState"] == "Online"
    after = stats(sim)
    assert after["faultsFired"] == 2
    assert count(after, "PUT serverlessEndpoints") == 3  # two refused, one accepted
    unavailable = [e for e in cluster.events("phi") if e["reason"] == "AzureUnavailable"]
    assert unavailable, f"no AzureUnavailable event; events: {cluster.events('phi')}"
    assert "503" in unavailable[0]["message"]
    assert "retrying in" in unavailable[0]["message"]
    assert [e["name"] for e in endpoints_in_azure(sim)] == ["phi"]
    assert after["resources"].get("serverlessEndpoints") == 1
    secret = cluster.secret("phi-keys")
    assert secret is not None and secret["primaryKey"] and secret["secondaryKey"]


def test_a_persistent_outage_is_retried_with_backoff_not_a_hot_loop(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    sim.admin("POST", "faults", {"method": "GET", "resourceType": "serverlessEndpoints", "status": 503})
    before = stats(sim)
    started = time.monotonic()

    cluster.apply(manifest(KIND, "phi", {"modelId": PHI}))

    obj = cluster.wait_reason(KIND, "phi", "AzureUnavailable", timeout=10)
    condition = ready(obj)
    assert condition["status"] == "False"
    assert "503" in condition["message"] and "retrying in" in condition["message"], condition
    time.sleep(max(0.0, started + 8.0 - time.monotonic()))
    during = stats(sim)
    gets = count(during, "GET serverlessEndpoints") - count(before, "GET serverlessEndpoints")
    # Create handler: t=0, ~5 s; drift timer: ~3 s, ~8 s. A hot loop would make hundreds.
    assert 2 <= gets <= 6, f"{gets} GETs of the endpoint in 8 s\n{cluster.log()[-4000:]}"
    assert count(during, "PUT serverlessEndpoints") == 0  # never acts blind
    assert ready(cluster.get(KIND, "phi"))["reason"] == "AzureUnavailable"

    sim.admin("DELETE", "faults")

    # The next retry is at most ~20 s away (5 s doubling, ±20 % jitter, two independent schedules).
    cluster.wait_ready(KIND, "phi", timeout=30)
    after = stats(sim)
    assert count(after, "PUT serverlessEndpoints") == 1
    assert [e["name"] for e in endpoints_in_azure(sim)] == ["phi"]


def test_a_429_pauses_for_its_retry_after_then_creates_once(cluster: Cluster, sim: SimulatorProcess) -> None:
    sim.admin(
        "POST",
        "faults",
        {
            "method": "PUT",
            "resourceType": "serverlessEndpoints",
            "status": 429,
            "code": "TooManyRequests",
            "retryAfter": 3,
            "count": 1,
        },
    )

    cluster.apply(manifest(KIND, "phi", {"modelId": PHI}))

    # Watch the simulator and the object together: when was the 429 sent, when did the accepted PUT
    # arrive, and what did the object say in between.
    throttled_at: float | None = None
    put_at: float | None = None
    throttled_condition: dict[str, Any] = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = time.monotonic()
        s = stats(sim)
        if throttled_at is None and s["faultsFired"] >= 1:
            throttled_at = now
        if put_at is None and count(s, "PUT serverlessEndpoints") >= 2:
            put_at = now
        condition = ready(cluster.get(KIND, "phi"))
        if condition.get("reason") == "Throttled" and not throttled_condition:
            throttled_condition = condition
        if condition.get("status") == "True":
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"never Ready; now {condition}\n{cluster.log()[-4000:]}")

    assert throttled_condition, "the object never reported Throttled"
    assert throttled_condition["status"] == "False"
    assert "retrying in 3 s" in throttled_condition["message"], throttled_condition
    assert throttled_at is not None and put_at is not None
    # The accepted PUT came only after Retry-After (minus the polling granularity of this test).
    assert put_at - throttled_at >= 2.5, f"PUT {put_at - throttled_at:.2f} s after the 429"
    throttle_events = [e for e in cluster.events("phi") if e["reason"] == "Throttled"]
    assert throttle_events and "retrying in 3 s" in throttle_events[0]["message"]
    final = stats(sim)
    assert count(final, "PUT serverlessEndpoints") == 2  # the throttled one and the create
    assert [e["name"] for e in endpoints_in_azure(sim)] == ["phi"]


def test_a_failed_operation_is_reported_and_a_spec_change_retries_it(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    sim.admin(
        "POST",
        "faults",
        {
            "method": "PUT",
            "resourceType": "serverlessEndpoints",
            "failOperation": True,
            "code": "InternalOperationFailed",
            "message": "The endpoint could not be provisioned.",
            "count": 1,
        },
    )
    cluster.apply(manifest(KIND, "phi", {"modelId": PHI}))

    obj = cluster.wait_reason(KIND, "phi", "ProvisioningFailed", timeout=15)
    condition = ready(obj)
    assert condition["status"] == "False"
    assert "Failed" in condition["message"] and "change the spec" in condition["message"], condition
    assert obj["status"]["provisioningState"] == "Failed"
    cluster.wait_event("phi", "ProvisioningFailed", "Warning")
    # A failure that needs a person is not retried blindly: one drift check later, still one PUT.
    gets = count(stats(sim), "GET serverlessEndpoints")
    cluster.wait(
        "the next drift check",
        lambda: count(stats(sim), "GET serverlessEndpoints") > gets,
        timeout=5,
    )
    time.sleep(0.5)  # time enough for a PUT after that GET
    assert count(stats(sim), "PUT serverlessEndpoints") == 1
    assert ready(cluster.get(KIND, "phi"))["reason"] == "ProvisioningFailed"

    cluster.patch(KIND, "phi", {"spec": {"contentSafety": "Disabled"}})

    def recovered() -> dict[str, Any] | None:
        current = cluster.get(KIND, "phi")
        ok = (
            current
            and current["status"].get("observedGeneration") == current["metadata"]["generation"] == 2
            and ready(current).get("status") == "True"
        )
        return current if ok else None

    obj = cluster.wait("a retry after the spec change, then Ready", recovered, timeout=15)
    assert obj["status"]["provisioningState"] == "Succeeded"
    assert obj["status"]["endpointState"] == "Online"
    in_azure = arm(sim, "GET", "serverlessEndpoints/phi")
    assert in_azure["properties"]["contentSafety"]["contentSafetyStatus"] == "Disabled"
    assert count(stats(sim), "PUT serverlessEndpoints") == 2
    assert cluster.secret("phi-keys") is not None


def test_an_outage_is_read_on_one_schedule_not_two(cluster: Cluster, sim: SimulatorProcess) -> None:
    """Retries and the drift check are one schedule per object: during an outage the reads follow
    the back-off (5 s doubling), not the back-off plus every drift interval (3 s here)."""
    sim.admin("POST", "faults", {"method": "GET", "resourceType": "serverlessEndpoints", "status": 503})
    before = count(stats(sim), "GET serverlessEndpoints")
    cluster.apply(manifest(KIND, "phi", {"modelId": PHI}))
    cluster.wait_reason(KIND, "phi", "AzureUnavailable", timeout=10)
    time.sleep(20)
    gets = count(stats(sim), "GET serverlessEndpoints") - before
    # Back-off alone: t = 0, ~5, ~15 (±20 %), so 3 or 4. Two clocks would add ~6 drift reads.
    assert 2 <= gets <= 4, f"{gets} GETs in ~20 s\n{cluster.log()[-3000:]}"
