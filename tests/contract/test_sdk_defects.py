"""Pins the azure-ai-ml 1.35.2 defects of azure-ml-arm-contract.md §6 that the operator works around,
and shows the workaround against the simulator. If one of these tests starts failing after an SDK
upgrade, the defect may be fixed and the operator's workaround can be revisited.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.ai.ml.constants._finetuning import FineTuningTaskType
from azure.ai.ml.entities import ServerlessEndpoint
from azure.ai.ml.exceptions import ValidationException
from azure.ai.ml.finetuning import create_finetuning_job
from azure.core.pipeline.policies import SansIOHTTPPolicy

SUB = "00000000-0000-0000-0000-000000000000"
SERVERLESS_API = "2024-01-01-preview"  # what the SDK uses for serverless endpoints
PHI = "azureml://registries/azureml/models/Phi-4-mini-instruct"
TRAIN = "azureml://datastores/workspaceblobstore/paths/ft/train.jsonl"
VALID = "azureml://datastores/workspaceblobstore/paths/ft/valid.jsonl"


def serverless_url(sim: Any, name: str, action: str = "") -> str:
    url = (
        f"{sim.base_url}/subscriptions/{SUB}/resourceGroups/rg-sim/providers/"
        f"Microsoft.MachineLearningServices/workspaces/ws-sim/serverlessEndpoints/{name}"
    )
    return f"{url}/{action}" if action else url


def post(sim: Any, url: str, body: Any = None) -> requests.Response:
    return requests.post(
        url,
        params={"api-version": SERVERLESS_API},
        json=body,
        headers={"Authorization": "Bearer contract-test"},
        verify=str(sim.ca),
        timeout=30,
    )


def requests_made(sim: Any) -> dict[str, int]:
    return sim.admin("GET", "stats")["requests"]


@pytest.fixture
def phi_endpoint(ml, sim) -> str:
    """A Phi serverless endpoint (Microsoft model: no Marketplace subscription needed)."""
    sim.admin("POST", "latency", {"scale": 0.00001})  # done before the SDK's first status poll
    ml.serverless_endpoints.begin_create_or_update(
        ServerlessEndpoint(name="phi-defects", model_id=PHI)
    ).result()
    return "phi-defects"


# -- §6 row 1: serverless key regeneration ------------------------------------------------------------


def test_serverless_begin_regenerate_keys_raises_type_error_after_list_keys(ml, sim, phi_endpoint) -> None:
    before = ml.serverless_endpoints.get_keys(phi_endpoint)
    list_keys_before = requests_made(sim)["POST serverlessEndpoints/listKeys"]

    with pytest.raises(TypeError, match="missing 1 required positional argument: 'name'"):
        ml.serverless_endpoints.begin_regenerate_keys(phi_endpoint, key_type="primary")

    made = requests_made(sim)
    # The listKeys POST went out and succeeded; the regenerateKeys POST never did.
    assert made["POST serverlessEndpoints/listKeys"] == list_keys_before + 1
    assert "POST serverlessEndpoints/regenerateKeys" not in made
    after = ml.serverless_endpoints.get_keys(phi_endpoint)
    assert (after.primary_key, after.secondary_key) == (before.primary_key, before.secondary_key)


def test_raw_regenerate_keys_is_the_workaround(ml, sim, phi_endpoint) -> None:
    before = ml.serverless_endpoints.get_keys(phi_endpoint)

    resp = post(sim, serverless_url(sim, phi_endpoint, "regenerateKeys"), {"keyType": "Primary"})
    assert resp.status_code == 200, resp.text
    keys = resp.json()
    assert keys["primaryKey"] != before.primary_key
    assert keys["secondaryKey"] == before.secondary_key

    after = ml.serverless_endpoints.get_keys(phi_endpoint)
    assert after.primary_key == keys["primaryKey"]
    assert after.secondary_key == before.secondary_key

    # The secondary key rotates the same way, and a caller may supply the new value.
    chosen = "s" * 32
    resp = post(
        sim, serverless_url(sim, phi_endpoint, "regenerateKeys"), {"keyType": "Secondary", "keyValue": chosen}
    )
    assert resp.status_code == 200, resp.text
    assert ml.serverless_endpoints.get_keys(phi_endpoint).secondary_key == chosen
    assert requests_made(sim)["POST serverlessEndpoints/regenerateKeys"] == 2


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({}, "'keyType' is required"),
        ({"keyType": "Tertiary"}, "'Tertiary' is not valid"),
        ({"keyType": "Primary", "keyValue": "short"}, "between 16 and 128"),
    ],
)
def test_raw_regenerate_keys_validates_its_body(
    ml, sim, phi_endpoint, body: dict[str, str], match: str
) -> None:
    before = ml.serverless_endpoints.get_keys(phi_endpoint)
    resp = post(sim, serverless_url(sim, phi_endpoint, "regenerateKeys"), body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == "UserError"
    assert match in resp.json()["error"]["message"]
    assert ml.serverless_endpoints.get_keys(phi_endpoint).primary_key == before.primary_key


def test_raw_regenerate_keys_of_a_missing_endpoint_is_404(sim) -> None:
    resp = post(sim, serverless_url(sim, "no-such-endpoint", "regenerateKeys"), {"keyType": "Primary"})
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "ResourceNotFound"


# -- §6 row 2: serverless create drops auth_mode --------------------------------------------------------


class CapturePuts(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Records the JSON body of every PUT the SDK sends."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def on_request(self, request: Any) -> None:
        http = request.http_request
        if http.method == "PUT":
            self.bodies.append(json.loads(http.body))


def test_serverless_create_drops_auth_mode_and_the_server_defaults_key(sim) -> None:
    sim.admin("POST", "latency", {"scale": 0.00001})
    capture = CapturePuts()
    ml = sim.ml_client(retry_total=0, per_call_policies=[capture])
    endpoint = ServerlessEndpoint(name="phi-auth", model_id=PHI, auth_mode="aad", description="not sent")
    assert endpoint.auth_mode == "aad"
    created = ml.serverless_endpoints.begin_create_or_update(endpoint).result()
    [sent] = capture.bodies
    assert sent["properties"] == {"modelSettings": {"modelId": PHI}}  # no authMode, no description
    # The PUT carried no authMode (nor description): what comes back is the server's default.
    assert created.auth_mode == "Key"
    assert created.description is None
    fetched = ml.serverless_endpoints.get("phi-auth")
    assert fetched.auth_mode == "Key"
    raw = requests.get(
        serverless_url(sim, "phi-auth"),
        params={"api-version": SERVERLESS_API},
        headers={"Authorization": "Bearer contract-test"},
        verify=str(sim.ca),
        timeout=30,
    ).json()
    assert raw["properties"]["authMode"] == "Key"
    assert raw["properties"]["contentSafety"] == {"contentSafetyStatus": "Enabled"}


# -- §6 row 3: fine-tuning without validation data ------------------------------------------------------


def test_create_finetuning_job_without_validation_data_raises_unbound_local_error(sim) -> None:
    with pytest.raises(UnboundLocalError, match="validation_data_input"):
        create_finetuning_job(
            model=f"{PHI}/versions/1",
            task=FineTuningTaskType.CHAT_COMPLETION,
            training_data=TRAIN,
            output_model_name_prefix="phi4-ft",
            experiment_name="defects",
            name="ft-no-validation",
        )
    assert sim.admin("GET", "stats")["totalRequests"] == 0  # fails client-side, before any HTTP


def test_fine_tuning_with_validation_data_is_the_workaround(ml) -> None:
    job = create_finetuning_job(
        model=f"{PHI}/versions/1",
        task=FineTuningTaskType.CHAT_COMPLETION,
        training_data=TRAIN,
        validation_data=VALID,
        output_model_name_prefix="phi4-ft",
        experiment_name="defects",
        name="ft-with-validation",
    )
    assert ml.jobs.create_or_update(job).status == "NotStarted"


# -- §6 rows 5 and 6: experiment name default, two GETs per job ------------------------------------------


def test_experiment_name_defaults_to_the_working_directory(ml, tmp_path: Path, monkeypatch) -> None:
    cwd = tmp_path / "some-checkout-dir"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    job = create_finetuning_job(
        model=f"{PHI}/versions/1",
        task=FineTuningTaskType.CHAT_COMPLETION,
        training_data=TRAIN,
        validation_data=VALID,
        output_model_name_prefix="phi4-ft",
        name="ft-cwd",
    )
    assert ml.jobs.create_or_update(job).experiment_name == "some-checkout-dir"


def test_jobs_get_issues_two_gets_per_fine_tuning_job(ml, sim) -> None:
    job = create_finetuning_job(
        model=f"{PHI}/versions/1",
        task=FineTuningTaskType.CHAT_COMPLETION,
        training_data=TRAIN,
        validation_data=VALID,
        output_model_name_prefix="phi4-ft",
        experiment_name="defects",
        name="ft-two-gets",
    )
    ml.jobs.create_or_update(job)
    before = sim.admin("GET", "stats")
    ml.jobs.get("ft-two-gets")
    after = sim.admin("GET", "stats")
    assert after["requests"]["GET jobs"] - before["requests"].get("GET jobs", 0) == 2
    versions = {
        k: after["apiVersions"].get(k, 0) - before["apiVersions"].get(k, 0) for k in after["apiVersions"]
    }
    assert versions["jobs@2024-01-01-preview"] == 1
    assert versions["jobs@2024-10-01-preview"] == 1


# -- §6 row 17: client-side validation after the workspace GET -------------------------------------------


def test_versioned_serverless_model_id_fails_client_side_after_the_workspace_get(ml, sim) -> None:
    with pytest.raises(ValidationException):
        ml.serverless_endpoints.begin_create_or_update(
            ServerlessEndpoint(name="phi-versioned", model_id=f"{PHI}/versions/1")
        )
    made = requests_made(sim)
    assert made.get("GET workspaces") == 1
    assert "PUT serverlessEndpoints" not in made
