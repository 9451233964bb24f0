"""Data asset versions of a workspace, with plain ARM GET/PUT on the api-version the SDK uses.

Why not the SDK's `data.create_or_update`: it validates and resolves paths (datastore lookups,
uploads of local paths, "path already linked to another asset" checks) that the operator must never
trigger; a registered version is one PUT. A version cannot be deleted, only archived: a PUT of the
same body with `isArchived` set.
"""

from __future__ import annotations

from typing import Any

from azureml_operator.azure.client import Connection, DesiredData, ObservedData

COLLECTION = "data"
API_VERSION = "2023-04-01-preview"  # the one azure-ai-ml 1.35 uses for data assets


def version_path(asset: str, version: str) -> str:
    """The name under the workspace's `data` collection: `<asset>/versions/<version>`."""
    return f"{asset}/versions/{version}"


class DataVersions:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _path(self, name: str) -> str:
        return self._conn.target.child_id(COLLECTION, name)

    async def get(self, name: str) -> ObservedData | None:
        body = await self._conn.get_or_none(self._conn.rest.request, "GET", self._path(name), API_VERSION)
        return None if body is None else from_arm(body)

    async def begin_put(self, name: str, desired: DesiredData, *, archived: bool = False) -> None:
        body = to_arm(desired, archived=archived)
        await self._conn.call("PUT", self._conn.rest.request, "PUT", self._path(name), API_VERSION, body)


def to_arm(desired: DesiredData, *, archived: bool = False) -> dict[str, Any]:
    props: dict[str, Any] = {
        "dataType": desired.data_type,
        "dataUri": desired.path,
        "tags": dict(desired.tags),
        "properties": {},
        "isAnonymous": False,
        "isArchived": archived,
    }
    if desired.description is not None:
        props["description"] = desired.description
    return {"properties": props}


def from_arm(body: dict[str, Any]) -> ObservedData:
    props = body.get("properties") or {}
    return ObservedData(
        id=body.get("id", ""),
        data_type=props.get("dataType"),
        path=props.get("dataUri"),
        description=props.get("description"),
        archived=bool(props.get("isArchived")),
        tags=dict(props.get("tags") or {}),
    )
