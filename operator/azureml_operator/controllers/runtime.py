"""The one path every kind goes through: honour the reconcile-policy annotation and the deletion
policy, call the kind's controller, and turn a blocked dependency into its verdict."""

from __future__ import annotations

from types import ModuleType

from azureml_operator.conditions import Reason
from azureml_operator.controllers import model_subscription, serverless_endpoint, workspace
from azureml_operator.controllers.common import Blocked, Dependencies, Obj
from azureml_operator.reconcilers.common import (
    POLICY_ANNOTATION,
    Event,
    Policy,
    PolicyError,
    Verdict,
    policy_of,
)

CONTROLLERS: dict[str, ModuleType] = {
    "Workspace": workspace,
    "ModelSubscription": model_subscription,
    "ServerlessEndpoint": serverless_endpoint,
}


async def reconcile(obj: Obj, deps: Dependencies, attempt: int) -> Verdict:
    try:
        policy = policy_of(obj.annotations)
    except PolicyError as err:
        return Verdict.not_ready(Reason.INVALID_SPEC, str(err))
    if policy is Policy.SKIP:
        return Verdict.unknown(
            Reason.RECONCILE_SKIPPED,
            f"{POLICY_ANNOTATION} is skip: the operator does not touch Azure for this object",
        )
    try:
        verdict: Verdict = await CONTROLLERS[obj.kind].reconcile(obj, deps, attempt)
    except Blocked as blocked:
        return blocked.verdict
    return verdict


def deletes_in_azure(kind: str) -> bool:
    """Whether deleting an object of this kind deletes something in Azure (and so needs a finalizer)."""
    return hasattr(CONTROLLERS[kind], "finalize")


async def finalize(obj: Obj, deps: Dependencies, attempt: int) -> Verdict:
    """A verdict that is `released` when the object may go, or one to retry after `requeue_after`.
    Only for kinds that `deletes_in_azure`."""
    controller = CONTROLLERS[obj.kind]
    try:
        policy = policy_of(obj.annotations)
    except PolicyError:
        policy = Policy.MANAGE  # a typo must not leak an Azure resource
    if policy is not Policy.MANAGE or obj.spec.get("deletionPolicy") == "Retain":
        why = (
            f"{POLICY_ANNOTATION} is {policy.value}"
            if policy is not Policy.MANAGE
            else "deletionPolicy is Retain"
        )
        if not obj.status.get("azureResourceId"):
            return Verdict.release("nothing in Azure to delete")
        message = f"left {obj.status['azureResourceId']} in Azure: {why}"
        return Verdict.release(message, Event("Normal", "Retained", message))
    verdict: Verdict = await controller.finalize(obj, deps, attempt)
    return verdict
