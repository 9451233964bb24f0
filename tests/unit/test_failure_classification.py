"""Every Azure failure lands in one class with a reason a user can act on."""

from __future__ import annotations

import json

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
from azure.core.rest import HttpRequest

from azureml_operator.azure.classify import classify
from azureml_operator.conditions import Reason
from azureml_operator.errors import NotFound, Recoverable, Terminal, Throttled


class _Response:
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = headers or {}
        self.reason = "x"
        self.request = HttpRequest("GET", "https://example.invalid/")
        self._body = json.dumps({"error": {"code": code, "message": message}}).encode()
        self.content_type = "application/json"

    def body(self) -> bytes:
        return self._body

    def text(self, encoding: str | None = None) -> str:
        return self._body.decode()


def http_error(status: int, code: str, message: str, **headers: str) -> HttpResponseError:
    cls = ClientAuthenticationError if status == 401 else HttpResponseError
    return cls(response=_Response(status, code, message, headers))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "err, cls, reason",
    [
        (http_error(401, "AuthenticationFailed", "bad token"), Terminal, Reason.CREDENTIAL_REJECTED),
        (http_error(403, "AuthorizationFailed", "no role"), Terminal, Reason.CREDENTIAL_REJECTED),
        (
            http_error(404, "ResourceGroupNotFound", "Resource group 'x' could not be found."),
            Terminal,
            Reason.WORKSPACE_NOT_FOUND,
        ),
        (
            http_error(
                404,
                "ResourceNotFound",
                "The Resource 'Microsoft.MachineLearningServices/workspaces/w' under "
                "resource group 'rg' was not found.",
            ),
            Terminal,
            Reason.WORKSPACE_NOT_FOUND,
        ),
        (
            http_error(
                404, "ResourceNotFound", "The serverless endpoint 'e' was not found in workspace 'w'."
            ),
            NotFound,
            Reason.AZURE_REJECTED,
        ),
        (
            http_error(
                400, "UserError", "Marketplace subscription for model 'm' is missing in workspace 'w'."
            ),
            Terminal,
            Reason.SUBSCRIPTION_MISSING,
        ),
        (
            http_error(
                409,
                "UserError",
                "Serverless endpoint name 'e' is not available. Please select a different name.",
            ),
            Terminal,
            Reason.NAME_TAKEN,
        ),
        (http_error(400, "OutOfQuota", "Not enough quota available"), Terminal, Reason.QUOTA_EXCEEDED),
        (
            http_error(409, "Conflict", "Cannot update x: an operation is in progress"),
            Recoverable,
            Reason.AZURE_UNAVAILABLE,
        ),
        (
            http_error(
                409, "Conflict", "Workspace 'w' already has marketplace subscription 'a' for model 'm'"
            ),
            Terminal,
            Reason.CONFLICT,
        ),
        (http_error(503, "ServiceUnavailable", "try later"), Recoverable, Reason.AZURE_UNAVAILABLE),
        (http_error(400, "UserError", "Something new Azure says"), Terminal, Reason.AZURE_REJECTED),
        (ServiceRequestError("connection refused"), Recoverable, Reason.AZURE_UNAVAILABLE),
    ],
)
def test_classification(err: Exception, cls: type, reason: Reason) -> None:
    failure = classify(err)
    assert type(failure) is cls
    assert failure.reason == reason
    assert failure.message


def test_throttling_carries_retry_after() -> None:
    failure = classify(http_error(429, "SubscriptionRequestsThrottled", "slow down", **{"Retry-After": "7"}))
    assert isinstance(failure, Throttled) and failure.retry_after == 7.0
    assert "7 s" in failure.message


def test_azure_message_is_kept_for_unknown_errors() -> None:
    assert classify(http_error(400, "UserError", "A brand new rule")).message == "A brand new rule"


class _RawResponse(_Response):
    """A reply whose body is not ARM's error JSON (a gateway's HTML page, say)."""

    def __init__(self, status: int, body: str, headers: dict[str, str]) -> None:
        super().__init__(status, "", "", headers)
        self._body = body.encode()
        self.content_type = "text/html"


_HEADERS = {"x-ms-request-id": "abc", "Set-Cookie": "ARRAffinity=secret", "Server": "Microsoft-IIS/10.0"}
_DUMP = (
    "(502)\nReason: Bad Gateway\nHTTP response headers: "
    + repr(_HEADERS)
    + "\nHTTP response body: <html><body>"
    + "gateway " * 200
    + "</body></html>"
)


def _one_bounded_line(message: str) -> None:
    assert message and "\n" not in message and "\r" not in message
    assert len(message) <= 512, len(message)
    for leak in ("x-ms-request-id", "Set-Cookie", "ARRAffinity", "HTTP response headers", "<html"):
        assert leak not in message, message


@pytest.mark.parametrize(
    "err",
    [
        HttpResponseError(message=_DUMP, response=_RawResponse(502, "<html>" + "x" * 3000, _HEADERS)),  # type: ignore[arg-type]
        HttpResponseError(message=_DUMP, response=_RawResponse(400, "<html>" + "x" * 3000, _HEADERS)),  # type: ignore[arg-type]
        HttpResponseError(response=_RawResponse(400, "<html>" + "x" * 3000, _HEADERS)),  # type: ignore[arg-type]
        http_error(400, "InvalidTag", "The tag value is too long.\r\n  See the limits.\n"),
        http_error(400, "UserError", "A long story. " * 100),
        ClientAuthenticationError(message=_DUMP),
        ServiceRequestError(_DUMP),
        RuntimeError(_DUMP),
    ],
    ids=[
        "5xx-dump",
        "4xx-dump",
        "4xx-html-body",
        "multiline-arm",
        "long-arm",
        "auth-dump",
        "transport",
        "other",
    ],
)
def test_a_classified_message_is_one_bounded_line_without_the_http_exchange(err: Exception) -> None:
    _one_bounded_line(classify(err).message)


def test_the_classified_message_is_azures_code_and_message() -> None:
    failure = classify(http_error(400, "InvalidTag", "The tag value is too long.\nSee the limits."))
    assert failure.message == "The tag value is too long. See the limits."
    assert failure.code == "InvalidTag"


def test_a_404_is_not_found_only_for_a_read_a_write_that_names_something_missing_is_terminal() -> None:
    err = http_error(
        404, "UserError", "Data asset 'chat-train' version '1' was not found in workspace 'ws-sim'."
    )
    assert isinstance(classify(err), NotFound)
    assert isinstance(classify(err, "DELETE"), NotFound)  # deleting what is gone is done
    put = classify(err, "PUT")
    assert isinstance(put, Terminal) and not isinstance(put, NotFound)
    assert put.reason is Reason.AZURE_REJECTED and "chat-train" in put.message


def test_a_write_naming_a_missing_model_is_model_not_found() -> None:
    failure = classify(
        http_error(404, "UserError", "Model 'X' was not found in registry 'azureml-meta'."), "PUT"
    )
    assert type(failure) is Terminal and failure.reason is Reason.MODEL_NOT_FOUND


def test_a_read_answered_404_is_not_found_whatever_the_resource_is_called() -> None:
    for name in ("oc-quota", "model", "subscribe-me", "name-is-not-available"):
        message = f"Resource '{name}' of type onlineEndpoints was not found."
        assert type(classify(http_error(404, "ResourceNotFound", message), "GET")) is NotFound, name


def test_a_name_in_azures_message_never_decides_the_reason() -> None:
    refused = classify(http_error(400, "UserError", "Endpoint 'oc-quota' has an invalid tag."), "PUT")
    assert refused.reason is Reason.AZURE_REJECTED
    quota = classify(
        http_error(400, "UserError", "Subscription 's' has reached its limit of 100 endpoints."), "PUT"
    )
    assert quota.reason is Reason.QUOTA_EXCEEDED
