"""A record of refused requests, for tests: how many the stand-in answered with 403 (RBAC, an
impersonation it did not allow, an escalation) and with 401, and the last few 403s in detail.

Served on `GET /_standin/denied` and cleared by `POST /_standin/denied/reset` (admin token only;
not part of the Kubernetes API). Tests use it to prove an operator needs no permission its
manifests do not grant: run it as its ServiceAccount, then expect `count == 0`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from azureml_standins.kube.attributes import Attributes

LIMIT = 100


@dataclass(frozen=True)
class Denial:
    user: str
    groups: tuple[str, ...]
    verb: str
    api_group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    path: str
    message: str


class Denials:
    def __init__(self, limit: int = LIMIT) -> None:
        self.count = 0
        self.unauthorized = 0
        self._recent: deque[Denial] = deque(maxlen=limit)

    def forbidden(self, attrs: Attributes, message: str) -> None:
        self.count += 1
        self._recent.append(
            Denial(
                attrs.user.name,
                attrs.user.groups,
                attrs.verb,
                attrs.api_group,
                attrs.resource,
                attrs.subresource,
                attrs.namespace,
                attrs.name,
                attrs.path,
                message,
            )
        )

    def unauthenticated(self) -> None:
        self.unauthorized += 1

    def reset(self) -> None:
        self.count = self.unauthorized = 0
        self._recent.clear()

    def as_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "unauthorized": self.unauthorized,
            "denied": [
                {
                    **{k: v for k, v in asdict(d).items() if k != "api_group"},
                    "apiGroup": d.api_group,
                    "groups": list(d.groups),
                }
                for d in self._recent
            ],
        }
