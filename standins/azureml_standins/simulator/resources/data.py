"""`workspaces/{ws}/data/{name}` and `.../data/{name}/versions/{version}`: data assets.

A data asset version is a named pointer to data that already lives in storage (an
`azureml://datastores/<datastore>/paths/<path>` path or a storage/https URL); the simulator keeps
only the pointer and never receives data (the SDK uploads local paths to blob storage *before*
registering, so a server only ever sees URIs). Both PUTs are synchronous (200/201, no LRO, as the
spec declares them).

Rules:
* names follow the spec's `^[a-zA-Z0-9][a-zA-Z0-9\\-_]{0,254}$`; `dataType` is `uri_file`,
  `uri_folder` or `mltable`; `dataUri` is a URI.
* A version is immutable ("Once you create a data asset version, it is immutable. It cannot be
  modified or deleted", how-to-create-data-assets): a PUT with another body is refused, the same body
  again is a no-op, and the one change allowed is `isArchived` (what `ml_client.data.archive/restore`
  send: a GET of the version, then a PUT of it with `isArchived` flipped).
* The first version creates its container; `ml_client.data.archive(name)` without a version
  archives the container, which archives every version under it; a version of an archived container
  cannot be restored on its own (az ml data archive docs). Archived assets are hidden from
  `listViewType=ActiveOnly` lists but stay usable, e.g. as job inputs.
* Data assets cannot be deleted (same docs); archive them instead.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from azureml_standins.simulator import validate
from azureml_standins.simulator.errors import ArmError, user_error
from azureml_standins.simulator.kinds import Kind
from azureml_standins.simulator.messages import Ctx, Reply
from azureml_standins.simulator.state import Resource

if TYPE_CHECKING:
    from azureml_standins.simulator.core import Simulator

# The spec's pattern for the container name on DataContainers_CreateOrUpdate and
# DataVersions_CreateOrUpdate (mfe.json 2024-10-01); no dots.
NAME = validate.GENERIC_NAME
NAME_RULE = validate.GENERIC_RULE
# UNVERIFIED: the spec gives the version ("Version identifier.") no pattern. Letters, digits and
# '.', '-', '_' (so "1", "2024.06.01" and "v2-rc" work), starting with a letter or digit, is the
# plausible service rule.
VERSION = r"[a-zA-Z0-9][a-zA-Z0-9.\-_]{0,254}"
VERSION_RULE = "it must start with a letter or digit and contain only letters, digits, '.', '-' and '_' (at most 255 characters)."
DATA_TYPES = ("uri_file", "uri_folder", "mltable")
# Schemes of data the service can point at: AzureML datastore URIs, storage URLs and public URLs.
URI_SCHEMES = frozenset({"azureml", "https", "http", "wasbs", "wasb", "abfss", "abfs", "adl"})
# The service's answer to a changed path: azure-ai-ml keeps it verbatim as ASSET_PATH_ERROR
# ("(UserError) Asset paths cannot be updated.", azure/ai/ml/_artifacts/_constants.py). The HTTP
# status is UNVERIFIED (400, as for every other UserError here).
ASSET_PATHS_IMMUTABLE = "Asset paths cannot be updated."
# What a version PUT must repeat exactly; isArchived may change, other fields are ignored.
COMPARED = (
    "dataType",
    "dataUri",
    "description",
    "tags",
    "properties",
    "isAnonymous",
    "referencedUris",
    "autoDeleteSetting",
    "intellectualProperty",
)

# How a job input names a workspace data asset: the ARM id the SDK turns `azureml:<name>:<version>`
# into (azure-ml-arm-contract.md §3.6), or that short form itself when sent over raw REST.
_ARM_ID = re.compile(
    r"^(?P<ws>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices"
    r"/workspaces/[^/]+)/data/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$",
    re.IGNORECASE,
)
_SHORT = re.compile(r"^azureml:(?P<name>[^/:@]+):(?P<version>[^/:@]+)$")


def _data_uri(props: dict[str, Any]) -> str:
    uri = validate.string(props, "dataUri", "properties", required=True) or ""
    scheme = urlsplit(uri).scheme.lower() if "://" in uri else ""
    if scheme not in URI_SCHEMES:
        # UNVERIFIED wording: the service's exact answer to a non-URI dataUri is not documented.
        raise user_error(
            f"The dataUri '{uri}' is not a URI of data in storage: use an "
            "azureml://datastores/<datastore>/paths/<path> URI, a storage URL (https://, wasbs://, "
            "abfss://, adl://) or a public https URL. Local files are uploaded by the client first.",
            target="properties.dataUri",
        )
    return uri


def _version_spec(body: dict[str, Any]) -> dict[str, Any]:
    """The version as the caller asked for it, normalised (missing and empty mean the same)."""
    props = validate.obj(body, "properties", required=True) or {}
    data_type = validate.enum(props, "dataType", DATA_TYPES, "properties", required=True)
    spec: dict[str, Any] = {
        "dataType": data_type,
        "dataUri": _data_uri(props),
        "description": validate.string(props, "description", "properties"),
        "tags": validate.str_map(props, "tags", "properties"),
        "properties": validate.str_map(props, "properties", "properties"),
        "isAnonymous": validate.boolean(props, "isAnonymous", "properties", default=False),
        "isArchived": validate.boolean(props, "isArchived", "properties", default=False),
    }
    if data_type == "mltable":
        uris = props.get("referencedUris") or []
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
            raise user_error(
                "'properties.referencedUris' must be a list of strings.", target="properties.referencedUris"
            )
        spec["referencedUris"] = uris
    for key in ("autoDeleteSetting", "intellectualProperty"):
        value = validate.obj(props, key, "properties")
        if value is not None:
            spec[key] = value
    return spec


def _without_nulls(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if v is not None}


def _container_key(ws_id: str, name: str) -> str:
    return f"{ws_id}/data/{name}".lower()


def versions_of(sim: Simulator, container: Resource) -> list[Resource]:
    return sorted(
        sim.state.children(container.key, DataVersions.type_name), key=lambda r: (r.created_at, r.name)
    )


def referenced_data_asset(sim: Simulator, ctx: Ctx, uri: str, *, target: str) -> Resource | None:
    """The data asset version a job input `uri` names, None when it names none (a datastore or https
    URI); raises 404 when it names one that does not exist in the job's workspace."""
    m = _ARM_ID.match(uri) or _SHORT.match(uri)
    if m is None:
        return None
    name, version = m["name"], m["version"]
    in_workspace = "ws" not in m.groupdict() or m["ws"].lower() == ctx.ws.id.lower()
    found = sim.state.resources.get(f"{_container_key(ctx.ws.id, name)}/versions/{version.lower()}")
    if in_workspace and found is not None:
        return found  # archived versions stay usable ("continue to reference and use", docs)
    # UNVERIFIED: status and wording of a job whose input names a missing data asset; a 404 UserError
    # naming the asset and the field, as for a missing registry model.
    raise user_error(
        f"Data asset '{name}' version '{version}' referenced by '{target}' was not found in workspace "
        f"'{ctx.ws.name}'. Register it first (ml_client.data.create_or_update) or use an azureml:// datastore URI.",
        target=target,
        status=404,
    )


class DataContainers(Kind):
    """`data/{name}`: the name, its type, archiving of all versions, latest and next version."""

    type_name = "data"
    arm_type = "Microsoft.MachineLearningServices/workspaces/data"
    display = "data asset"

    def put(self, ctx: Ctx, res: Resource | None) -> Reply:
        assert ctx.name is not None
        validate.name(ctx.name, NAME, self.display, NAME_RULE)
        props = validate.obj(ctx.body, "properties", required=True) or {}
        # latestVersion and nextVersion are read-only: the archive PUT echoes them back; ignored.
        new_props: dict[str, Any] = {
            "dataType": validate.enum(props, "dataType", DATA_TYPES, "properties", required=True),
            "description": validate.string(props, "description", "properties"),
            "tags": validate.str_map(props, "tags", "properties"),
            "properties": validate.str_map(props, "properties", "properties"),
            "isArchived": validate.boolean(props, "isArchived", "properties", default=False),
        }
        if res is None:
            res = self.new_resource(ctx, {"properties": new_props})
            return Reply(201, self.render(ctx, res))
        if res.properties["dataType"] != new_props["dataType"]:
            # UNVERIFIED wording; dataType is create-only in the spec.
            raise user_error(
                f"The dataType of data asset '{res.name}' is '{res.properties['dataType']}' and cannot be "
                f"changed to '{new_props['dataType']}'.",
                target="properties.dataType",
            )
        if new_props != res.properties:
            res.body["properties"] = new_props
            res.modified_at = ctx.now
        return Reply(200, self.render(ctx, res))

    def delete(self, ctx: Ctx, res: Resource) -> Reply:
        raise _no_delete(f"Data asset '{res.name}'")

    def create_for(self, ctx: Ctx, name: str, data_type: str) -> Resource:
        """The container a first version creates."""
        arm_id = f"{ctx.ws.id}/data/{name}"
        res = Resource(
            key=_container_key(ctx.ws.id, name),
            id=arm_id,
            kind=self.type_name,
            workspace=ctx.ws.key,
            name=name,
            body={
                "properties": {
                    "dataType": data_type,
                    "description": None,
                    "tags": {},
                    "properties": {},
                    "isArchived": False,
                }
            },
            created_at=ctx.now,
            modified_at=ctx.now,
        )
        self.sim.state.resources[res.key] = res
        return res

    def list_items(self, ctx: Ctx) -> list[Resource]:
        view = _list_view(ctx)
        return [r for r in super().list_items(ctx) if _visible(view, bool(r.properties["isArchived"]))]

    def render(self, ctx: Ctx, res: Resource) -> dict[str, Any]:
        doc = self.envelope(res)
        props = _without_nulls(res.properties)
        versions = versions_of(self.sim, res)
        if versions:
            # "Latest is defined as the most recently created, not the most recently updated"
            # (DataOperations._get_latest_version); whether archived versions count is UNVERIFIED (they do here).
            props["latestVersion"] = versions[-1].name
        numbers = [int(v.name) for v in versions if v.name.isdigit()]
        props["nextVersion"] = str(max(numbers, default=0) + 1)
        doc["properties"] = props
        return doc


class DataVersions(Kind):
    """`data/{name}/versions/{version}`: one immutable pointer to data."""

    type_name = "data/versions"
    arm_type = "Microsoft.MachineLearningServices/workspaces/data/versions"
    display = "data asset version"
    # UNVERIFIED: names and versions compare case-insensitively, as ARM ids do (the spec says nothing).

    def container(self, ctx: Ctx) -> Resource | None:
        return self.sim.state.resources.get(_container_key(ctx.ws.id, ctx.path.names[0] or ""))

    def archived(self, res: Resource) -> bool:
        """A version is archived on its own or with its container."""
        container = self.sim.state.resources.get(res.key.rsplit("/versions/", 1)[0])
        return bool(res.properties["isArchived"]) or bool(container and container.properties["isArchived"])

    def not_found(self, ctx: Ctx) -> ArmError:
        # UNVERIFIED: code and wording; ResourceNotFound as for every other missing resource here.
        return ArmError(
            404,
            "ResourceNotFound",
            f"Data asset '{ctx.path.names[0]}' version '{ctx.name}' was not found in workspace '{ctx.ws.name}'.",
            parameters={"workspaceName": ctx.ws.name},
        )

    def put(self, ctx: Ctx, res: Resource | None) -> Reply:
        name, version = ctx.path.names[0] or "", ctx.name or ""
        validate.name(name, NAME, "data asset", NAME_RULE)
        if not re.fullmatch(VERSION, version):
            raise user_error(
                f"The data asset version '{version}' is invalid: {VERSION_RULE}", target="version"
            )
        spec = _version_spec(ctx.body)
        container = self.container(ctx)
        if container is not None and container.properties["dataType"] != spec["dataType"]:
            # UNVERIFIED: the container's type is fixed by its first version (create-only in the spec).
            raise user_error(
                f"Data asset '{name}' is of type '{container.properties['dataType']}'; version '{version}' "
                f"cannot be of type '{spec['dataType']}'.",
                target="properties.dataType",
            )
        if res is None:
            if container is None:
                containers = self.sim.kinds[DataContainers.type_name]
                assert isinstance(containers, DataContainers)
                containers.create_for(ctx, name, spec["dataType"])
            res = self.new_resource(ctx, {"properties": spec})
            return Reply(201, self.render(ctx, res))

        old = res.properties
        if old["dataUri"] != spec["dataUri"]:
            raise user_error(ASSET_PATHS_IMMUTABLE, target="properties.dataUri")
        changed = [k for k in COMPARED if old.get(k) != spec.get(k)]
        if changed:
            # UNVERIFIED wording (the docs say versions are immutable; the service's message for a
            # changed description, tags, ... is not recorded).
            raise user_error(
                f"Data asset '{name}' version '{version}' already exists and cannot be changed "
                f"(differs in: {', '.join(changed)}); only isArchived can change. Register a new version instead.",
                target="properties",
            )
        if spec["isArchived"] != self.archived(res):
            if not spec["isArchived"] and container is not None and container.properties["isArchived"]:
                # "If the entire data asset container is archived, you cannot restore individual
                # versions" (az ml data archive docs); the error's wording is UNVERIFIED.
                raise user_error(
                    f"Data asset '{name}' is archived as a whole; restore the data asset (not one version) "
                    f"before restoring version '{version}'.",
                    target="properties.isArchived",
                )
            old["isArchived"] = spec["isArchived"]
            res.modified_at = ctx.now
        return Reply(200, self.render(ctx, res))

    def delete(self, ctx: Ctx, res: Resource) -> Reply:
        raise _no_delete(f"Data asset '{ctx.path.names[0]}' version '{res.name}'")

    def list_items(self, ctx: Ctx) -> list[Resource]:
        # UNVERIFIED: oldest first, and an empty list (not 404) for a data asset that does not exist.
        view = _list_view(ctx)
        items = sorted(super().list_items(ctx), key=lambda r: (r.created_at, r.name))
        return [r for r in items if _visible(view, self.archived(r))]

    def render(self, ctx: Ctx, res: Resource) -> dict[str, Any]:
        doc = self.envelope(res)
        props = _without_nulls(res.properties)
        props["isArchived"] = self.archived(res)
        doc["properties"] = props
        return doc


def _list_view(ctx: Ctx) -> str:
    view = ctx.req.query.get("listViewType", "ActiveOnly")
    if view.lower() not in ("activeonly", "archivedonly", "all"):
        raise user_error(
            f"The listViewType '{view}' is invalid; allowed: ActiveOnly, ArchivedOnly, All.",
            target="listViewType",
        )
    return view.lower()


def _visible(view: str, archived: bool) -> bool:
    return view == "all" or (view == "archivedonly") == archived


def _no_delete(what: str) -> ArmError:
    # "It cannot be modified or deleted" (how-to-create-data-assets); the spec declares DELETE, but
    # the service's answer to one is UNVERIFIED: 400 UserError pointing at archiving.
    return user_error(f"{what} cannot be deleted: data assets are immutable. Archive it instead.")
