"""Parse ARM request paths into what they address.

ARM path segments are case-insensitive (`resourceGroups` == `resourcegroups`); resource names keep
the caller's casing. Only the resource types the simulator models are accepted; anything else under
a workspace gets ARM's `InvalidResourceType`.
"""

from __future__ import annotations

from dataclasses import dataclass

from azureml_standins.simulator.errors import ArmError

PROVIDER = "microsoft.machinelearningservices"

# Child resource types, keyed by the chain of types above them (lower-case), with their
# canonical spelling for ARM ids and `type` fields.
CHILD_TYPES: dict[tuple[str, ...], dict[str, str]] = {
    (): {
        "marketplacesubscriptions": "marketplaceSubscriptions",
        "serverlessendpoints": "serverlessEndpoints",
        "onlineendpoints": "onlineEndpoints",
        "jobs": "jobs",
        "models": "models",
        "data": "data",
    },
    ("onlineEndpoints",): {"deployments": "deployments"},
    ("models",): {"versions": "versions"},
    ("data",): {"versions": "versions"},
}

ACTIONS: dict[tuple[str, ...], dict[str, str]] = {
    ("serverlessEndpoints",): {"listkeys": "listKeys", "regeneratekeys": "regenerateKeys"},
    ("onlineEndpoints",): {"listkeys": "listKeys", "regeneratekeys": "regenerateKeys", "token": "token"},
    ("onlineEndpoints", "deployments"): {"getlogs": "getLogs"},
    ("jobs",): {"cancel": "cancel"},
}

OPERATION_KINDS = {"mfeoperationsstatus": "status", "mfeoperationresults": "result"}


@dataclass(frozen=True)
class ArmPath:
    """What an ARM URL addresses. `types` and `names` run in parallel; the last name may be None (a list)."""

    subscription: str
    resource_group: str | None = None
    workspace: str | None = None  # None with a resource group: the workspaces collection
    types: tuple[str, ...] = ()
    names: tuple[str | None, ...] = ()
    action: str | None = None
    operation: tuple[str, str, str] | None = None  # (status|result, location, id)

    @property
    def resource_type(self) -> str:
        """`serverlessEndpoints`, `onlineEndpoints/deployments`, `workspaces`, `operations`, ..."""
        if self.operation:
            return "operations"
        if self.workspace is None or not self.types:
            return "workspaces"
        return "/".join(self.types)

    @property
    def is_collection(self) -> bool:
        return bool(self.names) and self.names[-1] is None

    @property
    def workspace_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{self.workspace}"
        )


def _invalid_type(name: str, api_version: str) -> ArmError:
    return ArmError(
        404,
        "InvalidResourceType",
        f"The resource type '{name}' could not be found in the namespace "
        f"'Microsoft.MachineLearningServices' for api version '{api_version}'.",
    )


def parse(path: str, api_version: str) -> ArmPath:
    """Parse `/subscriptions/...`; raise ArmError(404) for paths ARM would not route."""
    segs = [s for s in path.split("/") if s]
    low = [s.lower() for s in segs]
    if len(segs) < 2 or low[0] != "subscriptions":
        raise ArmError(
            404, "NotFound", f"The requested path '{path}' is not an Azure Resource Manager route."
        )
    sub = segs[1]
    rest, lrest = segs[2:], low[2:]
    if not rest:
        raise ArmError(404, "NotFound", "Subscription reads are not simulated; address a workspace.")
    if lrest[0] == "providers":
        # /subscriptions/{sub}/providers/Microsoft.MachineLearningServices/locations/{loc}/{kind}/{id}
        if (
            len(rest) == 6
            and lrest[1] == PROVIDER
            and lrest[2] == "locations"
            and lrest[4] in OPERATION_KINDS
        ):
            return ArmPath(sub, operation=(OPERATION_KINDS[lrest[4]], rest[3], rest[5]))
        raise _invalid_type("/".join(rest[2:4]) or "providers", api_version)
    if lrest[0] != "resourcegroups" or len(rest) < 2:
        raise ArmError(
            404, "NotFound", f"The requested path '{path}' is not an Azure Resource Manager route."
        )
    rg = rest[1]
    rest, lrest = rest[2:], lrest[2:]
    if len(rest) < 3 or lrest[0] != "providers" or lrest[1] != PROVIDER or lrest[2] != "workspaces":
        what = "/".join(rest[1:3]) if len(rest) >= 3 else "resourceGroups"
        raise _invalid_type(what, api_version)
    if len(rest) == 3:
        return ArmPath(sub, rg)
    ws = rest[3]
    rest, lrest = rest[4:], lrest[4:]
    types: list[str] = []
    names: list[str | None] = []
    action: str | None = None
    i = 0
    while i < len(rest):
        chain = tuple(types)
        seg = lrest[i]
        if (
            chain in ACTIONS
            and names
            and names[-1] is not None
            and seg in ACTIONS[chain]
            and i == len(rest) - 1
        ):
            action = ACTIONS[chain][seg]
            break
        children = CHILD_TYPES.get(chain, {})
        if seg not in children:
            raise _invalid_type(f"workspaces/{'/'.join([*types, rest[i]])}", api_version)
        if names and names[-1] is None:
            raise _invalid_type(f"workspaces/{'/'.join([*types, rest[i]])}", api_version)
        types.append(children[seg])
        names.append(rest[i + 1] if i + 1 < len(rest) else None)
        i += 2
    return ArmPath(sub, rg, ws, tuple(types), tuple(names), action)
