"""The parts of a custom object the runtime reads, taken from its body once per pass."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azureml_operator.api.common import API_VERSION


@dataclass(frozen=True)
class Obj:
    api_version: str
    kind: str
    plural: str
    namespace: str
    name: str
    uid: str
    generation: int
    annotations: dict[str, str]
    spec: dict[str, Any]
    status: dict[str, Any] = field(default_factory=dict)
    deleting: bool = False
    created: str | None = None  # metadata.creationTimestamp, RFC 3339

    @classmethod
    def from_body(cls, kind: str, plural: str, body: Mapping[str, Any]) -> Obj:
        meta = body.get("metadata") or {}
        return cls(
            api_version=API_VERSION,
            kind=kind,
            plural=plural,
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            uid=str(meta.get("uid") or ""),
            generation=int(meta.get("generation") or 0),
            annotations={str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
            spec=dict(body.get("spec") or {}),
            status=dict(body.get("status") or {}),
            deleting=bool(meta.get("deletionTimestamp")),
            created=str(meta["creationTimestamp"]) if meta.get("creationTimestamp") else None,
        )

    def age_seconds(self, now: float | None = None) -> float | None:
        """Seconds since the object was created (None without a readable creationTimestamp)."""
        if not self.created:
            return None
        try:
            born = datetime.fromisoformat(self.created.replace("Z", "+00:00"))
        except ValueError:
            return None
        return max(0.0, (time.time() if now is None else now) - born.timestamp())

    @property
    def owner_reference(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    @property
    def recorded_id(self) -> str | None:
        value = self.status.get("azureResourceId")
        return value if isinstance(value, str) and value else None
