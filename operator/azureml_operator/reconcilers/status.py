"""From a verdict to the status patch and the Events to post: the Ready condition, status fields,
observedGeneration, and an Event whenever Ready changes. Only what differs goes in the patch, so a
pass that found nothing new writes nothing."""

from __future__ import annotations

from typing import Any

from azureml_operator import conditions
from azureml_operator.reconcilers.common import TRANSIENT, Event, Verdict


def next_status(
    old: dict[str, Any] | None, verdict: Verdict, generation: int, now: str | None = None
) -> tuple[dict[str, Any], list[Event]]:
    old = old or {}
    new_conditions = conditions.set_condition(
        old.get("conditions"),
        status=verdict.status,
        reason=verdict.reason,
        message=verdict.message,
        generation=generation,
        now=now,
    )
    wanted: dict[str, Any] = {
        **verdict.fields,
        "conditions": new_conditions,
        "observedGeneration": generation,
    }
    patch = {k: v for k, v in wanted.items() if old.get(k) != v}

    events = list(verdict.events)
    before = conditions.get(old.get("conditions"))
    changed = before is None or (before.get("status"), before.get("reason")) != (
        verdict.status,
        str(verdict.reason),
    )
    if changed and not any(e.regarding is None and e.reason == str(verdict.reason) for e in events):
        calm = verdict.status == "True" or verdict.reason in TRANSIENT or verdict.status == "Unknown"
        events.append(Event("Normal" if calm else "Warning", str(verdict.reason), verdict.message))
    return patch, events
