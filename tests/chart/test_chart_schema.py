"""values.schema.json refuses bad values before anything is rendered, and says where and why.

Helm validates the values on install (and upgrade, lint, template); the messages are those of
Helm's JSON Schema validator: the path of the value and the rule it breaks."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from builtins_proxy import BuiltinsProxy
from chart_helpers import CHART, INFO, Helm, lint

from azureml_standins.kube.process import KubeProcess

GUID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture(scope="module")
def refusing() -> Iterator[Helm]:
    """One stand-in for the module: nothing refused is ever applied."""
    with KubeProcess() as kube, BuiltinsProxy(kube.url, kube.tmp_dir, ca=kube.ca) as proxy:
        yield Helm(proxy.kubeconfig)


REFUSED = [
    ({"replicas": -1}, "at '/replicas': minimum: got -1, want 0"),
    ({"replicas": "1"}, "at '/replicas': got string, want integer"),
    ({"driftInterval": -5}, "at '/driftInterval': exclusiveMinimum: got -5, want 0"),
    ({"driftInterval": 0}, "at '/driftInterval': exclusiveMinimum: got 0, want 0"),
    ({"driftInterval": "600"}, "at '/driftInterval': got string, want number"),
    ({"azureConcurrency": 0}, "at '/azureConcurrency': minimum: got 0, want 1"),
    ({"logFormat": "xml"}, "at '/logFormat': value must be one of 'text', 'json'"),
    ({"logLevel": "verbose"}, "at '/logLevel': value must be one of 'debug', 'info', 'warning', 'error'"),
    ({"replica": 1}, "additional properties 'replica' not allowed"),
    ({"image": {"tags": "1"}}, "at '/image': additional properties 'tags' not allowed"),
    ({"image": {"pullPolicy": "Sometimes"}}, "at '/image/pullPolicy': value must be one of"),
    ({"defaultWorkspace": "ws-sim"}, "at '/defaultWorkspace': 'ws-sim' does not match pattern"),
    ({"defaultWorkspace": "sub/rg"}, "at '/defaultWorkspace': 'sub/rg' does not match pattern"),
    (
        {"defaultWorkspace": "sub/rg/ws/extra"},
        "at '/defaultWorkspace': 'sub/rg/ws/extra' does not match pattern",
    ),
    ({"watchNamespaces": "team-a"}, "at '/watchNamespaces': got string, want array"),
    ({"watchNamespaces": ["Team_A"]}, "at '/watchNamespaces/0': 'Team_A' does not match pattern"),
    ({"watchNamespaces": ["a", "a"]}, "at '/watchNamespaces': items at 0 and 1 are equal"),
    (
        {"armEndpoint": "http://management.azure.com"},
        "at '/armEndpoint': 'http://management.azure.com' does not match pattern",
    ),
    ({"workloadIdentity": {"enabled": True}}, "at '/workloadIdentity/clientId': minLength: got 0, want 1"),
    (
        {"workloadIdentity": {"enabled": True, "clientId": "my-app"}},
        "at '/workloadIdentity/clientId': 'my-app' does not match pattern",
    ),
    ({"caBundle": {"configMap": "ca", "secret": "ca"}}, "at '/caBundle/secret': value must be ''"),
    ({"metrics": {"port": 70000}}, "at '/metrics/port': maximum: got 70,000, want 65,535"),
    ({"health": {"port": 0}}, "at '/health/port': minimum: got 0, want 1"),
    ({"serviceMonitor": {"interval": "30"}}, "at '/serviceMonitor/interval': '30' does not match pattern"),
    (
        {"podDisruptionBudget": {"maxUnavailable": 1, "minAvailable": 1}},
        "at '/podDisruptionBudget/maxUnavailable': value must be <nil>",
    ),
    ({"networkPolicy": {"httpsCidrs": []}}, "at '/networkPolicy/httpsCidrs': minItems: got 0, want 1"),
    ({"crds": {"install": "yes"}}, "at '/crds/install': got string, want boolean"),
    (
        {"grafanaDashboard": {"enabled": True, "folder": "x"}},
        "at '/grafanaDashboard': additional properties 'folder' not allowed",
    ),
]


@pytest.mark.parametrize("values, message", REFUSED, ids=[json.dumps(v) for v, _ in REFUSED])
def test_bad_values_are_refused_with_a_clear_message(
    refusing: Helm, values: dict[str, Any], message: str
) -> None:
    refusal = refusing.refusal(values)
    assert "values don't meet the specifications of the schema" in refusal
    assert message in refusal, refusal


ACCEPTED = [
    {"defaultWorkspace": "00000000-0000-0000-0000-000000000000/rg-sim/ws-sim"},
    {
        "defaultWorkspace": "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg"
        "/providers/microsoft.machinelearningservices/workspaces/ws"
    },
    {"driftInterval": 0.5},
    # A parent chart's globals reach every subchart.
    {"global": {"imageRegistry": "example.azurecr.io"}},
    {"workloadIdentity": {"enabled": True, "clientId": GUID}},
    {"caBundle": {"secret": "corp-ca"}},
    {"podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"}},
    {"prometheusRule": {"enabled": False, "namespace": "monitoring", "labels": {"release": "prom"}}},
    {"grafanaDashboard": {"enabled": False, "namespace": "grafana", "labels": {"grafana_dashboard": "1"}}},
]


@pytest.mark.parametrize("values", ACCEPTED, ids=[json.dumps(v)[:60] for v in ACCEPTED])
def test_good_values_are_accepted(values: dict[str, Any], tmp_path: Path) -> None:
    """`helm lint` of a copy of the chart whose values.yaml holds these values: Helm validates them
    against the schema and renders every template, without a cluster."""
    chart = tmp_path / "azureml-operator"
    shutil.copytree(CHART, chart)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    (chart / "values.yaml").write_text(yaml.safe_dump(merge(defaults, values)))
    assert lint(chart) == [(INFO, "Chart.yaml")]


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of user values over the chart's: maps merge, everything else replaces."""
    out = dict(base)
    for key, value in top.items():
        out[key] = (
            merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
        )
    return out


def test_the_defaults_and_every_reserved_key_are_valid() -> None:
    import jsonschema

    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(defaults)
    # Every key values.yaml sets is described by the schema, and the schema knows no key it lacks
    # (the PDB's two alternatives, and Helm's `global`, are the exceptions values.yaml cannot set).
    assert set(schema["properties"]) - {"global"} == set(defaults)
    for key, value in defaults.items():
        if isinstance(value, dict) and schema["properties"][key].get("additionalProperties") is False:
            documented = set(schema["properties"][key]["properties"])
            assert set(value) <= documented, key
            assert documented - set(value) <= {"maxUnavailable", "minAvailable", "claims"}, key
