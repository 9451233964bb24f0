"""ARM's error envelope, raised from anywhere in the simulator and rendered in one place.

Every client mistake becomes `{"error": {"code", "message", "target", "details", "additionalInfo"}}`
with the status Azure uses (azure-ml-service-rules.md §6), never a 500 or a traceback.
"""

from __future__ import annotations

from typing import Any


class ArmError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        parameters: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.parameters = parameters or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "target": self.target,
            "details": [],
            "additionalInfo": [],
        }
        if self.parameters:
            error["additionalInfo"].append({"type": "MessageParameters", "info": {"value": self.parameters}})
        return {"error": error}


def user_error(message: str, *, target: str | None = None, status: int = 400, **parameters: str) -> ArmError:
    """A client mistake: Azure ML answers these with code `UserError` (status 400 unless stated)."""
    return ArmError(status, "UserError", message, target=target, parameters=parameters)


def conflict(message: str, **parameters: str) -> ArmError:
    return ArmError(409, "Conflict", message, parameters=parameters)


def resource_not_found(kind: str, name: str, parent: str) -> ArmError:
    return ArmError(404, "ResourceNotFound", f"{kind} {name} not found in {parent}.")
