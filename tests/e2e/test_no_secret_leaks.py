"""A full run at DEBUG with JSON logs leaks no credential: no key or token the operator handled
appears in any log line, Event or status; and every log line is one JSON object, naming the object
it is about when it is about one."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from e2e_helpers import PHI, PLURALS, Cluster, G, V, manifest

from azureml_standins.operator import OperatorProcess
from azureml_standins.simulator.process import SimulatorProcess

PHI_ONLINE = "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1"


def test_no_key_or_token_reaches_a_log_an_event_or_a_status(
    start_operator: Callable[..., OperatorProcess], api_client: Any, namespace: str, sim: SimulatorProcess
) -> None:
    sim.admin("POST", "tokens", {"lifetimeSeconds": 20})  # several tokens go through the operator
    op = start_operator(extra_args=["--log-format", "json", "--log-level", "DEBUG"])
    cluster = Cluster(api_client, namespace, op.log_text)
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI}))
    cluster.apply(manifest("OnlineEndpoint", "keyed", {"traffic": {"blue": 100}}))
    cluster.apply(manifest("OnlineEndpoint", "tokened", {"authMode": "AMLToken", "traffic": {"blue": 100}}))
    for endpoint in ("keyed", "tokened"):
        deployment = {
            "endpointRef": {"name": endpoint},
            "model": PHI_ONLINE,
            "instanceType": "Standard_DS3_v2",
        }
        cluster.apply(
            manifest("OnlineDeployment", f"blue-{endpoint}", {**deployment, "deploymentName": "blue"})
        )
    for kind, name in (
        ("ServerlessEndpoint", "phi"),
        ("OnlineEndpoint", "keyed"),
        ("OnlineEndpoint", "tokened"),
    ):
        cluster.wait_ready(kind, name, timeout=90)
    # Keys edited by hand in the Secret are put back (one more write carrying keys).
    cluster.core.patch_namespaced_secret(
        "phi-keys", namespace, {"stringData": {"primaryKey": "typed-by-hand"}}
    )
    cluster.wait(
        "phi-keys restored",
        lambda: (cluster.secret("phi-keys") or {}).get("primaryKey") != "typed-by-hand",
        30,
    )

    secrets: set[str] = set()
    tokens: set[str] = set()
    deadline = time.monotonic() + 12  # long enough for a token renewal or two
    while time.monotonic() < deadline:
        for name in ("phi-keys", "keyed-keys", "tokened-keys"):
            data = cluster.secret(name) or {}
            secrets |= {data[k] for k in ("primaryKey", "secondaryKey", "accessToken") if data.get(k)}
            tokens |= {data["accessToken"]} if data.get("accessToken") else set()
        time.sleep(1)
    # (Tokens are collected as they come: one renewed after the last look is not asked for.)
    assert len(secrets) >= 5 and tokens, secrets

    log = op.log_text()
    leaked_in_log = [s for s in secrets if s in log]
    assert not leaked_in_log, "credentials in the operator log"
    events = " ".join(e["message"] for e in cluster.events())
    assert not [s for s in secrets if s in events], "credentials in Events"
    for kind in PLURALS:
        for obj in cluster.custom.list_namespaced_custom_object(G, V, namespace, PLURALS[kind])["items"]:
            status = json.dumps(obj.get("status") or {})
            assert not [s for s in secrets if s in status], f"credentials in {kind} {obj['metadata']['name']}"

    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    about = [
        line
        for line in lines
        if line["logger"] == "azureml_operator.wiring" and "Creating" in line["message"]
    ]
    assert about and all(line["object"]["namespace"] == namespace for line in about)
    assert {line["object"]["kind"] for line in about} >= {
        "ServerlessEndpoint",
        "OnlineEndpoint",
        "OnlineDeployment",
    }
    assert any(line["level"] == "DEBUG" for line in lines)
