"""Orchestrated key rotation, the same for every kind whose endpoint has two keys: regenerate the
secondary key, publish it, wait the grace period for consumers to switch to it, regenerate the
primary key, publish it.

A rotation starts when the annotation azureml.dev/rotate-keys gets a value not handled before, or
when `spec.keyRotation.every` has passed since the last one (or since the object was created). A
rotation in flight always finishes first (regenerating the secondary key again would cut off the
consumers that just switched to it), and the next one starts no sooner than a grace period after
it, so consumers back on the primary key are not cut off either. Status records each phase right
after the Azure call that starts it, so a restart resumes where the rotation was, and a token is
never handled twice.

Whether Azure has made the new key is read, not assumed: Azure holds a key the Secret does not
(regenerateKeys of an online endpoint is a long-running operation). A key never goes into status,
Events or logs; the comparison is made in memory.

`next_step` is the pure state machine; `rotate` does the I/O around it for an adapter's publish.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from azureml_operator.api.key_rotation import (
    DEFAULT_GRACE,
    ROTATE_ANNOTATION,
    KeyRotation,
    RotationPhase,
    seconds,
)
from azureml_operator.azure.client import EndpointKeys
from azureml_operator.errors import AzureFailure, Throttled
from azureml_operator.reconcilers.common import POLL_OPERATION, RETRY_UNAVAILABLE, Event, Finality, Verdict
from azureml_operator.reconcilers.context import Context, SecretNotText
from azureml_operator.reconcilers.objects import Obj

if TYPE_CHECKING:
    from azureml_operator.reconcilers.adapters import Observation

# A regeneration Azure has not carried out by then is asked for again (a lost operation, a failed
# one, a Secret deleted meanwhile): regenerating a key nobody has switched to yet is harmless.
REGENERATE_TIMEOUT = 900.0
MAX_TOKEN = 253
WAITING_FOR_AZURE = (RotationPhase.REGENERATING_SECONDARY, RotationPhase.REGENERATING_PRIMARY)


class KeyType(StrEnum):
    PRIMARY = "Primary"
    SECONDARY = "Secondary"


@dataclass(frozen=True)
class Record:
    """What status says of rotations (times in epoch seconds)."""

    phase: RotationPhase | None = None
    token: str | None = None
    started_at: float | None = None
    phase_since: float | None = None
    grace_until: float | None = None
    message: str | None = None
    rotated_at: float | None = None  # status.keysRotatedAt

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> Record:
        raw = status.get("keyRotation")
        raw = raw if isinstance(raw, dict) else {}
        try:
            phase = RotationPhase(str(raw["phase"])) if raw.get("phase") else None
        except ValueError:  # a phase of a later version, or one typed by hand: start afresh
            phase = None
        token = raw.get("token")
        return cls(
            phase=phase,
            token=token if isinstance(token, str) else None,
            started_at=_epoch(raw.get("startedAt")),
            phase_since=_epoch(raw.get("phaseSince")),
            grace_until=_epoch(raw.get("graceUntil")),
            message=raw.get("message") if isinstance(raw.get("message"), str) else None,
            rotated_at=_epoch(status.get("keysRotatedAt")),
        )

    def fields(self) -> dict[str, Any]:
        """The status fields. Unset entries are left out of the map: the status patch clears
        what the stored map has and this one does not (a phase's graceUntil), and an unchanged
        record compares equal to the stored one, so it writes nothing."""
        if self.phase is None:
            return {}
        rotation = {
            "phase": self.phase.value,
            "token": self.token,
            "startedAt": _rfc3339(self.started_at),
            "phaseSince": _rfc3339(self.phase_since),
            "graceUntil": _rfc3339(self.grace_until),
            "message": self.message,
        }
        return {
            "keyRotation": {k: v for k, v in rotation.items() if v is not None},
            "keysRotatedAt": _rfc3339(self.rotated_at),
        }

    def merge_patch(self) -> dict[str, Any]:
        """The fields as a merge patch of their own: what the record does not have is cleared."""
        fields = self.fields()
        if fields:
            fields["keyRotation"] = {
                k: fields["keyRotation"].get(k)
                for k in ("phase", "token", "startedAt", "phaseSince", "graceUntil", "message")
            }
        return fields


@dataclass(frozen=True)
class Renewed:
    """Which keys Azure holds that the Secret does not (yet)."""

    primary: bool
    secondary: bool


@dataclass(frozen=True)
class Facts:
    record: Record
    requested: str | None  # the annotation's value
    every: float | None  # spec.keyRotation.every, seconds
    grace: float  # spec.keyRotation.gracePeriod, seconds
    created: float | None  # the object's creation, epoch seconds
    now: float
    refusal: str | None = None  # why this endpoint has no keys to rotate; None: it has
    renewed: Renewed | None = None  # known in the phases that wait for Azure


@dataclass(frozen=True)
class Step:
    """What to do now: regenerate a key (or nothing), the record to write once that is done, the
    Events to post, and how soon to look again (None: the drift check is soon enough)."""

    regenerate: KeyType | None
    record: Record
    events: tuple[Event, ...] = ()
    wake: float | None = None


def next_step(f: Facts) -> Step:
    r, now = f.record, f.now
    if r.phase is RotationPhase.REGENERATING_SECONDARY:
        if f.renewed is not None and f.renewed.secondary:
            until = now + f.grace
            message = (
                f"new secondary key published; the primary key is regenerated at {_rfc3339(until)}: "
                "switch consumers to secondaryKey"
            )
            record = replace(
                r, phase=RotationPhase.GRACE_PERIOD, phase_since=now, grace_until=until, message=message
            )
            return Step(None, record, (Event("Normal", "KeysRotating", message),), wake=f.grace)
        return _still_waiting(r, now, KeyType.SECONDARY)
    if r.phase is RotationPhase.GRACE_PERIOD:
        until = r.grace_until if r.grace_until is not None else now
        if now < until:
            return Step(None, r, wake=until - now)
        record = replace(
            r,
            phase=RotationPhase.REGENERATING_PRIMARY,
            phase_since=now,
            grace_until=None,
            message="regenerating the primary key",
        )
        return Step(KeyType.PRIMARY, record, wake=POLL_OPERATION.base)
    if r.phase is RotationPhase.REGENERATING_PRIMARY:
        if f.renewed is not None and f.renewed.primary:
            message = "new primary key published: both keys are new"
            record = replace(
                r, phase=RotationPhase.COMPLETED, phase_since=now, rotated_at=now, message=message
            )
            return Step(None, record, (Event("Normal", "KeysRotated", message),))
        return _still_waiting(r, now, KeyType.PRIMARY)
    return _idle(f)


def _idle(f: Facts) -> Step:
    """No rotation in flight (never one, the last one completed, or refused): is one due?"""
    r, now = f.record, f.now
    token = (f.requested or "").strip() or None
    new_token = token is not None and token != r.token
    due_at = _schedule_due(f)
    scheduled = due_at is not None and now >= due_at
    if not new_token and not scheduled:
        return Step(None, r, wake=None if due_at is None else due_at - now)
    shown = token if token is None or len(token) <= 64 else f"{token[:61]}..."  # status bounds messages
    why = f"annotation {ROTATE_ANNOTATION}: {shown}" if new_token else "spec.keyRotation.every"
    if f.refusal is not None or (new_token and token is not None and len(token) > MAX_TOKEN):
        refusal = f.refusal or f"the {ROTATE_ANNOTATION} value is longer than {MAX_TOKEN} characters"
        message = f"key rotation refused ({why}): {refusal}"
        if r.phase is RotationPhase.REFUSED and r.message == message:
            return Step(None, r)
        record = replace(
            r,
            phase=RotationPhase.REFUSED,
            token=token if new_token and token is not None and len(token) <= MAX_TOKEN else r.token,
            phase_since=now,
            grace_until=None,
            message=message,
        )
        return Step(None, record, (Event("Warning", "KeyRotationRefused", message),))
    if r.rotated_at is not None and now < r.rotated_at + f.grace:
        # Consumers that switched to the secondary key during the last grace period move back to
        # the primary one: regenerating the secondary key now would cut them off.
        return Step(None, r, wake=r.rotated_at + f.grace - now)
    message = f"regenerating the secondary key ({why})"
    record = Record(
        phase=RotationPhase.REGENERATING_SECONDARY,
        token=token if new_token else r.token,
        started_at=now,
        phase_since=now,
        message=message,
        rotated_at=r.rotated_at,
    )
    return Step(
        KeyType.SECONDARY, record, (Event("Normal", "KeyRotationStarted", message),), POLL_OPERATION.base
    )


def _schedule_due(f: Facts) -> float | None:
    if f.every is None:
        return None
    since = f.record.rotated_at if f.record.rotated_at is not None else f.created
    return None if since is None else since + f.every


def _still_waiting(r: Record, now: float, key: KeyType) -> Step:
    since = r.phase_since if r.phase_since is not None else now
    if now - since >= REGENERATE_TIMEOUT:
        message = f"Azure shows no new {key.value.lower()} key after {REGENERATE_TIMEOUT:.0f} s: asking again"
        return Step(key, replace(r, phase_since=now, message=message), wake=POLL_OPERATION.base)
    return Step(None, r, wake=POLL_OPERATION.base)


def renewed(azure: EndpointKeys, secret: Mapping[str, str] | None) -> Renewed:
    """A Secret that is not there (or was never written) shows nothing renewed: the regeneration
    is asked for again after REGENERATE_TIMEOUT rather than taken for done."""
    if secret is None:
        return Renewed(primary=False, secondary=False)
    return Renewed(
        primary=azure.primary != secret.get("primaryKey"),
        secondary=azure.secondary != secret.get("secondaryKey"),
    )


# -- I/O ------------------------------------------------------------------------------------------


class KeyApi(Protocol):
    async def keys(self, name: str) -> EndpointKeys: ...

    async def regenerate_keys(self, name: str, key_type: str) -> None: ...


@dataclass
class Rotated:
    """The keys to publish, and what the rotation adds to the pass's verdict."""

    keys: EndpointKeys | None
    fields: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    wake: float | None = None


def facts_of(
    obj: Obj, settings: KeyRotation | None, record: Record, now: float, refusal: str | None
) -> Facts:
    return Facts(
        record=record,
        requested=obj.annotations.get(ROTATE_ANNOTATION),
        every=seconds(settings.every) if settings is not None and settings.every else None,
        grace=seconds(settings.grace_period if settings is not None else DEFAULT_GRACE),
        created=_epoch(obj.created),
        now=now,
        refusal=refusal,
    )


async def rotate(
    ctx: Context,
    api: KeyApi | None,
    obj: Obj,
    name: str,
    secret: str,
    settings: KeyRotation | None,
    *,
    attempt: int,
    refusal: str | None = None,
    fresh: bool = False,
) -> Rotated:
    """Advance the object's rotation as far as it can go now, and read the keys to publish (none
    for an endpoint without keys: `refusal` says why). Azure is written to only when a step is due.
    A failed regeneration leaves the rotation where it was, says so in a Warning, and is retried
    with a back-off; the keys are published as Azure holds them either way."""
    record = Record.from_status(obj.status)
    base = facts_of(obj, settings, record, time.time(), refusal)
    keys, current, checked = None, None, False
    if api is not None and refusal is None:
        try:
            current = await ctx.kube.read_secret(obj.namespace, secret)
        except SecretNotText:  # tampered with: publishing rewrites it, from keys read afresh
            current = None
        held = held_keys(current)
        due = (
            fresh
            or held is None
            or keys_check_due(obj.status, base.now, ctx.settings.keys_check_interval)
            or record.phase in WAITING_FOR_AZURE
            or next_step(base).regenerate is not None
        )
        # Not due: what the Secret holds is what Azure held at the last check.
        keys, checked = (await api.keys(name), True) if due else (held, False)
    out = Rotated(keys)
    # Every step that goes on moves the rotation to a later phase, so this ends: six steps at most
    # (start, secondary published, a grace period of 0 s over, primary published, idle).
    for _ in range(6):
        facts = replace(base, record=record, now=time.time())
        if keys is not None:
            facts = replace(facts, renewed=renewed(keys, current))
        step = next_step(facts)
        out.events.extend(step.events)
        out.wake = step.wake
        if step.regenerate is None or api is None or keys is None:
            moved_on = step.record.phase is not record.phase
            record = step.record
            if moved_on:
                continue  # the next phase may be due at once (a grace period of 0 s)
            break
        try:
            await api.regenerate_keys(name, step.regenerate.value)
        except AzureFailure as failure:
            out.events.append(
                Event(
                    "Warning",
                    "KeyRotationFailed",
                    f"regenerating the {step.regenerate.value.lower()} key failed: {failure.message}; retrying",
                )
            )
            out.wake = (
                failure.retry_after if isinstance(failure, Throttled) else RETRY_UNAVAILABLE.delay(attempt)
            )
            break
        record = step.record
        # Recorded at once: a restart from here on resumes this phase instead of regenerating again.
        await ctx.kube.patch_status(obj.plural, obj.namespace, obj.name, record.merge_patch(), obj.uid)
        current = {"primaryKey": keys.primary, "secondaryKey": keys.secondary}
        keys = await api.keys(name)
    out.fields = record.fields()
    if checked:
        out.fields["keysCheckedAt"] = _rfc3339(time.time())
    out.keys = keys
    return out


async def rotate_for(
    ctx: Context, api: KeyApi | None, o: Observation, secret: str, *, refusal: str | None = None
) -> Rotated:
    """`rotate` for an endpoint kind's `publish`: the pass's object, Azure name, rotation settings
    and back-off, with the keys read afresh when the endpoint was just created, recreated or
    changed (its keys may be new)."""
    return await rotate(
        ctx,
        api,
        o.obj,
        o.name,
        secret,
        o.spec.key_rotation,
        attempt=o.attempt,
        refusal=refusal,
        fresh=not o.was_ready_as_declared,
    )


def held_keys(secret: Mapping[str, str] | None) -> EndpointKeys | None:
    """The keys a keys Secret holds, if it holds both."""
    primary, secondary = (secret or {}).get("primaryKey"), (secret or {}).get("secondaryKey")
    return EndpointKeys(primary=primary, secondary=secondary) if primary and secondary else None


def keys_check_due(status: Mapping[str, Any], now: float, interval: float) -> bool:
    """Is it time to read the keys from Azure again (listKeys is a POST: ARM counts it as a write)?"""
    checked = _epoch(status.get("keysCheckedAt"))
    return checked is None or not 0 <= now - checked < interval


def into(verdict: Verdict, rotated: Rotated, drift_interval: float) -> Verdict:
    """The verdict with the rotation's status fields and Events, looking again when the rotation
    needs it before the drift check would (a grace period ending, an operation to see done)."""
    verdict.fields.update(rotated.fields)
    verdict.events.extend(rotated.events)
    if rotated.wake is not None and rotated.wake < drift_interval:
        due = max(1.0, rotated.wake)
        verdict.requeue_after = due if verdict.requeue_after is None else min(verdict.requeue_after, due)
        verdict.finality = Finality.REQUEUE
    return verdict


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _rfc3339(value: float | None) -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
