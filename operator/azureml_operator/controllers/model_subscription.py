"""ModelSubscription: keep the workspace subscribed to a partner model's Marketplace offer."""

from __future__ import annotations

from azureml_operator.conditions import Reason
from azureml_operator.controllers.common import (
    Dependencies,
    Obj,
    client_for,
    create_recorded,
    delete_owned,
    failure_verdict,
    note_adoption,
    owner_of,
    resolve_workspace,
)
from azureml_operator.errors import AzureFailure
from azureml_operator.reconcilers import model_subscription as decide
from azureml_operator.reconcilers.common import (
    POLL_OPERATION,
    RETRY_UNAVAILABLE,
    Event,
    Ownership,
    Verdict,
    adopt_requested,
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
        owner = owner_of(obj, observed, adopt=adopt_requested(obj.annotations))
        plan = decide.plan(model_id=model_id, name=name, observed=observed, owner=owner)
        fields = decide.status_fields(observed)
        if observed is not None and owner in (Ownership.OURS, Ownership.ADOPT):
            fields["azureResourceId"] = observed.id
        match plan.action:
            case decide.Action.CREATE:
                expected = resolved.target.child_id(COLLECTION, name)
                verdict = await create_recorded(
                    obj,
                    deps,
                    expected,
                    lambda: client.begin_create_subscription(name, model_id),
                    plan.message,
                    fields,
                )
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
    return note_adoption(verdict, owner, doing)


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
