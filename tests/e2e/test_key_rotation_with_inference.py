"""Orchestrated key rotation end to end (issue 11): the annotation azureml.dev/rotate-keys rotates a
serverless and an online endpoint's keys, secondary first, then, after the grace period, primary,
while a consumer keeps calling the endpoint with the keys the Secret holds at that moment.

What is proved with those calls: a consumer that tries primaryKey and falls back to secondaryKey is
never refused, and a key the Secret holds is refused by Azure for no longer than one drift interval
(plus the generous slack an end-to-end test needs to terminate)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from e2e_helpers import DRIFT_INTERVAL, PHI, Cluster, Operators, chat, manifest, ready, stats

from azureml_standins.simulator.process import SimulatorProcess

ROTATE = "azureml.dev/rotate-keys"
HASH = "azureml.dev/keys-hash"
ONLINE_MODEL = "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1"
GRACE = "3s"
SLACK = 10.0  # seconds on top of the drift interval: the operator's and the test's own latencies


class Consumer:
    """Calls the endpoint in a loop with the keys the Secret holds at each call; records, per key
    field, the longest stretch during which Azure refused the value the Secret held."""

    def __init__(self, cluster: Cluster, secret: str, call: Callable[[dict[str, str], str], int]) -> None:
        self.cluster, self.secret, self.call = cluster, secret, call
        self.calls = 0
        self.locked_out: list[str] = []  # both keys refused: a consumer would have failed
        self.stale_since: dict[str, float | None] = {"primaryKey": None, "secondaryKey": None}
        self.longest_stale = {"primaryKey": 0.0, "secondaryKey": 0.0}
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            keys = self.cluster.secret(self.secret) or {}
            now = time.monotonic()
            accepted = {field: self.call(keys, field) == 200 for field in self.stale_since}
            self.calls += 1
            if not any(accepted.values()):
                self.locked_out.append(f"call {self.calls}: both keys of the Secret refused")
            for field, ok in accepted.items():
                since = self.stale_since[field]
                if ok:
                    self.stale_since[field] = None
                elif since is None:
                    self.stale_since[field] = now
                else:
                    self.longest_stale[field] = max(self.longest_stale[field], now - since)

    @contextmanager
    def calling(self) -> Iterator[Consumer]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=60)


def rotation_status(cluster: Cluster, kind: str, name: str) -> dict[str, Any]:
    return ((cluster.get(kind, name) or {}).get("status") or {}).get("keyRotation") or {}


def rotate(cluster: Cluster, kind: str, name: str, token: str) -> None:
    cluster.patch(kind, name, {"metadata": {"annotations": {ROTATE: token}}})


def wait_completed(cluster: Cluster, kind: str, name: str, token: str, timeout: float = 60) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        record = rotation_status(cluster, kind, name)
        return record if record.get("token") == token and record.get("phase") == "Completed" else None

    return cluster.wait(
        f"rotation {token} of {name} to complete",
        probe,
        timeout,
        lambda: rotation_status(cluster, kind, name),
    )


def secret_hash(cluster: Cluster, name: str) -> str | None:
    meta = cluster.core.read_namespaced_secret(name, cluster.namespace).metadata
    return (meta.annotations or {}).get(HASH)


def regenerations(sim: SimulatorProcess, kind: str) -> int:
    return int(stats(sim)["requests"].get(f"POST {kind}/regenerateKeys", 0))


def test_a_serverless_endpoints_keys_rotate_without_locking_a_consumer_out(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    cluster.apply(
        manifest("ServerlessEndpoint", "phi", {"modelId": PHI, "keyRotation": {"gracePeriod": GRACE}})
    )
    cluster.wait_ready("ServerlessEndpoint", "phi")
    before = cluster.secret("phi-keys") or {}
    hash_before = secret_hash(cluster, "phi-keys")
    assert hash_before and hash_before.startswith("sha256:")

    def call(keys: dict[str, str], field: str) -> int:
        return chat(keys["endpoint"], keys[field]).status_code

    with Consumer(cluster, "phi-keys", call).calling() as consumer:
        rotate(cluster, "ServerlessEndpoint", "phi", "r1")
        grace = cluster.wait(
            "the grace period",
            lambda: rotation_status(cluster, "ServerlessEndpoint", "phi").get("phase") == "GracePeriod",
            timeout=30,
        )
        assert grace
        during = cluster.secret("phi-keys") or {}
        assert during["primaryKey"] == before["primaryKey"]
        assert during["secondaryKey"] != before["secondaryKey"]
        record = wait_completed(cluster, "ServerlessEndpoint", "phi", "r1")
        time.sleep(1.0)  # a few more calls with the final keys
    after = cluster.secret("phi-keys") or {}
    assert after["primaryKey"] != before["primaryKey"] and after["secondaryKey"] == during["secondaryKey"]
    assert consumer.calls > 5 and consumer.locked_out == []
    assert max(consumer.longest_stale.values()) <= DRIFT_INTERVAL + SLACK, consumer.longest_stale
    assert secret_hash(cluster, "phi-keys") not in (None, hash_before)

    obj = cluster.get("ServerlessEndpoint", "phi") or {}
    assert obj["status"]["keysRotatedAt"] and record["startedAt"]
    assert ready(obj)["status"] == "True"
    text = str(obj["status"]) + str(cluster.events("phi"))
    assert all(k not in text for k in (*before.values(), *after.values()) if len(k) == 32)
    for reason in ("KeyRotationStarted", "KeysRotating", "KeysRotated"):
        cluster.wait_event("phi", reason)
    assert regenerations(sim, "serverlessEndpoints") == 2

    # The same token again (a re-applied manifest) rotates nothing; a drift check later, still two.
    rotate(cluster, "ServerlessEndpoint", "phi", "r1")
    time.sleep(2 * DRIFT_INTERVAL)
    assert regenerations(sim, "serverlessEndpoints") == 2
    assert (cluster.secret("phi-keys") or {}) == after


def online(cluster: Cluster, auth_mode: str, traffic: dict[str, int]) -> None:
    cluster.apply(
        manifest(
            "OnlineEndpoint",
            "chat",
            {
                "authMode": auth_mode,
                "traffic": traffic,
                **({"keyRotation": {"gracePeriod": GRACE}} if auth_mode == "Key" else {}),
            },
        )
    )


def test_an_online_endpoints_keys_rotate_through_its_long_running_operations(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    online(cluster, "Key", {"blue": 100})
    cluster.apply(
        manifest(
            "OnlineDeployment",
            "blue",
            {"endpointRef": {"name": "chat"}, "model": ONLINE_MODEL, "instanceType": "Standard_DS3_v2"},
        )
    )
    cluster.wait_ready("OnlineEndpoint", "chat", timeout=90)
    before = cluster.secret("chat-keys") or {}

    def call(keys: dict[str, str], field: str) -> int:
        reply = requests.post(
            keys["scoringUri"],
            json={"input": "hello"},
            headers={"Authorization": f"Bearer {keys[field]}"},
            timeout=30,
        )
        return reply.status_code

    with Consumer(cluster, "chat-keys", call).calling() as consumer:
        rotate(cluster, "OnlineEndpoint", "chat", "r1")
        wait_completed(cluster, "OnlineEndpoint", "chat", "r1")
        time.sleep(1.0)
    after = cluster.secret("chat-keys") or {}
    assert after["primaryKey"] != before["primaryKey"] and after["secondaryKey"] != before["secondaryKey"]
    assert consumer.calls > 5 and consumer.locked_out == []
    assert max(consumer.longest_stale.values()) <= DRIFT_INTERVAL + SLACK, consumer.longest_stale
    assert regenerations(sim, "onlineEndpoints") == 2
    cluster.wait_ready("OnlineEndpoint", "chat")


def test_an_aml_token_endpoint_refuses_rotation_with_a_warning_and_stays_ready(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    online(cluster, "AMLToken", {})
    cluster.wait_ready("OnlineEndpoint", "chat", timeout=60)
    rotate(cluster, "OnlineEndpoint", "chat", "r1")
    warning = cluster.wait_event("chat", "KeyRotationRefused", type_="Warning")
    assert "AMLToken" in warning[0]["message"]
    record = cluster.wait(
        "the refusal in status",
        lambda: rotation_status(cluster, "OnlineEndpoint", "chat").get("phase") == "Refused",
        timeout=10,
    )
    assert record
    assert ready(cluster.get("OnlineEndpoint", "chat"))["status"] == "True"
    assert regenerations(sim, "onlineEndpoints") == 0
    time.sleep(2 * DRIFT_INTERVAL)  # refused once per token, not at every drift check
    assert len([e for e in cluster.events("chat") if e["reason"] == "KeyRotationRefused"]) == 1


def test_killed_in_the_grace_period_the_next_operator_finishes_the_same_rotation(
    restartable: Cluster, operators: Operators, sim: SimulatorProcess
) -> None:
    cluster = restartable
    spec = {"modelId": PHI, "keyRotation": {"gracePeriod": "8s"}}
    cluster.apply(manifest("ServerlessEndpoint", "phi", spec, annotations={ROTATE: "before"}))
    cluster.wait_ready("ServerlessEndpoint", "phi")
    # A token present at creation is a request like any other: it rotates the fresh keys once.
    wait_completed(cluster, "ServerlessEndpoint", "phi", "before", timeout=60)
    assert regenerations(sim, "serverlessEndpoints") == 2

    rotate(cluster, "ServerlessEndpoint", "phi", "r2")
    cluster.wait(
        "the grace period of r2",
        lambda: (
            rotation_status(cluster, "ServerlessEndpoint", "phi").get("token") == "r2"
            and rotation_status(cluster, "ServerlessEndpoint", "phi").get("phase") == "GracePeriod"
        ),
        timeout=30,
    )
    in_grace = cluster.secret("phi-keys") or {}
    operators.started[0].kill()
    operators.start()

    record = wait_completed(cluster, "ServerlessEndpoint", "phi", "r2", timeout=60)
    # The secondary key was not regenerated again by the new operator: one more (primary) only.
    assert regenerations(sim, "serverlessEndpoints") == 4
    after = cluster.secret("phi-keys") or {}
    assert after["secondaryKey"] == in_grace["secondaryKey"] and after["primaryKey"] != in_grace["primaryKey"]
    assert record["startedAt"]
