"""Map azure-ai-ml / azure-core failures onto `azureml_operator.errors`, in exactly one place.

ARM reports most client mistakes as `UserError`; where a status and code do not say enough (a
missing Marketplace subscription, a taken name, quota) the message is consulted. Those messages are
UNVERIFIED against the real service (see shared/reference/azure-ml-service-rules.md §6): the
patterns below are deliberately loose, and anything unrecognised still ends as a Terminal failure
carrying Azure's own message, so a user always sees what Azure said.

A classified message ends up in a condition, an Event and the log, so it is Azure's code and message
only, on one line and bounded: never an SDK's rendering of the HTTP exchange (headers, cookies, an
HTML body).
"""

from __future__ import annotations

import re
import socket

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


MAX_MESSAGE = 512
# What a transport failure looks like under azure-identity's ClientAuthenticationError: it wraps
# whatever the token request raised (`raise ClientAuthenticationError(...) from ex`).
_UNREACHABLE = (ServiceRequestError, ServiceResponseError, ConnectionError, TimeoutError, socket.gaierror)


_QUOTED = re.compile(r"'[^']*'")


def _one_line(text: str) -> str:
    """Azure's own message: whitespace (line breaks included) collapsed, bounded."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_MESSAGE else flat[: MAX_MESSAGE - 1] + "…"


def _first_line(text: object) -> str:
    """Text that is not Azure's JSON error (an SDK's or a transport's): SDKs append the HTTP exchange
    after the first line, so only that line can be trusted to be a message."""
    for line in str(text).splitlines():
        if line.strip():
            return _one_line(line)
    return ""


def _unreachable_cause(err: BaseException) -> BaseException | None:
    """The transport failure somewhere in err's chain, if that is why it was raised. A credential
    that says it is unavailable (no managed identity endpoint here, say) is a setup problem even when
    its probe failed to connect: it is not reported as an outage."""
    if any(cls.__name__ == "CredentialUnavailableError" for cls in type(err).__mro__):
        return None  # by name: azure-identity is imported only when a credential is built
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNREACHABLE):
            return current
        current = current.__cause__ or current.__context__
    return None


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
    arm_message = getattr(detail, "message", None)
    if arm_message:
        return code, _one_line(str(arm_message))
    # No ARM error body: never str(err), which appends the response body.
    return code, _first_line(err.message) or f"HTTP {err.status_code or ''} {err.reason or ''}".strip()


def classify(err: BaseException, method: str = "GET") -> AzureFailure:
    """The operator's view of an exception raised by an Azure call made with HTTP `method`."""
    if isinstance(err, AzureFailure):
        return err
    failure = _classify(err, method)
    # Every branch builds on bounded parts; the prefixes could still push the whole past the bound.
    if len(failure.message) > MAX_MESSAGE:
        failure.message = failure.message[: MAX_MESSAGE - 1] + "…"
        failure.args = (failure.message,)
    return failure


def _classify(err: BaseException, method: str) -> AzureFailure:
    # A status from ARM says what happened; anything else (azure-identity's ClientAuthenticationError
    # above all) may be wrapping a token request that never got an answer: an outage, not a refusal.
    if isinstance(err, ClientAuthenticationError) or not isinstance(err, HttpResponseError):
        cause = _unreachable_cause(err)
        if cause is not None:
            return Recoverable(f"Azure could not be reached: {_first_line(cause)}")
    if isinstance(err, ClientAuthenticationError):
        code, message = _code_and_message(err)
        status = err.status_code or 0
        if status >= 500:  # the token endpoint failed; it did not judge the credential
            return Recoverable(f"Azure failed ({status} {code}): {message}", code=code, status=status)
        return Terminal(
            f"Azure rejected the credential: {message}",
            reason=Reason.CREDENTIAL_REJECTED,
            code=code or None,
            status=err.status_code,
        )
    if isinstance(err, TimeoutError | ConnectionError):
        return Recoverable(f"Azure could not be reached: {_first_line(err)}")
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
        if status == 404 and method.upper() in ("GET", "HEAD", "DELETE"):
            # What the request addressed is not there: an observation, whatever the message says.
            return NotFound(message, code=code, status=status)
        # Names are quoted in Azure's messages; an endpoint called `oc-quota` is not a quota.
        unquoted = _QUOTED.sub("''", message)
        for pattern, reason in _PATTERNS:
            if pattern.search(unquoted):
                return Terminal(message, reason=reason, code=code, status=status)
        if status == 404:
            # A write answered 404: something it names (a data asset, a model) is missing, which
            # retrying the same request cannot fix; NotFound would read as "nothing there yet".
            return Terminal(message, reason=Reason.AZURE_REJECTED, code=code, status=status)
        if status == 409:
            return Terminal(message, reason=Reason.CONFLICT, code=code, status=status)
        return Terminal(message, reason=Reason.AZURE_REJECTED, code=code, status=status)
    if type(err).__name__ in ("CredentialUnavailableError", "ClientAuthenticationError"):
        cause = _unreachable_cause(err)
        if cause is not None:
            return Recoverable(f"Azure could not be reached: {_first_line(cause)}")
        return Terminal(f"No usable Azure credential: {_first_line(err)}", reason=Reason.CREDENTIAL_REJECTED)
    return Recoverable(f"Unexpected failure calling Azure: {type(err).__name__}: {_first_line(err)}")
