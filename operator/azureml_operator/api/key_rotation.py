"""Orchestrated key rotation, shared by the kinds whose endpoints have keys (ServerlessEndpoint,
OnlineEndpoint with Key auth): the spec's schedule and grace period, and the status that records
where a rotation is, so that a restart resumes it and a token is never handled twice.

Durations are Kubernetes' (Go) duration strings, as `kubectl` and most controllers write them
("720h", "5m", "1h30m"): CEL's `duration()` reads them at admission.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from azureml_operator.api.common import GROUP, ApiModel, cel, validations

ROTATE_ANNOTATION = f"{GROUP}/rotate-keys"
GO_DURATION = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
DEFAULT_GRACE = "5m"
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
MIN_EVERY = "1h"
MAX_GRACE = "168h"

DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


def seconds(duration: str) -> float:
    """A Go duration string ("1h30m", "90s", "1.5h") in seconds; ValueError for anything else."""
    if not re.fullmatch(GO_DURATION, duration):
        raise ValueError(f"{duration!r} is not a duration such as 720h, 30m or 1h30m")
    return sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(duration))


Duration = Annotated[str, Field(max_length=32, pattern=GO_DURATION)]


class KeyRotation(ApiModel):
    """When the operator rotates the endpoint's keys by itself (the annotation
    azureml.dev/rotate-keys: <token> asks for one at any time), and how long consumers have to switch
    to the new secondary key before the primary one is regenerated."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                f"!has(self.every) || duration(self.every) >= duration('{MIN_EVERY}')",
                f"keyRotation.every must be at least {MIN_EVERY}",
                field_path=".every",
            ),
            cel(
                f"!has(self.gracePeriod) || duration(self.gracePeriod) <= duration('{MAX_GRACE}')",
                f"keyRotation.gracePeriod must be at most {MAX_GRACE}",
                field_path=".gracePeriod",
            ),
            # A rotation takes a grace period, and the next one waits another (consumers move back
            # to the primary key): a shorter schedule would always be late.
            cel(
                "!has(self.every) || duration(self.every) >= "
                f"duration(has(self.gracePeriod) ? self.gracePeriod : '{DEFAULT_GRACE}') + "
                f"duration(has(self.gracePeriod) ? self.gracePeriod : '{DEFAULT_GRACE}')",
                "keyRotation.every must be at least twice keyRotation.gracePeriod",
                field_path=".every",
            ),
        )
    }

    every: Duration | None = None
    """Rotate the keys this long after the last rotation (or the object's creation), e.g. 720h;
    omitted: only when the annotation azureml.dev/rotate-keys gets a new value."""
    grace_period: Duration = DEFAULT_GRACE
    """How long the new secondary key is published before the primary key is regenerated: the time
    consumers have to switch to secondaryKey."""

    @model_validator(mode="after")
    def _sane(self) -> KeyRotation:
        # The CEL rules' twin, for a spec admitted without them (an older CRD).
        grace = seconds(self.grace_period)
        if grace > seconds(MAX_GRACE):
            raise ValueError(f"keyRotation.gracePeriod must be at most {MAX_GRACE}")
        if self.every is not None:
            every = seconds(self.every)
            if every < seconds(MIN_EVERY):
                raise ValueError(f"keyRotation.every must be at least {MIN_EVERY}")
            if every < 2 * grace:
                raise ValueError("keyRotation.every must be at least twice keyRotation.gracePeriod")
        return self


class RotationPhase(StrEnum):
    """Where a rotation is. Every phase is recorded before the next step's Azure call can happen,
    so a restart resumes from it."""

    REGENERATING_SECONDARY = "RegeneratingSecondary"  # asked Azure; publish once it has the new key
    GRACE_PERIOD = "GracePeriod"  # the new secondary key is published; consumers switch to it
    REGENERATING_PRIMARY = "RegeneratingPrimary"  # asked Azure; publish once it has the new key
    COMPLETED = "Completed"
    REFUSED = "Refused"  # the endpoint has no keys (its auth mode), or the token is unusable


class KeyRotationStatus(ApiModel):
    """The last (or current) key rotation. Never a key: only which step, since when, and why."""

    phase: RotationPhase
    """RegeneratingSecondary, GracePeriod, RegeneratingPrimary, Completed or Refused."""
    token: Annotated[str, Field(max_length=253)] | None = None
    """The azureml.dev/rotate-keys value last handled (a new value starts a rotation)."""
    started_at: DateTime | None = None
    """When this rotation regenerated the secondary key."""
    phase_since: DateTime | None = None
    """When the current phase began."""
    grace_until: DateTime | None = None
    """In GracePeriod: when the primary key is regenerated."""
    message: Annotated[str, Field(max_length=1024)] | None = None
    """What happened last, in words."""
