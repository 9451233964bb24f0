"""Kubernetes `Status` error bodies. Clients (kopf, the kubernetes client, kubectl) branch on the
HTTP code and the Status `reason`, so every refusal is raised as an `ApiError` carrying both."""

from __future__ import annotations

from typing import Any

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    500: "InternalError",
}


class ApiError(Exception):
    """A refusal answered with a Kubernetes Status body."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASONS.get(code, "Unknown")
        self.details = details

    def status(self) -> dict[str, Any]:
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


def success_status(details: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def _details(name: str | None, group: str, kind: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if name is not None:
        out["name"] = name
    if group:
        out["group"] = group
    out["kind"] = kind
    out.update(extra)
    return out


def _gr(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(404, f'{_gr(plural, group)} "{name}" not found', details=_details(name, group, plural))


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        f'{_gr(plural, group)} "{name}" already exists',
        reason="AlreadyExists",
        details=_details(name, group, plural),
    )


def conflict(plural: str, group: str, name: str, why: str | None = None) -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {_gr(plural, group)} "{name}": {why}',
        details=_details(name, group, plural),
    )


def invalid(kind: str, group: str, name: str, errors: list[str]) -> ApiError:
    """422 Invalid, worded like the API server: `Kind.group "name" is invalid: field: why`."""
    listed = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    causes = []
    for error in errors:
        field, _, message = error.partition(": ")
        causes.append(
            {"reason": "FieldValueInvalid", "message": message or error, "field": field if message else ""}
        )
    qualified = f"{kind}.{group}" if group else kind
    return ApiError(
        422,
        f'{qualified} "{name}" is invalid: {listed}',
        details=_details(name, group, kind, causes=causes),
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def resource_not_found() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", details={})


def method_not_allowed(method: str) -> ApiError:
    return ApiError(405, f"the server does not allow this method on the requested resource ({method})")


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415,
        f'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json; got "{content_type}"',
    )


def gone(message: str) -> ApiError:
    return ApiError(410, message)
