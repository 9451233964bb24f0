"""FineTuneJob's and DataAsset's schemas admit what the service can run and refuse, with a clear
message, what it cannot: hyperparameter ranges, tasks, data references, immutability."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from azureml_operator import crdgen
from azureml_operator.api.data_asset import KIND as DATA_KIND
from azureml_operator.api.finetune_job import KIND as FT_KIND
from azureml_operator.api.serverless_endpoint import KIND as ENDPOINT_KIND
from azureml_standins import admission

FT_CRD = yaml.safe_load(crdgen.render(FT_KIND))
DATA_CRD = yaml.safe_load(crdgen.render(DATA_KIND))
PHI = "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1"
TRAIN = "azureml://datastores/workspaceblobstore/paths/ft/train.jsonl"


def job(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "task": "ChatCompletion",
        "model": PHI,
        "trainingData": {"dataAssetRef": {"name": "chat-train"}},
        "validationData": {"uri": TRAIN},
        "hyperparameters": {
            "num_train_epochs": "1",
            "learning_rate": "0.00002",
            "per_device_train_batch_size": "1",
        },
    }
    return {
        "apiVersion": "azureml.dev/v1alpha1",
        "kind": "FineTuneJob",
        "metadata": {"name": "ft"},
        "spec": {**base, **spec},
    }


def test_the_seeds_fine_tune_is_admitted() -> None:
    assert admission.validate(FT_CRD, job()) == []
    assert (
        admission.validate(FT_CRD, job(hyperparameters={"lora_r": "8", "learning_rate_multiplier": "10"}))
        == []
    )


INVALID = [
    (job(hyperparameters={"num_train_epochs": "0"}), "num_train_epochs must be an integer from 1 to 10"),
    (job(hyperparameters={"num_train_epochs": "11"}), "num_train_epochs must be an integer from 1 to 10"),
    (job(hyperparameters={"num_train_epochs": "two"}), "num_train_epochs must be an integer"),
    (
        job(hyperparameters={"per_device_train_batch_size": "33"}),
        "per_device_train_batch_size must be an integer from 1 to 32",
    ),
    (job(hyperparameters={"learning_rate": "0"}), "learning_rate must be a number in (0.0, 1.0]"),
    (job(hyperparameters={"learning_rate": "1.5"}), "learning_rate must be a number in (0.0, 1.0]"),
    (
        job(hyperparameters={"learning_rate_multiplier": "10.5"}),
        "learning_rate_multiplier must be a number from 0.0 to 10.0",
    ),
    (job(task="Poetry"), "spec.task"),
    (job(model="azureml://registries/azureml/models/Phi-4-mini-instruct"), "spec.model"),
    (job(trainingData={}), "set exactly one of dataAssetRef, assetId, uri"),
    (job(trainingData={"uri": TRAIN, "assetId": "azureml:chat-train:1"}), "set exactly one of"),
    (job(trainingData={"assetId": "chat-train"}), "spec.trainingData.assetId"),
    (job(trainingData={"uri": "/local/train.jsonl"}), "spec.trainingData.uri"),
    (job(deletionPolicy="Forget"), "spec.deletionPolicy"),
    (job(jobName="-bad"), "spec.jobName"),
    (job(deploy={"serverlessEndpoint": {"name": "1bad"}}), "spec.deploy.serverlessEndpoint.name"),
]


@pytest.mark.parametrize(("obj", "fragment"), INVALID, ids=[f for _, f in INVALID])
def test_what_can_never_run_is_refused_at_admission(obj: dict[str, Any], fragment: str) -> None:
    errors = admission.validate(FT_CRD, obj)
    assert any(fragment in e for e in errors), errors


def test_missing_training_data_is_refused() -> None:
    obj = job()
    del obj["spec"]["trainingData"]
    assert any("trainingData" in e for e in admission.validate(FT_CRD, obj))


def test_a_submitted_job_is_immutable_but_a_pending_one_is_not() -> None:
    old = job()
    new = copy.deepcopy(old)
    new["spec"]["hyperparameters"]["num_train_epochs"] = "2"
    assert admission.validate(FT_CRD, new, old) == []
    old["status"] = {"azureResourceId": "/subscriptions/s/.../jobs/ft-1"}
    assert any("immutable" in e for e in admission.validate(FT_CRD, new, old))


def data(**spec: Any) -> dict[str, Any]:
    base = {"version": "1", "path": TRAIN}
    return {
        "apiVersion": "azureml.dev/v1alpha1",
        "kind": "DataAsset",
        "metadata": {"name": "chat-train"},
        "spec": {**base, **spec},
    }


def test_a_data_asset_version_cannot_change_but_its_deletion_policy_can() -> None:
    old = data(description="chat set")
    for change in (
        {"path": TRAIN + ".v2"},
        {"version": "2"},
        {"type": "uri_folder"},
        {"description": None},
        {"tags": {"a": "b"}},
    ):
        new = copy.deepcopy(old)
        new["spec"].update(change)
        new["spec"] = {k: v for k, v in new["spec"].items() if v is not None}
        assert any("immutable" in e for e in admission.validate(DATA_CRD, new, old)), change
    new = copy.deepcopy(old)
    new["spec"]["deletionPolicy"] = "Retain"
    assert admission.validate(DATA_CRD, new, old) == []


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"path": "/tmp/train.jsonl"}, "spec.path"),
        ({"type": "mltable"}, "spec.type"),
        ({"version": ""}, "spec.version"),
        ({"deletionPolicy": "Delete"}, "spec.deletionPolicy"),
    ],
)
def test_a_data_asset_that_cannot_be_registered_is_refused(spec: dict[str, Any], fragment: str) -> None:
    assert any(fragment in e for e in admission.validate(DATA_CRD, data(**spec)))


def test_a_dotted_object_name_needs_an_asset_name() -> None:
    obj = data()
    obj["metadata"]["name"] = "chat.train"
    assert any("not a valid data asset name" in e for e in admission.validate(DATA_CRD, obj))
    obj["spec"]["assetName"] = "chat-train"
    assert admission.validate(DATA_CRD, obj) == []


# -- a ServerlessEndpoint of a fine-tuned model --------------------------------------------------------

SLS_CRD = yaml.safe_load(crdgen.render(ENDPOINT_KIND))
LLAMA = "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct"


def endpoint(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "azureml.dev/v1alpha1",
        "kind": "ServerlessEndpoint",
        "metadata": {"name": "phi-ft"},
        "spec": spec,
    }


def test_an_endpoint_names_exactly_one_model() -> None:
    assert admission.validate(SLS_CRD, endpoint(modelRef={"fineTuneJob": "ft"})) == []
    assert admission.validate(SLS_CRD, endpoint(modelId=LLAMA)) == []
    for wrong in (endpoint(), endpoint(modelId=LLAMA, modelRef={"fineTuneJob": "ft"})):
        assert any("set exactly one of modelId, modelRef" in e for e in admission.validate(SLS_CRD, wrong))
    assert admission.validate(SLS_CRD, endpoint(modelRef={})) != []
    assert admission.validate(SLS_CRD, endpoint(modelRef={"fineTuneJob": "Not_A_Name"})) != []


def test_an_endpoints_model_cannot_change_between_a_fine_tune_and_a_registry_model() -> None:
    by_ref = endpoint(modelRef={"fineTuneJob": "ft"})
    assert admission.validate(SLS_CRD, by_ref, old=by_ref) == []
    errors = admission.validate(SLS_CRD, endpoint(modelId=LLAMA), old=by_ref)
    assert any("cannot be swapped" in e for e in errors)
    other_job = admission.validate(SLS_CRD, endpoint(modelRef={"fineTuneJob": "ft-2"}), old=by_ref)
    assert any("modelRef is immutable" in e for e in other_job)
