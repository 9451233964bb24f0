"""Injected faults for tests and benchmarks, set through `POST /_sim/faults`.

A rule matches requests by method, resource type, action and resource name, and then either
answers with an HTTP error (`status`), delays the request (`latencyMs`), or lets the request be
accepted but makes the long-running operation (or fine-tuning job) it starts end `Failed`
(`failOperation`). `rate` and `count` bound how often it fires; a seeded RNG keeps runs repeatable.
"""

from __future__ import annotations

import fnmatch
import itertools
import random
from dataclasses import dataclass
from typing import Any

from azureml_standins.simulator.errors import ArmError

_FIELDS = {
    "method": str,
    "resourceType": str,
    "action": str,
    "name": str,
    "status": int,
    "code": str,
    "message": str,
    "rate": (int, float),
    "count": int,
    "latencyMs": int,
    "failOperation": bool,
    "retryAfter": int,
}


@dataclass
class FaultRule:
    id: int
    method: str = "*"
    resource_type: str = (
        "*"  # serverlessEndpoints, onlineEndpoints/deployments, jobs, operations, inference, ...
    )
    action: str = "*"  # listKeys, cancel, ...; "" matches requests without an action
    name: str = "*"  # glob over the resource name
    status: int | None = None
    code: str | None = None
    message: str | None = None
    rate: float = 1.0
    count: int | None = None  # remaining firings; None = unlimited
    latency_ms: int = 0
    fail_operation: bool = False
    retry_after: int | None = None

    def matches(self, method: str, resource_type: str, action: str, name: str) -> bool:
        return (
            fnmatch.fnmatch(method.upper(), self.method.upper())
            and fnmatch.fnmatch(resource_type.lower(), self.resource_type.lower())
            and fnmatch.fnmatch(action.lower(), self.action.lower())
            and fnmatch.fnmatch(name.lower(), self.name.lower())
        )

    def error(self) -> ArmError:
        status = self.status or 500
        code = self.code or {
            429: "TooManyRequests",
            500: "InternalServerError",
            503: "ServiceUnavailable",
        }.get(status, "SimulatedFault")
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        return ArmError(status, code, self.message or f"Simulated fault (rule {self.id}).", headers=headers)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "resourceType": self.resource_type,
            "action": self.action,
            "name": self.name,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "rate": self.rate,
            "count": self.count,
            "latencyMs": self.latency_ms,
            "failOperation": self.fail_operation,
            "retryAfter": self.retry_after,
        }


def _bad(msg: str) -> ArmError:
    return ArmError(400, "InvalidFaultRule", msg)


@dataclass
class Firing:
    """What the matching rules ask of one request."""

    latency_ms: int = 0
    error: ArmError | None = None
    fail_operation: FaultRule | None = None


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self.rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._seed = seed
        self._rng = random.Random(seed)
        self.fired = 0

    def clear(self) -> None:
        self.rules.clear()
        # Re-seed, so that `rate` rules fire in the same pattern after every reset (or clear):
        # otherwise what a test sees depended on how many draws earlier tests had made.
        self._rng = random.Random(self._seed)

    def add(self, raw: Any) -> FaultRule:
        return self.add_all([raw])[0]

    def add_all(self, raws: list[Any]) -> list[FaultRule]:
        """Validate every rule first, so that a batch with one bad rule adds none of them."""
        rules = [self._parse(raw) for raw in raws]
        self.rules.extend(rules)
        return rules

    def _parse(self, raw: Any) -> FaultRule:
        if not isinstance(raw, dict):
            raise _bad("A fault rule must be a JSON object.")
        for key, value in raw.items():
            if key not in _FIELDS:
                raise _bad(f"Unknown fault rule field '{key}'; known: {', '.join(sorted(_FIELDS))}.")
            if value is not None and (
                not isinstance(value, _FIELDS[key]) or isinstance(value, bool) != (_FIELDS[key] is bool)
            ):
                raise _bad(f"Fault rule field '{key}' has the wrong type.")
        rule = FaultRule(
            id=next(self._ids),
            method=raw.get("method") or "*",
            resource_type=raw.get("resourceType") or "*",
            action=raw.get("action", "*") if raw.get("action") is not None else "*",
            name=raw.get("name") or "*",
            status=raw.get("status"),
            code=raw.get("code"),
            message=raw.get("message"),
            rate=float(raw.get("rate", 1.0)),
            count=raw.get("count"),
            latency_ms=raw.get("latencyMs") or 0,
            fail_operation=bool(raw.get("failOperation", False)),
            retry_after=raw.get("retryAfter"),
        )
        if rule.status is not None and not 400 <= rule.status <= 599:
            raise _bad("Fault 'status' must be an HTTP error status (400-599).")
        if not 0.0 <= rule.rate <= 1.0:
            raise _bad("Fault 'rate' must be between 0 and 1.")
        if rule.count is not None and rule.count < 1:
            raise _bad("Fault 'count' must be at least 1 (omit it for no limit).")
        if rule.latency_ms < 0 or rule.latency_ms > 600_000:
            raise _bad("Fault 'latencyMs' must be between 0 and 600000.")
        if rule.status is None and not rule.fail_operation and not rule.latency_ms:
            raise _bad("A fault rule needs 'status', 'latencyMs' or 'failOperation'.")
        if rule.status is not None and rule.fail_operation:
            raise _bad("A fault rule answers with 'status' or fails the operation, not both.")
        return rule

    def fire(self, method: str, resource_type: str, action: str, name: str) -> Firing:
        firing = Firing()
        for rule in list(self.rules):
            if not rule.matches(method, resource_type, action, name):
                continue
            if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                continue
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    self.rules.remove(rule)
            self.fired += 1
            firing.latency_ms += rule.latency_ms
            if rule.status is not None and firing.error is None:
                firing.error = rule.error()
            if rule.fail_operation and firing.fail_operation is None:
                firing.fail_operation = rule
        return firing
