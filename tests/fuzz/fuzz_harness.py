"""The unit fakes' Harness for any admitted object: a fake Azure that also holds data asset
versions (the unit fakes keep DataAsset in the index only), and the objects a spec refers to,
present and Ready when the test asks for them, so that passes reach Azure rather than only wait."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import runtime_fakes as rf

from azureml_operator.azure.client import DesiredData, EndpointKeys, ObservedData, WorkspaceTarget
from azureml_operator.kinds.data_asset import DataAssetAdapter
from azureml_operator.reconcilers.adapters import Adapter
from azureml_operator.reconcilers.common import Verdict
from azureml_operator.runtime import loop


class FakeDataVersions(rf._FakeApi):
    """Stands in for `azure.data.DataVersions` of one workspace, by `<asset>/versions/<version>`."""

    who = "data"

    def __init__(self, target: WorkspaceTarget, journal: rf.Journal) -> None:
        super().__init__(target, journal)
        self.resources: dict[str, ObservedData] = {}

    async def get(self, name: str) -> ObservedData | None:
        self._record("get", name)
        return self.resources.get(name)

    async def begin_put(self, name: str, desired: DesiredData, *, archived: bool = False) -> None:
        self._record("begin_put", name, desired, archived)
        self.resources[name] = ObservedData(
            id=self.arm_id(name),
            data_type=desired.data_type,
            path=desired.path,
            description=desired.description,
            archived=archived,
            tags=dict(desired.tags),
        )


class _RegeneratesKeys:
    """Key rotation (reconcilers.rotation) regenerates keys, which the unit fakes do not: a new key
    of the type asked for, at once."""

    keys_of: dict[str, EndpointKeys]
    _record: Any

    async def regenerate_keys(self, name: str, key_type: str) -> None:
        self._record("regenerate_keys", name, key_type)
        old = self.keys_of.get(name) or EndpointKeys(primary=f"{name}-key-1", secondary=f"{name}-key-2")
        new = f"{name}-{key_type.lower()}-{len(self.keys_of)}"
        self.keys_of[name] = replace(old, **{key_type.lower(): new})


class FuzzServerless(_RegeneratesKeys, rf.FakeServerlessEndpoints):
    pass


class FuzzOnline(_RegeneratesKeys, rf.FakeOnlineEndpoints):
    def __init__(self, target: WorkspaceTarget, journal: rf.Journal) -> None:
        super().__init__(target, journal)
        self.keys_of: dict[str, EndpointKeys] = {}

    async def keys(self, name: str) -> EndpointKeys:
        self._record("keys", name)
        return self.keys_of.get(name) or EndpointKeys(primary=f"{name}-key-1", secondary=f"{name}-key-2")


_FAKES: dict[str, type[rf._FakeApi]] = {
    "data": FakeDataVersions,
    "serverlessEndpoints": FuzzServerless,
    "onlineEndpoints": FuzzOnline,
}


class FuzzAzure(rf.FakeAzure):
    def api(self, target: WorkspaceTarget, collection: str) -> rf._FakeApi:
        if collection in _FAKES and (target, collection) not in self._apis:
            self._apis[(target, collection)] = _FAKES[collection](target, self.journal)
        return super().api(target, collection)


class FakeApiData(DataAssetAdapter):
    def azure_api(self, conn: Any) -> Any:
        assert isinstance(conn, rf.FakeConnection)
        return conn.api(self.collection)


ADAPTERS: dict[str, Adapter] = {**rf.ADAPTERS, "DataAsset": FakeApiData()}


@dataclass
class FuzzHarness(rf.Harness):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.azure = FuzzAzure(self.journal)

    async def reconcile(self, of: Any, attempt: int = 0) -> Verdict:
        return await loop.reconcile(ADAPTERS[of["kind"]], self.obj(of), self.context(of), attempt)

    async def finalize(self, of: Any, attempt: int = 0) -> Verdict:
        return await loop.finalize(ADAPTERS[of["kind"]], self.obj(of), self.context(of), attempt)

    def writes(self) -> list[tuple[WorkspaceTarget, rf.Call]]:
        """Every write that reached a fake Azure API, with the workspace it went to."""
        return [(api.target, call) for api in self.azure._apis.values() for call in api.writes()]


def _name(ref: Any) -> str | None:
    name = ref.get("name") if isinstance(ref, dict) else None
    return name if isinstance(name, str) and name else None


def dependencies(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Ready objects for the references an admitted spec makes, as the unit tests build them."""
    spec = obj["spec"]
    out: list[dict[str, Any]] = []
    if ws := _name(spec.get("workspaceRef")):
        out.append(rf.workspace(ws))
    if sub := _name(spec.get("subscriptionRef")):
        out.append(rf.subscription(sub, str(spec.get("modelId") or rf.LLAMA), status=rf.ready_status()))
    for field in ("trainingData", "validationData"):
        if asset := _name((spec.get(field) or {}).get("dataAssetRef")):
            arm_id = rf.DEFAULT_TARGET.child_id("data", f"{asset}/versions/1")
            out.append(
                rf.data_asset(
                    asset, status=rf.ready_status(azureResourceId=arm_id, assetId=f"azureml:{asset}:1")
                )
            )
    if endpoint := _name(spec.get("endpointRef")):
        arm_id = rf.DEFAULT_TARGET.child_id("onlineEndpoints", endpoint)
        out.append(
            rf.online_endpoint(
                endpoint,
                status=rf.not_ready_status(
                    "TrafficPending", "waiting", azureResourceId=arm_id, provisioningState="Succeeded"
                ),
            )
        )
    job = (spec.get("modelRef") or {}).get("fineTuneJob")
    if isinstance(job, str) and job:
        model = (
            "azureml://locations/eastus2/workspaces/11111111-2222-3333-4444-555555555555/models/m/versions/2"
        )
        out.append(
            rf.finetune_job(
                job, status=rf.ready_status(registeredModel={"name": "m", "version": "2", "modelId": model})
            )
        )
    return out


def with_identity(admitted: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The admitted object with what the fakes expect of a stored one (uid, generation, namespace)."""
    meta = {**admitted["metadata"], "namespace": namespace, "generation": 1}
    meta.setdefault("uid", f"uid-fuzz-{admitted['kind'].lower()}")
    meta.setdefault("annotations", {})
    return {**admitted, "metadata": meta}
