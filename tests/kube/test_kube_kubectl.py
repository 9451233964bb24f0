"""kubectl 1.32 against the stand-in: apply, get (server-side printing with the CRD's printer
columns), label, create secret (protobuf), delete, and the server's refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from kube_helpers import LLAMA, eventually
from kubernetes import client

from azureml_standins.kube.process import KubeProcess

pytestmark = [
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
    pytest.mark.usefixtures("project_crds"),
]

ENDPOINT = f"""\
apiVersion: azureml.dev/v1alpha1
kind: ServerlessEndpoint
metadata:
  name: chat
  namespace: {{ns}}
spec:
  modelId: {LLAMA}
"""


def _kubectl(
    kube: KubeProcess, cache: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kube.kubeconfig), "--cache-dir", str(cache), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_apply_get_delete_a_custom_resource(kube: KubeProcess, tmp_path: Path, ns: str) -> None:
    manifest = ENDPOINT.format(ns=ns)
    created = _kubectl(kube, tmp_path, "apply", "-f", "-", stdin=manifest)
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "serverlessendpoint.azureml.dev/chat created"
    unchanged = _kubectl(kube, tmp_path, "apply", "-f", "-", stdin=manifest)
    assert unchanged.stdout.strip() == "serverlessendpoint.azureml.dev/chat unchanged"
    configured = _kubectl(kube, tmp_path, "apply", "-f", "-", stdin=manifest + "  contentSafety: Disabled\n")
    assert configured.stdout.strip() == "serverlessendpoint.azureml.dev/chat configured", configured.stderr

    table = _kubectl(kube, tmp_path, "get", "amlsls", "-n", ns)
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.split() == ["NAME", "READY", "REASON", "STATE", "URI", "AGE"]
    assert row.split()[0] == "chat"
    wide = _kubectl(kube, tmp_path, "get", "serverlessendpoints", "chat", "-n", ns, "-o", "wide")
    assert "MODEL" in wide.stdout and LLAMA in wide.stdout
    assert wide.stdout.splitlines()[0].split()[-2:] == ["MESSAGE", "AGE"]
    as_json = json.loads(_kubectl(kube, tmp_path, "get", "amlsls", "chat", "-n", ns, "-o", "json").stdout)
    assert as_json["spec"] == {
        "modelId": LLAMA,
        "authMode": "Key",
        "deletionPolicy": "Delete",
        "contentSafety": "Disabled",
    }
    by_category = _kubectl(kube, tmp_path, "get", "azureml", "-n", ns, "-o", "name")
    assert by_category.stdout.strip() == "serverlessendpoint.azureml.dev/chat"

    deleted = _kubectl(kube, tmp_path, "delete", "-f", "-", stdin=manifest)
    assert deleted.returncode == 0 and 'serverlessendpoint.azureml.dev "chat" deleted' in deleted.stdout
    assert "No resources found" in _kubectl(kube, tmp_path, "get", "amlsls", "-n", ns).stderr


def test_kubectl_shows_the_servers_refusals(kube: KubeProcess, tmp_path: Path, ns: str) -> None:
    versioned = ENDPOINT.format(ns=ns).replace(LLAMA, f"{LLAMA}/versions/2")
    refused = _kubectl(kube, tmp_path, "apply", "-f", "-", stdin=versioned)
    assert refused.returncode != 0
    assert 'The ServerlessEndpoint "chat" is invalid' in refused.stderr and "spec.modelId" in refused.stderr
    unknown = _kubectl(kube, tmp_path, "apply", "-f", "-", stdin=ENDPOINT.format(ns=ns) + "  bogus: 1\n")
    assert unknown.returncode != 0 and 'unknown field "spec.bogus"' in unknown.stderr
    _kubectl(kube, tmp_path, "apply", "-f", "-", stdin=ENDPOINT.format(ns=ns))
    other = ENDPOINT.format(ns=ns).replace("Meta-Llama-3-8B-Instruct", "Other")
    immutable = _kubectl(kube, tmp_path, "apply", "-f", "-", stdin=other)
    assert immutable.returncode != 0 and "modelId is immutable" in immutable.stderr


def test_builtins_through_kubectl(kube: KubeProcess, core: client.CoreV1Api, tmp_path: Path, ns: str) -> None:
    created = _kubectl(
        kube, tmp_path, "create", "secret", "generic", "creds", "-n", ns, "--from-literal=key=s3cret"
    )
    assert created.returncode == 0, created.stderr
    assert core.read_namespaced_secret("creds", ns).data == {"key": "czNjcmV0"}
    assert (
        _kubectl(kube, tmp_path, "create", "configmap", "cfg", "-n", ns, "--from-literal=a=b").returncode == 0
    )
    assert _kubectl(kube, tmp_path, "label", "configmap", "cfg", "-n", ns, "tier=web").returncode == 0
    listed = _kubectl(kube, tmp_path, "get", "cm", "-n", ns, "-l", "tier=web", "-o", "name")
    assert listed.stdout.strip() == "configmap/cfg"
    namespace = f"{ns}-kubectl"
    assert _kubectl(kube, tmp_path, "create", "namespace", namespace).returncode == 0
    assert (
        _kubectl(kube, tmp_path, "get", "ns", namespace, "-o", "jsonpath={.status.phase}").stdout == "Active"
    )
    assert _kubectl(kube, tmp_path, "delete", "namespace", namespace).returncode == 0
    eventually(
        lambda: namespace not in {n.metadata.name for n in core.list_namespace().items}, "namespace gone"
    )


def test_the_fine_tune_example_applies_and_lists_with_its_columns(
    kube: KubeProcess, tmp_path: Path, ns: str
) -> None:
    examples = Path(__file__).parents[2] / "examples" / "finetune"
    applied = _kubectl(kube, tmp_path, "apply", "-n", ns, "-f", str(examples))
    assert applied.returncode == 0, applied.stderr
    by_category = _kubectl(kube, tmp_path, "get", "azureml", "-n", ns, "-o", "name")
    assert sorted(by_category.stdout.split()) == [
        "dataasset.azureml.dev/chat-train",
        "finetunejob.azureml.dev/phi-ft",
    ]
    table = _kubectl(kube, tmp_path, "get", "amlft", "-n", ns)
    header, row = table.stdout.splitlines()
    assert header.split() == ["NAME", "READY", "REASON", "PHASE", "BASE", "MODEL", "OUTPUT", "MODEL", "AGE"]
    assert row.split()[0] == "phi-ft"
    assert "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1" in row.split()


def test_the_online_walk_applies_step_by_step_as_its_readme_says(
    kube: KubeProcess, tmp_path: Path, ns: str
) -> None:
    """kubectl's own apply (client-side three-way merge) and delete of examples/online/: a step that
    drops the mirror drops it in the stored spec, as the README promises; no operator is running."""
    online = Path(__file__).parents[2] / "examples" / "online"

    def run(*args: str) -> str:
        done = _kubectl(kube, tmp_path, *args, "-n", ns)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def endpoint() -> dict[str, object]:
        spec: dict[str, object] = json.loads(run("get", "onlineendpoint", "chat-online", "-o", "json"))[
            "spec"
        ]
        return spec

    assert sorted(run("apply", "-f", str(online)).split("\n")[:-1]) == [
        "onlinedeployment.azureml.dev/blue created",
        "onlineendpoint.azureml.dev/chat-online created",
    ]
    run("apply", "-f", str(online / "steps" / "1-green-mirrored.yaml"))
    assert endpoint()["mirrorTraffic"] == {"green": 10}
    run("apply", "-f", str(online / "steps" / "2-live-90-10.yaml"))
    assert endpoint()["traffic"] == {"blue": 90, "green": 10} and not endpoint().get("mirrorTraffic")
    run("apply", "-f", str(online / "steps" / "3-live-0-100.yaml"))
    assert endpoint()["traffic"] == {"blue": 0, "green": 100}
    # What the operator would report, so that the columns the README points at show it.
    reported = {"instanceCount": 2, "traffic": 100, "mirrorTraffic": 0}
    run(
        "patch",
        "amlod",
        "green",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": reported}),
    )
    header, *rows = run("get", "amlod").splitlines()
    columns = [
        "NAME",
        "READY",
        "REASON",
        "ENDPOINT",
        "MODEL",
        "INSTANCES",
        "TRAFFIC",
        "%",
        "MIRROR",
        "%",
        "AGE",
    ]
    assert header.split() == columns and len(rows) == 2
    [green] = [r.split() for r in rows if r.startswith("green")]
    assert green[-4:-1] == ["2", "100", "0"]  # instances, traffic %, mirror %
    assert "deleted" in run("delete", "-f", str(online / "steps" / "4-delete-blue.yaml"))
    assert run("get", "onlinedeployments", "-o", "name").split() == ["onlinedeployment.azureml.dev/green"]


def test_get_says_why_an_object_is_not_ready_and_wide_says_what_to_do(
    kube: KubeProcess, tmp_path: Path, ns: str
) -> None:
    assert _kubectl(kube, tmp_path, "apply", "-f", "-", stdin=ENDPOINT.format(ns=ns)).returncode == 0
    condition = {
        "type": "Ready",
        "status": "False",
        "reason": "WaitingForSubscription",
        "message": "waiting for ModelSubscription llama to be Ready",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    client.CustomObjectsApi(kube.client()).patch_namespaced_custom_object_status(
        "azureml.dev", "v1alpha1", ns, "serverlessendpoints", "chat", {"status": {"conditions": [condition]}}
    )
    row = _kubectl(kube, tmp_path, "get", "azureml", "-n", ns).stdout.splitlines()[1].split()
    assert row[:3] == ["serverlessendpoint.azureml.dev/chat", "False", "WaitingForSubscription"]
    wide = _kubectl(kube, tmp_path, "get", "amlsls", "chat", "-n", ns, "-o", "wide").stdout
    assert "waiting for ModelSubscription llama to be Ready" in wide
