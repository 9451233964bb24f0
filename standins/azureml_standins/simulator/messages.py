"""Plain request/reply values passed between the HTTP layer and the simulator's rules.

Keeping aiohttp out of the rules lets unit tests drive the simulator without a socket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azureml_standins.simulator.faults import Firing
    from azureml_standins.simulator.paths import ArmPath
    from azureml_standins.simulator.state import Workspace


@dataclass
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    base_url: str  # https://host:port, as the client addressed us
    body: Any = None  # parsed JSON (None when empty)

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Ctx:
    """One admitted ARM request, resolved to its workspace."""

    req: Request
    path: ArmPath
    ws: Workspace
    now: float
    firing: Firing

    @property
    def name(self) -> str | None:
        return self.path.names[-1] if self.path.names else None

    @property
    def body(self) -> dict[str, Any]:
        return self.req.body if isinstance(self.req.body, dict) else {}
