"""OnlineEndpoint's and OnlineDeployment's schemas (issue 9) admit the blue/green story and refuse,
with a clear message, every traffic map Azure would refuse and every change Azure cannot make in
place. CEL included, evaluated as the API server would (the list library's sum() too)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from azureml_operator import crdgen
from azureml_operator.api.online_deployment import KIND as DEPLOYMENT_KIND
from azureml_operator.api.online_endpoint import KIND as ENDPOINT_KIND
from azureml_operator.errors import InvalidSpec
from azureml_standins import admission

ENDPOINT_CRD = yaml.safe_load(crdgen.render(ENDPOINT_KIND))
DEPLOYMENT_CRD = yaml.safe_load(crdgen.render(DEPLOYMENT_KIND))
LLAMA = "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct/versions/9"


def endpoint(name: str = "chat-online", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "azureml.dev/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": name},
        "spec": spec,
    }


def deployment(name: str = "blue", **spec: Any) -> dict[str, Any]:
    base = {"endpointRef": {"name": "chat-online"}, "model": LLAMA, "instanceType": "Standard_DS3_v2"}
    return {
        "apiVersion": "azureml.dev/v1alpha1",
        "kind": "OnlineDeployment",
        "metadata": {"name": name},
        "spec": {**base, **spec},
    }


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"traffic": {"blue": 100}},
        {"traffic": {"blue": 100}, "mirrorTraffic": {"green": 10}},
        {"traffic": {"blue": 100, "green": 0}, "mirrorTraffic": {"green": 50}},
        {"traffic": {"blue": 90, "green": 10}},
        {"traffic": {"blue": 0, "green": 100}},
        {"traffic": {"blue": 0}},  # no live traffic at all
        {"authMode": "AMLToken", "publicNetworkAccess": "Disabled"},
    ],
)
def test_the_blue_green_steps_are_admitted(spec: dict[str, Any]) -> None:
    assert admission.validate(ENDPOINT_CRD, endpoint(**spec)) == []
    ENDPOINT_KIND.parse_spec(spec)  # and the operator's own parse agrees


REFUSED = [
    ({"traffic": {"blue": 90}}, "must add up to 100"),
    ({"traffic": {"blue": 60, "green": 60}}, "must add up to 100"),
    ({"traffic": {"blue": 101}}, "percentages from 0 to 100"),
    ({"traffic": {"blue": -1, "green": 101}}, "percentages from 0 to 100"),
    ({"traffic": {"blue": 100}, "mirrorTraffic": {"green": 60}}, "percentages from 0 to 50"),
    ({"traffic": {"blue": 100}, "mirrorTraffic": {"green": 30, "red": 30}}, "at most 50 %"),
    ({"traffic": {"blue": 100}, "mirrorTraffic": {"green": 10, "red": 10}}, "one deployment only"),
    (
        {"traffic": {"blue": 90, "green": 10}, "mirrorTraffic": {"green": 10}},
        "live or mirrored traffic, not both",
    ),
    ({"traffic": {"Blue_1": 100}}, "keys must be deployment names"),
    ({"traffic": {f"d{i:03d}": 0 for i in range(21)}}, "spec.traffic"),
    ({"authMode": "Password"}, "authMode"),
]


@pytest.mark.parametrize(("spec", "fragment"), REFUSED)
def test_maps_azure_would_refuse_are_refused_at_admission(spec: dict[str, Any], fragment: str) -> None:
    errors = admission.validate(ENDPOINT_CRD, endpoint(**spec))
    assert any(fragment in e for e in errors), errors


@pytest.mark.parametrize(
    "spec",
    [
        {"traffic": {"blue": 90}},
        {"traffic": {"blue": 100}, "mirrorTraffic": {"green": 10, "red": 10}},
        {"traffic": {"green": 10, "blue": 90}, "mirrorTraffic": {"green": 10}},
    ],
)
def test_the_operator_refuses_the_same_maps_when_admission_did_not(spec: dict[str, Any]) -> None:
    with pytest.raises(InvalidSpec):
        ENDPOINT_KIND.parse_spec(spec)


def test_an_endpoint_name_must_be_one_azure_takes_and_never_changes() -> None:
    assert any("set spec.endpointName" in e for e in admission.validate(ENDPOINT_CRD, endpoint("ab")))
    assert admission.validate(ENDPOINT_CRD, endpoint("ab", endpointName="chat-ab")) == []
    assert admission.validate(ENDPOINT_CRD, endpoint(endpointName="-bad")) != []
    old = endpoint(endpointName="chat-1")
    renamed = admission.validate(ENDPOINT_CRD, endpoint(endpointName="chat-2"), old=old)
    assert any("is immutable" in e for e in renamed)
    moved = endpoint(endpointName="chat-1", traffic={"blue": 100})
    assert admission.validate(ENDPOINT_CRD, moved, old=old) == []  # traffic changes freely


# -- deployments ------------------------------------------------------------------------------------


def test_a_deployment_of_the_seeds_model_is_admitted() -> None:
    assert admission.validate(DEPLOYMENT_CRD, deployment()) == []
    full = deployment(
        instanceCount=2,
        environment="azureml:vllm:3",
        codeConfiguration={"codeId": "azureml:score:1", "scoringScript": "score.py"},
        requestSettings={"maxConcurrentRequestsPerInstance": 4, "requestTimeout": "PT90S"},
        livenessProbe={"failureThreshold": 30, "period": "PT10S", "initialDelay": "PT600S"},
        environmentVariables={"MAX_TOKENS": "512"},
        appInsightsEnabled=True,
    )
    assert admission.validate(DEPLOYMENT_CRD, full) == []
    short = deployment(model="azureml:my-model:3")
    assert admission.validate(DEPLOYMENT_CRD, short) == []


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"instanceCount": 0}, "instanceCount"),
        ({"instanceCount": 51}, "instanceCount"),
        ({"model": "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct"}, "spec.model"),
        ({"instanceType": "DS3"}, "instanceType"),
        ({"requestSettings": {"requestTimeout": "5s"}}, "requestTimeout"),
        ({"endpointRef": {}}, "endpointRef"),
    ],
)
def test_what_azure_cannot_run_is_refused(changes: dict[str, Any], fragment: str) -> None:
    errors = admission.validate(DEPLOYMENT_CRD, deployment(**changes))
    assert any(fragment in e for e in errors), errors


def test_a_deployment_needs_a_model_or_an_environment() -> None:
    bare = deployment()
    del bare["spec"]["model"]
    assert any("set model, environment or both" in e for e in admission.validate(DEPLOYMENT_CRD, bare))


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("instanceType", "Standard_NC24ads_A100_v4", "create a new deployment and move the traffic"),
        ("egressPublicNetworkAccess", "Disabled", "create a new deployment and move the traffic"),
        ("endpointRef", {"name": "other-endpoint"}, "endpointRef is immutable"),
        ("deploymentName", "green", "is immutable"),
    ],
)
def test_what_azure_cannot_change_in_place_is_immutable(field: str, value: Any, fragment: str) -> None:
    old = deployment()
    new = copy.deepcopy(old)
    new["spec"][field] = value
    errors = admission.validate(DEPLOYMENT_CRD, new, old=old)
    assert any(fragment in e for e in errors), errors


def test_what_azure_updates_in_place_may_change() -> None:
    old = deployment()
    new = deployment(
        model=LLAMA.replace("/versions/9", "/versions/10"), instanceCount=3, environment="azureml:vllm:4"
    )
    assert admission.validate(DEPLOYMENT_CRD, new, old=old) == []
