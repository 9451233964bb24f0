"""FineTuneJob: fine-tune a catalog model on JSONL data, and optionally serve the result.

Maps to an Azure ML job with `jobType: FineTuning` (`workspaces/{ws}/jobs/{jobName}`). The whole
spec is immutable once the job is submitted: a different fine-tune is a new object. With
`deploy.serverlessEndpoint`, the operator creates a ServerlessEndpoint object for the registered
model once the job completes, owned by this object.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from azureml_operator.api.common import (
    DNS_SUBDOMAIN,
    ApiModel,
    CommonStatus,
    LocalObjectReference,
    cel,
    validations,
)
from azureml_operator.api.kinds import AGE, READY, KindInfo, column, workspace_ref_immutable
from azureml_operator.api.serverless_endpoint import ENDPOINT_NAME, ContentSafety

# A registry model id *with* its version: fine-tuning starts from one exact model.
VERSIONED_MODEL_ID = r"^azureml://registries/[a-zA-Z0-9][a-zA-Z0-9._-]*/models/[a-zA-Z0-9][a-zA-Z0-9._-]*/versions/[a-zA-Z0-9._-]+$"
JOB_NAME = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$"
ASSET_ID = r"^azureml:[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}:[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}$"
DATA_URI = r"^(azureml://|https://)\S+$"
OUTPUT_PREFIX = r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,199}$"


class FineTuningTask(StrEnum):
    """The service's fine-tuning task types (FineTuningTaskType)."""

    CHAT_COMPLETION = "ChatCompletion"
    TEXT_COMPLETION = "TextCompletion"
    TEXT_CLASSIFICATION = "TextClassification"
    QUESTION_ANSWERING = "QuestionAnswering"
    TEXT_SUMMARIZATION = "TextSummarization"
    TOKEN_CLASSIFICATION = "TokenClassification"
    TEXT_TRANSLATION = "TextTranslation"
    IMAGE_CLASSIFICATION = "ImageClassification"
    IMAGE_INSTANCE_SEGMENTATION = "ImageInstanceSegmentation"
    IMAGE_OBJECT_DETECTION = "ImageObjectDetection"
    VIDEO_MULTI_OBJECT_TRACKING = "VideoMultiObjectTracking"


class JobDeletionPolicy(StrEnum):
    """What deleting the object does to a job still running in Azure (a finished one is left)."""

    CANCEL = "Cancel"
    RETAIN = "Retain"


def _exactly_one(*fields: str) -> dict[str, str]:
    count = " + ".join(f"(has(self.{f}) ? 1 : 0)" for f in fields)
    return cel(f"{count} == 1", f"set exactly one of {', '.join(fields)}")


class DataInput(ApiModel):
    """Training or validation data: a DataAsset in this namespace, a registered asset id, or a URI."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(_exactly_one("dataAssetRef", "assetId", "uri"))
    }

    data_asset_ref: LocalObjectReference | None = None
    """A DataAsset in this namespace; the job waits until it is Ready."""
    asset_id: Annotated[str, Field(max_length=520, pattern=ASSET_ID)] | None = None
    """A data asset registered in the workspace: azureml:<name>:<version>."""
    uri: Annotated[str, Field(max_length=2048, pattern=DATA_URI)] | None = None
    """A JSONL file in a datastore (azureml://datastores/...) or at an https:// URL."""

    @model_validator(mode="after")
    def _one_source(self) -> DataInput:
        # The CEL rule's twin, for a spec admitted without it (an older CRD).
        if sum(v is not None for v in (self.data_asset_ref, self.asset_id, self.uri)) != 1:
            raise ValueError("set exactly one of dataAssetRef, assetId, uri")
        return self


# Hyperparameters the service documents a range for (the Foundry fine-tuning task-parameter table,
# azure-ml-service-rules.md §12): (key, kind, low, high, low excluded). Values are strings, as the
# service takes them; any other key is passed through unchecked.
_INTEGERS = (
    ("num_train_epochs", 1, 10),
    ("per_device_train_batch_size", 1, 32),
    ("per_device_eval_batch_size", 1, 32),
    ("batch_size", 1, 32),
)
_NUMBERS = (
    ("learning_rate", 0.0, 1.0, True),
    ("learning_rate_multiplier", 0.0, 10.0, False),
)
_NUMBER = r"^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$"


def _hyperparameter_rules() -> list[dict[str, str]]:
    rules = []
    for key, low, high in _INTEGERS:
        rules.append(
            cel(
                f"!('{key}' in self) || (self['{key}'].matches('^[0-9]+$') && int(self['{key}']) >= {low} "
                f"&& int(self['{key}']) <= {high})",
                f"hyperparameters.{key} must be an integer from {low} to {high}",
            )
        )
    for key, flow, fhigh, exclusive in _NUMBERS:
        bound = f"double(self['{key}']) {'>' if exclusive else '>='} {flow}"
        rules.append(
            cel(
                f"!('{key}' in self) || (self['{key}'].matches('{_NUMBER}') && {bound} "
                f"&& double(self['{key}']) <= {fhigh})",
                f"hyperparameters.{key} must be a number {'in (' if exclusive else 'from '}{flow}"
                f"{', ' if exclusive else ' to '}{fhigh}{']' if exclusive else ''}",
            )
        )
    return rules


class ServerlessDeployment(ApiModel):
    """A serverless endpoint for the fine-tuned model, created once the job has completed."""

    name: Annotated[str, Field(max_length=52, pattern=ENDPOINT_NAME)]
    """Name of the ServerlessEndpoint object (in this namespace) and of the endpoint in Azure."""
    content_safety: ContentSafety | None = None
    """Azure AI Content Safety on the endpoint; omitted: the service default."""
    keys_secret_name: Annotated[str, Field(max_length=253, pattern=DNS_SUBDOMAIN)] | None = None
    """Secret for the endpoint's URI and keys; defaults to <name>-keys."""
    deletion_policy: Annotated[str, Field(pattern="^(Delete|Retain)$")] = "Delete"
    """Delete: deleting the endpoint object deletes it in Azure. Retain: it stays."""


class Deployment(ApiModel):
    """What to serve the fine-tuned model with."""

    serverless_endpoint: ServerlessDeployment | None = None
    """A pay-as-you-go serverless endpoint for the registered model."""


class FineTuneJobSpec(ApiModel):
    """The fine-tune to run; immutable once submitted."""

    workspace_ref: LocalObjectReference | None = None
    """Workspace in this namespace; omitted: the operator's default workspace."""
    task: FineTuningTask
    """The fine-tuning task, e.g. ChatCompletion."""
    model: Annotated[str, Field(max_length=512, pattern=VERSIONED_MODEL_ID)]
    """Registry model id with its version, e.g. azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1."""
    training_data: DataInput
    """The JSONL training data."""
    validation_data: DataInput
    """The JSONL validation data (required by the service's SDK)."""
    hyperparameters: Annotated[
        dict[str, Annotated[str, Field(max_length=64, description="A hyperparameter value, as a string.")]],
        Field(json_schema_extra=validations(*_hyperparameter_rules())),
    ] = {}
    """Hyperparameters as the service takes them (strings), e.g. num_train_epochs, learning_rate,
    per_device_train_batch_size; documented ranges are checked, other keys are passed through."""
    output_model_name_prefix: Annotated[str, Field(max_length=200, pattern=OUTPUT_PREFIX)] | None = None
    """Name of the registered output model; defaults to the job name."""
    experiment_name: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    """Experiment to file the job under; defaults to the namespace."""
    display_name: Annotated[str, Field(max_length=255)] | None = None
    """Display name in Azure ML studio; defaults to <namespace>/<name>."""
    tags: dict[str, Annotated[str, Field(max_length=256, description="A tag value.")]] | None = None
    """Tags of the job."""
    properties: dict[str, Annotated[str, Field(max_length=1024, description="A property value.")]] | None = (
        None
    )
    """Properties of the job."""
    job_name: Annotated[str, Field(max_length=255, pattern=JOB_NAME)] | None = None
    """Name of the job in Azure; defaults to one derived from namespace, name and uid (stable across restarts)."""
    subscription_ref: LocalObjectReference | None = None
    """A ModelSubscription in this namespace to wait for (non-Microsoft base models)."""
    deletion_policy: JobDeletionPolicy = JobDeletionPolicy.CANCEL
    """Cancel: deleting this object cancels a running job and waits for it. Retain: it runs on."""
    deploy: Deployment | None = None
    """Serve the fine-tuned model once the job completes."""


class JobError(ApiModel):
    code: str | None = None
    """Azure's error code."""
    message: str | None = None
    """Azure's error message."""


class RegisteredModel(ApiModel):
    name: str | None = None
    """Name of the model the job registered."""
    version: str | None = None
    """Its version."""
    model_id: str | None = None
    """The id a serverless endpoint deploys: azureml://.../models/<name>/versions/<version>."""


class FineTuneJobStatus(CommonStatus):
    """What the operator last observed of the job in Azure."""

    job_name: str | None = None
    """Name of the job in Azure."""
    azure_resource_id: str | None = None
    """ARM id of the job."""
    phase: str | None = None
    """The service's job status: NotStarted, Queued, Running, Completed, Failed, Canceled, ..."""
    phase_transition_time: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None = None
    """When the operator first saw the job in its phase (at most one poll late)."""
    start_time: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None = None
    """When the operator first saw the job Running."""
    end_time: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None = None
    """When the operator first saw the job finished."""
    studio_url: str | None = None
    """The job in Azure ML studio, when Azure reports it."""
    error: JobError | None = None
    """Why the job failed, as Azure says."""
    registered_model: RegisteredModel | None = None
    """The fine-tuned model, once registered."""
    serverless_endpoint: str | None = None
    """The ServerlessEndpoint object created for the model (spec.deploy)."""


class FineTuneJob(ApiModel):
    """A fine-tuning job for a catalog model, and optionally a serverless endpoint for its result."""

    spec: FineTuneJobSpec
    status: FineTuneJobStatus | None = None


KIND = KindInfo(
    "FineTuneJob",
    "finetunejobs",
    ("amlft",),
    FineTuneJob,
    (
        READY,
        column("Phase", ".status.phase"),
        column("Base model", ".spec.model"),
        column("Output model", ".status.registeredModel.modelId"),
        AGE,
    ),
    (
        workspace_ref_immutable(),
        cel(
            "!has(oldSelf.status) || !has(oldSelf.status.azureResourceId) || self.spec == oldSelf.spec",
            "the spec of a submitted FineTuneJob is immutable: a different fine-tune is a new object",
            reason="FieldValueForbidden",
        ),
    ),
)
