"""The first questions about a provisioned Azure resource, asked alike for every kind that creates
one and updates it in place (serverless and online endpoints, online deployments): is it there, is
it ours, can it be what the spec says, is Azure busy with it, did it fail, does it differ. A kind's
plan asks these first and decides the rest (what "settled" means for it) itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum

from azureml_operator.azure.client import is_in_progress
from azureml_operator.reconcilers.adapters import Outcome
from azureml_operator.reconcilers.common import (
    Ownership,
    azure_reports,
    has_failed,
    in_flight_reason,
    not_ours,
)


class Step(Enum):
    CREATE = "create"  # not in Azure
    CONFLICT = "conflict"  # someone else's
    DIFFERS = "differs"  # ours, holding what Azure cannot change in place
    WAIT = "wait"  # an operation on it is in flight
    FAILED = "failed"  # its last provisioning failed, and the spec has not changed since
    UPDATE = "update"  # differs from the spec (or failed, and the spec changed): put it right
    SETTLED = "settled"  # as the spec says, as far as these questions go: the kind decides


@dataclass(frozen=True)
class Next:
    step: Step
    message: str


@dataclass(frozen=True)
class Facts:
    """What a kind tells about its resource. `what` names it ("online deployment blue"); `rename`
    is the spec field that picks another Azure name; `unchangeable` says why it cannot become what
    the spec says (None when it can); `failure` details a failed provisioning (Azure's error);
    `changes` are its differences from the spec, one line each."""

    what: str
    rename: str
    exists: bool
    owner: Ownership | None
    provisioning_state: str | None
    unchangeable: str | None = None
    failure: str = ""
    changes: Sequence[str] = ()


def next_step(facts: Facts, *, creating: str, spec_changed_since_failure: bool) -> Next:
    if not facts.exists:
        return Next(Step.CREATE, creating)
    if facts.owner is Ownership.FOREIGN:
        return Next(Step.CONFLICT, not_ours(facts.what, "Azure", f", or choose another spec.{facts.rename}"))
    if facts.unchangeable:
        return Next(Step.DIFFERS, facts.unchangeable)
    if is_in_progress(facts.provisioning_state):
        return Next(Step.WAIT, azure_reports(facts.provisioning_state))
    failed = has_failed(facts.provisioning_state)
    if failed and not spec_changed_since_failure:
        return Next(
            Step.FAILED,
            f"{azure_reports(facts.provisioning_state)}{facts.failure}; change the spec or delete the "
            "object to retry",
        )
    if facts.changes or failed:
        why = "; ".join(facts.changes) if facts.changes else "retrying the failed provisioning"
        return Next(Step.UPDATE, f"updating {facts.what}: {why}")
    return Next(Step.SETTLED, "")


def outcome_of[A: Enum](
    outcomes: Mapping[A, Outcome], steps: Mapping[Step, A], action: A, provisioning_state: str | None
) -> Outcome:
    """The kind's outcome for its action; while Azure runs an operation (the kind's action for
    Step.WAIT), its reason says which: Creating, Deleting, else Updating."""
    outcome = outcomes[action]
    if action is steps[Step.WAIT]:
        return replace(outcome, reason=in_flight_reason(provisioning_state))
    return outcome
