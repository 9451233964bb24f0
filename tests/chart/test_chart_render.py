"""The chart renders, and Helm applies it, for the default values and every documented combination;
the Deployment runs the operator as the values say (its arguments are read back by the operator's
own flag parser), locked down as documented; every built-in object is well formed (the kubernetes
client's models, which refuse unknown fields), and what the stand-in serves is really applied."""

from __future__ import annotations

import argparse
import json
import tomllib
from typing import Any

import pytest
import yaml
from builtins_proxy import BuiltinsProxy
from chart_helpers import CHART, ROOT, Helm, Release
from kubernetes import client

from azureml_operator import running, settings
from azureml_operator.azure.client import WorkspaceTarget

APP_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
TENANT_ID = "66666666-7777-8888-9999-000000000000"

MODELS: dict[str, Any] = {
    "ServiceAccount": client.V1ServiceAccount,
    "Deployment": client.V1Deployment,
    "Service": client.V1Service,
    "ClusterRole": client.V1ClusterRole,
    "ClusterRoleBinding": client.V1ClusterRoleBinding,
    "Role": client.V1Role,
    "RoleBinding": client.V1RoleBinding,
    "PodDisruptionBudget": client.V1PodDisruptionBudget,
    "NetworkPolicy": client.V1NetworkPolicy,
    "ConfigMap": client.V1ConfigMap,
    "CustomResourceDefinition": client.V1CustomResourceDefinition,
}


def well_formed(release: Release) -> None:
    """Every object validates against its kind's model (ServiceMonitor, which has none, by hand)."""
    for doc in release.docs:
        if doc["kind"] == "ServiceMonitor":
            assert doc["apiVersion"] == "monitoring.coreos.com/v1"
            assert set(doc["spec"]) == {"selector", "namespaceSelector", "endpoints"}
            continue
        if doc["kind"] == "PrometheusRule":
            assert doc["apiVersion"] == "monitoring.coreos.com/v1" and set(doc["spec"]) == {"groups"}
            continue
        MODELS[doc["kind"]].model_validate(doc)
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == release.name


def run_args(release: Release) -> list[str]:
    args = release.container["args"]
    assert args[0] == "run"
    return list(args[1:])


def run_parser() -> argparse.ArgumentParser:
    """`azureml-operator`'s own parser for `run` (cli.main builds it the same way)."""
    parser = argparse.ArgumentParser(prog="azureml-operator")
    running.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def operator_settings(release: Release) -> settings.Settings:
    """What `azureml-operator run` makes of the rendered arguments."""
    return settings.from_arguments(run_parser().parse_args(release.container["args"]))


def env(release: Release) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in release.container.get("env", [])}


def test_default_values(helm: Helm, proxy: BuiltinsProxy, stand_in: client.ApiClient) -> None:
    release = helm.install()
    assert release.kinds() == sorted(
        ["ClusterRole", "ClusterRoleBinding", "Deployment", "ServiceAccount"]
        + ["CustomResourceDefinition"] * 7
    )
    well_formed(release)
    deployment = release.deployment
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    container = release.container
    assert container["image"] == f"azureml-operator:{APP_VERSION}"
    parsed = operator_settings(release)
    assert parsed.all_namespaces and parsed.namespaces == ()
    assert (parsed.default_workspace, parsed.ca_bundle) == (None, None)
    assert (parsed.drift_interval, parsed.azure_concurrency) == (600.0, 8)
    assert (parsed.metrics_port, parsed.health_port) == (8080, 8081)
    assert (parsed.log_level, parsed.log_format) == ("INFO", "text")
    assert env(release) == {}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"metrics": 8080, "health": 8081}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}, probe
    assert "Service" not in release.kinds() and "ServiceMonitor" not in release.kinds()
    # Applied: every object is in the stand-in, or (a kind it does not serve) kept by the proxy.
    applied_where_served(release, proxy, stand_in)


def applied_where_served(release: Release, proxy: BuiltinsProxy, stand_in: client.ApiClient) -> None:
    dynamic = {(k.group, k.kind) for k in proxy.emulated.values()}
    for doc in release.docs:
        group = doc["apiVersion"].rpartition("/")[0]
        name, namespace = doc["metadata"]["name"], doc["metadata"].get("namespace", "")
        if (group, doc["kind"]) in dynamic:
            assert any(o["metadata"]["name"] == name for o in proxy.kept(doc["kind"])), doc["kind"]
            continue
        path = served_path(stand_in, doc)
        token = stand_in.configuration.get_api_key_with_prefix("authorization")
        got = stand_in.call_api(
            "GET", path, header_params={"Accept": "application/json", "Authorization": token}
        )
        got.read()
        assert got.status == 200, f"{doc['kind']} {namespace}/{name} was not applied to the stand-in"


def served_path(stand_in: client.ApiClient, doc: dict[str, Any]) -> str:
    plural = {"ServiceAccount": "serviceaccounts", "CustomResourceDefinition": "customresourcedefinitions"}
    plural |= {"ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings"}
    plural |= {"Role": "roles", "RoleBinding": "rolebindings"}
    base = "/api/v1" if doc["apiVersion"] == "v1" else f"/apis/{doc['apiVersion']}"
    ns = doc["metadata"].get("namespace")
    where = f"/namespaces/{ns}" if ns else ""
    return f"{stand_in.configuration.host}{base}{where}/{plural[doc['kind']]}/{doc['metadata']['name']}"


def test_the_pod_is_locked_down(helm: Helm) -> None:
    release = helm.install()
    pod = release.deployment["spec"]["template"]["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert release.container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    # The read-only root keeps one writable place: /tmp, where `run --ca-bundle` writes its bundle.
    assert release.container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    # The token is mounted for the operator's pod only, not for anything else using the account.
    assert pod["automountServiceAccountToken"] is True
    assert release.one("ServiceAccount")["automountServiceAccountToken"] is False
    resources = release.container["resources"]
    assert resources == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }


def test_values_reach_the_operator_as_its_flags(helm: Helm) -> None:
    arm_id = (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg"
        "/providers/Microsoft.MachineLearningServices/workspaces/ws"
    )
    release = helm.install(
        {
            "watchNamespaces": ["team-a", "team-b"],
            "defaultWorkspace": arm_id,
            "armEndpoint": "https://management.usgovcloudapi.net",
            "driftInterval": 120.5,
            "azureConcurrency": 3,
            "metrics": {"port": 9090},
            "health": {"port": 9091},
            "logLevel": "warning",
            "logFormat": "json",
            "extraArgs": ["--verbose"],
            "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
        },
        namespace="ops",
    )
    parsed = operator_settings(release)
    assert parsed.namespaces == ("team-a", "team-b") and not parsed.all_namespaces
    assert parsed.default_workspace == WorkspaceTarget("00000000-0000-0000-0000-000000000000", "rg", "ws")
    assert parsed.arm_endpoint == "https://management.usgovcloudapi.net/"  # normalised
    assert (parsed.drift_interval, parsed.azure_concurrency) == (120.5, 3)
    assert (parsed.metrics_port, parsed.health_port) == (9090, 9091)
    assert (parsed.log_level, parsed.log_format) == ("DEBUG", "json")  # the extra --verbose wins
    assert run_args(release)[-1] == "--verbose"
    assert env(release) == {"HTTPS_PROXY": "http://proxy:3128"}
    assert {p["name"]: p["containerPort"] for p in release.container["ports"]} == {
        "metrics": 9090,
        "health": 9091,
    }
    assert release.deployment["metadata"]["namespace"] == "ops"
    assert "team-a, team-b" in release.notes


def test_debug_logging_reaches_the_operators_log_level(helm: Helm) -> None:
    release = helm.install({"logLevel": "debug"})
    assert operator_settings(release).log_level == "DEBUG"


def test_image_and_scheduling_values(helm: Helm) -> None:
    release = helm.install(
        {
            "image": {
                "repository": "example.azurecr.io/azureml-operator",
                "tag": "0.1.0-rc1",
                "pullPolicy": "Always",
            },
            "imagePullSecrets": [{"name": "acr"}],
            "podAnnotations": {"example.com/note": "yes"},
            "podLabels": {"team": "platform"},
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}
            ],
            "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
            "priorityClassName": "system-cluster-critical",
            "replicas": 0,
        }
    )
    well_formed(release)
    template = release.deployment["spec"]["template"]
    pod = template["spec"]
    assert release.container["image"] == "example.azurecr.io/azureml-operator:0.1.0-rc1"
    assert release.container["imagePullPolicy"] == "Always"
    assert pod["imagePullSecrets"] == [{"name": "acr"}]
    assert template["metadata"]["annotations"] == {"example.com/note": "yes"}
    assert template["metadata"]["labels"]["team"] == "platform"
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert "nodeAffinity" in pod["affinity"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert release.deployment["spec"]["replicas"] == 0
    # The selector stays the two stable labels, whatever pod labels are added.
    assert release.deployment["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "azureml-operator",
        "app.kubernetes.io/instance": release.name,
    }


def test_workload_identity(helm: Helm) -> None:
    release = helm.install(
        {"workloadIdentity": {"enabled": True, "clientId": CLIENT_ID, "tenantId": TENANT_ID}}
    )
    annotations = release.one("ServiceAccount")["metadata"]["annotations"]
    assert annotations == {
        "azure.workload.identity/client-id": CLIENT_ID,
        "azure.workload.identity/tenant-id": TENANT_ID,
    }
    labels = release.deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"


def test_no_workload_identity_by_default(helm: Helm) -> None:
    release = helm.install({"serviceAccount": {"annotations": {"example.com/a": "b"}}})
    assert release.one("ServiceAccount")["metadata"]["annotations"] == {"example.com/a": "b"}
    assert "azure.workload.identity/use" not in release.deployment["spec"]["template"]["metadata"]["labels"]


def test_an_existing_service_account(helm: Helm) -> None:
    release = helm.install({"serviceAccount": {"create": False, "name": "platform-sa"}})
    assert "ServiceAccount" not in release.kinds()
    assert release.deployment["spec"]["template"]["spec"]["serviceAccountName"] == "platform-sa"
    assert release.one("ClusterRoleBinding")["subjects"][0]["name"] == "platform-sa"


@pytest.mark.parametrize("source", ["configMap", "secret"])
def test_extra_ca_is_mounted_and_passed(helm: Helm, source: str) -> None:
    release = helm.install({"caBundle": {source: "corp-ca", "key": "bundle.pem"}})
    mounts = {m["name"]: m for m in release.container["volumeMounts"]}
    assert mounts["ca-bundle"] == {
        "name": "ca-bundle",
        "mountPath": "/etc/azureml-operator/ca",
        "readOnly": True,
    }
    volume = next(
        v for v in release.deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "ca-bundle"
    )
    items = [{"key": "bundle.pem", "path": "bundle.pem"}]
    if source == "configMap":
        assert volume["configMap"] == {"name": "corp-ca", "items": items}
    else:
        assert volume["secret"] == {"secretName": "corp-ca", "items": items}
    # settings.from_arguments checks the file exists, which it only does in the pod: the flag alone.
    parsed = run_parser().parse_args(release.container["args"])
    assert parsed.ca_bundle == "/etc/azureml-operator/ca/bundle.pem"
    assert mounts["tmp"]["mountPath"] == "/tmp"  # where the operator writes the combined bundle


def test_service_monitor(helm: Helm) -> None:
    release = helm.install(
        {
            "serviceMonitor": {
                "enabled": True,
                "namespace": "monitoring",
                "labels": {"release": "prom"},
                "interval": "1m",
            }
        }
    )
    well_formed(release)
    service = release.one("Service")
    monitor = release.one("ServiceMonitor")
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [release.namespace]}
    # The monitor's selector finds the metrics Service, and the Service the operator's pod.
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    pod_labels = release.deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint == {"port": "metrics", "path": "/metrics", "interval": "1m", "scrapeTimeout": "10s"}
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}
    ]


def test_alerting_rules_and_the_dashboard_are_the_repositorys_files(helm: Helm) -> None:
    files = CHART / "files"
    release = helm.install(
        {
            "prometheusRule": {"enabled": True, "namespace": "monitoring", "labels": {"release": "prom"}},
            "grafanaDashboard": {"enabled": True},
        }
    )
    well_formed(release)
    rule = release.one("PrometheusRule")
    assert (rule["metadata"]["namespace"], rule["metadata"]["labels"]["release"]) == ("monitoring", "prom")
    assert rule["spec"] == yaml.safe_load((files / "alerts" / "azureml-operator.rules.yaml").read_text())
    assert "{{ $labels.kind }}" in json.dumps(rule["spec"])  # Prometheus' templates, not Helm's
    board = release.one("ConfigMap")
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads((files / "dashboards" / "azureml-operator.json").read_text())
    assert json.loads(board["data"]["azureml-operator.json"]) == shipped


def test_metrics_service_alone(helm: Helm) -> None:
    release = helm.install(
        {"metrics": {"service": {"enabled": True, "annotations": {"prometheus.io/scrape": "true"}}}}
    )
    assert release.one("Service")["metadata"]["annotations"] == {"prometheus.io/scrape": "true"}
    assert "ServiceMonitor" not in release.kinds()


@pytest.mark.parametrize(
    "budget, spec",
    [
        ({}, {"maxUnavailable": 1}),
        ({"maxUnavailable": 0}, {"maxUnavailable": 0}),
        ({"minAvailable": 1}, {"minAvailable": 1}),
    ],
    ids=["default", "maxUnavailable-0", "minAvailable"],
)
def test_pod_disruption_budget(helm: Helm, budget: dict[str, Any], spec: dict[str, Any]) -> None:
    release = helm.install({"podDisruptionBudget": {"enabled": True, **budget}})
    well_formed(release)
    pdb = release.one("PodDisruptionBudget")["spec"]
    assert pdb == {**spec, "selector": release.deployment["spec"]["selector"]}


def test_network_policy(helm: Helm) -> None:
    release = helm.install({"networkPolicy": {"enabled": True, "apiServer": {"cidrs": ["10.0.0.1/32"]}}})
    well_formed(release)
    policy = release.one("NetworkPolicy")["spec"]
    assert policy["podSelector"] == release.deployment["spec"]["selector"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    [metrics] = policy["ingress"]
    assert metrics["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert metrics["from"][0]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}
    https, api_server, dns = policy["egress"]
    assert https == {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443, "protocol": "TCP"}]}
    assert api_server["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
    assert [p["port"] for p in api_server["ports"]] == [443, 6443]
    assert sorted(p["protocol"] for p in dns["ports"]) == ["TCP", "UDP"]


def test_network_policy_without_an_api_server_rule(helm: Helm) -> None:
    release = helm.install(
        {"networkPolicy": {"enabled": True, "httpsCidrs": ["20.0.0.0/8"], "metricsFrom": []}}
    )
    policy = release.one("NetworkPolicy")["spec"]
    assert [rule["ports"][0]["port"] for rule in policy["egress"]] == [443, 53]
    assert policy["egress"][0]["to"] == [{"ipBlock": {"cidr": "20.0.0.0/8"}}]
    assert policy["ingress"] is None  # nothing may reach the pod


def test_notes_say_what_to_apply_next(helm: Helm) -> None:
    release = helm.install()
    notes = release.notes
    assert "every namespace" in notes
    for example in ("examples/workspace/workspace.yaml", "examples/phi-serverless/serverless-endpoint.yaml"):
        assert example in notes and (ROOT / example).exists()
    assert "kubectl get azureml -A" in notes
    phi = yaml.safe_load((ROOT / "examples/phi-serverless/serverless-endpoint.yaml").read_text())
    assert f"serverlessendpoint {phi['metadata']['name']}" in notes


def test_chart_version_and_app_version(helm: Helm) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "azureml-operator"
    assert chart["version"] == "0.1.0" and chart["appVersion"] == APP_VERSION
    release = helm.install()
    assert release.deployment["metadata"]["labels"]["app.kubernetes.io/version"] == APP_VERSION
