"""The operator's failure vocabulary. Azure access (azure/classify.py) turns every SDK or HTTP failure
into one of these; the reconcilers and the kopf wiring decide retries and conditions from the class
alone, never from exception text.

- `Terminal`: only a change (to the spec, a credential, or in Azure) fixes it; retried slowly.
- `Recoverable`: transient (5xx, timeouts, a busy resource); retried with backoff.
- `Throttled`: ARM said 429; retried after `retry_after`.
"""

from __future__ import annotations

from azureml_operator.conditions import Reason


class AzureFailure(Exception):
    """A failed Azure call, classified. `reason` feeds the Ready condition."""

    reason: Reason = Reason.AZURE_REJECTED

    def __init__(
        self,
        message: str,
        *,
        reason: Reason | None = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.code = code
        self.status = status


class NotFound(AzureFailure):
    """The addressed Azure resource does not exist (a normal observation, not an error, for GETs)."""


class Terminal(AzureFailure):
    """Retrying the same request cannot succeed."""


class Recoverable(AzureFailure):
    reason = Reason.AZURE_UNAVAILABLE


class Throttled(Recoverable):
    reason = Reason.THROTTLED

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        reason: Reason | None = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, reason=reason, code=code, status=status)
        self.retry_after = retry_after


class InvalidSpec(Exception):
    """The object's spec cannot be acted on (caught before any Azure call)."""
