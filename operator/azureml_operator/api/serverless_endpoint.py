"""ServerlessEndpoint: a pay-as-you-go serverless API endpoint ("models as a service") for a catalog model.

Maps to `workspaces/{ws}/serverlessEndpoints/{endpointName}`. Its URI and keys are written to a
Secret (`keysSecretName`), the only place a key ever appears.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from azureml_operator.api.common import (
    DNS_SUBDOMAIN,
    UNVERSIONED_MODEL_ID,
    ApiModel,
    CommonStatus,
    DeletionPolicy,
    LocalObjectReference,
    cel,
    immutable,
    validations,
)
from azureml_operator.api.key_rotation import DateTime, KeyRotation, KeyRotationStatus
from azureml_operator.api.kinds import (
    AGE,
    READY,
    KindInfo,
    azure_name_rules,
    column,
    owner_tag_fits,
    workspace_ref_immutable,
)

ENDPOINT_NAME = r"^[a-zA-Z][a-zA-Z0-9-]{0,51}$"


class ContentSafety(StrEnum):
    """Whether Azure AI Content Safety filters the endpoint's traffic."""

    ENABLED = "Enabled"
    DISABLED = "Disabled"


class ModelRef(ApiModel):
    """A model another object of this namespace produces."""

    fine_tune_job: Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
    """A FineTuneJob in this namespace: the endpoint serves the model it registers, once it completes."""


class ServerlessEndpointSpec(ApiModel):
    """The model to serve and how."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel("has(self.modelId) != has(self.modelRef)", "set exactly one of modelId, modelRef")
        )
    }

    workspace_ref: LocalObjectReference | None = None
    """Workspace in this namespace; omitted: the operator's default workspace."""
    model_id: (
        Annotated[
            str,
            Field(
                max_length=512,
                pattern=UNVERSIONED_MODEL_ID,
                json_schema_extra=validations(immutable("modelId")),
            ),
        ]
        | None
    ) = None
    """Registry model id without a version (serverless endpoints always serve the latest version)."""
    model_ref: Annotated[ModelRef, Field(json_schema_extra=validations(immutable("modelRef")))] | None = None
    """Instead of modelId: serve the model a FineTuneJob of this namespace registers."""
    endpoint_name: Annotated[str, Field(max_length=52, pattern=ENDPOINT_NAME)] | None = None
    """Name in Azure, unique per region (it is part of the inference URL); defaults to metadata.name."""
    auth_mode: Literal["Key"] = "Key"
    """Serverless endpoints authenticate with keys."""
    content_safety: ContentSafety | None = None
    """Azure AI Content Safety on the endpoint; omitted: the service default (enabled)."""
    keys_secret_name: Annotated[str, Field(max_length=253, pattern=DNS_SUBDOMAIN)] | None = None
    """Secret to hold primaryKey, secondaryKey and endpoint; defaults to <metadata.name>-keys."""
    deletion_policy: DeletionPolicy = DeletionPolicy.DELETE
    """Delete: deleting this object deletes the endpoint in Azure. Retain: it stays."""
    subscription_ref: LocalObjectReference | None = None
    """A ModelSubscription in this namespace to wait for (until Ready) instead of failing without one."""
    key_rotation: KeyRotation | None = None
    """Rotate the keys on a schedule; the annotation azureml.dev/rotate-keys: <token> rotates them
    whenever its value changes, with or without this."""

    @model_validator(mode="after")
    def _one_model(self) -> ServerlessEndpointSpec:
        # The CEL rule's twin, for a spec admitted without it (an older CRD).
        if (self.model_id is None) == (self.model_ref is None):
            raise ValueError("set exactly one of modelId, modelRef")
        return self


class ServerlessEndpointStatus(CommonStatus):
    """What the operator last observed of the endpoint in Azure."""

    inference_uri: str | None = None
    """Base URI of the endpoint's inference API."""
    endpoint_state: str | None = None
    """Azure's endpointState: Creating, Online, Suspended, ..."""
    provisioning_state: str | None = None
    """Azure's provisioningState of the endpoint."""
    azure_resource_id: str | None = None
    """ARM id of the endpoint."""
    keys_secret_name: str | None = None
    """The Secret holding the keys."""
    model_id: str | None = None
    """The model the endpoint serves (with modelRef: the fine-tuned model's id)."""
    key_rotation: KeyRotationStatus | None = None
    """The last (or current) key rotation."""
    keys_rotated_at: DateTime | None = None
    """When a rotation last completed (both keys regenerated and published)."""
    keys_checked_at: DateTime | None = None
    """When the keys were last read from Azure (listKeys, which ARM counts against the write
    budget): once the endpoint is Ready, at most every --keys-check-interval, and at once when the
    Secret lacks them or a rotation step is due."""


class ServerlessEndpoint(ApiModel):
    """A serverless (pay-as-you-go) inference endpoint for a catalog model."""

    spec: ServerlessEndpointSpec
    status: ServerlessEndpointStatus | None = None


KIND = KindInfo(
    "ServerlessEndpoint",
    "serverlessendpoints",
    ("amlsls",),
    ServerlessEndpoint,
    (
        READY,
        column("State", ".status.endpointState"),
        column("URI", ".status.inferenceUri"),
        column("Model", ".spec.modelId", priority=1),
        column("Fine-tune", ".spec.modelRef.fineTuneJob", priority=1),
        AGE,
    ),
    (
        workspace_ref_immutable(),
        cel(
            "has(self.spec.modelId) == has(oldSelf.spec.modelId)",
            "the model of an endpoint cannot change: spec.modelId and spec.modelRef cannot be swapped",
            reason="FieldValueForbidden",
        ),
        *azure_name_rules("endpointName", ENDPOINT_NAME, "serverless endpoint"),
        owner_tag_fits(),
    ),
)
