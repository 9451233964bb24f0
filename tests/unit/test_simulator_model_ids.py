"""The two model id forms a serverless endpoint takes, parsed and resolved in-process (no SDK, no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from azureml_standins.simulator import catalog
from azureml_standins.simulator.config import SimulatorConfig
from azureml_standins.simulator.core import Simulator
from azureml_standins.simulator.messages import Reply, Request

WS = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-sim"
    "/providers/Microsoft.MachineLearningServices/workspaces/ws-sim"
)
GUID = "00000000-0000-0000-0000-00000000abcd"  # ws-sim's properties.workspaceId
FT_ID = f"azureml://locations/eastus2/workspaces/{GUID}/models/phi4-ft/versions/1"


def test_the_documented_workspace_model_id_is_parsed() -> None:
    assert catalog.parse_workspace_model_id(FT_ID) == catalog.WorkspaceModelId(
        "eastus2", GUID, "phi4-ft", "1"
    )


def test_literal_parts_are_case_insensitive_and_names_keep_their_case() -> None:
    parsed = catalog.parse_workspace_model_id(
        f"AzureML://Locations/EastUS2/Workspaces/{GUID.upper()}/Models/Phi4-FT/Versions/V2"
    )
    assert parsed == catalog.WorkspaceModelId("EastUS2", GUID.upper(), "Phi4-FT", "V2")


@pytest.mark.parametrize(
    "model_id",
    [
        "",
        "phi4-ft",
        "azureml:phi4-ft:1",
        f"azureml://workspaces/{GUID}/models/phi4-ft/versions/1",  # no location segment
        f"azureml://locations/eastus2/workspaces/{GUID}/models/phi4-ft",  # no version
        f"azureml://locations/eastus2/workspaces/{GUID}/models/phi4-ft/versions/",
        f"azureml://locations/eastus2/workspaces/{GUID}/models/phi4-ft/versions/1/extra",
        f"azureml://locations/eastus2/workspaces/{GUID}/models/phi4-ft/labels/latest",
        f"{WS}/models/phi4-ft/versions/1",  # the ARM id is not the documented form
        "azureml://registries/azureml/models/Phi-4-mini-instruct",
        "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1",
    ],
)
def test_other_forms_are_not_workspace_model_ids(model_id: str) -> None:
    assert catalog.parse_workspace_model_id(model_id) is None


def test_registry_ids_are_told_apart() -> None:
    assert catalog.is_registry_model_id("azureml://registries/azureml/models/Phi-4-mini-instruct")
    assert catalog.is_registry_model_id("azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1")
    assert not catalog.is_registry_model_id(FT_ID)
    assert not catalog.is_registry_model_id("Phi-4-mini-instruct")


# -- resolution in a simulator -----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


def call(sim: Simulator, method: str, path: str, body: Any = None, api: str = "2024-01-01-preview") -> Reply:
    req = Request(
        method, path, {"api-version": api}, {"Authorization": "Bearer t"}, "https://127.0.0.1:9", body
    )
    admitted = sim.admit(req)
    return admitted if isinstance(admitted, Reply) else sim.dispatch(req, admitted)


def fine_tune(sim: Simulator, clock: Clock, base: str, output: str = "phi4-ft", *, wait: bool = True) -> None:
    """Submit a fine-tuning job of `base` and (with `wait`) let it complete, registering `output` version 1."""
    body = {
        "properties": {
            "jobType": "FineTuning",
            "fineTuningDetails": {
                "modelProvider": "Custom",
                "taskType": "ChatCompletion",
                "model": {"jobInputType": "mlflow_model", "uri": base},
                "trainingData": {
                    "jobInputType": "uri_file",
                    "uri": "azureml://datastores/workspaceblobstore/paths/ft/train.jsonl",
                },
            },
            "outputs": {"registered_model": {"jobOutputType": "mlflow_model", "assetName": output}},
        }
    }
    assert call(sim, "PUT", f"{WS}/jobs/ft-{output}", body, api="2024-10-01-preview").status == 201
    if not wait:
        return
    clock.t += 24 * 3600
    job = call(sim, "GET", f"{WS}/jobs/ft-{output}", api="2024-10-01-preview").body
    assert job["properties"]["status"] == "Completed"


def put_endpoint(sim: Simulator, name: str, model_id: str) -> Reply:
    return call(
        sim,
        "PUT",
        f"{WS}/serverlessEndpoints/{name}",
        {"location": "eastus2", "properties": {"modelSettings": {"modelId": model_id}}},
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> Simulator:
    return Simulator(SimulatorConfig(), clock=clock)


def test_a_fine_tuned_endpoint_serves_under_the_model_name_and_base_provider(
    sim: Simulator, clock: Clock
) -> None:
    fine_tune(sim, clock, "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1")
    created = put_endpoint(sim, "phi-ft", FT_ID)
    assert created.status == 201, created.body
    assert created.body["properties"]["modelSettings"]["modelId"] == FT_ID
    kind: Any = sim.kinds["serverlessEndpoints"]
    res = sim.state.resources[f"{WS}/serverlessEndpoints/phi-ft".lower()]
    assert kind.served_model(res) == ("phi4-ft", "azureml")
    put_endpoint(sim, "phi", "azureml://registries/azureml/models/Phi-4-mini-instruct")
    registry = sim.state.resources[f"{WS}/serverlessEndpoints/phi".lower()]
    assert kind.served_model(registry) == ("Phi-4-mini-instruct", "azureml")


def test_a_workspace_model_not_fine_tuned_from_the_catalog_is_refused(sim: Simulator, clock: Clock) -> None:
    fine_tune(sim, clock, "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1")
    # Only jobs register models here; a version without a catalog base stands for one registered otherwise.
    version = sim.state.resources[f"{WS}/models/phi4-ft/versions/1".lower()]
    version.properties["properties"] = {}
    refused = put_endpoint(sim, "phi-ft", FT_ID)
    assert refused.status == 400
    assert refused.body["error"]["code"] == "UserError"
    assert "was not fine-tuned from a catalog model" in refused.body["error"]["message"]


def test_the_model_of_a_job_still_running_is_not_found_yet(sim: Simulator, clock: Clock) -> None:
    fine_tune(sim, clock, "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1", wait=False)
    refused = put_endpoint(sim, "phi-ft", FT_ID)
    assert refused.status == 404
    assert refused.body["error"]["message"].startswith(
        "Model 'phi4-ft' version '1' referenced by 'properties.modelSettings.modelId' was not found in "
        "workspace 'ws-sim'."
    )
    clock.t += 24 * 3600
    assert put_endpoint(sim, "phi-ft", FT_ID).status == 201
