"""Map azure-ai-ml / azure-core failures onto `azureml_operator.errors`, in exactly one place.

ARM reports most client mistakes as `UserError`; where a status and code do not say enough (a
missing Marketplace subscription, a taken name, quota) the message is consulted. Those messages are
UNVERIFIED against the real service (see shared/reference/azure-ml-service-rules.md §6): the
patterns below are deliberately loose, and anything unrecognised still ends as a Terminal failure
carrying Azure's own message, so a user always sees what Azure said.
"""

from __future__ import annotations

import re

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from azureml_operator.conditions import Reason
from azureml_operator.errors import AzureFailure, NotFound, Recoverable, Terminal, Throttled

_WORKSPACE_CODES = {"SubscriptionNotFound", "ResourceGroupNotFound"}
_PATTERNS: tuple[tuple[re.Pattern[str], Reason], ...] = (
    (
        re.compile(r"marketplace subscription .* (is )?missing|subscribe|marketplace purchase", re.I),
        Reason.SUBSCRIPTION_MISSING,
    ),
    (
        re.compile(r"name .* is not available|already exists in region|must be unique", re.I),
        Reason.NAME_TAKEN,
    ),
    (re.compile(r"quota|limit of \d+", re.I), Reason.QUOTA_EXCEEDED),
    (
        re.compile(r"not found in registry|model .* (was )?not found|not available for serverless", re.I),
        Reason.MODEL_NOT_FOUND,
    ),
)


def _retry_after(err: HttpResponseError, default: float = 10.0) -> float:
    response = getattr(err, "response", None)
    raw = response.headers.get("Retry-After") if response is not None else None
    try:
        return max(1.0, float(raw)) if raw is not None else default
    except ValueError:
        return default


def _code_and_message(err: HttpResponseError) -> tuple[str, str]:
    detail = getattr(err, "error", None)
    code = getattr(detail, "code", None) or ""
    message = getattr(detail, "message", None) or err.message or str(err)
    return code, message


def classify(err: BaseException) -> AzureFailure:
    """The operator's view of an exception raised by an Azure call."""
    if isinstance(err, AzureFailure):
        return err
    if isinstance(err, ClientAuthenticationError):
        code, message = _code_and_message(err)
        return Terminal(
            f"Azure rejected the credential: {message}",
            reason=Reason.CREDENTIAL_REJECTED,
            code=code or None,
            status=err.status_code,
        )
    if isinstance(err, ServiceRequestError | ServiceResponseError | TimeoutError | ConnectionError):
        return Recoverable(f"Azure could not be reached: {err}")
    if isinstance(err, HttpResponseError):
        status = err.status_code or 0
        code, message = _code_and_message(err)
        if status == 429:
            retry = _retry_after(err)
            return Throttled(
                f"Azure throttled the request; retrying in {retry:.0f} s",
                retry_after=retry,
                code=code,
                status=status,
            )
        if status == 403:
            return Terminal(
                f"The credential lacks permission: {message}",
                reason=Reason.CREDENTIAL_REJECTED,
                code=code,
                status=status,
            )
        if status >= 500 or status in (408, 0):
            return Recoverable(f"Azure failed ({status} {code}): {message}", code=code, status=status)
        if status == 404 and (
            code in _WORKSPACE_CODES or ("workspaces/" in message and "was not found" in message)
        ):
            return Terminal(
                f"Workspace not found: {message}", reason=Reason.WORKSPACE_NOT_FOUND, code=code, status=status
            )
        if status == 409 and code == "Conflict" and "in progress" in message:
            return Recoverable(f"Azure is busy with this resource: {message}", code=code, status=status)
        for pattern, reason in _PATTERNS:
            if pattern.search(message):
                return Terminal(message, reason=reason, code=code, status=status)
        if status == 404:
            return NotFound(message, code=code, status=status)
        if status == 409:
            return Terminal(message, reason=Reason.CONFLICT, code=code, status=status)
        return Terminal(message, reason=Reason.AZURE_REJECTED, code=code, status=status)
    if type(err).__name__ in ("CredentialUnavailableError", "ClientAuthenticationError"):
        return Terminal(f"No usable Azure credential: {err}", reason=Reason.CREDENTIAL_REJECTED)
    return Recoverable(f"Unexpected failure calling Azure: {type(err).__name__}: {err}")
