"""DataAsset: register a version of training data in the workspace, and archive it on deletion.

A version is immutable in Azure: one found under the same name and version with another path or
type can never become what the spec says, and is reported as such (a new version is a new object).
Versions carry no ARM tags, so ownership rests on the id recorded before the PUT, as for
Marketplace subscriptions; the owner tags in the asset's own tags are for people reading Azure.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from azureml_operator.api.data_asset import KIND, DataAssetSpec, DataAssetStatus
from azureml_operator.azure import data
from azureml_operator.azure.client import OWNER_TAG, OWNER_UID_TAG, Connection, DesiredData, ObservedData
from azureml_operator.conditions import Reason
from azureml_operator.reconcilers.adapters import Adapter, Decision, Effect, Observation, Outcome, Refs
from azureml_operator.reconcilers.common import POLL_OPERATION, Ownership, not_ours
from azureml_operator.reconcilers.objects import Obj
from azureml_operator.reconcilers.status import fields_of


class Action(Enum):
    CREATE = "create"
    READY = "ready"
    RESTORE = "restore"  # ours, archived behind Kubernetes' back: un-archive it
    CONFLICT = "conflict"
    DIFFERS = "differs"  # the version in Azure holds other data, and versions cannot change


@dataclass(frozen=True)
class Plan:
    action: Action
    message: str


def desired(spec: DataAssetSpec, *, namespace: str, name: str, uid: str) -> DesiredData:
    return DesiredData(
        data_type=spec.type.value,
        path=spec.path,
        description=spec.description,
        tags={**(spec.tags or {}), OWNER_TAG: f"{namespace}/{name}", OWNER_UID_TAG: uid},
    )


def differences(want: DesiredData, have: ObservedData) -> list[str]:
    """What the version in Azure holds differently; only what defines the data counts."""
    changes = []
    if (have.data_type or "").lower() != want.data_type:
        changes.append(f"type {have.data_type}, not {want.data_type}")
    if (have.path or "").rstrip("/") != want.path.rstrip("/"):
        changes.append(f"path {have.path}, not {want.path}")
    return changes


def plan(*, want: DesiredData, asset_id: str, observed: ObservedData | None, owner: Ownership | None) -> Plan:
    if observed is None:
        return Plan(Action.CREATE, f"registering data asset {asset_id} from {want.path}")
    if owner is Ownership.FOREIGN:
        return Plan(
            Action.CONFLICT,
            not_ours(f"data asset {asset_id}", "the workspace", ", or choose another spec.version"),
        )
    changes = differences(want, observed)
    if changes:
        return Plan(
            Action.DIFFERS,
            f"data asset {asset_id} in Azure holds {'; '.join(changes)}; data asset versions cannot "
            "change: register the new data as a new version (a new object)",
        )
    if observed.archived:
        return Plan(Action.RESTORE, f"data asset {asset_id} was archived in Azure: restoring it")
    return Plan(Action.READY, f"data asset {asset_id} is registered")


OUTCOMES = {
    Action.CREATE: Outcome(Effect.CREATE, Reason.CREATING, poll=POLL_OPERATION),
    Action.RESTORE: Outcome(Effect.UPDATE, Reason.UPDATING, poll=POLL_OPERATION),
    Action.READY: Outcome(Effect.NONE, Reason.SUCCEEDED, ready=True),
    Action.CONFLICT: Outcome(Effect.NONE, Reason.CONFLICT),
    Action.DIFFERS: Outcome(Effect.NONE, Reason.CONFLICT),
}


def asset_name(obj: Obj, spec: DataAssetSpec) -> str:
    return spec.asset_name or obj.name


class DataAssetAdapter(Adapter):
    info = KIND
    collection = data.COLLECTION

    def azure_name(self, obj: Obj, spec: DataAssetSpec, refs: Refs) -> str:
        return data.version_path(asset_name(obj, spec), spec.version)

    def describe(self, name: str) -> str:
        asset, _, version = name.partition("/versions/")
        return f"data asset azureml:{asset}:{version}"

    def desired(self, obj: Obj, spec: DataAssetSpec, refs: Refs) -> DesiredData:
        return desired(spec, namespace=obj.namespace, name=obj.name, uid=obj.uid)

    def decide(self, o: Observation) -> Decision:
        asset_id = f"azureml:{asset_name(o.obj, o.spec)}:{o.spec.version}"
        result = plan(want=o.desired, asset_id=asset_id, observed=o.observed, owner=o.owner)
        fields: dict[str, Any] = {}
        if result.action in (Action.READY, Action.RESTORE):
            status = DataAssetStatus(asset_id=asset_id, data_uri=o.observed.path if o.observed else None)
            fields = fields_of(status)
        return Decision(result.action, result.message, OUTCOMES[result.action], fields)

    def gone(self, observed: ObservedData) -> str | None:
        return "is archived in Azure" if observed.archived else None

    def azure_api(self, conn: Connection) -> data.DataVersions:
        return data.DataVersions(conn)

    async def create(self, api: data.DataVersions, name: str, desired: DesiredData) -> None:
        await api.begin_put(name, desired)

    async def update(
        self, api: data.DataVersions, name: str, desired: DesiredData, observed: ObservedData
    ) -> None:
        await api.begin_put(name, _as_registered(desired, observed))

    async def delete(self, api: data.DataVersions, name: str) -> None:
        observed = await api.get(name)
        if observed is not None:
            # Archiving changes nothing else: the PUT repeats what Azure holds.
            await api.begin_put(name, _registered(observed), archived=True)


def _registered(observed: ObservedData) -> DesiredData:
    return DesiredData(
        data_type=observed.data_type or "uri_file",
        path=observed.path or "",
        description=observed.description,
        tags=dict(observed.tags),
    )


def _as_registered(desired: DesiredData, observed: ObservedData) -> DesiredData:
    """Restoring must not change the version: repeat its description and tags as Azure has them."""
    return DesiredData(desired.data_type, desired.path, observed.description, dict(observed.tags))


ADAPTER = DataAssetAdapter()
