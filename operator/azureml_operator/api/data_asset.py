"""DataAsset: training data registered in the workspace, for fine-tuning.

Maps to `workspaces/{ws}/data/{assetName}/versions/{version}`. Azure data asset versions are
immutable, so the spec is too once the object exists (a new version is a new object); only the
deletion policy may change. Nothing is uploaded from the cluster: `path` names data already in a
datastore (`azureml://`) or on the web (`https://`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from azureml_operator.api.common import ApiModel, CommonStatus, LocalObjectReference, cel
from azureml_operator.api.kinds import AGE, READY, KindInfo, column, workspace_ref_immutable

# Data asset names as the REST spec's pattern (no dots); versions have no pattern in the spec, and
# the simulator's choice (UNVERIFIED) is taken: dots allowed, up to 255 characters.
ASSET_NAME = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$"
ASSET_VERSION = r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}$"
DATA_PATH = r"^(azureml://|https://)\S+$"


class DataType(StrEnum):
    URI_FILE = "uri_file"
    URI_FOLDER = "uri_folder"


class DataDeletionPolicy(StrEnum):
    """What deleting the object does to the version in Azure. Versions cannot be deleted, only
    archived (hidden from lists and `latest`, still resolvable by version)."""

    ARCHIVE = "Archive"
    RETAIN = "Retain"


class DataAssetSpec(ApiModel):
    """The data to register; immutable once created, but for deletionPolicy."""

    workspace_ref: LocalObjectReference | None = None
    """Workspace in this namespace; omitted: the operator's default workspace."""
    asset_name: Annotated[str, Field(max_length=255, pattern=ASSET_NAME)] | None = None
    """Name of the data asset in Azure; defaults to metadata.name."""
    version: Annotated[str, Field(min_length=1, max_length=255, pattern=ASSET_VERSION)]
    """Version of the data asset, e.g. "1"."""
    type: DataType = DataType.URI_FILE
    """uri_file (one file, e.g. a JSONL training set) or uri_folder."""
    path: Annotated[str, Field(max_length=2048, pattern=DATA_PATH)]
    """Where the data is: azureml://datastores/<store>/paths/<path> or an https:// URL."""
    description: Annotated[str, Field(max_length=1024)] | None = None
    """Description shown in Azure ML studio."""
    tags: dict[str, Annotated[str, Field(max_length=256, description="A tag value.")]] | None = None
    """Tags of the asset version."""
    deletion_policy: DataDeletionPolicy = DataDeletionPolicy.ARCHIVE
    """Archive: deleting this object archives the version in Azure. Retain: it stays as it is."""


class DataAssetStatus(CommonStatus):
    """What the operator last observed of the version in Azure."""

    asset_id: str | None = None
    """The id a job names it by: azureml:<name>:<version>."""
    azure_resource_id: str | None = None
    """ARM id of the version."""
    data_uri: str | None = None
    """The path Azure recorded for the version."""


class DataAsset(ApiModel):
    """A version of a data asset (e.g. JSONL training data) registered in the workspace."""

    spec: DataAssetSpec
    status: DataAssetStatus | None = None


def _unchanged(field: str) -> dict[str, str]:
    """An optional spec field keeps what the object was created with, present or absent."""
    return cel(
        f"has(self.spec.{field}) == has(oldSelf.spec.{field}) && "
        f"(!has(self.spec.{field}) || self.spec.{field} == oldSelf.spec.{field})",
        f"spec.{field} is immutable: Azure data asset versions cannot change; register a new version "
        "as a new object",
        reason="FieldValueForbidden",
    )


KIND = KindInfo(
    "DataAsset",
    "dataassets",
    ("amldata",),
    DataAsset,
    (
        READY,
        column("Asset", ".status.assetId"),
        column("Type", ".spec.type"),
        column("Path", ".spec.path", priority=1),
        AGE,
    ),
    (
        workspace_ref_immutable(),
        *(_unchanged(f) for f in ("assetName", "version", "type", "path", "description", "tags")),
        cel(
            f"has(self.spec.assetName) || self.metadata.name.matches('{ASSET_NAME}')",
            f"metadata.name is not a valid data asset name ({ASSET_NAME}: no dots); set spec.assetName",
        ),
    ),
)
