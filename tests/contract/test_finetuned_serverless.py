"""Serverless endpoints for fine-tuned models, through the real SDK: a fine-tuning job registers its
output model in the workspace, and the model is deployed by the id the Foundry fine-tune-serverless
article builds, `azureml://locations/{workspace.location}/workspaces/{workspace._workspace_id}/models/{name}/versions/{v}`
(the SDK forbids versions only in registry ids, so this one reaches the service).

These tests run their own simulator with three workspaces (ws-sim and ws-neighbour in eastus2, ws-eu
in westeurope), so that another workspace's model and a region without serverless Phi can be tried;
`sim` and `ml` below stand for it instead of the session's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from azure.ai.ml import MLClient
from azure.ai.ml.constants._finetuning import FineTuningTaskType
from azure.ai.ml.entities import MarketplaceSubscription, ServerlessEndpoint
from azure.ai.ml.finetuning import create_finetuning_job
from azure.core.exceptions import ResourceNotFoundError
from polling import eventually
from sdk_errors import expect_arm_error

from azureml_standins.simulator.process import SimulatorProcess

SUB = "00000000-0000-0000-0000-000000000000"
WS = f"/subscriptions/{SUB}/resourceGroups/rg-sim/providers/Microsoft.MachineLearningServices/workspaces/ws-sim"
PHI_BASE = "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1"
PHI = "azureml://registries/azureml/models/Phi-4-mini-instruct"
LLAMA_BASE = "azureml://registries/azureml-meta/models/Meta-Llama-3.1-8B-Instruct/versions/5"
LLAMA = "azureml://registries/azureml-meta/models/Meta-Llama-3.1-8B-Instruct"
TRAIN = "azureml://datastores/workspaceblobstore/paths/ft/train.jsonl"
VALID = "azureml://datastores/workspaceblobstore/paths/ft/valid.jsonl"
CHAT = {"messages": [{"role": "user", "content": "Say hi"}]}
TARGET = "properties.modelSettings.modelId"
BOTH_FORMS = (
    r"use a registry model id, azureml://registries/<registry>/models/<model>, or a model version "
    r"registered in this workspace, azureml://locations/<location>/workspaces/<workspace id>/models/<model>"
    r"/versions/<version>\."
)


@pytest.fixture(scope="module")
def workspaces() -> Iterator[SimulatorProcess]:
    # The contract suite's fast durations (tests/conftest.py): a fine-tuning job completes in ~0.75 s.
    with SimulatorProcess(
        latency_scale=0.001,
        extra_args=[
            "--workspace",
            f"{SUB}/rg-other/ws-neighbour@eastus2",
            "--workspace",
            f"{SUB}/rg-eu/ws-eu@westeurope",
        ],
    ) as process:
        yield process


@pytest.fixture
def sim(workspaces: SimulatorProcess) -> SimulatorProcess:
    workspaces.admin("POST", "reset")
    return workspaces


@pytest.fixture
def ml(sim: SimulatorProcess) -> MLClient:
    return sim.ml_client(retry_total=0)


@pytest.fixture
def neighbour(sim: SimulatorProcess) -> MLClient:
    return sim.ml_client(resource_group="rg-other", workspace="ws-neighbour", retry_total=0)


def fine_tune(ml: MLClient, job_name: str, *, base: str = PHI_BASE, output: str = "phi4-ft") -> Any:
    """Submit a fine-tuning job, wait until it is Completed, and return the model version it registered."""
    ml.jobs.create_or_update(
        create_finetuning_job(
            model=base,
            task=FineTuningTaskType.CHAT_COMPLETION,
            training_data=TRAIN,
            validation_data=VALID,
            output_model_name_prefix=output,
            hyperparameters={"num_train_epochs": "1", "learning_rate": "0.00002"},
            experiment_name="ft-serverless",
            name=job_name,
        )
    )

    async def job() -> Any:
        return await asyncio.to_thread(ml.jobs.get, job_name)

    done = asyncio.run(eventually(job, lambda j: j.status in ("Completed", "Failed", "Canceled"), within=15))
    assert done.status == "Completed", done.status
    out = done.outputs["registered_model"]
    return ml.models.get(out.name, out.version)


def documented_id(ml: MLClient, name: str, version: str, *, location: str | None = None) -> str:
    """The model id as fine-tune-serverless.md builds it from the workspace the SDK returns."""
    workspace = ml.workspaces.get(ml.workspace_name)
    return (
        f"azureml://locations/{location or workspace.location}/workspaces/{workspace._workspace_id}"
        f"/models/{name}/versions/{version}"
    )


def deploy(ml: MLClient, name: str, model_id: str, **kwargs: Any) -> ServerlessEndpoint:
    return ml.serverless_endpoints.begin_create_or_update(
        ServerlessEndpoint(name=name, model_id=model_id, **kwargs)
    ).result()


def refused(ml: MLClient, name: str, model_id: str, status: int, match: str) -> None:
    """The PUT is refused with Azure's error shape, the message matching `match`, and nothing is created."""
    err = expect_arm_error(lambda: deploy(ml, name, model_id), status, "UserError", match)
    assert err.error.target == TARGET
    with pytest.raises(ResourceNotFoundError):
        ml.serverless_endpoints.get(name)


def raw(sim: SimulatorProcess, path: str) -> dict[str, Any]:
    r = requests.get(
        f"{sim.base_url}{path}",
        params={"api-version": "2024-01-01-preview"},
        headers={"Authorization": "Bearer contract-test"},
        verify=str(sim.ca),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def post(url: str, sim: SimulatorProcess, key: str, body: object) -> requests.Response:
    return requests.post(
        url, json=body, headers={"Authorization": f"Bearer {key}"}, verify=str(sim.ca), timeout=30
    )


# -- deploying and calling a fine-tuned model ----------------------------------------------------


def test_a_fine_tuned_phi_is_deployed_by_its_workspace_model_id_and_answers_chat(ml, sim) -> None:
    model = fine_tune(ml, "ft-phi")
    assert (model.name, model.version) == ("phi4-ft", "1")
    assert model.properties["baseModel"] == PHI_BASE
    model_id = documented_id(ml, model.name, model.version)
    assert model_id == (
        "azureml://locations/eastus2/workspaces/00000000-0000-0000-0000-00000000abcd/models/phi4-ft/versions/1"
    )

    ep = deploy(ml, "phi-ft", model_id, tags={"tuned": "yes"})
    assert ep.provisioning_state == "succeeded"
    assert ep.model_id == model_id
    assert ep.auth_mode == "Key"
    assert ep.tags == {"tuned": "yes"}
    assert ep.scoring_uri == f"{sim.base_url}/serverless/eastus2/phi-ft"
    props = raw(sim, f"{WS}/serverlessEndpoints/phi-ft")["properties"]
    assert props["endpointState"] == "Online"
    assert props["modelSettings"] == {"modelId": model_id}
    assert "marketplaceSubscriptionId" not in props  # Phi is a Microsoft model
    assert [e.name for e in ml.serverless_endpoints.list()] == ["phi-ft"]

    keys = ml.serverless_endpoints.get_keys("phi-ft")
    r = post(f"{ep.scoring_uri}/chat/completions", sim, keys.primary_key, CHAT)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["object"] == "chat.completion"
    assert doc["model"] == "phi4-ft"  # the fine-tuned model's name, not its version
    assert doc["choices"][0]["message"]["role"] == "assistant"
    assert "phi4-ft" in doc["choices"][0]["message"]["content"]
    info = requests.get(
        f"{ep.scoring_uri}/info", headers={"api-key": keys.secondary_key}, verify=str(sim.ca), timeout=30
    )
    assert info.json() == {
        "model_name": "phi4-ft",
        "model_type": "chat-completion",
        "model_provider_name": "azureml",  # the base model's, as for the registry model itself
    }
    assert post(f"{ep.scoring_uri}/chat/completions", sim, "not-the-key", CHAT).status_code == 401

    ml.serverless_endpoints.begin_delete("phi-ft").result()
    with pytest.raises(ResourceNotFoundError):
        ml.serverless_endpoints.get("phi-ft")


def test_literal_parts_of_the_id_are_case_insensitive(ml) -> None:
    model = fine_tune(ml, "ft-case")
    guid = ml.workspaces.get(ml.workspace_name)._workspace_id
    shouted = (
        f"AzureML://Locations/EastUS2/Workspaces/{guid.upper()}/Models/{model.name}/Versions/{model.version}"
    )
    assert deploy(ml, "phi-ft", shouted).provisioning_state == "succeeded"


def test_one_endpoint_per_fine_tuned_model_version(ml) -> None:
    first = fine_tune(ml, "ft-one", output="shared-ft")
    ml_id = documented_id(ml, first.name, first.version)
    deploy(ml, "ft-a", ml_id)
    refused(ml, "ft-b", ml_id, 400, "already has serverless endpoint 'ft-a' for model")
    # The same id with other casing is the same model.
    refused(ml, "ft-b", ml_id.replace("azureml://locations", "AZUREML://LOCATIONS"), 400, "'ft-a'")
    # A second fine-tuning run registers version 2: a model of its own (UNVERIFIED), and the base
    # registry model is another model again.
    second = fine_tune(ml, "ft-two", output="shared-ft")
    assert second.version == "2"
    assert (
        deploy(ml, "ft-b", documented_id(ml, second.name, second.version)).provisioning_state == "succeeded"
    )
    assert deploy(ml, "phi", PHI).provisioning_state == "succeeded"


def test_the_model_of_a_fine_tuned_endpoint_cannot_change(ml) -> None:
    model = fine_tune(ml, "ft-fixed")
    model_id = documented_id(ml, model.name, model.version)
    deploy(ml, "phi-ft", model_id)
    expect_arm_error(lambda: deploy(ml, "phi-ft", PHI), 400, "UserError", "cannot be changed")
    # Tags can: the same workspace model id is not a change.
    assert deploy(ml, "phi-ft", model_id, tags={"v": "2"}).tags == {"v": "2"}
    assert ml.serverless_endpoints.get("phi-ft").model_id == model_id


# -- a partner base model ------------------------------------------------------------------------


def test_a_fine_tuned_partner_model_needs_the_base_models_subscription(ml, sim) -> None:
    model = fine_tune(ml, "ft-llama", base=LLAMA_BASE, output="llama-ft")
    model_id = documented_id(ml, model.name, model.version)
    refused(
        ml,
        "llama-ft",
        model_id,
        400,
        f"^Marketplace subscription for model '{re.escape(LLAMA)}' \\(offer 'metagenai-meta-llama-3-1-8b-instruct-offer' "
        "of publisher 'metagenai'\\) is missing in workspace 'ws-sim'. Fine-tuned model 'llama-ft' is billed "
        "through the offer of its base model.",
    )

    sub = ml.marketplace_subscriptions.begin_create_or_update(
        MarketplaceSubscription(name="llama-sub", model_id=LLAMA)
    ).result()
    ep = deploy(ml, "llama-ft", model_id)
    assert ep.provisioning_state == "succeeded"
    assert raw(sim, f"{WS}/serverlessEndpoints/llama-ft")["properties"]["marketplaceSubscriptionId"] == sub.id
    key = ml.serverless_endpoints.get_keys("llama-ft").primary_key
    r = post(f"{ep.scoring_uri}/v1/chat/completions", sim, key, CHAT)
    assert r.status_code == 200 and r.json()["model"] == "llama-ft"

    # Without the base model's subscription the endpoint is unusable, as a registry model's is.
    ml.marketplace_subscriptions.begin_delete("llama-sub").result()
    assert raw(sim, f"{WS}/serverlessEndpoints/llama-ft")["properties"]["endpointState"] == "Suspended"
    assert post(f"{ep.scoring_uri}/v1/chat/completions", sim, key, CHAT).status_code == 403


# -- refusals ------------------------------------------------------------------------------------


def test_a_model_version_that_does_not_exist_is_not_found(ml) -> None:
    model = fine_tune(ml, "ft-exists")
    for name, version in ((model.name, "7"), ("never-trained", "1")):
        refused(
            ml,
            "phi-ft",
            documented_id(ml, name, version),
            404,
            f"^Model '{name}' version '{version}' referenced by '{TARGET}' was not found in workspace 'ws-sim'.",
        )


def test_a_model_of_another_workspace_cannot_be_deployed_here(ml, neighbour) -> None:
    # ws-neighbour, in the same region, has its own phi4-ft version 1 and may deploy it itself.
    theirs = fine_tune(neighbour, "ft-theirs")
    their_id = documented_id(neighbour, theirs.name, theirs.version)
    their_guid = neighbour.workspaces.get(neighbour.workspace_name)._workspace_id
    my_guid = ml.workspaces.get(ml.workspace_name)._workspace_id
    assert their_guid != my_guid
    refused(
        ml,
        "phi-ft",
        their_id,
        400,
        f"^Model id '{re.escape(their_id)}' names workspace '{their_guid}', but this is workspace 'ws-sim' "
        f"\\(workspace id '{my_guid}'\\). A serverless endpoint can deploy only a model registered in its "
        "own workspace.",
    )
    assert deploy(neighbour, "phi-ft", their_id).provisioning_state == "succeeded"


def test_a_workspace_model_id_with_another_location_is_refused(ml) -> None:
    model = fine_tune(ml, "ft-where")
    wrong = documented_id(ml, model.name, model.version, location="westus3")
    refused(
        ml,
        "phi-ft",
        wrong,
        400,
        f"^Model id '{re.escape(wrong)}' names location 'westus3', but workspace 'ws-sim' is in location 'eastus2'.",
    )


@pytest.mark.parametrize(
    "model_id",
    [
        "phi4-ft",
        "azureml:phi4-ft:1",
        "azureml://workspaces/00000000-0000-0000-0000-00000000abcd/models/phi4-ft/versions/1",
        "azureml://locations/eastus2/workspaces/00000000-0000-0000-0000-00000000abcd/models/phi4-ft",
        f"{WS}/models/phi4-ft/versions/1",
    ],
    ids=["bare-name", "short-asset", "no-location", "no-version", "arm-id"],
)
def test_an_id_of_neither_form_names_both(ml, model_id: str) -> None:
    refused(
        ml,
        "phi-ft",
        model_id,
        400,
        f"^Model id '{re.escape(model_id)}' cannot be deployed as a serverless endpoint: {BOTH_FORMS}",
    )


def test_the_base_model_must_be_offered_serverless_in_the_region(sim) -> None:
    eu = sim.ml_client(resource_group="rg-eu", workspace="ws-eu", retry_total=0)
    model = fine_tune(eu, "ft-eu")  # fine-tuning itself is not refused here
    refused(
        eu,
        "phi-ft",
        documented_id(eu, model.name, model.version),
        400,
        "^Model 'phi4-ft' version '1' \\(fine-tuned from 'Phi-4-mini-instruct'\\) is not available for "
        "serverless deployment in region 'westeurope'.",
    )
