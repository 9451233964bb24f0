"""FineTuneJob end to end: the seed's fine-tuning walkthrough (examples/finetune) from registered data
through every phase to a chat with the fine-tuned model's endpoint; what Azure refuses or fails,
shown as Azure says it; deletion cancelling (or leaving) a running job; a restart in the middle of a
submission; and a finished job that costs no Azure request at all.

The simulator's clock is moved forward to walk a job through its phases: each phase lasts long
enough for the operator to see it, and no test waits for a real fine-tune."""

from __future__ import annotations

from typing import Any

from e2e_helpers import (
    WS_ID,
    Cluster,
    Operators,
    arm,
    chat,
    count,
    delta,
    example,
    manifest,
    ready,
    stats,
)

from azureml_standins.simulator.process import SimulatorProcess

KIND = "FineTuneJob"
JOBS_API = "2024-10-01-preview"
PHI = "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1"
VALID = "azureml://datastores/workspaceblobstore/paths/finetune/validation.jsonl"
FAST = 0.005  # as the e2e conftest: everything but the job under test finishes at once


def job_spec(**overrides: Any) -> dict[str, Any]:
    return {
        "task": "ChatCompletion",
        "model": PHI,
        "trainingData": {"uri": "azureml://datastores/workspaceblobstore/paths/finetune/train.jsonl"},
        "validationData": {"uri": VALID},
        "hyperparameters": {"num_train_epochs": "1"},
        **overrides,
    }


def azure_job(sim: SimulatorProcess, cluster: Cluster, name: str) -> dict[str, Any]:
    obj = cluster.get(KIND, name)
    assert obj is not None
    found: dict[str, Any] = arm(sim, "GET", f"jobs/{obj['status']['jobName']}", api_version=JOBS_API)
    return found


def jobs_in_azure(sim: SimulatorProcess) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = arm(sim, "GET", "jobs", api_version=JOBS_API)["value"]
    return listed


def wait_phase(cluster: Cluster, name: str, phase: str, timeout: float = 20.0) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        obj = cluster.get(KIND, name)
        return obj if ((obj or {}).get("status") or {}).get("phase") == phase else None

    return cluster.wait(f"{KIND} {name} in phase {phase}", probe, timeout, lambda: cluster.get(KIND, name))


def submit_slow(cluster: Cluster, sim: SimulatorProcess, body: dict[str, Any]) -> dict[str, Any]:
    """Apply a FineTuneJob whose job takes real-service time (20 s queued, 2 min starting, 10 min an
    epoch, simulated), and wait until it is submitted; everything after it is fast again."""
    sim.admin("POST", "latency", {"scale": 1.0})
    cluster.apply(body)
    obj = wait_phase(cluster, body["metadata"]["name"], "NotStarted")
    sim.admin("POST", "latency", {"scale": FAST})
    return obj


def test_the_fine_tuning_walkthrough_ends_in_a_chat_with_the_fine_tuned_model(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    cluster.apply(example("finetune/training-data.yaml"))
    data = cluster.wait_ready("DataAsset", "chat-train")
    assert data["status"]["assetId"] == "azureml:chat-train:1"

    obj = submit_slow(cluster, sim, example("finetune/finetune-job.yaml"))
    assert ready(obj)["reason"] == "Queued"
    job = azure_job(sim, cluster, "phi-ft")["properties"]
    assert job["tags"]["azureml.dev-owner-uid"] == obj["metadata"]["uid"]
    assert job["fineTuningDetails"]["trainingData"]["uri"].endswith("/data/chat-train/versions/1")
    assert obj["status"]["azureResourceId"].endswith(f"/jobs/{obj['status']['jobName']}")

    sim.admin("POST", "clock", {"advanceSeconds": 20})
    wait_phase(cluster, "phi-ft", "Queued")
    sim.admin("POST", "clock", {"advanceSeconds": 120})
    running = wait_phase(cluster, "phi-ft", "Running")
    assert ready(running)["reason"] == "Running" and running["status"]["startTime"]
    sim.admin("POST", "clock", {"advanceSeconds": 600})
    done = cluster.wait_ready(KIND, "phi-ft")

    status = done["status"]
    assert status["phase"] == "Completed" and status["endTime"] and status["studioUrl"]
    model = status["registeredModel"]
    assert (model["name"], model["version"]) == ("phi-4-mini-chat-ft", "1")
    assert model["modelId"].endswith("/models/phi-4-mini-chat-ft/versions/1")
    assert model["modelId"].startswith("azureml://locations/eastus2/workspaces/")

    def phase_events() -> list[str] | None:
        # Events are posted just after the status they tell of is written.
        got = [e["reason"] for e in cluster.events("phi-ft", KIND) if e["reason"] != "Logging"]
        return got if {"Succeeded", "EndpointCreated"} <= set(got) else None

    reasons = cluster.wait("the job's Events", phase_events, timeout=10)
    for phase in ("Creating", "Queued", "Running"):
        assert phase in reasons, reasons
    assert reasons.index("Queued") < reasons.index("Running") < reasons.index("Succeeded")

    endpoint = cluster.wait_ready("ServerlessEndpoint", "phi-ft")
    assert endpoint["metadata"]["ownerReferences"][0]["uid"] == done["metadata"]["uid"]
    assert endpoint["status"]["modelId"] == model["modelId"] and status["serverlessEndpoint"] == "phi-ft"
    keys = cluster.secret("phi-ft-keys")
    assert keys is not None
    reply = chat(keys["endpoint"], keys["primaryKey"])
    assert reply.status_code == 200, reply.text
    assert reply.json()["model"] == "phi-4-mini-chat-ft"

    # Finished: over several drift checks (the endpoint's show they happen), no request for the job.
    before = stats(sim)
    cluster.wait(
        "three drift checks of the endpoint",
        lambda: count(stats(sim), "GET serverlessEndpoints") >= count(before, "GET serverlessEndpoints") + 3,
        timeout=20,
    )
    made = delta(stats(sim), before)
    assert not [k for k in made if " jobs" in k or k.endswith("workspaces")], made
    assert ready(cluster.get(KIND, "phi-ft")) == ready(done)
    # Nor is the endpoint object written again: its spec is what the API server stored.
    child = cluster.get("ServerlessEndpoint", "phi-ft")
    assert child is not None and child["metadata"]["generation"] == 1
    assert "EndpointUpdated" not in [e["reason"] for e in cluster.events("phi-ft", KIND)]


def test_deleting_the_job_object_deletes_its_endpoint_in_azure_too(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    body = manifest(KIND, "ft", job_spec(deploy={"serverlessEndpoint": {"name": "ft-chat"}}))
    cluster.apply(body)
    cluster.wait_ready(KIND, "ft")
    cluster.wait_ready("ServerlessEndpoint", "ft-chat")

    cluster.delete(KIND, "ft")
    cluster.wait_gone(KIND, "ft")
    cluster.wait_gone("ServerlessEndpoint", "ft-chat")
    assert "serverlessEndpoints" not in stats(sim)["resources"]
    [job] = jobs_in_azure(sim)
    assert job["properties"]["status"] == "Completed"  # a finished job is history: left as it is


def test_a_failing_job_shows_azures_error_in_status_and_a_warning(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    sim.admin(
        "POST",
        "faults",
        {
            "method": "PUT",
            "resourceType": "jobs",
            "failOperation": True,
            "code": "ModelTrainingFailed",
            "message": "CUDA out of memory on node 0.",
            "count": 1,
        },
    )
    cluster.apply(manifest(KIND, "oom", job_spec()))
    obj = cluster.wait_reason(KIND, "oom", "JobFailed")
    assert obj["status"]["phase"] == "Failed"
    assert obj["status"]["error"] == {
        "code": "ModelTrainingFailed",
        "message": "CUDA out of memory on node 0.",
    }
    assert "CUDA out of memory" in ready(obj)["message"]
    warnings = cluster.wait_event("oom", "JobFailed", "Warning")
    assert "CUDA out of memory" in warnings[0]["message"]


def test_what_azure_refuses_or_fails_is_reported_in_azures_words(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    cases = {
        # Admission cannot know the catalog: the job is refused when it is submitted.
        "unknown-model": (
            job_spec(model="azureml://registries/azureml/models/No-Such-Model/versions/1"),
            "No-Such-Model",
        ),
        "not-tunable": (
            job_spec(model="azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct/versions/9"),
            "does not support fine-tuning",
        ),
        "missing-data": (job_spec(trainingData={"assetId": "azureml:nothing-here:1"}), "nothing-here"),
    }
    for name, (spec, _) in cases.items():
        cluster.apply(manifest(KIND, name, spec))
    # Accepted, but the data is not JSONL: the job fails, as in Azure.
    cluster.apply(manifest(KIND, "csv", job_spec(trainingData={"uri": "https://example.org/train.csv"})))
    for name, (_, fragment) in cases.items():
        obj = cluster.wait(
            f"{name} to be refused",
            lambda n=name: (
                (o := cluster.get(KIND, n)) and ready(o).get("reason") not in (None, "Creating") and o
            ),
            timeout=20,
        )
        condition = ready(obj)
        assert condition["status"] == "False" and fragment in condition["message"], (name, condition)
        assert not (obj["status"].get("azureResourceId")), name
    csv = cluster.wait_reason(KIND, "csv", "JobFailed")
    assert "is not a JSONL file" in csv["status"]["error"]["message"]
    assert [j["name"] for j in jobs_in_azure(sim)] == [csv["status"]["jobName"]]


def test_deleting_a_running_job_cancels_it_or_with_retain_leaves_it(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    submit_slow(cluster, sim, manifest(KIND, "cancel-me", job_spec()))
    submit_slow(cluster, sim, manifest(KIND, "keep-me", job_spec(deletionPolicy="Retain")))
    sim.admin("POST", "clock", {"advanceSeconds": 140})
    wait_phase(cluster, "cancel-me", "Running")
    canceled, kept = azure_job(sim, cluster, "cancel-me")["name"], azure_job(sim, cluster, "keep-me")["name"]

    cluster.delete(KIND, "cancel-me")
    cluster.delete(KIND, "keep-me")
    cluster.wait_gone(KIND, "keep-me")
    cluster.wait_gone(KIND, "cancel-me")
    by_name = {j["name"]: j["properties"]["status"] for j in jobs_in_azure(sim)}
    assert by_name == {canceled: "Canceled", kept: "Running"}
    assert count(stats(sim), "POST jobs/cancel") == 1
    assert [e for e in cluster.events("keep-me") if e["reason"] == "Retained"]


def test_killed_during_submission_the_restarted_operator_has_submitted_exactly_one_job(
    restartable: Cluster, operators: Operators, sim: SimulatorProcess
) -> None:
    cluster = restartable
    # The PUT is held in flight long enough for the operator to die with it unanswered.
    sim.admin("POST", "faults", {"method": "PUT", "resourceType": "jobs", "latencyMs": 3000, "count": 1})
    cluster.apply(manifest(KIND, "ft", job_spec()))

    def recorded() -> dict[str, Any] | None:
        obj = cluster.get(KIND, "ft")
        return obj if ((obj or {}).get("status") or {}).get("azureResourceId") else None

    obj = cluster.wait("the job id to be recorded before the PUT", recorded, timeout=15)
    operators.started[0].kill()
    operators.start()

    done = cluster.wait_ready(KIND, "ft", timeout=40)
    [job] = jobs_in_azure(sim)
    assert job["id"] == obj["status"]["azureResourceId"] == done["status"]["azureResourceId"]
    assert job["properties"]["tags"]["azureml.dev-owner-uid"] == obj["metadata"]["uid"]
    assert 1 <= count(stats(sim), "PUT jobs") <= 2  # resubmitting the same job is idempotent


def test_a_model_written_into_a_jobs_status_is_not_deployed(cluster: Cluster, sim: SimulatorProcess) -> None:
    # A job that never ran (its data does not exist), whose status someone then writes by hand: a
    # completed job with a registered model — any model of the workspace, another team's say.
    cluster.apply(manifest(KIND, "forged", job_spec(trainingData={"dataAssetRef": {"name": "absent"}})))
    cluster.wait_reason(KIND, "forged", "WaitingForData")
    ws_model = (
        "azureml://locations/eastus2/workspaces/00000000-0000-0000-0000-00000000abcd/models/theirs/versions/1"
    )
    cluster.custom.patch_namespaced_custom_object_status(
        "azureml.dev",
        "v1alpha1",
        cluster.namespace,
        "finetunejobs",
        "forged",
        {
            "status": {
                "azureResourceId": f"{WS_ID}/jobs/forged",
                "phase": "Completed",
                "registeredModel": {"name": "theirs", "version": "1", "modelId": ws_model},
            }
        },
    )
    cluster.wait_ready(KIND, "forged")  # status is what it is: the object's own business
    cluster.apply(manifest("ServerlessEndpoint", "stolen", {"modelRef": {"fineTuneJob": "forged"}}))
    obj = cluster.wait_reason("ServerlessEndpoint", "stolen", "Conflict")
    assert "not deploying it" in ready(obj)["message"]
    assert count(stats(sim), "PUT serverlessEndpoints") == 0
    assert "serverlessEndpoints" not in stats(sim)["resources"]
