"""The simulator's memory: workspaces, resources, long-running operations, registered models.

Everything here is plain data so that `--state-file` can write it as JSON after each change and a
restarted simulator continues where it stopped (in-flight operations included: their due times are
wall-clock instants).
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from azureml_standins.simulator.config import WorkspaceSeed

PROGRESS_STATES = {"create": "Creating", "update": "Updating", "scale": "Scaling", "delete": "Deleting"}


def resource_key(arm_id: str, *, case_sensitive_last: bool = False) -> str:
    """ARM ids compare case-insensitively, except job names, which Azure ML keeps case-sensitive."""
    if not case_sensitive_last:
        return arm_id.lower()
    head, _, last = arm_id.rpartition("/")
    return f"{head.lower()}/{last}"


@dataclass
class Workspace:
    subscription: str
    resource_group: str
    name: str
    location: str
    workspace_id: str  # the GUID in properties.workspaceId

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{self.name}"
        )

    @property
    def key(self) -> str:
        return self.id.lower()


@dataclass
class Resource:
    key: str
    id: str
    kind: str  # resource type below the workspace: serverlessEndpoints, onlineEndpoints/deployments, ...
    workspace: str  # Workspace.key
    name: str
    body: dict[str, Any]  # what the caller asked for, normalised; server fields are added when rendered
    created_at: float
    modified_at: float
    state: str = "Succeeded"  # provisioningState when no operation is in flight
    op: str | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def properties(self) -> dict[str, Any]:
        props: dict[str, Any] = self.body.setdefault("properties", {})
        return props


@dataclass
class Operation:
    id: str
    resource_key: str
    kind: str  # create | update | scale | delete | regenerateKeys | cancel
    subscription: str
    location: str
    started: float
    due: float
    status: str = "InProgress"  # InProgress | Succeeded | Failed | Canceled
    error: dict[str, str] | None = None  # set up front when the operation is destined to fail
    ended: float | None = None
    result_status: int = 200  # what the Location URL answers once done
    result_body: Any = None


@dataclass
class State:
    workspaces: dict[str, Workspace] = field(default_factory=dict)
    resources: dict[str, Resource] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    model_versions: dict[str, int] = field(default_factory=dict)  # workspace model key -> last version
    token_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    clock_offset: float = 0.0

    @classmethod
    def seeded(cls, seeds: tuple[WorkspaceSeed, ...]) -> State:
        state = cls()
        for i, seed in enumerate(seeds):
            ws = Workspace(
                seed.subscription,
                seed.resource_group,
                seed.name,
                seed.location,
                f"00000000-0000-0000-0000-{0xABCD + i:012x}",
            )
            state.workspaces[ws.key] = ws
        return state

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "workspaces": [asdict(w) for w in self.workspaces.values()],
            "resources": [asdict(r) for r in self.resources.values()],
            "operations": [asdict(o) for o in self.operations.values()],
            "modelVersions": self.model_versions,
            "tokenSecret": self.token_secret,
            "clockOffset": self.clock_offset,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        if data.get("version") != 1:
            raise ValueError("unsupported simulator state file version")
        state = cls(token_secret=data["tokenSecret"], clock_offset=float(data.get("clockOffset", 0.0)))
        for w in data["workspaces"]:
            ws = Workspace(**w)
            state.workspaces[ws.key] = ws
        for r in data["resources"]:
            res = Resource(**r)
            state.resources[res.key] = res
        for o in data["operations"]:
            op = Operation(**o)
            state.operations[op.id] = op
        state.model_versions = dict(data.get("modelVersions", {}))
        return state

    def children(self, parent_key: str, kind: str) -> list[Resource]:
        prefix = parent_key + "/"
        return [r for r in self.resources.values() if r.kind == kind and r.key.startswith(prefix)]

    def in_workspace(self, ws_key: str, kind: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.workspace == ws_key and r.kind == kind]


def save(state: State, path: Path) -> None:
    """Write atomically: a crash mid-write must not lose the previous state."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(state.to_json(), f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load(path: Path) -> State | None:
    """The saved state, None when there is no file; ValueError (naming the file) when unreadable."""
    if not path.exists():
        return None
    # A corrupt or foreign file used to escape as a bare JSONDecodeError/KeyError traceback.
    try:
        return State.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"cannot load simulator state file {path}: {e!r}") from e
