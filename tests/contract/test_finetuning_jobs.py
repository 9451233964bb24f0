"""Fine-tuning jobs (`jobType: FineTuning`) through `azure.ai.ml.finetuning.create_finetuning_job` and
`ml.jobs`, plus raw ARM calls for what the SDK cannot express (azure-ml-arm-contract.md §3.6,
azure-ml-service-rules.md §12).

The job clock is driven with `POST /_sim/clock`: no test sleeps. `POST /_sim/latency {"scale": 1}`
gives jobs their realistic phase lengths (queue 20 s, start-up 120 s, 600 s per epoch) so that each
phase can be observed on its own.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from azure.ai.ml.constants import AssetTypes, ListViewType
from azure.ai.ml.constants._finetuning import FineTuningTaskType
from azure.ai.ml.entities import Data
from azure.ai.ml.finetuning import create_finetuning_job
from azure.core.exceptions import ResourceNotFoundError
from sdk_errors import expect_arm_error

SUB = "00000000-0000-0000-0000-000000000000"
JOBS_API = "2024-10-01-preview"  # what jobs.create_or_update uses for FineTuning jobs
PHI = "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1"
LLAMA3 = "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct/versions/9"
TRAIN = "azureml://datastores/workspaceblobstore/paths/ft/train.jsonl"
VALID = "azureml://datastores/workspaceblobstore/paths/ft/valid.jsonl"
TERMINAL = ("Completed", "Failed", "Canceled")


def ft_job(
    name: str,
    *,
    model: str = PHI,
    training_data: str = TRAIN,
    validation_data: str = VALID,
    hyperparameters: dict[str, str] | None = None,
    output: str = "phi4-ft",
    **kwargs: Any,
) -> Any:
    return create_finetuning_job(
        model=model,
        task=FineTuningTaskType.CHAT_COMPLETION,
        training_data=training_data,
        validation_data=validation_data,
        output_model_name_prefix=output,
        hyperparameters=hyperparameters
        if hyperparameters is not None
        else {"num_train_epochs": "1", "learning_rate": "0.00002", "per_device_train_batch_size": "1"},
        experiment_name="ft-contract",
        name=name,
        **kwargs,
    )


def jobs_url(sim: Any, name: str = "") -> str:
    base = (
        f"{sim.base_url}/subscriptions/{SUB}/resourceGroups/rg-sim/providers/"
        f"Microsoft.MachineLearningServices/workspaces/ws-sim/jobs"
    )
    return f"{base}/{name}" if name else base


def arm(sim: Any, method: str, url: str, body: Any = None) -> requests.Response:
    return requests.request(
        method,
        url,
        params={"api-version": JOBS_API},
        json=body,
        headers={"Authorization": "Bearer contract-test"},
        verify=str(sim.ca),
        timeout=30,
    )


def rest_body(**details: Any) -> dict[str, Any]:
    """A FineTuning job as the SDK would PUT it, with `details` overriding fineTuningDetails fields."""
    job_type = details.pop("jobType", "FineTuning")
    return {
        "properties": {
            "jobType": job_type,
            "experimentName": "ft-contract",
            "properties": {},
            "fineTuningDetails": {
                "modelProvider": "Custom",
                "taskType": "ChatCompletion",
                "model": {"jobInputType": "mlflow_model", "uri": PHI},
                "trainingData": {"jobInputType": "uri_file", "uri": TRAIN},
                "validationData": {"jobInputType": "uri_file", "uri": VALID},
                "hyperParameters": {"num_train_epochs": "1"},
                **details,
            },
            "outputs": {"registered_model": {"jobOutputType": "mlflow_model", "assetName": "phi4-ft"}},
        }
    }


def expect_rest_error(resp: requests.Response, status: int, code: str, match: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code
    assert match in error["message"], error["message"]
    return error


def run_to_end(ml: Any, sim: Any, name: str, step: float = 3600, limit: int = 20) -> Any:
    """Advance the clock until the job is terminal (bounded); returns the final entity."""
    for _ in range(limit):
        job = ml.jobs.get(name)
        if job.status in TERMINAL:
            return job
        sim.admin("POST", "clock", {"advanceSeconds": step})
    raise AssertionError(f"job {name} did not finish; last status {job.status}")


def assert_not_created(ml: Any, name: str) -> None:
    with pytest.raises(ResourceNotFoundError):
        ml.jobs.get(name)


def register_data(ml: Any, name: str, version: str, path: str = TRAIN) -> Any:
    return ml.data.create_or_update(Data(name=name, version=version, type=AssetTypes.URI_FILE, path=path))


# -- lifecycle ---------------------------------------------------------------------------------


def test_job_walks_through_its_phases_and_registers_the_output_model(ml, sim) -> None:
    sim.admin("POST", "latency", {"scale": 1})  # realistic phase lengths, observable one by one
    created = ml.jobs.create_or_update(ft_job("ft-walk"))
    assert created.name == "ft-walk"
    assert created.status == "NotStarted"
    assert created.experiment_name == "ft-contract"
    assert created.model_provider == "Custom"
    assert created.outputs["registered_model"].name == "phi4-ft"

    seen = [created.status]
    for _ in range(40):  # 60 s steps; the job needs ~740 simulated seconds
        sim.admin("POST", "clock", {"advanceSeconds": 60})
        status = ml.jobs.get("ft-walk").status
        if status != seen[-1]:
            seen.append(status)
        if status in TERMINAL:
            break
    assert seen == ["NotStarted", "Queued", "Running", "Completed"]

    done = ml.jobs.get("ft-walk")
    out = done.outputs["registered_model"]
    assert (out.name, out.version) == ("phi4-ft", "1")
    assert out.path == "azureml://jobs/ft-walk/outputs/registered_model"
    assert "azureml.failureReason" not in done.properties
    assert done.studio_url and "ft-walk" in done.studio_url
    model = ml.models.get("phi4-ft", "1")
    assert model.job_name == "ft-walk"


def test_each_completed_job_registers_the_next_model_version(ml, sim) -> None:
    ml.jobs.create_or_update(ft_job("ft-v1", output="shared-out"))
    assert run_to_end(ml, sim, "ft-v1").outputs["registered_model"].version == "1"
    ml.jobs.create_or_update(ft_job("ft-v2", output="shared-out"))
    assert run_to_end(ml, sim, "ft-v2").outputs["registered_model"].version == "2"
    # The first job's output is unchanged.
    assert ml.jobs.get("ft-v1").outputs["registered_model"].version == "1"


def test_epochs_lengthen_the_training(ml, sim) -> None:
    sim.admin("POST", "latency", {"scale": 1})
    ml.jobs.create_or_update(ft_job("ft-one", hyperparameters={"num_train_epochs": "1"}))
    ml.jobs.create_or_update(ft_job("ft-three", hyperparameters={"num_train_epochs": "3"}))
    sim.admin("POST", "clock", {"advanceSeconds": 20 + 120 + 600 + 30})  # past one epoch
    assert ml.jobs.get("ft-one").status == "Completed"
    assert ml.jobs.get("ft-three").status == "Running"
    sim.admin("POST", "clock", {"advanceSeconds": 1200})
    assert ml.jobs.get("ft-three").status == "Completed"


def test_jobs_list_returns_active_jobs_and_honours_list_view_type(ml, sim) -> None:
    for name in ("ft-list-a", "ft-list-b"):
        ml.jobs.create_or_update(ft_job(name))
    archived = rest_body()
    archived["properties"]["isArchived"] = True
    assert arm(sim, "PUT", jobs_url(sim, "ft-list-archived"), archived).status_code == 201

    assert sorted(j.name for j in ml.jobs.list()) == ["ft-list-a", "ft-list-b"]
    assert [j.name for j in ml.jobs.list(list_view_type=ListViewType.ARCHIVED_ONLY)] == ["ft-list-archived"]
    assert len(list(ml.jobs.list(list_view_type=ListViewType.ALL))) == 3
    listed = next(j for j in ml.jobs.list() if j.name == "ft-list-a")
    assert listed.model_provider == "Custom"
    assert listed.outputs["registered_model"].name == "phi4-ft"


def test_unknown_job_is_not_found(ml) -> None:
    expect_arm_error(lambda: ml.jobs.get("no-such-job"), 404, "ResourceNotFound", "no-such-job")
    expect_arm_error(lambda: ml.jobs.begin_cancel("no-such-job").result(), 404, "ResourceNotFound")


def test_job_names_are_case_sensitive(ml) -> None:
    ml.jobs.create_or_update(ft_job("CaseJob"))
    assert ml.jobs.get("CaseJob").name == "CaseJob"
    assert_not_created(ml, "casejob")


# -- cancel ------------------------------------------------------------------------------------


def test_cancel_of_a_running_job_ends_canceled(ml, sim) -> None:
    sim.admin("POST", "latency", {"scale": 1})  # hold the job in flight
    ml.jobs.create_or_update(ft_job("ft-cancel"))
    sim.admin("POST", "clock", {"advanceSeconds": 200})
    assert ml.jobs.get("ft-cancel").status == "Running"

    # Accepted asynchronously: 202 + Location; the job reports CancelRequested until it stops.
    ml.jobs.begin_cancel("ft-cancel", polling=False)
    assert ml.jobs.get("ft-cancel").status == "CancelRequested"
    sim.admin("POST", "clock", {"advanceSeconds": 60})
    assert ml.jobs.get("ft-cancel").status == "Canceled"

    # Cancelling again is a no-op, and the job never completes or registers a model later.
    ml.jobs.begin_cancel("ft-cancel").result()
    sim.admin("POST", "clock", {"advanceSeconds": 7200})
    final = ml.jobs.get("ft-cancel")
    assert final.status == "Canceled"
    assert final.outputs["registered_model"].version is None
    stats = sim.admin("GET", "stats")
    assert "models/versions" not in stats["resources"]
    assert stats["requests"]["POST jobs/cancel"] == 2


def test_cancel_poller_completes_through_the_location_url(ml, sim) -> None:
    sim.admin("POST", "latency", {"scale": 1})
    ml.jobs.create_or_update(ft_job("ft-cancel-poll"))
    sim.admin("POST", "clock", {"advanceSeconds": 200})
    # Cancellations started from now on finish before the poller's first (immediate) poll.
    sim.admin("POST", "latency", {"scale": 0.00001})
    poller = ml.jobs.begin_cancel("ft-cancel-poll")
    poller.result()
    assert poller.status().lower() == "succeeded"
    assert ml.jobs.get("ft-cancel-poll").status == "Canceled"
    assert sim.admin("GET", "stats")["requests"]["GET operations"] >= 1


def test_cancel_of_a_completed_job_is_refused(ml, sim) -> None:
    ml.jobs.create_or_update(ft_job("ft-done"))
    assert run_to_end(ml, sim, "ft-done").status == "Completed"
    expect_arm_error(
        lambda: ml.jobs.begin_cancel("ft-done").result(), 400, "UserError", "terminal state 'Completed'"
    )
    assert ml.jobs.get("ft-done").status == "Completed"


# -- validation ---------------------------------------------------------------------------------


def test_model_that_cannot_be_fine_tuned_is_refused(ml) -> None:
    expect_arm_error(
        lambda: ml.jobs.create_or_update(ft_job("ft-llama3", model=LLAMA3)),
        400,
        "UserError",
        "Meta-Llama-3-8B-Instruct' does not support fine-tuning",
    )
    assert_not_created(ml, "ft-llama3")


def test_unknown_model_is_not_found(ml) -> None:
    expect_arm_error(
        lambda: ml.jobs.create_or_update(
            ft_job("ft-nomodel", model="azureml://registries/azureml/models/No-Such-Model/versions/1")
        ),
        404,
        "UserError",
        "not found in registry",
    )
    assert_not_created(ml, "ft-nomodel")


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("num_train_epochs", "0", "'num_train_epochs' must be an integer between 1 and 10"),
        ("num_train_epochs", "11", "'num_train_epochs' must be an integer between 1 and 10"),
        ("num_train_epochs", "two", "'num_train_epochs' must be an integer between 1 and 10"),
        ("per_device_train_batch_size", "0", "must be an integer between 1 and 32"),
        ("per_device_train_batch_size", "33", "must be an integer between 1 and 32"),
        ("learning_rate", "fast", "'learning_rate' must be a number"),
        ("learning_rate", "0", "'learning_rate' must be a number"),
    ],
)
def test_hyperparameter_out_of_range_is_refused(ml, key: str, value: str, match: str) -> None:
    err = expect_arm_error(
        lambda: ml.jobs.create_or_update(ft_job("ft-hyper", hyperparameters={key: value})),
        400,
        "UserError",
        match,
    )
    assert err.error.target == f"properties.fineTuningDetails.hyperParameters.{key}"
    assert_not_created(ml, "ft-hyper")


def test_hyperparameters_at_the_range_limits_are_accepted(ml) -> None:
    job = ml.jobs.create_or_update(
        ft_job(
            "ft-limits",
            hyperparameters={
                "num_train_epochs": "10",
                "per_device_train_batch_size": "32",
                "learning_rate": "1",
            },
        )
    )
    assert job.status == "NotStarted"


def test_unknown_task_type_is_refused(sim, ml) -> None:
    # The SDK accepts any task string; raw REST shows the service's own check.
    resp = arm(sim, "PUT", jobs_url(sim, "ft-task"), rest_body(taskType="Summarise"))
    error = expect_rest_error(resp, 400, "UserError", "'Summarise' is not valid")
    assert error["target"] == "properties.fineTuningDetails.taskType"
    # A task in the enum that the catalog's chat models do not support.
    resp = arm(sim, "PUT", jobs_url(sim, "ft-task"), rest_body(taskType="ImageClassification"))
    expect_rest_error(resp, 400, "UserError", "not supported")
    assert_not_created(ml, "ft-task")


@pytest.mark.parametrize(
    ("provider", "match"),
    [("AzureOpenAI", "not an Azure OpenAI model"), ("HuggingFace", "'HuggingFace' is not valid")],
)
def test_provider_other_than_custom_is_refused(sim, ml, provider: str, match: str) -> None:
    resp = arm(sim, "PUT", jobs_url(sim, "ft-provider"), rest_body(modelProvider=provider))
    error = expect_rest_error(resp, 400, "UserError", match)
    assert error["target"] == "properties.fineTuningDetails.modelProvider"
    assert_not_created(ml, "ft-provider")


def test_job_type_other_than_fine_tuning_is_refused(sim, ml) -> None:
    resp = arm(sim, "PUT", jobs_url(sim, "ft-command"), rest_body(jobType="Command"))
    error = expect_rest_error(resp, 400, "UserError", "'FineTuning'")
    assert error["target"] == "properties.jobType"
    assert_not_created(ml, "ft-command")


def test_missing_training_data_is_refused(sim) -> None:
    body = rest_body()
    del body["properties"]["fineTuningDetails"]["trainingData"]
    resp = arm(sim, "PUT", jobs_url(sim, "ft-notrain"), body)
    error = expect_rest_error(resp, 400, "UserError", "trainingData' is required")
    assert error["target"] == "properties.fineTuningDetails.trainingData"


def test_invalid_job_name_is_refused(sim) -> None:
    resp = arm(sim, "PUT", jobs_url(sim, "-bad-name"), rest_body())
    expect_rest_error(resp, 400, "UserError", "name '-bad-name' is invalid")


# -- data assets as inputs -----------------------------------------------------------------------


@pytest.mark.parametrize(("which", "field"), [("training", "trainingData"), ("validation", "validationData")])
def test_job_naming_a_missing_data_asset_is_refused(ml, which: str, field: str) -> None:
    # The SDK turns azureml:chat-train:1 into the ARM id {ws}/data/chat-train/versions/1 without HTTP;
    # the service checks at submission that the asset exists in the workspace.
    job = ft_job("ft-nodata", **{f"{which}_data": "azureml:chat-train:1"})
    err = expect_arm_error(
        lambda: ml.jobs.create_or_update(job),
        404,
        "UserError",
        f"^Data asset 'chat-train' version '1' referenced by 'properties.fineTuningDetails.{field}.uri' "
        "was not found in workspace 'ws-sim'.",
    )
    assert err.error.target == f"properties.fineTuningDetails.{field}.uri"
    assert_not_created(ml, "ft-nodata")


def test_job_naming_a_registered_data_asset_is_accepted(ml, sim) -> None:
    register_data(ml, "chat-train", "1")
    register_data(ml, "chat-valid", "3", path=VALID)
    job = ml.jobs.create_or_update(
        ft_job("ft-data", training_data="azureml:chat-train:1", validation_data="azureml:chat-valid:3")
    )
    assert job.status == "NotStarted"
    sent = arm(sim, "GET", jobs_url(sim, "ft-data")).json()["properties"]["fineTuningDetails"]
    ws = jobs_url(sim).split(sim.base_url)[1].rsplit("/jobs", 1)[0]
    assert sent["trainingData"]["uri"] == f"{ws}/data/chat-train/versions/1"
    assert sent["validationData"]["uri"] == f"{ws}/data/chat-valid/versions/3"
    assert run_to_end(ml, sim, "ft-data").status == "Completed"


def test_only_the_named_version_counts(ml) -> None:
    register_data(ml, "chat-train", "1")
    expect_arm_error(
        lambda: ml.jobs.create_or_update(ft_job("ft-v2data", training_data="azureml:chat-train:2")),
        404,
        "UserError",
        "Data asset 'chat-train' version '2' referenced by",
    )


def test_archived_data_asset_is_still_usable(ml) -> None:
    # "You can still continue to reference and use an archived data asset in your workflows."
    register_data(ml, "chat-train", "1")
    ml.data.archive("chat-train")
    assert ml.jobs.create_or_update(ft_job("ft-archived", training_data="azureml:chat-train:1")).name == (
        "ft-archived"
    )


def test_data_asset_of_another_workspace_is_not_found(ml, sim) -> None:
    register_data(ml, "chat-train", "1")
    other = jobs_url(sim).split(sim.base_url)[1].replace("/workspaces/ws-sim/jobs", "/workspaces/ws-other")
    body = rest_body(trainingData={"jobInputType": "uri_file", "uri": f"{other}/data/chat-train/versions/1"})
    resp = arm(sim, "PUT", jobs_url(sim, "ft-otherws"), body)
    expect_rest_error(resp, 404, "UserError", "was not found in workspace 'ws-sim'")
    assert_not_created(ml, "ft-otherws")


def test_short_asset_reference_over_rest_is_checked_too(sim, ml) -> None:
    body = rest_body(trainingData={"jobInputType": "uri_file", "uri": "azureml:chat-train:1"})
    resp = arm(sim, "PUT", jobs_url(sim, "ft-short"), body)
    expect_rest_error(resp, 404, "UserError", "Data asset 'chat-train' version '1'")
    register_data(ml, "chat-train", "1")
    assert arm(sim, "PUT", jobs_url(sim, "ft-short"), body).status_code == 201


def test_datastore_and_https_uris_need_no_registration(ml) -> None:
    job = ft_job("ft-uris", training_data="https://example.com/ft/train.jsonl", validation_data=VALID)
    assert ml.jobs.create_or_update(job).status == "NotStarted"


# -- failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["training", "validation"])
def test_data_that_is_not_jsonl_fails_the_job(ml, sim, which: str) -> None:
    csv = "azureml://datastores/workspaceblobstore/paths/ft/data.csv"
    job = ft_job("ft-csv", **({"training_data": csv} if which == "training" else {"validation_data": csv}))
    created = ml.jobs.create_or_update(job)  # accepted: the data is only read once the job runs
    assert created.status == "NotStarted"
    failed = run_to_end(ml, sim, "ft-csv")
    assert failed.status == "Failed"
    assert "is not a JSONL file" in failed.properties["azureml.failureReason"]
    assert csv in failed.properties["azureml.failureReason"]
    assert failed.outputs["registered_model"].version is None


def test_registered_data_asset_counts_as_jsonl(ml, sim) -> None:
    # A data asset reference cannot be judged by its name: it is not failed for lack of ".jsonl".
    register_data(ml, "chat-train", "1")
    ml.jobs.create_or_update(ft_job("ft-asset", training_data="azureml:chat-train:1"))
    assert run_to_end(ml, sim, "ft-asset").status == "Completed"


def test_fail_operation_fault_fails_the_job(ml, sim) -> None:
    sim.admin(
        "POST",
        "faults",
        {
            "method": "PUT",
            "resourceType": "jobs",
            "failOperation": True,
            "code": "ComputeNotAvailable",
            "message": "No GPU capacity for the job.",
        },
    )
    created = ml.jobs.create_or_update(ft_job("ft-fault"))
    assert created.status == "NotStarted"
    failed = run_to_end(ml, sim, "ft-fault")
    assert failed.status == "Failed"
    assert failed.properties["azureml.failureReason"] == "ComputeNotAvailable: No GPU capacity for the job."
    assert sim.admin("GET", "stats")["faultsFired"] == 1


# -- wire quirks and immutability ----------------------------------------------------------------


def test_task_type_casing_from_the_sdk_and_from_rest_are_both_accepted(ml, sim) -> None:
    ml.jobs.create_or_update(ft_job("ft-camel"))
    sent = arm(sim, "GET", jobs_url(sim, "ft-camel")).json()
    # azure-ai-ml lower-cases the first letter (contract §6 row 4); the service stores what it got.
    assert sent["properties"]["fineTuningDetails"]["taskType"] == "chatCompletion"

    resp = arm(sim, "PUT", jobs_url(sim, "ft-pascal"), rest_body(taskType="ChatCompletion"))
    assert resp.status_code == 201, resp.text
    assert resp.json()["properties"]["status"] == "NotStarted"
    pascal = ml.jobs.get("ft-pascal")
    assert pascal.task.lower() == "chatcompletion"
    assert run_to_end(ml, sim, "ft-pascal").status == "Completed"


def test_resubmitting_a_job_with_other_details_is_refused(ml) -> None:
    ml.jobs.create_or_update(ft_job("ft-immutable", hyperparameters={"num_train_epochs": "1"}))
    expect_arm_error(
        lambda: ml.jobs.create_or_update(ft_job("ft-immutable", hyperparameters={"num_train_epochs": "2"})),
        400,
        "UserError",
        "already exists",
    )
    expect_arm_error(
        lambda: ml.jobs.create_or_update(
            ft_job("ft-immutable", hyperparameters={"num_train_epochs": "1"}, output="renamed")
        ),
        400,
        "UserError",
        "already exists",
    )
    job = ml.jobs.get("ft-immutable")
    assert job.hyperparameters == {"num_train_epochs": "1"}
    assert job.outputs["registered_model"].name == "phi4-ft"


def test_resubmitting_with_the_same_details_updates_only_metadata(ml, sim) -> None:
    ml.jobs.create_or_update(ft_job("ft-meta", hyperparameters={"num_train_epochs": "1"}))
    updated = ml.jobs.create_or_update(
        ft_job(
            "ft-meta",
            hyperparameters={"num_train_epochs": "1"},
            display_name="renamed display",
            tags={"team": "a"},
        )
    )
    assert updated.display_name == "renamed display"
    assert updated.tags == {"team": "a"}
    assert ml.jobs.get("ft-meta").display_name == "renamed display"
    assert len(list(ml.jobs.list())) == 1
