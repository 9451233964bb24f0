"""ModelSubscription: a workspace's Azure Marketplace subscription to a partner model's offer.

Maps to `workspaces/{ws}/marketplaceSubscriptions/{subscriptionName}`. Microsoft models (the
`azureml` registry) need none: such an object becomes Ready with reason NotRequired.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from azureml_operator.api.common import (
    UNVERSIONED_MODEL_ID,
    ApiModel,
    CommonStatus,
    DeletionPolicy,
    LocalObjectReference,
    immutable,
    validations,
)
from azureml_operator.api.kinds import AGE, READY, KindInfo, azure_name_rules, column, workspace_ref_immutable

SUBSCRIPTION_NAME = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$"


class ModelSubscriptionSpec(ApiModel):
    """The model offer to subscribe the workspace to."""

    workspace_ref: LocalObjectReference | None = None
    """Workspace in this namespace; omitted: the operator's default workspace."""
    model_id: Annotated[
        str,
        Field(
            max_length=512, pattern=UNVERSIONED_MODEL_ID, json_schema_extra=validations(immutable("modelId"))
        ),
    ]
    """Registry model id without a version, e.g. azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct."""
    subscription_name: Annotated[str, Field(max_length=255, pattern=SUBSCRIPTION_NAME)] | None = None
    """Name of the subscription in Azure; defaults to metadata.name."""
    deletion_policy: DeletionPolicy = DeletionPolicy.DELETE
    """Delete: deleting this object deletes the subscription in Azure. Retain: it stays."""


class MarketplacePlan(ApiModel):
    """The Azure Marketplace offer behind a model."""

    publisher_id: str | None = None
    offer_id: str | None = None
    plan_id: str | None = None


class ModelSubscriptionStatus(CommonStatus):
    """What the operator last observed of the subscription in Azure."""

    subscription_status: str | None = None
    """Subscribed, Suspended or Unsubscribed, as Azure Marketplace reports it."""
    marketplace_plan: MarketplacePlan | None = None
    """The Marketplace publisher, offer and plan subscribed to."""
    provisioning_state: str | None = None
    """Azure's provisioningState of the subscription."""
    azure_resource_id: str | None = None
    """ARM id of the subscription."""


class ModelSubscription(ApiModel):
    """An Azure Marketplace subscription that lets a workspace deploy a partner model."""

    spec: ModelSubscriptionSpec
    status: ModelSubscriptionStatus | None = None


KIND = KindInfo(
    "ModelSubscription",
    "modelsubscriptions",
    ("amlsub",),
    ModelSubscription,
    (READY, column("State", ".status.subscriptionStatus"), column("Model", ".spec.modelId"), AGE),
    (
        workspace_ref_immutable(),
        *azure_name_rules("subscriptionName", SUBSCRIPTION_NAME, "marketplace subscription"),
    ),
)
