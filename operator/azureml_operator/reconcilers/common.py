"""Decisions every kind shares: the reconcile-policy and adopt annotations, who owns an Azure
resource, retry back-off, and the verdict a reconcile pass ends with.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

from azureml_operator.api.common import GROUP
from azureml_operator.azure.client import OWNER_UID_TAG
from azureml_operator.conditions import Reason

POLICY_ANNOTATION = f"{GROUP}/reconcile-policy"
ADOPT_ANNOTATION = f"{GROUP}/adopt"


class Policy(StrEnum):
    MANAGE = "manage"  # create, repair and delete in Azure
    SKIP = "skip"  # touch nothing in Azure
    DETACH = "detach"  # manage, but leave the Azure resource behind on delete (like Retain)


class PolicyError(ValueError):
    pass


def policy_of(annotations: dict[str, str] | None) -> Policy:
    raw = (annotations or {}).get(POLICY_ANNOTATION, Policy.MANAGE.value)
    try:
        return Policy(raw.strip().lower())
    except ValueError:
        allowed = ", ".join(p.value for p in Policy)
        raise PolicyError(f"annotation {POLICY_ANNOTATION}={raw!r} is not one of: {allowed}") from None


def adopt_requested(annotations: dict[str, str] | None) -> bool:
    return (annotations or {}).get(ADOPT_ANNOTATION, "").strip().lower() == "true"


class Ownership(Enum):
    OURS = "ours"
    ADOPT = "adopt"  # not ours, and the object asks to take it over
    FOREIGN = "foreign"  # not ours: report a Conflict, write nothing


def ownership(
    *,
    observed_id: str,
    observed_tags: dict[str, str] | None,
    recorded_id: str | None,
    uid: str,
    adopt: bool,
) -> Ownership:
    """Whose is the Azure resource found under this object's name?

    Ours when it carries our uid tag (resources that take tags), or when status records its id:
    the operator writes that id *before* it asks Azure to create anything, so a restart between
    the two still recognises its own creation. ARM ids compare case-insensitively.
    """
    if observed_tags and observed_tags.get(OWNER_UID_TAG) == uid:
        return Ownership.OURS
    if recorded_id and recorded_id.lower() == observed_id.lower():
        return Ownership.OURS
    return Ownership.ADOPT if adopt else Ownership.FOREIGN


# Ready=False reasons that resolve by themselves (the operator keeps polling) versus those that need
# someone to change a spec, a credential or something in Azure (retried only by the drift check).
TRANSIENT = frozenset(
    {
        Reason.CREATING,
        Reason.UPDATING,
        Reason.DELETING,
        Reason.WAITING_FOR_SUBSCRIPTION,
        Reason.WAITING_FOR_WORKSPACE,
        Reason.THROTTLED,
        Reason.AZURE_UNAVAILABLE,
    }
)


@dataclass(frozen=True)
class Backoff:
    base: float
    cap: float

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Exponential in `attempt`, capped, with ±20 % jitter so that objects created together
        do not poll Azure together."""
        raw = min(self.cap, self.base * (2 ** max(0, min(attempt, 16))))
        return round(raw * (rng or random).uniform(0.8, 1.2), 2)


POLL_OPERATION = Backoff(base=2.0, cap=30.0)  # an Azure operation is in flight
WAIT_DEPENDENCY = Backoff(base=3.0, cap=60.0)  # a Workspace or ModelSubscription is not ready yet
RETRY_UNAVAILABLE = Backoff(base=5.0, cap=300.0)  # 5xx, timeouts, a busy resource


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str
    regarding: dict[str, Any] | None = (
        None  # another object's body (apiVersion, kind, metadata); None: this one
    )


@dataclass
class Verdict:
    """How one reconcile pass ended: the Ready condition, status fields, and when to look again."""

    status: str  # "True" | "False" | "Unknown"
    reason: Reason
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    requeue_after: float | None = None
    events: list[Event] = field(default_factory=list)

    @classmethod
    def ready(cls, reason: Reason, message: str, **fields: Any) -> Verdict:
        return cls("True", reason, message, dict(fields))

    @classmethod
    def not_ready(
        cls, reason: Reason, message: str, *, requeue_after: float | None = None, **fields: Any
    ) -> Verdict:
        return cls("False", reason, message, dict(fields), requeue_after)

    @property
    def released(self) -> bool:
        """For a deletion: nothing more to wait for, the finalizer may go."""
        return self.requeue_after is None

    @classmethod
    def release(cls, message: str, *events: Event) -> Verdict:
        return cls("False", Reason.DELETING, message, events=list(events))

    @classmethod
    def unknown(cls, reason: Reason, message: str) -> Verdict:
        return cls("Unknown", reason, message)
