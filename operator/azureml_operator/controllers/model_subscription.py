"""ModelSubscription: keep the workspace subscribed to a partner model's Marketplace offer."""

from __future__ import annotations

from azureml_operator.conditions import Reason
from azureml_operator.controllers.common import (
    Dependencies,
    Obj,
    client_for,
    delete_owned,
    failure_verdict,
    record_and_create,
    resolve_workspace,
)
from azureml_operator.errors import AzureFailure
from azureml_operator.reconcilers import model_subscription as decide
from azureml_operator.reconcilers.common import (
    ADOPT_ANNOTATION,
    POLL_OPERATION,
    RETRY_UNAVAILABLE,
    Event,
    Ownership,
    Verdict,
    adopt_requested,
    ownership,
)

COLLECTION = "marketplaceSubscriptions"


def azure_name(obj: Obj) -> str:
    return obj.spec.get("subscriptionName") or obj.name


async def reconcile(obj: Obj, deps: Dependencies, attempt: int) -> Verdict:
    model_id, name = obj.spec["modelId"], azure_name(obj)
    if not decide.needs_subscription(model_id):
        return Verdict.ready(
            Reason.NOT_REQUIRED, decide.plan(model_id=model_id, name=name, observed=None, owner=None).message
        )
    resolved = await resolve_workspace(obj, deps, attempt)
    client = await client_for(resolved, deps)
    doing = f"Marketplace subscription {name}"
    try:
        observed = await client.get_subscription(name)
        owner = None
        if observed is not None:
            owner = ownership(
                observed_id=observed.id,
                observed_tags=None,
                recorded_id=obj.status.get("azureResourceId"),
                uid=obj.uid,
                adopt=adopt_requested(obj.annotations),
            )
        plan = decide.plan(model_id=model_id, name=name, observed=observed, owner=owner)
        fields = decide.status_fields(observed)
        if owner in (Ownership.OURS, Ownership.ADOPT):
            fields["azureResourceId"] = observed.id if observed else None
        match plan.action:
            case decide.Action.CREATE:
                expected = resolved.target.child_id(COLLECTION, name)
                await record_and_create(
                    obj, deps, expected, lambda: client.begin_create_subscription(name, model_id)
                )
                verdict = Verdict.not_ready(
                    Reason.CREATING, plan.message, requeue_after=POLL_OPERATION.delay(0), **fields
                )
                verdict.fields["azureResourceId"] = expected
                verdict.events.append(Event("Normal", "Creating", plan.message))
            case decide.Action.WAIT:
                verdict = Verdict.not_ready(
                    Reason.CREATING, plan.message, requeue_after=POLL_OPERATION.delay(attempt), **fields
                )
            case decide.Action.READY | decide.Action.ADOPT:
                verdict = Verdict.ready(Reason.SUCCEEDED, plan.message, **fields)
            case decide.Action.CONFLICT:
                verdict = Verdict.not_ready(Reason.CONFLICT, plan.message)
            case decide.Action.INACTIVE:
                verdict = Verdict.not_ready(
                    Reason.SUBSCRIPTION_INACTIVE,
                    plan.message,
                    requeue_after=RETRY_UNAVAILABLE.delay(attempt),
                    **fields,
                )
            case decide.Action.FAILED:
                verdict = Verdict.not_ready(Reason.PROVISIONING_FAILED, f"{doing}: {plan.message}", **fields)
    except AzureFailure as failure:
        return failure_verdict(failure, attempt, doing)
    if owner is Ownership.ADOPT and verdict.fields.get("azureResourceId"):
        verdict.events.append(
            Event(
                "Normal",
                "Adopted",
                f"took over the existing Marketplace subscription {name} ({ADOPT_ANNOTATION})",
            )
        )
    return verdict


async def finalize(obj: Obj, deps: Dependencies, attempt: int) -> Verdict:
    """Delete the subscription in Azure if this object made it; `released` once it is gone."""
    model_id, name = obj.spec["modelId"], azure_name(obj)
    if not decide.needs_subscription(model_id):
        return Verdict.release("nothing in Azure to delete")
    return await delete_owned(
        obj,
        deps,
        attempt,
        what=f"Marketplace subscription {name}",
        get=lambda client: client.get_subscription(name),
        delete=lambda client: client.begin_delete_subscription(name),
        also=lambda: in_use_warnings(obj, deps, model_id),
    )


def in_use_warnings(obj: Obj, deps: Dependencies, model_id: str) -> list[Event]:
    """Deleting a subscription makes Azure suspend the endpoints of its model: say so on both sides."""
    workspace = (obj.spec.get("workspaceRef") or {}).get("name")
    users = deps.lookups.endpoints_using(obj.namespace, workspace, model_id)
    if not users:
        return []
    names = ", ".join(sorted(u["metadata"]["name"] for u in users))
    events = [
        Event(
            "Warning",
            "SubscriptionInUse",
            f"deleting the subscription to {model_id} while serverless endpoints {names} use it: "
            "Azure makes them unusable",
        )
    ]
    events += [
        Event(
            "Warning",
            "SubscriptionDeleted",
            f"ModelSubscription {obj.name} is being deleted: Azure suspends this endpoint without it",
            regarding=user,
        )
        for user in users
    ]
    return events
