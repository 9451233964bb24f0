"""ServerlessEndpoint: keep the endpoint in Azure as the spec says, and its URI and keys in a Secret."""

from __future__ import annotations

from azureml_operator.azure.client import WorkspaceApi
from azureml_operator.conditions import Reason
from azureml_operator.controllers.common import (
    Blocked,
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
from azureml_operator.kubeapi import SecretNotOwned
from azureml_operator.reconcilers import serverless_endpoint as decide
from azureml_operator.reconcilers.common import (
    POLL_OPERATION,
    WAIT_DEPENDENCY,
    Event,
    Ownership,
    Verdict,
    adopt_requested,
)
from azureml_operator.reconcilers.model_subscription import same_model

COLLECTION = "serverlessEndpoints"
_WAIT_REASONS = {"creating": Reason.CREATING, "deleting": Reason.DELETING}


def azure_name(obj: Obj) -> str:
    return obj.spec.get("endpointName") or obj.name


def keys_secret_name(obj: Obj) -> str:
    return obj.spec.get("keysSecretName") or f"{obj.name}-keys"


def check_subscription(obj: Obj, deps: Dependencies, attempt: int) -> None:
    """With spec.subscriptionRef, wait for that ModelSubscription instead of failing without it."""
    ref = (obj.spec.get("subscriptionRef") or {}).get("name")
    if ref is None:
        return
    sub = deps.lookups.subscription(obj.namespace, ref)
    if sub is None:
        raise Blocked(
            Verdict.not_ready(
                Reason.WAITING_FOR_SUBSCRIPTION,
                f"waiting for ModelSubscription {ref}, which does not exist in namespace {obj.namespace}",
                requeue_after=WAIT_DEPENDENCY.delay(attempt),
            )
        )
    if sub.get("modelId") and not same_model(sub["modelId"], obj.spec["modelId"]):
        raise Blocked(
            Verdict.not_ready(
                Reason.INVALID_SPEC,
                f"spec.subscriptionRef names ModelSubscription {ref} for {sub['modelId']}, "
                f"but this endpoint serves {obj.spec['modelId']}",
            )
        )
    if not sub.get("ready"):
        raise Blocked(
            Verdict.not_ready(
                Reason.WAITING_FOR_SUBSCRIPTION,
                f"waiting for ModelSubscription {ref} to be Ready (now {sub.get('reason') or 'not reconciled'}"
                f"{': ' + sub['message'] if sub.get('message') else ''})",
                requeue_after=WAIT_DEPENDENCY.delay(attempt),
            )
        )


async def reconcile(obj: Obj, deps: Dependencies, attempt: int) -> Verdict:
    name = azure_name(obj)
    resolved = await resolve_workspace(obj, deps, attempt)
    client = await client_for(resolved, deps)
    want = decide.desired(
        model_id=obj.spec["modelId"],
        auth_mode=obj.spec.get("authMode") or "Key",
        content_safety=obj.spec.get("contentSafety"),
        namespace=obj.namespace,
        name=obj.name,
        uid=obj.uid,
    )
    doing = f"serverless endpoint {name}"
    try:
        observed = await client.get_serverless(name)
        owner = owner_of(obj, observed, adopt=adopt_requested(obj.annotations))
        plan = decide.plan(
            want=want,
            name=name,
            observed=observed,
            owner=owner,
            spec_changed_since_failure=obj.status.get("observedGeneration") != obj.generation,
        )
        fields = decide.status_fields(observed)
        if observed is not None and owner in (Ownership.OURS, Ownership.ADOPT):
            fields["azureResourceId"] = observed.id
        match plan.action:
            case decide.Action.CREATE:
                # The subscription gates creation only: an existing endpoint is always observed and
                # reported as Azure has it, even while its ModelSubscription is away.
                check_subscription(obj, deps, attempt)
                expected = resolved.target.child_id(COLLECTION, name)
                verdict = await create_recorded(
                    obj, deps, expected, lambda: client.begin_put_serverless(name, want), plan.message, fields
                )
            case decide.Action.UPDATE:
                await client.begin_put_serverless(name, decide.merged_tags(want, observed))
                verdict = Verdict.not_ready(
                    Reason.UPDATING, plan.message, requeue_after=POLL_OPERATION.delay(0), **fields
                )
                verdict.events.append(Event("Normal", "Updating", plan.message))
            case decide.Action.WAIT:
                state = (observed.provisioning_state if observed else "") or ""
                verdict = Verdict.not_ready(
                    _WAIT_REASONS.get(state.lower(), Reason.UPDATING),
                    plan.message,
                    requeue_after=POLL_OPERATION.delay(attempt),
                    **fields,
                )
            case decide.Action.READY:
                assert observed is not None
                verdict = await publish_keys(
                    obj, deps, client, name, observed.inference_uri or "", plan.message, fields
                )
            case decide.Action.CONFLICT:
                verdict = Verdict.not_ready(Reason.CONFLICT, plan.message)
            case decide.Action.FAILED:
                verdict = Verdict.not_ready(Reason.PROVISIONING_FAILED, plan.message, **fields)
            case decide.Action.SUSPENDED:
                verdict = Verdict.not_ready(
                    Reason.SUBSCRIPTION_INACTIVE,
                    plan.message,
                    requeue_after=WAIT_DEPENDENCY.delay(attempt),
                    **fields,
                )
    except AzureFailure as failure:
        verdict = failure_verdict(failure, attempt, doing)
        if failure.reason is Reason.SUBSCRIPTION_MISSING:
            verdict.message += "; create a ModelSubscription for the model (and name it in spec.subscriptionRef to wait for it)"
            verdict.requeue_after = WAIT_DEPENDENCY.delay(attempt)
        return verdict
    return note_adoption(verdict, owner, doing)


async def publish_keys(
    obj: Obj,
    deps: Dependencies,
    client: WorkspaceApi,
    name: str,
    uri: str,
    message: str,
    fields: dict[str, object],
) -> Verdict:
    """Copy the URI and keys into the keys Secret; Ready only once they are there."""
    keys = await client.get_serverless_keys(name)
    secret = keys_secret_name(obj)
    data = {"primaryKey": keys.primary, "secondaryKey": keys.secondary, "endpoint": uri}
    try:
        change = await deps.kube.apply_owned_secret(obj.namespace, secret, obj.owner_reference, data)
    except SecretNotOwned as err:
        return Verdict.not_ready(Reason.CONFLICT, str(err), **fields)
    verdict = Verdict.ready(Reason.SUCCEEDED, message, keysSecretName=secret, **fields)
    if change != "unchanged":
        verdict.events.append(Event("Normal", "KeysPublished", f"URI and keys {change} in Secret {secret}"))
    return verdict


async def finalize(obj: Obj, deps: Dependencies, attempt: int) -> Verdict:
    """Delete the endpoint in Azure if this object made (or adopted) it; `released` once it is gone.
    The keys Secret goes with the object, through its ownerReference."""
    name = azure_name(obj)
    return await delete_owned(
        obj,
        deps,
        attempt,
        what=f"serverless endpoint {name}",
        get=lambda client: client.get_serverless(name),
        delete=lambda client: client.begin_delete_serverless(name),
    )
