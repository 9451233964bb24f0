"""DataAsset end to end: a version is registered once with its owner tags, reported with the id a
job names it by, archived (or kept) when the object goes, and never overwritten."""

from __future__ import annotations

from typing import Any

from e2e_helpers import Cluster, arm, manifest, ready, writes

from azureml_standins.simulator.process import SimulatorProcess

KIND = "DataAsset"
TRAIN = "azureml://datastores/workspaceblobstore/paths/ft/train.jsonl"
API = "2023-04-01-preview"


def version(sim: SimulatorProcess, name: str = "chat-train", v: str = "1") -> dict[str, Any]:
    found: dict[str, Any] = arm(sim, "GET", f"data/{name}/versions/{v}", api_version=API)
    return found


def test_a_data_asset_is_registered_reported_and_archived_on_delete(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    cluster.apply(manifest(KIND, "chat-train", {"version": "1", "path": TRAIN, "description": "chat set"}))
    obj = cluster.wait_ready(KIND, "chat-train")
    assert obj["status"]["assetId"] == "azureml:chat-train:1"
    assert obj["status"]["azureResourceId"].endswith("/data/chat-train/versions/1")
    props = version(sim)["properties"]
    assert (props["dataUri"], props["dataType"], props["isArchived"]) == (TRAIN, "uri_file", False)
    assert props["tags"]["azureml.dev-owner-uid"] == obj["metadata"]["uid"]
    puts = writes(sim.admin("GET", "stats"), "data/versions")

    cluster.delete(KIND, "chat-train")
    cluster.wait_gone(KIND, "chat-train")
    assert version(sim)["properties"]["isArchived"] is True
    assert writes(sim.admin("GET", "stats"), "data/versions") == puts + 1  # one PUT: the archive


def test_retain_leaves_the_version_as_it_is(cluster: Cluster, sim: SimulatorProcess) -> None:
    cluster.apply(manifest(KIND, "chat-train", {"version": "1", "path": TRAIN, "deletionPolicy": "Retain"}))
    cluster.wait_ready(KIND, "chat-train")
    cluster.delete(KIND, "chat-train")
    cluster.wait_gone(KIND, "chat-train")
    assert version(sim)["properties"]["isArchived"] is False


def test_other_data_under_the_same_version_is_reported_never_overwritten(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    other = "https://example.org/other.jsonl"
    body = {"properties": {"dataType": "uri_file", "dataUri": other, "isArchived": False}}
    arm(sim, "PUT", "data/chat-train/versions/1", body, api_version=API)
    cluster.apply(
        manifest(KIND, "chat-train", {"version": "1", "path": TRAIN}, {"azureml.dev/adopt": "true"})
    )
    obj = cluster.wait_reason(KIND, "chat-train", "Conflict")
    assert other in ready(obj)["message"] and "new version" in ready(obj)["message"]
    assert version(sim)["properties"]["dataUri"] == other

    cluster.delete(KIND, "chat-train")
    cluster.wait_gone(KIND, "chat-train")
    assert version(sim)["properties"]["isArchived"] is False  # not ours: left alone
