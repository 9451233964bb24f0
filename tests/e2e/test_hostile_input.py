"""Hostile objects through the Kubernetes stand-in with the real operator: what a real API server
refuses is refused (a body over 3 MiB, annotations over 256 KiB, a unicode name), what it admits
is reconciled to a clear condition (injected JSON in the policy annotation, unicode, NUL and emoji
in free text, which reach Azure exactly), and the operator goes on reconciling a good object."""

from __future__ import annotations

import pytest
from e2e_helpers import PHI, Cluster, arm, manifest, ready
from kubernetes.client import ApiException

from azureml_standins.operator import OperatorProcess
from azureml_standins.simulator.process import SimulatorProcess

POLICY = "azureml.dev/reconcile-policy"
HOSTILE_TEXT = '\u202eevil\u202c a\u0301 nul\x00 \U0001f600 "}, {"injected": true'


def refused(cluster: Cluster, body: dict[str, object]) -> ApiException:
    with pytest.raises(ApiException) as err:
        cluster.apply(body)
    return err.value


def test_hostile_objects_are_refused_or_reported_and_the_operator_carries_on(
    cluster: Cluster, operator: OperatorProcess, sim: SimulatorProcess
) -> None:
    huge = refused(cluster, manifest("OnlineEndpoint", "huge", {"description": "x" * (3 * 1024 * 1024 + 1)}))
    assert huge.status == 413 and "Request entity too large: limit is 3145728" in str(huge.body)
    annotated = manifest("OnlineEndpoint", "annotated", {}, {"a.example/big": "x" * (256 * 1024)})
    too_many = refused(cluster, annotated)
    assert too_many.status == 422 and "metadata.annotations: Too long" in str(too_many.body)
    assert refused(cluster, manifest("OnlineEndpoint", "caf\u00e9", {})).status == 422
    assert refused(cluster, manifest("OnlineEndpoint", "chat", {"description": "x" * 1025})).status == 422

    # Admitted: the injected JSON stays a string in the condition, and nothing reaches Azure.
    cluster.apply(manifest("ServerlessEndpoint", "odd", {"modelId": PHI}, {POLICY: '"}, {"skip": true'}))
    odd = cluster.wait_reason("ServerlessEndpoint", "odd", "InvalidSpec")
    assert '{"skip": true' in ready(odd)["message"] and "injected" not in str(odd["status"])
    # Admitted: unicode, NUL and emoji in free text go to Azure as they are.
    cluster.apply(
        manifest("OnlineEndpoint", "chat", {"description": HOSTILE_TEXT, "tags": {"team": HOSTILE_TEXT}})
    )
    cluster.wait_ready("OnlineEndpoint", "chat")
    in_azure = arm(sim, "GET", "onlineEndpoints/chat", api_version="2022-02-01-preview")
    assert in_azure["properties"]["description"] == HOSTILE_TEXT
    assert in_azure["tags"]["team"] == HOSTILE_TEXT

    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI}))
    cluster.wait_ready("ServerlessEndpoint", "phi")
    assert operator.proc is not None and operator.proc.poll() is None
    assert "Traceback" not in operator.log_text()
