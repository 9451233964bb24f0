"""What the storms share: one object of every kind, chains of changes played in a seeded random
order, and the end state they must converge to, checked against the cluster and the simulator.

Converged means: every object still wanted is Ready and every deleted one gone (so no finalizer is
stuck); Azure holds, of each kind, exactly the resources the live objects record in
`status.azureResourceId` (no orphan, no duplicate), each tagged with its live owner's uid where the
kind takes tags; a job whose owner is gone has ended (cancelled or finished); and every keys Secret
holds the keys Azure's listKeys answers now."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from e2e_helpers import LLAMA, PHI, PLURALS, SUB, Cluster, G, V, arm, manifest, ready

PHI_V1 = f"{PHI}/versions/1"
# One serverless endpoint per model and workspace: the storm's extra endpoints serve other models.
PHI_3 = "azureml://registries/azureml/models/Phi-3-mini-4k-instruct"
PHI_35 = "azureml://registries/azureml/models/Phi-3.5-mini-instruct"
TRAIN = "azureml://datastores/workspaceblobstore/paths/finetune/train.jsonl"
VALID = "azureml://datastores/workspaceblobstore/paths/finetune/validation.jsonl"
JOBS_API = "2024-10-01-preview"
DATA_API = "2023-04-01-preview"
OWNER_UID = "azureml.dev-owner-uid"
TERMINAL_JOBS = {"Completed", "Failed", "Canceled"}
# The Azure collections each kind's objects own resources in (Workspace owns none).
COLLECTIONS = {
    "ModelSubscription": "marketplaceSubscriptions",
    "ServerlessEndpoint": "serverlessEndpoints",
    "OnlineEndpoint": "onlineEndpoints",
    "OnlineDeployment": "onlineEndpoints/deployments",
    "DataAsset": "data/versions",
    "FineTuneJob": "jobs",
}


def job(name: str, training: dict[str, Any]) -> dict[str, Any]:
    return manifest(
        "FineTuneJob",
        name,
        {
            "task": "ChatCompletion",
            "model": PHI_V1,
            "trainingData": training,
            "validationData": {"uri": VALID},
            "hyperparameters": {"num_train_epochs": "1"},
        },
    )


def deployment(name: str, endpoint: str = "chat") -> dict[str, Any]:
    return manifest(
        "OnlineDeployment",
        name,
        {"endpointRef": {"name": endpoint}, "model": PHI_V1, "instanceType": "Standard_DS3_v2"},
    )


def base_objects() -> list[dict[str, Any]]:
    """One object of every kind, with the references between them the examples use."""
    return [
        manifest(
            "Workspace", "team", {"subscriptionId": SUB, "resourceGroup": "rg-sim", "workspaceName": "ws-sim"}
        ),
        manifest("ModelSubscription", "llama", {"modelId": LLAMA}),
        manifest(
            "ServerlessEndpoint", "llama-chat", {"modelId": LLAMA, "subscriptionRef": {"name": "llama"}}
        ),
        manifest("ServerlessEndpoint", "phi", {"modelId": PHI, "workspaceRef": {"name": "team"}}),
        manifest("DataAsset", "train", {"version": "1", "path": TRAIN}),
        job("ft", {"dataAssetRef": {"name": "train"}}),
        manifest("OnlineEndpoint", "chat", {"authMode": "Key", "traffic": {"blue": 100}}),
        deployment("blue"),
    ]


Op = Callable[[], bool]  # True once done; False: not yet possible (retried later)


@dataclass
class Storm:
    """The objects wanted (kind -> names) and chains of changes, each chain in order, the chains
    interleaved by a seeded RNG."""

    cluster: Cluster
    sim: Any
    seed: int
    rng: random.Random = field(init=False)
    wanted: dict[str, set[str]] = field(default_factory=dict)
    chains: list[list[tuple[str, Op]]] = field(default_factory=list)
    played: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # -- the changes -------------------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> tuple[str, Op]:
        kind, name = body["kind"], body["metadata"]["name"]

        def op() -> bool:
            if self.cluster.get(kind, name) is not None:
                return False  # the previous one of this name is still being deleted
            self.cluster.apply(body)
            self.wanted.setdefault(kind, set()).add(name)
            return True

        return f"create {kind}/{name}", op

    def delete(self, kind: str, name: str) -> tuple[str, Op]:
        def op() -> bool:
            self.cluster.delete(kind, name)
            self.wanted.get(kind, set()).discard(name)
            return True

        return f"delete {kind}/{name}", op

    def patch(self, kind: str, name: str, body: dict[str, Any]) -> tuple[str, Op]:
        def op() -> bool:
            self.cluster.patch(kind, name, body)
            return True

        return f"patch {kind}/{name} {body}", op

    def regenerate_keys(self, collection: str, name: str) -> tuple[str, Op]:
        """Someone outside Kubernetes rolls a key: the Secret must follow at the next check."""

        def op() -> bool:
            try:
                arm(self.sim, "POST", f"{collection}/{name}/regenerateKeys", {"keyType": "Primary"})
            except AssertionError:  # an injected fault answered: try again later
                return False
            return True

        return f"regenerate the primary key of {collection}/{name}", op

    def chain(self, *ops: tuple[str, Op]) -> None:
        self.chains.append(list(ops))

    def play(self, n: int) -> None:
        """Up to `n` changes, each the head of a chain chosen at random."""
        for _ in range(n):
            ready_chains = [c for c in self.chains if c]
            if not ready_chains:
                return
            chain = self.rng.choice(ready_chains)
            what, op = chain[0]
            if op():
                chain.pop(0)
                self.played.append(what)

    def play_rest(self, timeout: float) -> None:
        """Every change left, retrying those that must wait (a name still being deleted)."""
        deadline = time.monotonic() + timeout
        while any(self.chains):
            self.play(1)
            if time.monotonic() > deadline:
                left = [c[0][0] for c in self.chains if c]
                raise AssertionError(
                    f"seed {self.seed}: changes never possible: {left}\n{self.cluster.log()[-4000:]}"
                )
            time.sleep(0.05)

    def standard(self) -> None:
        """The storm's changes to the base objects: creates, updates and deletes of every kind."""
        self.chain(
            self.create(manifest("ServerlessEndpoint", "tmp", {"modelId": PHI_3})),
            self.delete("ServerlessEndpoint", "tmp"),
        )
        self.chain(
            self.create(manifest("ServerlessEndpoint", "again", {"modelId": PHI_35})),
            self.delete("ServerlessEndpoint", "again"),
            self.create(manifest("ServerlessEndpoint", "again", {"modelId": PHI_35})),
        )
        self.chain(
            self.create(manifest("DataAsset", "tmp-data", {"version": "1", "path": TRAIN})),
            self.delete("DataAsset", "tmp-data"),
        )
        self.chain(self.create(job("ft-cancel", {"uri": TRAIN})), self.delete("FineTuneJob", "ft-cancel"))
        self.chain(self.patch("ServerlessEndpoint", "phi", {"spec": {"contentSafety": "Disabled"}}))
        self.chain(self.patch("OnlineDeployment", "blue", {"spec": {"instanceCount": 2}}))
        self.chain(
            self.create(deployment("green")),
            self.patch("OnlineEndpoint", "chat", {"spec": {"traffic": {"blue": 50, "green": 50}}}),
        )
        self.chain(self.regenerate_keys("serverlessEndpoints", "phi"))
        self.chain(self.regenerate_keys("onlineEndpoints", "chat"))
        self.chain(self.delete("ServerlessEndpoint", "llama-chat"), self.delete("ModelSubscription", "llama"))

    def apply_base(self) -> None:
        for body in base_objects():
            self.cluster.apply(body)
            self.wanted.setdefault(body["kind"], set()).add(body["metadata"]["name"])

    # -- the end state -----------------------------------------------------------------------

    def context(self) -> str:
        return f"seed {self.seed} (STORM_SEED={self.seed} replays the same choices); changes: {self.played}"

    def wait_converged(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        problems: list[str] = []
        while time.monotonic() < deadline:
            problems = self.cluster_problems()
            if not problems:
                problems = azure_problems(self.cluster, self.sim)
            if not problems:
                return
            time.sleep(0.25)
        raise AssertionError(
            f"{self.context()}\nnot converged: {problems}\n--- operator log:\n{self.cluster.log()[-8000:]}"
        )

    def cluster_problems(self) -> list[str]:
        problems = []
        for kind in PLURALS:
            items = objects(self.cluster, kind)
            present = {o["metadata"]["name"]: o for o in items}
            for name in sorted(set(present) - self.wanted.get(kind, set())):
                finalizers = present[name]["metadata"].get("finalizers")
                problems.append(
                    f"{kind}/{name} deleted but still there (finalizers {finalizers}, Ready {ready(present[name])})"
                )
            for name in sorted(self.wanted.get(kind, set())):
                obj = present.get(name)
                if obj is None:
                    problems.append(f"{kind}/{name} missing")
                elif ready(obj).get("status") != "True":
                    problems.append(f"{kind}/{name} not Ready: {ready(obj)}")
        return problems


def objects(cluster: Cluster, kind: str) -> list[dict[str, Any]]:
    """The namespace's objects of `kind`."""
    listed: Any = cluster.custom.list_namespaced_custom_object(G, V, cluster.namespace, PLURALS[kind])
    items: list[dict[str, Any]] = listed["items"]
    return items


def _list(sim: Any, path: str, api_version: str = "2024-01-01-preview") -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = arm(sim, "GET", path, api_version=api_version)["value"]
    return listed


def azure_inventory(sim: Any) -> dict[str, list[dict[str, Any]]]:
    """Every resource the simulator's workspace holds, by collection (data versions: active only)."""
    endpoints = _list(sim, "onlineEndpoints")
    containers = _list(sim, "data", DATA_API)
    return {
        "marketplaceSubscriptions": _list(sim, "marketplaceSubscriptions"),
        "serverlessEndpoints": _list(sim, "serverlessEndpoints"),
        "onlineEndpoints": endpoints,
        "onlineEndpoints/deployments": [
            d for e in endpoints for d in _list(sim, f"onlineEndpoints/{e['name']}/deployments")
        ],
        "data/versions": [v for c in containers for v in _list(sim, f"data/{c['name']}/versions", DATA_API)],
        "jobs": _list(sim, "jobs", JOBS_API),
    }


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    tags = resource.get("tags") or (resource.get("properties") or {}).get("tags") or {}
    return dict(tags)


def azure_problems(cluster: Cluster, sim: Any) -> list[str]:
    """Orphans, duplicates, unowned resources and stale keys; [] when Azure matches the cluster."""
    problems: list[str] = []
    inventory = azure_inventory(sim)
    live: dict[str, list[dict[str, Any]]] = {kind: objects(cluster, kind) for kind in COLLECTIONS}
    uids = {o["metadata"]["uid"]: f"{k}/{o['metadata']['name']}" for k, objs in live.items() for o in objs}
    for kind, collection in COLLECTIONS.items():
        resources = inventory[collection]
        claimed = {str((o.get("status") or {}).get("azureResourceId") or "").lower(): o for o in live[kind]}
        held = [r["id"].lower() for r in resources]
        for rid in sorted({h for h in held if held.count(h) > 1}):
            problems.append(f"{rid} listed twice")
        for resource in resources:
            rid, owner = resource["id"].lower(), _tags(resource).get(OWNER_UID)
            if owner is not None and owner not in uids:
                ended = (
                    kind == "FineTuneJob"
                    and (resource.get("properties") or {}).get("status") in TERMINAL_JOBS
                )
                if not ended:
                    problems.append(f"orphan {rid}: its owner uid {owner} is no live object")
                continue
            if rid not in claimed:
                problems.append(f"orphan {rid}: no live {kind} records it")
            elif owner is not None and owner != claimed[rid]["metadata"]["uid"]:
                problems.append(
                    f"{rid} tagged for {uids.get(owner)} but recorded by {kind}/{claimed[rid]['metadata']['name']}"
                )
        for rid, obj in claimed.items():
            if rid and rid not in held:
                problems.append(f"{kind}/{obj['metadata']['name']} records {rid}, which Azure does not hold")
        if kind == "FineTuneJob":
            owners = [_tags(r).get(OWNER_UID) for r in resources if _tags(r).get(OWNER_UID) in uids]
            problems += [
                f"two jobs for {uids[u]}" for u in sorted({u for u in owners if u and owners.count(u) > 1})
            ]
    for kind, collection in (
        ("ServerlessEndpoint", "serverlessEndpoints"),
        ("OnlineEndpoint", "onlineEndpoints"),
    ):
        for obj in live[kind]:
            name = obj["metadata"]["name"]
            keys = arm(sim, "POST", f"{collection}/{name}/listKeys")
            secret = cluster.secret(f"{name}-keys") or {}
            for field_ in ("primaryKey", "secondaryKey"):
                if secret.get(field_) != keys.get(field_):
                    problems.append(f"Secret {name}-keys: {field_} is not Azure's current key")
    return problems
