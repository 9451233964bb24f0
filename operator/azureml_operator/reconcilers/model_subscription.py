"""Decisions for ModelSubscription: does the model need a Marketplace subscription at all, and given
what Azure holds under the subscription's name, what to do and what to report."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from azureml_operator.azure.client import ObservedSubscription, is_in_progress
from azureml_operator.reconcilers.common import Ownership

# Microsoft's own models live in the `azureml` registry and are billed without a Marketplace offer
# (azure-ml-service-rules.md §8); every partner registry (azureml-meta, azureml-mistral, ...) sells
# through one.
MICROSOFT_REGISTRY = "azureml"
_REGISTRY = re.compile(r"^azureml://registries/([^/]+)/models/([^/]+)$")


def registry_of(model_id: str) -> str:
    m = _REGISTRY.match(model_id)
    return m.group(1).lower() if m else ""


def needs_subscription(model_id: str) -> bool:
    return registry_of(model_id) != MICROSOFT_REGISTRY


def same_model(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


class Action(Enum):
    NOT_REQUIRED = "not-required"
    CREATE = "create"
    WAIT = "wait"  # an operation on it is in flight
    READY = "ready"
    ADOPT = "adopt"  # ready, and now ours
    CONFLICT = "conflict"
    INACTIVE = "inactive"  # exists, but Marketplace does not report it Subscribed
    FAILED = "failed"


@dataclass(frozen=True)
class Plan:
    action: Action
    message: str


def plan(*, model_id: str, name: str, observed: ObservedSubscription | None, owner: Ownership | None) -> Plan:
    if not needs_subscription(model_id):
        return Plan(
            Action.NOT_REQUIRED, f"{model_id} is a Microsoft model: no Marketplace subscription needed"
        )
    if observed is None:
        return Plan(Action.CREATE, f"subscribing the workspace to {model_id} as {name}")
    if not same_model(observed.model_id, model_id):
        return Plan(
            Action.CONFLICT,
            f"Marketplace subscription {name} already exists in the workspace for {observed.model_id}, "
            f"not {model_id}; choose another spec.subscriptionName",
        )
    if owner is Ownership.FOREIGN:
        return Plan(
            Action.CONFLICT,
            f"Marketplace subscription {name} already exists in the workspace and was not created by this "
            'object; annotate it with azureml.dev/adopt: "true" to take it over',
        )
    if is_in_progress(observed.provisioning_state):
        return Plan(Action.WAIT, f"Azure reports provisioningState {observed.provisioning_state}")
    if (observed.provisioning_state or "").lower() in ("failed", "canceled"):
        return Plan(Action.FAILED, f"Azure reports provisioningState {observed.provisioning_state}")
    if (observed.subscription_status or "").lower() != "subscribed":
        return Plan(
            Action.INACTIVE,
            f"Azure Marketplace reports the subscription {observed.subscription_status or 'without a status'}; "
            "check the offer's billing in the Azure portal",
        )
    if owner is Ownership.ADOPT:
        return Plan(Action.ADOPT, f"adopted the existing Marketplace subscription {name}")
    return Plan(Action.READY, f"subscribed to {model_id}")


def status_fields(observed: ObservedSubscription | None) -> dict[str, Any]:
    if observed is None:
        return {"subscriptionStatus": None, "provisioningState": None, "marketplacePlan": None}
    return {
        "subscriptionStatus": observed.subscription_status,
        "provisioningState": observed.provisioning_state,
        "marketplacePlan": {k: v for k, v in observed.marketplace_plan.items() if v is not None} or None,
    }
