"""Fine-tuning jobs of a workspace, with plain ARM requests on the api-version the SDK uses.

Why not the SDK's `create_finetuning_job` + `jobs.create_or_update`: it fills in client-side
defaults (a random name, the current directory as the experiment, git properties) and resolves
local paths by uploading them; the operator needs one exact, repeatable PUT (contract §3.6).
A PUT is synchronous (no long-running operation); cancel is a POST that starts one.
"""

from __future__ import annotations

import re
from typing import Any

from azureml_operator.azure.client import OWNER_UID_TAG, Connection, DesiredJob, ModelSource, ObservedJob
from azureml_operator.errors import Terminal

COLLECTION = "jobs"
API_VERSION = "2024-10-01-preview"  # the one azure-ai-ml 1.35 uses for fine-tuning jobs
TERMINAL = frozenset({"completed", "failed", "canceled", "notresponding"})
_ASSET_ID = re.compile(r"^azureml:([^:/]+):([^:/]+)$")


def is_terminal(status: str | None) -> bool:
    return (status or "").lower() in TERMINAL


class FineTuningJobs:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _path(self, name: str) -> str:
        return self._conn.target.child_id(COLLECTION, name)

    async def get(self, name: str) -> ObservedJob | None:
        body = await self._conn.get_or_none(self._conn.rest.request, "GET", self._path(name), API_VERSION)
        return None if body is None else from_arm(body)

    async def begin_create(self, name: str, desired: DesiredJob) -> None:
        body = to_arm(desired, self._conn.target.arm_id)
        await self._conn.call("PUT", self._conn.rest.request, "PUT", self._path(name), API_VERSION, body)

    async def begin_cancel(self, name: str) -> None:
        path = f"{self._path(name)}/cancel"
        await self._conn.call("POST", self._conn.rest.request, "POST", path, API_VERSION)

    async def registered_model(self, source: ModelSource) -> str | None:
        """The model the job `source` names registered, as Azure says: None unless that job exists,
        carries the owner's uid tag, has completed and reports its model."""
        job = await self.get(source.job_name)
        if job is None or job.tags.get(OWNER_UID_TAG) != source.owner_uid:
            return None
        if (
            (job.status or "").lower() != "completed"
            or not job.output_model_name
            or not job.output_model_version
        ):
            return None
        return await self.model_id(job.output_model_name, job.output_model_version)

    async def model_id(self, name: str, version: str) -> str:
        """The id a serverless endpoint deploys a workspace model version by, as the Foundry
        fine-tuning documentation builds it: `azureml://locations/<region>/workspaces/<workspace
        guid>/models/<name>/versions/<version>` (one workspace GET)."""
        ws = await self._conn.get_workspace()
        if not ws.workspace_id:
            raise Terminal(f"workspace {self._conn.target} reports no workspaceId")
        return (
            f"azureml://locations/{ws.location}/workspaces/{ws.workspace_id}/models/{name}/versions/{version}"
        )


def data_uri(value: str, workspace_id: str) -> str:
    """`azureml:<name>:<version>` becomes the data version's ARM id, as the SDK sends it; URIs pass."""
    m = _ASSET_ID.match(value)
    return f"{workspace_id}/data/{m.group(1)}/versions/{m.group(2)}" if m else value


def to_arm(desired: DesiredJob, workspace_id: str) -> dict[str, Any]:
    def data(value: str) -> dict[str, str]:
        return {"jobInputType": "uri_file", "uri": data_uri(value, workspace_id)}

    task = desired.task[:1].lower() + desired.task[1:]  # the SDK sends chatCompletion (contract §3.6)
    return {
        "properties": {
            "jobType": "FineTuning",
            "displayName": desired.display_name,
            "experimentName": desired.experiment_name,
            "tags": dict(desired.tags),
            "properties": dict(desired.properties),
            "isArchived": False,
            "fineTuningDetails": {
                "modelProvider": "Custom",
                "taskType": task,
                "model": {"jobInputType": "mlflow_model", "uri": desired.model},
                "trainingData": data(desired.training_data),
                "validationData": data(desired.validation_data),
                "hyperParameters": dict(desired.hyperparameters),
            },
            "outputs": {
                "registered_model": {"jobOutputType": "mlflow_model", "assetName": desired.output_model_name}
            },
        }
    }


def from_arm(body: dict[str, Any]) -> ObservedJob:
    props = body.get("properties") or {}
    studio = ((props.get("services") or {}).get("Studio") or {}).get("endpoint")
    registered = (props.get("outputs") or {}).get("registered_model") or {}
    return ObservedJob(
        id=body.get("id", ""),
        name=body.get("name", ""),
        status=props.get("status"),
        tags=dict(props.get("tags") or {}),
        studio_url=studio,
        # ARM job resources carry no error field; the service's failure reason is a job property
        # (UNVERIFIED against the real service, which surfaces it through RunHistory).
        failure=(props.get("properties") or {}).get("azureml.failureReason"),
        output_model_name=registered.get("assetName"),
        output_model_version=registered.get("assetVersion"),
    )
