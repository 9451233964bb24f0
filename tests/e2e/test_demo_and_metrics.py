"""`make demo` works on this machine, and the operator's metrics say what happened without a key."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import requests
from e2e_helpers import PHI, PLURALS, ROOT, Cluster, free_port, manifest
from kubernetes import client

from azureml_standins.kube.process import KubeProcess
from azureml_standins.operator import OperatorProcess


def test_the_demo_converges_and_chats_with_the_key_from_its_secret() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("AZUREML_CURRENT_CLOUD", "KUBECONFIG")}
    env["KUBECONFIG"] = "/nonexistent/kubeconfig"  # no cluster: the demo must bring the stand-in
    done = subprocess.run(
        [sys.executable, "-m", "azureml_standins", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "starting the Kubernetes stand-in" in out
    for name in ("team-a", "meta-llama-3-8b-instruct", "llama-chat", "phi-chat"):
        assert re.search(rf"^\w+\s+{re.escape(name)}\s+True\s+Succeeded", out, re.M), out
    assert "Simulated reply" in out and "Meta-Llama-3-8B-Instruct" in out
    # The online story: the deployments' shares after each step, and who answered the scoring calls.
    row = r"^{}\s+chat-online\s+\S+\s+1 x \S+\s+{}\s+{}\s+Succeeded$"
    assert re.search(row.format("green", 0, 10), out, re.M), out  # step 1: mirrored
    assert re.search(row.format("blue", 90, 0), out, re.M) and re.search(
        row.format("green", 10, 0), out, re.M
    )
    assert "answered by blue 100; mirrored to green 10" in out
    assert "step 4-delete-blue: done" in out and "answered by green 100; mirrored to none" in out


def test_metrics_count_reconciles_and_azure_calls_and_never_carry_keys(
    start_operator: Callable[..., OperatorProcess], api_client: object, namespace: str
) -> None:
    port = free_port()
    op = start_operator(metrics_port=port)
    cluster = Cluster(api_client, namespace, op.log_text)  # type: ignore[arg-type]
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI}))
    cluster.wait_ready("ServerlessEndpoint", "phi")
    keys = cluster.secret("phi-keys") or {}

    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text

    assert re.search(
        r'azureml_operator_reconciles_total\{kind="ServerlessEndpoint",reason="Succeeded",trigger="\w+"\} [1-9]',
        text,
    ), text
    assert re.search(r'azureml_operator_azure_requests_total\{method="PUT",outcome="OK"\} 1\.0', text), text
    assert 'azureml_operator_resources{kind="ServerlessEndpoint",ready="True",reason="Succeeded"} 1.0' in text
    assert keys["primaryKey"] not in text and keys["secondaryKey"] not in text
    assert "phi" not in re.sub(r"#.*", "", text), "object names are unbounded: not metric labels"
    # Every series docs/metrics.md documents is there, with samples.
    documented = re.findall(
        r"^\| `(azureml_operator_\w+)` \|", (ROOT / "docs" / "metrics.md").read_text(), re.M
    )
    assert len(documented) >= 10
    missing = [n for n in documented if not re.search(rf"^{n}(_bucket|_count)?[{{ ]", text, re.M)]
    assert not missing, f"documented but not exposed: {missing}"
    assert re.search(
        r'^azureml_operator_time_to_ready_seconds_count\{kind="ServerlessEndpoint"\} 1\.0$', text, re.M
    )
    put = r'azureml_operator_azure_http_requests_total\{code="20[01]",method="PUT",operation="workspaces/serverlessEndpoints"\}'
    assert re.search(put, text), text
    assert re.search(
        r'azureml_operator_arm_ratelimit_remaining\{budget="writes",subscription="0{8}-[0-9-]+"\} \d+', text
    )


def test_the_demo_runs_twice_on_a_cluster_and_leaves_nothing_behind(
    kube: KubeProcess, tmp_path: Path
) -> None:
    """On a cluster named by KUBECONFIG the demo deletes what it applied (and what it made on the
    way: the fine-tune's endpoint, the online walk's green) and waits for the operator to finish; a
    run interrupted with an object stuck in deletion is handled by the next one (which needs only
    the manifest of that object: a smaller story, to keep the suite short)."""
    env = {k: v for k, v in os.environ.items() if k != "AZUREML_CURRENT_CLOUD"}
    env["KUBECONFIG"] = str(kube.kubeconfig)
    namespace = f"demo-{os.getpid()}"
    custom = client.CustomObjectsApi(kube.client())

    def run(*examples: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "azureml_standins", "demo", "--namespace", namespace, *examples],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "using the cluster in" in done.stdout and "all gone" in done.stdout, done.stdout
        return done.stdout

    def leftovers() -> list[str]:
        return [
            o["metadata"]["name"]
            for plural in PLURALS.values()
            for o in custom.list_namespaced_custom_object("azureml.dev", "v1alpha1", namespace, plural)[
                "items"
            ]
        ]

    run()
    assert leftovers() == []
    # An interrupted run: an object the operator never finalized, still being deleted.
    stuck = manifest("ServerlessEndpoint", "phi-chat", {"modelId": PHI})
    stuck["metadata"]["finalizers"] = ["azureml.dev/finalizer"]
    custom.create_namespaced_custom_object("azureml.dev", "v1alpha1", namespace, "serverlessendpoints", stuck)
    custom.delete_namespaced_custom_object(
        "azureml.dev", "v1alpha1", namespace, "serverlessendpoints", "phi-chat"
    )
    small = tmp_path / "examples"
    for story in ("workspace", "phi-serverless"):
        shutil.copytree(ROOT / "examples" / story, small / story)
    out = run("--examples", str(small))
    assert "from an earlier run is being deleted" in out, out
    assert leftovers() == []
