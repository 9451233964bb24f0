"""From a verdict to the status patch and the Events to post: the Ready condition and any others,
status fields, observedGeneration, and an Event whenever Ready changes. Only what differs goes in the
patch, so a pass that found nothing new writes nothing. The patch is checked against the kind's
Status model, so a misspelt or mistyped field fails loudly instead of being pruned by the API server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from azureml_operator import conditions
from azureml_operator.reconcilers.common import Event, Verdict


def fields_of(status: BaseModel) -> dict[str, Any]:
    """The wire form of the status fields a decision set (explicit Nones clear a field)."""
    return status.model_dump(by_alias=True, exclude_unset=True, mode="json")


def _merge_value(old: Any, new: Any) -> Any:
    """`new` as a JSON merge patch over `old`: a map merges into what is stored, so a key that is
    gone from it must be sent as null (a traffic map that no longer names a deployment)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    return {
        **{k: None for k in old if k not in new},
        **{k: _merge_value(old.get(k), v) for k, v in new.items()},
    }


def merged(old: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`old` with the JSON merge patch applied, as the API server stores it."""
    out = dict(old)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def undo(before: Mapping[str, Any], after: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch that takes what `patch` turned `before` into (`after`) back to `before`."""
    return {k: _merge_value(after.get(k), before.get(k)) for k in patch}


def next_status(
    old: dict[str, Any] | None,
    verdict: Verdict,
    generation: int,
    now: str | None = None,
    model: type[BaseModel] | None = None,
) -> tuple[dict[str, Any], list[Event]]:
    old = old or {}
    if verdict.keep_status:
        return {}, list(verdict.events)
    observed = generation if verdict.observed else old.get("observedGeneration")
    new_conditions = conditions.set_condition(
        old.get("conditions"),
        status=verdict.status,
        reason=verdict.reason,
        message=verdict.message,
        generation=observed,
        now=now,
    )
    for extra in verdict.conditions:
        new_conditions = conditions.set_condition(
            new_conditions,
            type_=extra.type,
            status=extra.status,
            reason=extra.reason,
            message=extra.message,
            generation=observed,
            now=now,
        )
    wanted: dict[str, Any] = {
        **verdict.fields,
        "conditions": new_conditions,
        "observedGeneration": observed,
    }
    if model is not None:
        # Raises on a field the kind's status does not have, or a value of the wrong type.
        known = {info.alias or name for name, info in model.model_fields.items()}
        model.model_validate({**{k: v for k, v in old.items() if k in known}, **wanted})
    patch = {k: _merge_value(old.get(k), v) for k, v in wanted.items() if old.get(k) != v}

    events = list(verdict.events)
    before = conditions.get(old.get("conditions"))
    changed = before is None or (before.get("status"), before.get("reason")) != (
        verdict.status,
        str(verdict.reason),
    )
    if changed and not any(e.regarding is None and e.reason == str(verdict.reason) for e in events):
        calm = verdict.status != "False" or conditions.is_transient(verdict.reason)
        events.append(Event("Normal" if calm else "Warning", str(verdict.reason), verdict.message))
    return patch, events
