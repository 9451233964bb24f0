"""The operator's own Azure calls for data assets and fine-tuning jobs (`azure/data.py`,
`azure/jobs.py`), plain ARM, against the simulator: what each sends is what the service takes, and
what each reads back is what the kinds decide on."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from polling import eventually

from azureml_operator.azure.client import Connection, DesiredData, DesiredJob, ModelSource
from azureml_operator.azure.data import DataVersions, version_path
from azureml_operator.azure.jobs import FineTuningJobs, is_terminal
from azureml_operator.errors import Terminal
from azureml_standins.simulator.process import SimulatorProcess

TRAIN = "azureml://datastores/workspaceblobstore/paths/ft/train.jsonl"
VALID = "azureml://datastores/workspaceblobstore/paths/ft/valid.jsonl"
DATA = DesiredData("uri_file", TRAIN, "chat set", {"azureml.dev-owner-uid": "u-1"})
JOB = DesiredJob(
    task="ChatCompletion",
    model="azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1",
    training_data="azureml:chat-train:1",
    validation_data=VALID,
    hyperparameters={"num_train_epochs": "1", "learning_rate": "0.00002", "per_device_train_batch_size": "1"},
    output_model_name="phi4-ft",
    experiment_name="team-a",
    display_name="team-a/ft",
    tags={"azureml.dev-owner-uid": "u-1"},
    properties={},
)


def test_a_data_version_is_registered_read_back_and_archived(conn: Connection) -> None:
    async def run() -> None:
        data = DataVersions(conn)
        name = version_path("chat-train", "1")
        assert await data.get(name) is None
        await data.begin_put(name, DATA)
        await data.begin_put(name, DATA)  # the same body again changes nothing
        got = await data.get(name)
        assert got is not None and (got.path, got.data_type, got.description, got.archived) == (
            TRAIN,
            "uri_file",
            "chat set",
            False,
        )
        assert got.tags == DATA.tags and got.id.endswith("/data/chat-train/versions/1")
        with pytest.raises(Terminal, match="Asset paths cannot be updated"):
            await data.begin_put(name, replace(DATA, path=VALID))
        await data.begin_put(name, DATA, archived=True)
        archived = await data.get(name)
        assert archived is not None and archived.archived

    asyncio.run(run())


def test_a_fine_tuning_job_runs_to_completion_and_names_its_registered_model(conn: Connection) -> None:
    async def run() -> None:
        await DataVersions(conn).begin_put(version_path("chat-train", "1"), DATA)
        jobs = FineTuningJobs(conn)
        assert await jobs.get("ft-1") is None
        await jobs.begin_create("ft-1", JOB)
        first = await jobs.get("ft-1")
        assert first is not None and first.tags == JOB.tags and first.studio_url
        done = await eventually(lambda: jobs.get("ft-1"), lambda j: is_terminal(j.status), within=15)
        assert done.status == "Completed", done
        assert done.output_model_name == "phi4-ft" and done.output_model_version
        ws = await conn.get_workspace()
        model_id = (
            f"azureml://locations/{ws.location}/workspaces/{ws.workspace_id}/models/phi4-ft/versions/"
            f"{done.output_model_version}"
        )
        assert await jobs.model_id("phi4-ft", done.output_model_version) == model_id
        # What an endpoint asks before it deploys a fine-tune: only the owner's job answers.
        assert await jobs.registered_model(ModelSource("ft-1", "u-1")) == model_id
        assert await jobs.registered_model(ModelSource("ft-1", "someone-else")) is None
        assert await jobs.registered_model(ModelSource("no-such-job", "u-1")) is None

    asyncio.run(run())


def test_a_job_naming_a_missing_data_asset_is_refused(conn: Connection) -> None:
    async def run() -> None:
        with pytest.raises(Terminal, match="chat-train"):
            await FineTuningJobs(conn).begin_create("ft-2", JOB)
        assert await FineTuningJobs(conn).get("ft-2") is None

    asyncio.run(run())


def test_a_running_job_is_cancelled_and_reads_as_a_deletion_in_flight(
    sim: SimulatorProcess, conn: Connection
) -> None:
    sim.admin("POST", "latency", {"scale": 1.0})  # long enough to cancel while it runs

    async def run() -> None:
        jobs = FineTuningJobs(conn)
        await jobs.begin_create("ft-3", replace(JOB, training_data=TRAIN))
        await jobs.begin_cancel("ft-3")
        cancelling = await jobs.get("ft-3")
        assert cancelling is not None and cancelling.provisioning_state in ("Deleting", None)
        done = await eventually(lambda: jobs.get("ft-3"), lambda j: is_terminal(j.status), within=30)
        assert done.status == "Canceled", done

    asyncio.run(run())
