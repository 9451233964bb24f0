"""ModelSubscription: does the model need a Marketplace subscription at all, and given what Azure
holds under the subscription's name, what to do and what to report."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from azureml_operator.api.model_subscription import (
    KIND,
    MarketplacePlan,
    ModelSubscriptionSpec,
    ModelSubscriptionStatus,
)
from azureml_operator.azure import subscriptions
from azureml_operator.azure.client import Connection, ObservedSubscription, is_in_progress
from azureml_operator.conditions import Reason
from azureml_operator.reconcilers.adapters import Adapter, Decision, Effect, Observation, Outcome, Refs
from azureml_operator.reconcilers.common import (
    POLL_OPERATION,
    RETRY_UNAVAILABLE,
    Event,
    Ownership,
    azure_reports,
    has_failed,
    not_ours,
    same_model,
)
from azureml_operator.reconcilers.context import Context
from azureml_operator.reconcilers.objects import Obj
from azureml_operator.reconcilers.status import fields_of

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
        return Plan(Action.CONFLICT, not_ours(f"Marketplace subscription {name}", "the workspace"))
    if is_in_progress(observed.provisioning_state):
        return Plan(Action.WAIT, azure_reports(observed.provisioning_state))
    if has_failed(observed.provisioning_state):
        return Plan(Action.FAILED, azure_reports(observed.provisioning_state))
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
        status = ModelSubscriptionStatus(
            subscription_status=None, provisioning_state=None, marketplace_plan=None
        )
        return fields_of(status)
    plan_parts = {k: v for k, v in observed.marketplace_plan.items() if v is not None}
    status = ModelSubscriptionStatus(
        subscription_status=observed.subscription_status,
        provisioning_state=observed.provisioning_state,
        marketplace_plan=MarketplacePlan.model_validate(plan_parts) if plan_parts else None,
    )
    return fields_of(status)


OUTCOMES = {
    Action.NOT_REQUIRED: Outcome(Effect.NONE, Reason.NOT_REQUIRED, ready=True),
    Action.CREATE: Outcome(Effect.CREATE, Reason.CREATING, poll=POLL_OPERATION),
    Action.WAIT: Outcome(Effect.NONE, Reason.CREATING, poll=POLL_OPERATION),
    Action.READY: Outcome(Effect.NONE, Reason.SUCCEEDED, ready=True),
    Action.ADOPT: Outcome(Effect.NONE, Reason.SUCCEEDED, ready=True),
    Action.CONFLICT: Outcome(Effect.NONE, Reason.CONFLICT),
    Action.INACTIVE: Outcome(Effect.NONE, Reason.SUBSCRIPTION_INACTIVE, poll=RETRY_UNAVAILABLE),
    Action.FAILED: Outcome(Effect.NONE, Reason.PROVISIONING_FAILED),
}


class ModelSubscriptionAdapter(Adapter):
    info = KIND
    collection = subscriptions.COLLECTION

    def azure_name(self, obj: Obj, spec: ModelSubscriptionSpec, refs: Refs) -> str:
        return spec.subscription_name or obj.name

    def needs_azure(self, spec: ModelSubscriptionSpec) -> bool:
        return needs_subscription(spec.model_id)

    def describe(self, name: str) -> str:
        return f"Marketplace subscription {name}"

    def decide(self, o: Observation) -> Decision:
        result = plan(model_id=o.spec.model_id, name=o.name, observed=o.observed, owner=o.owner)
        message = result.message
        if result.action is Action.FAILED:
            message = f"{self.describe(o.name)}: {message}"
        fields = {} if result.action in (Action.CONFLICT, Action.NOT_REQUIRED) else status_fields(o.observed)
        return Decision(result.action, message, OUTCOMES[result.action], fields)

    def deletion_events(self, obj: Obj, spec: ModelSubscriptionSpec, ctx: Context) -> list[Event]:
        """Deleting a subscription makes Azure suspend the endpoints of its model: say so on both sides."""
        workspace = spec.workspace_ref.name if spec.workspace_ref else None
        users = [
            e
            for e in ctx.lookups.all("ServerlessEndpoint", obj.namespace)
            if same_model(str(e.spec.get("modelId", "")), spec.model_id)
            and (e.spec.get("workspaceRef") or {}).get("name") == workspace
        ]
        if not users:
            return []
        names = ", ".join(sorted(u.name for u in users))
        events = [
            Event(
                "Warning",
                "SubscriptionInUse",
                f"deleting the subscription to {spec.model_id} while serverless endpoints {names} use it: "
                "Azure makes them unusable",
            )
        ]
        events += [
            Event(
                "Warning",
                "SubscriptionDeleted",
                f"ModelSubscription {obj.name} is being deleted: Azure suspends this endpoint without it",
                regarding=user.body,
            )
            for user in users
        ]
        return events

    def azure_api(self, conn: Connection) -> subscriptions.MarketplaceSubscriptions:
        return subscriptions.MarketplaceSubscriptions(conn)

    async def create(self, api: subscriptions.MarketplaceSubscriptions, name: str, desired: object) -> None:
        assert isinstance(desired, str)
        await api.begin_create(name, desired)

    def desired(self, obj: Obj, spec: ModelSubscriptionSpec, refs: Refs) -> str:
        return spec.model_id


ADAPTER = ModelSubscriptionAdapter()
