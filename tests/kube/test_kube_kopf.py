"""End to end: the real kopf (1.45) against the stand-in, authenticated by its kubeconfig. A tiny
operator for the project's ServerlessEndpoint CRD adds its finalizer, writes status, creates an
owned Secret and posts an Event; deleting the object runs the delete handler, removes the
finalizer, and garbage-collects the Secret. Also: namespaced mode (kopf lists and watches
namespaces), a CRD created after the operator started, and the operator run as a ServiceAccount
with only the RBAC rules it needs."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kopf.testing import KopfRunner
from kube_helpers import CRD_FILES, LLAMA, SLS, G, V, endpoint, eventually, widget_crd
from kubernetes import client

from azureml_standins.kube.process import KubeProcess

FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"

OPERATOR = textwrap.dedent(
    """
    import kopf
    import kubernetes


    @kopf.on.startup()
    def configure(settings, **_):
        settings.networking.error_backoffs = [0.1, 0.2]
        settings.watching.server_timeout = 30


    def core():
        kubernetes.config.load_kube_config()
        return kubernetes.client.CoreV1Api()


    @kopf.on.create("azureml.dev", "v1alpha1", "serverlessendpoints")
    def created(body, name, namespace, patch, **_):
        secret = {"metadata": {"name": f"{name}-keys"}, "stringData": {"primaryKey": "k1"}}
        kopf.adopt(secret, owner=body)
        core().create_namespaced_secret(namespace, secret)
        kopf.info(body, reason="Provisioned", message="keys written")
        patch.status["endpointState"] = "Online"
        patch.status["keysSecretName"] = f"{name}-keys"
        patch.status["observedGeneration"] = body["metadata"]["generation"]


    @kopf.on.update("azureml.dev", "v1alpha1", "serverlessendpoints", field="spec")
    def updated(body, spec, patch, **_):
        patch.status["endpointState"] = f"Updated:{spec.get('contentSafety')}"
        patch.status["observedGeneration"] = body["metadata"]["generation"]


    @kopf.on.delete("azureml.dev", "v1alpha1", "serverlessendpoints")
    def deleted(name, namespace, logger, **_):
        logger.info(f"DELETE-HANDLER {namespace}/{name}")


    @kopf.on.create("late.example.dev", "v1", "widgets")
    def widget_created(patch, **_):
        patch.status["phase"] = "Ready"
    """
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[KubeProcess]:
    """A stand-in of its own (so that kopf -A sees only this module's objects), started with
    the project's CRDs through `--crd`."""
    with KubeProcess(crds=CRD_FILES, bookmark_interval=0.5) as process:
        yield process


@pytest.fixture
def operator_path(tmp_path: Path, cluster: KubeProcess, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    # The kubernetes client reads $KUBECONFIG once, at import: kopf's default login goes through it.
    monkeypatch.setattr(
        kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(cluster.kubeconfig)
    )
    path = tmp_path / "operator.py"
    path.write_text(OPERATOR)
    return str(path)


def _gone(read: Any, *args: Any) -> bool:
    try:
        read(*args)
    except client.ApiException as e:
        return e.status == 404
    return False


def _lifecycle(cluster: KubeProcess, namespace: str) -> None:
    api = cluster.client()
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    get = lambda: custom.get_namespaced_custom_object(G, V, namespace, SLS, "chat")  # noqa: E731

    custom.create_namespaced_custom_object(G, V, namespace, SLS, endpoint())
    obj = eventually(lambda: (o := get()).get("status", {}).get("endpointState") == "Online" and o, "Online")
    assert obj["metadata"]["finalizers"] == [FINALIZER]
    assert obj["status"]["keysSecretName"] == "chat-keys" and obj["status"]["observedGeneration"] == 1
    secret = core.read_namespaced_secret("chat-keys", namespace)
    (owner,) = secret.metadata.owner_references
    assert (owner.uid, owner.kind, owner.name, owner.controller) == (
        obj["metadata"]["uid"],
        "ServerlessEndpoint",
        "chat",
        True,
    )
    events = eventually(
        lambda: core.list_namespaced_event(namespace, field_selector="reason=Provisioned").items, "event"
    )
    assert events[0].involved_object.uid == obj["metadata"]["uid"]

    custom.patch_namespaced_custom_object(
        G, V, namespace, SLS, "chat", {"spec": {"contentSafety": "Disabled"}}
    )
    obj = eventually(
        lambda: (o := get())["status"]["endpointState"] == "Updated:Disabled" and o, "update handled"
    )
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"] == 2
    assert obj["spec"]["modelId"] == LLAMA

    custom.delete_namespaced_custom_object(G, V, namespace, SLS, "chat")
    eventually(lambda: _gone(get), "the object to go")
    eventually(
        lambda: _gone(core.read_namespaced_secret, "chat-keys", namespace), "the Secret to be collected"
    )


def _assert_clean(runner: KopfRunner) -> None:
    assert runner.exit_code == 0, runner.output
    assert runner.exception is None
    # Signs of an inconsistent API (stale resourceVersions, failed JSON-patch tests, 5xx):
    for symptom in ("Could not apply the patch", "Throttling", "Traceback", "[ERROR"):
        assert symptom not in runner.output, runner.output


def test_cluster_wide_lifecycle(cluster: KubeProcess, operator_path: str) -> None:
    core = client.CoreV1Api(cluster.client())
    core.create_namespace({"metadata": {"name": "team-a"}})
    with KopfRunner(["run", "--standalone", "-A", "--verbose", operator_path], timeout=30) as runner:
        _lifecycle(cluster, "team-a")
    _assert_clean(runner)
    assert "DELETE-HANDLER team-a/chat" in runner.output


def test_namespaced_mode_watches_namespaces(cluster: KubeProcess, operator_path: str) -> None:
    api = cluster.client()
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": "elsewhere"}})
    custom.create_namespaced_custom_object(G, V, "elsewhere", SLS, endpoint("ignored"))
    args = [
        "run",
        "--standalone",
        "--namespace",
        "default",
        "--namespace",
        "scan-*",
        "--verbose",
        operator_path,
    ]
    with KopfRunner(args, timeout=30) as runner:
        _lifecycle(cluster, "default")
        # A namespace created while the operator runs is picked up through the namespace watch.
        core.create_namespace({"metadata": {"name": "scan-later"}})
        _lifecycle(cluster, "scan-later")
    _assert_clean(runner)
    ignored = custom.get_namespaced_custom_object(G, V, "elsewhere", SLS, "ignored")
    assert "finalizers" not in ignored["metadata"] and "status" not in ignored
    assert "Starting the watch-stream for namespaces.v1 cluster-wide" in runner.output
    assert (
        "Starting the watch-stream for serverlessendpoints.v1alpha1.azureml.dev in 'scan-later'"
        in runner.output
    )


def test_crd_created_after_the_operator_started(cluster: KubeProcess, operator_path: str) -> None:
    api = cluster.client()
    custom, apiext = client.CustomObjectsApi(api), client.ApiextensionsV1Api(api)
    with KopfRunner(["run", "--standalone", "-A", "--verbose", operator_path], timeout=30) as runner:
        apiext.create_custom_resource_definition(widget_crd("late.example.dev"))
        custom.create_namespaced_custom_object(
            "late.example.dev", "v1", "default", "widgets", {"metadata": {"name": "w"}}
        )
        eventually(
            lambda: (
                custom.get_namespaced_custom_object("late.example.dev", "v1", "default", "widgets", "w")
                .get("status", {})
                .get("phase")
                == "Ready"
            ),
            "the late widget to be handled",
        )
    _assert_clean(runner)


# What the tiny operator above needs, cluster-wide: kopf's CRD observer, its list/watch/patch of the
# resources it handles (a finalizer, annotations, /status), the Secret its handler creates, Events.
OPERATOR_RULES = [
    {
        "apiGroups": ["apiextensions.k8s.io"],
        "resources": ["customresourcedefinitions"],
        "verbs": ["list", "watch"],
    },
    {
        "apiGroups": [G, "late.example.dev"],
        "resources": [SLS, "widgets"],
        "verbs": ["list", "watch", "patch"],
    },
    {
        "apiGroups": [G, "late.example.dev"],
        "resources": [f"{SLS}/status", "widgets/status"],
        "verbs": ["patch"],
    },
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
]
SECRETS_RULE = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}


def test_the_operator_runs_as_a_service_account_with_just_its_rules(
    cluster: KubeProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kopf and the handlers authenticate with a ServiceAccount token from the kubeconfig the
    helper writes: a rule missing shows up as a refusal naming it, and with every rule there
    is none at all."""
    api = cluster.client()
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    for namespace in ("operators", "team-sa", "team-sa-short"):
        core.create_namespace({"metadata": {"name": namespace}})
    kubeconfig = cluster.service_account_kubeconfig(
        "operators", "op", create=True, path=tmp_path / "kubeconfig"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    operator = tmp_path / "operator.py"
    operator.write_text(OPERATOR)
    rbac.create_cluster_role({"metadata": {"name": "tiny-operator"}, "rules": OPERATOR_RULES})
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": "tiny-operator"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "tiny-operator",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "operators"}],
        }
    )
    custom = client.CustomObjectsApi(api)
    args = ["run", "--standalone", "-A", "--verbose", str(operator)]

    cluster.reset_denied()
    with KopfRunner(args, timeout=30) as runner:
        custom.create_namespaced_custom_object(G, V, "team-sa-short", SLS, endpoint())
        refused = eventually(lambda: cluster.denied()["denied"], "the handler's refused Secret")
    assert [(d["user"], d["verb"], d["resource"], d["namespace"]) for d in refused] == [
        ("system:serviceaccount:operators:op", "create", "secrets", "team-sa-short")
    ]
    assert "secrets is forbidden" in runner.output
    custom.patch_namespaced_custom_object(
        G, V, "team-sa-short", SLS, "chat", {"metadata": {"finalizers": None}}
    )
    custom.delete_namespaced_custom_object(G, V, "team-sa-short", SLS, "chat")

    rbac.patch_cluster_role("tiny-operator", {"rules": [*OPERATOR_RULES, SECRETS_RULE]})
    cluster.reset_denied()
    with KopfRunner(args, timeout=30) as runner:
        _lifecycle(cluster, "team-sa")
    _assert_clean(runner)
    assert cluster.denied() == {"count": 0, "unauthorized": 0, "denied": []}
