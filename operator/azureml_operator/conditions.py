"""Status conditions in the metav1.Condition shape, as pure functions over plain dicts.

Every kind reports a `Ready` condition, the summary, whose `reason` says exactly what a user can act
on; a kind may report more conditions beside it. The reasons are the constants below, documented in
docs/conditions.md. `lastTransitionTime` changes
only when the status flips, so re-reporting the same state writes nothing new.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

READY = "Ready"

Condition = dict[str, Any]


class Reason(StrEnum):
    # Ready=True
    SUCCEEDED = "Succeeded"
    NOT_REQUIRED = "NotRequired"  # a Microsoft model needs no Marketplace subscription
    # Ready=False, waiting: the operator will get there by itself
    CREATING = "Creating"
    UPDATING = "Updating"
    DELETING = "Deleting"
    WAITING_FOR_SUBSCRIPTION = "WaitingForSubscription"
    WAITING_FOR_WORKSPACE = "WaitingForWorkspace"
    WAITING_FOR_DATA = "WaitingForData"  # a FineTuneJob's DataAsset is not Ready yet
    WAITING_FOR_MODEL = "WaitingForModel"  # a ServerlessEndpoint's FineTuneJob has not completed yet
    WAITING_FOR_ENDPOINT = "WaitingForEndpoint"  # an online deployment's endpoint is not in Azure yet
    TRAFFIC_PENDING = "TrafficPending"  # an online endpoint's maps wait for deployments to be Ready
    QUEUED = "Queued"  # a fine-tuning job waits for its turn in Azure
    RUNNING = "Running"  # a fine-tuning job is training
    THROTTLED = "Throttled"
    AZURE_UNAVAILABLE = "AzureUnavailable"
    # Ready=False, needs a person: a spec, credential or Azure-side change
    INVALID_SPEC = "InvalidSpec"
    CREDENTIAL_REJECTED = "CredentialRejected"
    WORKSPACE_NOT_FOUND = "WorkspaceNotFound"
    MODEL_NOT_FOUND = "ModelNotFound"
    SUBSCRIPTION_MISSING = "SubscriptionMissing"
    SUBSCRIPTION_INACTIVE = "SubscriptionInactive"
    NAME_TAKEN = "NameTaken"
    QUOTA_EXCEEDED = "QuotaExceeded"
    CONFLICT = "Conflict"  # an Azure resource of that name exists and was not made by this object
    PROVISIONING_FAILED = "ProvisioningFailed"
    AZURE_REJECTED = "AzureRejected"
    KUBERNETES_FORBIDDEN = "KubernetesForbidden"  # the operator's own RBAC lacks a verb it needs
    DELETION_BLOCKED = "DeletionBlocked"  # deleting needs a person: the finalizer stays until then
    JOB_FAILED = "JobFailed"  # the fine-tuning job ended in failure; a new fine-tune is a new object
    JOB_CANCELED = "JobCanceled"  # the fine-tuning job was canceled in Azure
    # Ready=Unknown
    RECONCILE_SKIPPED = "ReconcileSkipped"


# The one table of reasons that resolve by themselves (the operator keeps polling). Every other
# Ready=False reason needs someone to change a spec, a credential or something in Azure; it is
# retried only by the drift check, and its Event is a Warning.
TRANSIENT: frozenset[Reason] = frozenset(
    {
        Reason.CREATING,
        Reason.UPDATING,
        Reason.DELETING,
        Reason.WAITING_FOR_SUBSCRIPTION,
        Reason.WAITING_FOR_WORKSPACE,
        Reason.WAITING_FOR_DATA,
        Reason.WAITING_FOR_MODEL,
        Reason.WAITING_FOR_ENDPOINT,
        Reason.TRAFFIC_PENDING,
        Reason.QUEUED,
        Reason.RUNNING,
        Reason.THROTTLED,
        Reason.AZURE_UNAVAILABLE,
    }
)


# Not Ready because an object it depends on is not (yet): the flip of that object is its cue.
WAITING: frozenset[Reason] = frozenset(
    {
        Reason.WAITING_FOR_SUBSCRIPTION,
        Reason.WAITING_FOR_WORKSPACE,
        Reason.WAITING_FOR_DATA,
        Reason.WAITING_FOR_MODEL,
        Reason.WAITING_FOR_ENDPOINT,
    }
)


def is_transient(reason: Reason) -> bool:
    return reason in TRANSIENT


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def get(conditions: list[Condition] | None, type_: str = READY) -> Condition | None:
    return next((c for c in conditions or [] if c.get("type") == type_), None)


def set_condition(
    conditions: list[Condition] | None,
    *,
    status: str,
    reason: str,
    message: str,
    generation: int | None,
    type_: str = READY,
    now: str | None = None,
) -> list[Condition]:
    """A new list with `type_` set; the transition time is kept unless the status changes."""
    old = get(conditions, type_)
    transition = old["lastTransitionTime"] if old and old.get("status") == status else (now or now_iso())
    new: Condition = {
        "type": type_,
        "status": status,
        "reason": str(reason),
        "message": message[:32768],
        "lastTransitionTime": transition,
    }
    if generation is not None:
        new["observedGeneration"] = generation
    rest = [c for c in conditions or [] if c.get("type") != type_]
    return [new, *rest] if type_ == READY else [*rest, new]


def is_ready(conditions: list[Condition] | None) -> bool:
    c = get(conditions)
    return bool(c and c.get("status") == "True")
