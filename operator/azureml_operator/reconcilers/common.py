"""Decisions every kind shares: the reconcile-policy and adopt annotations, who owns an Azure
resource, retry back-off, and the verdict a reconcile pass ends with.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum
from typing import Any, ClassVar, Protocol

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
    ADOPT = "adopt"  # no object manages it, and this one asks to take it over
    FOREIGN = "foreign"  # not ours: report a Conflict, write nothing


def ownership(
    *,
    observed_id: str,
    observed_tags: dict[str, str] | None,
    recorded_id: str | None,
    uid: str,
    adopt: bool,
    tags_supported: bool = False,
    claimed_by_another: bool = False,
    tagged_owner_alive: bool = True,
) -> Ownership:
    """Whose is the Azure resource found under this object's name?

    - Our uid tag makes it ours, whatever else is claimed.
    - Another object's claim (its uid tag naming a live object, or the id recorded in a live
      object's status) makes it foreign: adoption never takes what another object manages.
    - Where the resource kind carries tags, a missing or foreign tag wins over any recorded id:
      anyone who can write this object's status could record a stranger's id.
    - Where it cannot carry tags, the id recorded in status makes it ours: the operator writes that
      id *before* it asks Azure to create anything, so a restart between the two still recognises its
      own creation (and another object recording the same id is `claimed_by_another`).
    ARM ids compare case-insensitively.
    """
    tagged_uid = (observed_tags or {}).get(OWNER_UID_TAG)
    if tagged_uid == uid:
        return Ownership.OURS
    if claimed_by_another or (tagged_uid and tagged_owner_alive):
        return Ownership.FOREIGN
    if not tags_supported and recorded_id and recorded_id.lower() == observed_id.lower():
        return Ownership.OURS
    return Ownership.ADOPT if adopt else Ownership.FOREIGN


def same_model(a: str, b: str) -> bool:
    """Registry model ids compare ignoring case and a trailing slash, as Azure does."""
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def not_ours(what: str, where: str, alternative: str = "") -> str:
    """The Conflict message for a resource found under the object's name that it did not create."""
    return (
        f"{what} already exists in {where} and was not created by this object; annotate it with "
        f'{ADOPT_ANNOTATION}: "true" to take it over{alternative}'
    )


class Tagged(Protocol):
    """A desired or observed Azure resource: a dataclass with its tags."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def tags(self) -> Mapping[str, str]: ...


def merged_tags[T: Tagged](want: T, have: Tagged | None) -> T:
    """Keep tags someone else put on the resource: a PUT replaces the whole tag set."""
    if have is None or not have.tags:
        return want
    return replace(want, tags={**have.tags, **want.tags})


def has_failed(provisioning_state: str | None) -> bool:
    return (provisioning_state or "").lower() in ("failed", "canceled")


_IN_FLIGHT_REASONS = {"creating": Reason.CREATING, "deleting": Reason.DELETING}


def in_flight_reason(provisioning_state: str | None) -> Reason:
    """The Ready reason while Azure runs an operation: Creating, Deleting, else Updating."""
    return _IN_FLIGHT_REASONS.get((provisioning_state or "").lower(), Reason.UPDATING)


def azure_reports(provisioning_state: str | None) -> str:
    return f"Azure reports provisioningState {provisioning_state}"


@dataclass(frozen=True)
class Backoff:
    base: float
    cap: float

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Exponential in `attempt`, capped, with ±20 % jitter so that objects created together
        do not poll Azure together."""
        raw = min(self.cap, self.base * (2.0 ** max(0, min(attempt, 16))))
        return round(raw * (rng.uniform if rng is not None else random.uniform)(0.8, 1.2), 2)


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


@dataclass(frozen=True)
class Written:
    """The status as a pass left it in the API server before it ended (the record written before a
    creation): the pass's own status write is what differs from it, and the loop waits for the
    watch to deliver it."""

    status: Mapping[str, Any]
    version: str | None


class Finality(Enum):
    FINAL = "final"  # nothing to wait for: the next look is the drift check
    REQUEUE = "requeue"  # look again after `requeue_after`
    RELEASED = "released"  # a deletion that is done: the finalizer may go


@dataclass(frozen=True)
class ExtraCondition:
    """A condition beside Ready, for kinds whose state needs more than the summary."""

    type: str
    status: str
    reason: str
    message: str


@dataclass
class Verdict:
    """How one pass ended: the Ready condition (the summary), further conditions, status fields,
    Events, and what comes next, said explicitly (`finality`)."""

    status: str  # "True" | "False" | "Unknown"
    reason: Reason
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    requeue_after: float | None = None
    events: list[Event] = field(default_factory=list)
    finality: Finality = Finality.FINAL
    conditions: list[ExtraCondition] = field(default_factory=list)
    # Leave the stored status as it is (a transient failure of an object that was Ready).
    keep_status: bool = False
    # The resource moved on: the object's back-off starts again (`Decision.progressed`).
    progressed: bool = False
    # This pass put back what changed in Azure outside Kubernetes: "update" or "recreate".
    drift_repaired: str | None = None
    # False: the pass failed before it could act on this generation and retries by itself, so the
    # status keeps its observedGeneration. A spec change is how a person asks for a failed
    # provisioning to be retried; a 503 on the way must not use that request up.
    observed: bool = True
    written: Written | None = None

    def __post_init__(self) -> None:
        if self.requeue_after is not None and self.finality is Finality.FINAL:
            self.finality = Finality.REQUEUE
        if self.finality is Finality.REQUEUE and self.requeue_after is None:
            raise ValueError("a verdict that requeues says when")

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
        return self.finality is Finality.RELEASED

    @classmethod
    def release(cls, message: str, *events: Event) -> Verdict:
        return cls("False", Reason.DELETING, message, events=list(events), finality=Finality.RELEASED)

    @classmethod
    def unknown(cls, reason: Reason, message: str) -> Verdict:
        return cls("Unknown", reason, message)
