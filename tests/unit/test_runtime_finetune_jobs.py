"""FineTuneJob through the runtime, in process against fakes: it waits for its data, submits once (a
restart finds its own job), follows the phases, costs no Azure call once finished, creates its
ServerlessEndpoint, and cancels or leaves a running job on deletion. A ServerlessEndpoint with
`modelRef` does nothing in Azure until its job has completed, then serves the registered model."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from runtime_fakes import (
    DEFAULT_TARGET,
    Harness,
    data_asset,
    endpoint,
    event_reasons,
    finetune_job,
    not_ready_status,
    owner_tags,
    ready_status,
)

from azureml_operator.azure.client import ModelSource
from azureml_operator.conditions import Reason
from azureml_operator.kinds.finetune_job import job_name
from azureml_operator.reconcilers.common import Finality
from azureml_operator.reconcilers.context import KubeForbidden
from azureml_operator.reconcilers.status import next_status

FT = finetune_job()
NAME = job_name("team-a", "ft", FT["metadata"]["uid"])
JOB_ID = DEFAULT_TARGET.child_id("jobs", NAME)
MODEL_ID = "azureml://locations/eastus2/workspaces/11111111-2222-3333-4444-555555555555/models/m/versions/2"
DEPLOY = {"deploy": {"serverlessEndpoint": {"name": "phi-ft"}}}


def with_status(of: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {**of, "status": status}


async def run(h: Harness, of: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """One pass, and the object as it is after its status is written."""
    verdict = await h.reconcile(of)
    patch, _ = next_status(of.get("status"), verdict, 1)
    return with_status(of, {**(of.get("status") or {}), **patch}), verdict


async def test_submission_waits_for_the_data_asset_to_be_ready() -> None:
    h = Harness()
    h.add(data_asset(status=not_ready_status("Creating", "registering")))
    verdict = await h.reconcile(FT)
    assert verdict.reason is Reason.WAITING_FOR_DATA and "DataAsset train" in verdict.message
    # Nothing recorded, so nothing of its own in Azure: no read until the job may be submitted.
    assert h.jobs.calls == [] and verdict.requeue_after is not None


async def test_a_data_asset_of_another_workspace_is_refused() -> None:
    h = Harness()
    h.add(data_asset(spec={"workspaceRef": {"name": "other"}}, status=ready_status()))
    verdict = await h.reconcile(FT)
    assert verdict.reason is Reason.INVALID_SPEC and "Workspace other" in verdict.message


async def test_a_job_is_submitted_once_its_id_is_recorded_and_a_restart_finds_it_as_its_own() -> None:
    h = Harness()
    h.add(data_asset(status=ready_status()))
    verdict = await h.reconcile(FT)
    assert verdict.reason is Reason.CREATING and verdict.fields["azureResourceId"] == JOB_ID
    methods = [c.method for c in h.journal if c.who in ("kube", "jobs")]
    assert methods[:3] == ["get", "patch_status", "begin_create"]
    assert h.jobs.submitted[NAME].training_data == "azureml:train:1"
    assert h.jobs.submitted[NAME].tags == owner_tags(FT)
    # The operator restarts: the status write of that pass was lost, only the recorded id remains.
    again = await h.reconcile(with_status(FT, {"azureResourceId": JOB_ID}))
    assert again.reason is Reason.QUEUED
    assert [c.method for c in h.jobs.calls].count("begin_create") == 1


async def test_a_job_of_that_name_without_our_tags_is_a_conflict_and_nothing_is_submitted() -> None:
    h = Harness()
    h.add(data_asset(status=ready_status()))
    h.jobs.add(NAME, "Running", tags={"owner": "a notebook"})
    verdict = await h.reconcile(FT)
    assert verdict.reason is Reason.CONFLICT and "azureResourceId" not in verdict.fields
    assert "begin_create" not in h.jobs.methods()


async def test_phases_are_followed_to_completion_then_no_azure_call_is_made() -> None:
    h = Harness()
    h.add(data_asset(status=ready_status()))
    obj, verdict = await run(h, FT)
    obj, verdict = await run(h, obj)
    assert (verdict.reason, obj["status"]["phase"]) == (Reason.QUEUED, "NotStarted")
    h.jobs.advance(NAME, "Running")
    obj, verdict = await run(h, obj)
    assert verdict.reason is Reason.RUNNING and verdict.progressed and "Running" in event_reasons(verdict)
    h.jobs.advance(NAME, "Completed", version="2")
    obj, verdict = await run(h, obj)
    assert verdict.status == "True" and verdict.reason is Reason.SUCCEEDED
    assert obj["status"]["registeredModel"]["version"] == "2"
    assert obj["status"]["registeredModel"]["modelId"].endswith("/models/" + NAME + "/versions/2")
    before = len(h.azure_calls())
    for _ in range(3):  # drift checks
        obj, verdict = await run(h, obj)
        assert verdict.status == "True" and verdict.finality is Finality.FINAL
    assert len(h.azure_calls()) == before


async def test_a_failed_job_is_terminal_and_then_costs_nothing() -> None:
    h = Harness()
    h.jobs.add(NAME, "Failed", tags=owner_tags(FT))
    h.jobs.advance(NAME, "Failed", failure="UserError: not JSONL")
    obj, verdict = await run(h, with_status(FT, {"azureResourceId": JOB_ID, "phase": "Running"}))
    assert (verdict.status, verdict.reason) == ("False", Reason.JOB_FAILED)
    assert verdict.requeue_after is None and obj["status"]["error"]["code"] == "UserError"
    assert any(e.type == "Warning" and "not JSONL" in e.message for e in verdict.events)
    calls = len(h.azure_calls())
    _, again = await run(h, obj)
    assert again.reason is Reason.JOB_FAILED and len(h.azure_calls()) == calls


async def test_a_completed_job_creates_its_endpoint_owned_by_it_even_from_status_alone() -> None:
    h = Harness()
    ft = finetune_job(spec=DEPLOY)
    name = job_name("team-a", "ft", ft["metadata"]["uid"])
    h.jobs.add(name, "Completed", tags=owner_tags(ft))
    h.jobs.advance(name, "Completed", version="1")
    obj, verdict = await run(h, with_status(ft, {"azureResourceId": JOB_ID, "phase": "Running"}))
    assert verdict.fields["serverlessEndpoint"] == "phi-ft" and "EndpointCreated" in event_reasons(verdict)
    child = h.kube.objects[("ServerlessEndpoint", "team-a", "phi-ft")]
    assert child["spec"] == {"modelRef": {"fineTuneJob": "ft"}, "authMode": "Key", "deletionPolicy": "Delete"}
    assert child["ownerReferences"][0]["uid"] == ft["metadata"]["uid"]
    # Deleted by someone: a settled pass, with no Azure call, makes it again.
    del h.kube.objects[("ServerlessEndpoint", "team-a", "phi-ft")]
    calls = len(h.azure_calls())
    _, again = await run(h, obj)
    assert again.status == "True" and "EndpointCreated" in event_reasons(again)
    assert ("ServerlessEndpoint", "team-a", "phi-ft") in h.kube.objects and len(h.azure_calls()) == calls


async def test_an_endpoint_of_that_name_owned_by_someone_else_is_a_conflict() -> None:
    h = Harness()
    ft = finetune_job(spec=DEPLOY)
    h.kube.objects[("ServerlessEndpoint", "team-a", "phi-ft")] = {"ownerReferences": [], "spec": {}}
    status = {
        "azureResourceId": JOB_ID,
        "phase": "Completed",
        "registeredModel": {"name": "m", "version": "2", "modelId": MODEL_ID},
    }
    verdict = await h.reconcile(with_status(ft, status))
    assert verdict.reason is Reason.CONFLICT and "phi-ft" in verdict.message
    assert h.azure_calls() == []


# -- a ServerlessEndpoint of a fine-tuned model ------------------------------------------------------


def model_ref_endpoint() -> dict[str, Any]:
    ep = endpoint("phi-ft", spec={"modelRef": {"fineTuneJob": "ft"}})
    del ep["spec"]["modelId"]
    return ep


async def test_an_endpoint_waits_for_its_job_without_calling_azure() -> None:
    h = Harness()
    h.add(with_status(FT, not_ready_status("Running", "training")))
    verdict = await h.reconcile(model_ref_endpoint())
    assert verdict.reason is Reason.WAITING_FOR_MODEL
    assert verdict.message == "waiting for FineTuneJob ft to be Ready" and h.azure_calls() == []
    missing = await Harness().reconcile(model_ref_endpoint())
    assert missing.reason is Reason.WAITING_FOR_MODEL and "does not exist" in missing.message


async def test_an_endpoint_serves_the_model_its_completed_job_registered() -> None:
    h = Harness()
    h.add(with_status(FT, ready_status(registeredModel={"name": "m", "version": "2", "modelId": MODEL_ID})))
    h.endpoints.fine_tuned[ModelSource(NAME, FT["metadata"]["uid"])] = MODEL_ID
    verdict = await h.reconcile(model_ref_endpoint())
    assert verdict.reason is Reason.CREATING
    [put] = [c for c in h.endpoints.calls if c.method == "begin_put"]
    assert put.args[1].model_id == MODEL_ID and verdict.fields["modelId"] == MODEL_ID


async def test_a_model_written_into_the_jobs_status_by_hand_is_not_deployed() -> None:
    h = Harness()
    forged = MODEL_ID.replace("/models/m/", "/models/another-teams-model/")
    h.add(with_status(FT, ready_status(registeredModel={"name": "x", "version": "1", "modelId": forged})))
    h.endpoints.fine_tuned[ModelSource(NAME, FT["metadata"]["uid"])] = MODEL_ID  # what the job made
    verdict = await h.reconcile(model_ref_endpoint())
    assert verdict.reason is Reason.CONFLICT and "not deploying it" in verdict.message
    assert "begin_put" not in h.endpoints.methods()
    # Nor when Azure has no such job of that FineTuneJob (say its uid tag is another's).
    h.endpoints.fine_tuned.clear()
    again = await h.reconcile(model_ref_endpoint())
    assert again.reason is Reason.CONFLICT and "begin_put" not in h.endpoints.methods()


async def test_an_endpoint_cannot_serve_a_job_of_another_workspace() -> None:
    h = Harness()
    other = finetune_job(spec={"workspaceRef": {"name": "other"}})
    h.add(with_status(other, ready_status(registeredModel={"modelId": MODEL_ID})))
    verdict = await h.reconcile(model_ref_endpoint())
    assert verdict.reason is Reason.INVALID_SPEC and "Workspace other" in verdict.message


# -- deletion -------------------------------------------------------------------------------------


def deleting(**spec: Any) -> dict[str, Any]:
    return finetune_job(spec=spec, status={"azureResourceId": JOB_ID, "phase": "Running"}, deleting=True)


async def test_deleting_a_running_job_cancels_it_once_and_waits_for_the_cancel() -> None:
    h = Harness()
    ft = deleting()
    h.jobs.add(NAME, "Running", tags=owner_tags(ft))
    first = await h.finalize(ft)
    assert first.reason is Reason.DELETING and "canceling fine-tuning job" in first.message
    second = await h.finalize(ft)
    assert not second.released and h.jobs.methods().count("begin_cancel") == 1
    h.jobs.advance(NAME, "Canceled")
    done = await h.finalize(ft)
    assert done.released and "has finished (Canceled)" in done.message


async def test_deleting_with_retain_leaves_the_job_running() -> None:
    h = Harness()
    ft = deleting(deletionPolicy="Retain")
    h.jobs.add(NAME, "Running", tags=owner_tags(ft))
    verdict = await h.finalize(ft)
    assert verdict.released and "Retained" in event_reasons(verdict)
    assert h.azure_calls() == []


async def test_a_finished_job_is_released_at_once_without_asking_azure() -> None:
    h = Harness()
    status = {"azureResourceId": JOB_ID, "phase": "Failed", "error": {"code": "UserError", "message": "x"}}
    verdict = await h.finalize(finetune_job(status=status, deleting=True))
    assert verdict.released and h.azure_calls() == []


# -- data named by id -----------------------------------------------------------------------------

DATA_ID = DEFAULT_TARGET.child_id("data", "chat/versions/1")


def by_asset_id() -> dict[str, Any]:
    return finetune_job(spec={"trainingData": {"assetId": "azureml:chat:1"}})


async def test_a_data_asset_another_namespace_manages_is_not_trained_on() -> None:
    h = Harness()
    theirs = data_asset("chat", namespace="team-b", status=ready_status(azureResourceId=DATA_ID))
    h.add(theirs)
    verdict = await h.reconcile(by_asset_id())
    assert verdict.reason is Reason.INVALID_SPEC and "team-b/chat" in verdict.message
    assert "spec.trainingData.assetId" in verdict.message and "begin_create" not in h.jobs.methods()


async def test_one_managed_in_an_unwatched_namespace_is_found_in_the_cluster() -> None:
    h = Harness()
    h.kube.cluster_claims[DATA_ID.lower()] = [("team-c", "chat", "uid-c")]
    verdict = await h.reconcile(by_asset_id())
    assert verdict.reason is Reason.INVALID_SPEC and "team-c/chat" in verdict.message
    assert "begin_create" not in h.jobs.methods()


async def test_this_namespaces_own_or_nobodys_data_asset_may_be_named_by_id() -> None:
    h = Harness()
    h.add(data_asset("chat", status=ready_status(azureResourceId=DATA_ID)))
    verdict = await h.reconcile(by_asset_id())
    assert verdict.reason is Reason.CREATING and h.jobs.methods().count("begin_create") == 1
    assert h.jobs.submitted[NAME].training_data == "azureml:chat:1"


async def test_without_leave_to_list_the_cluster_a_read_by_id_is_refused() -> None:
    h = Harness()
    h.kube.claims_error = KubeForbidden('cannot list resource "dataassets" at the cluster scope')
    h.add(data_asset("chat", namespace="team-b", status=ready_status(azureResourceId=DATA_ID)))
    verdict = await h.reconcile(by_asset_id())
    assert verdict.reason is Reason.INVALID_SPEC and "team-b/chat" in verdict.message
    h.cluster.clear()
    refused = await h.reconcile(by_asset_id())
    assert refused.reason is Reason.INVALID_SPEC and "may not list dataassets" in refused.message
    assert "begin_create" not in h.jobs.methods()


async def test_scoped_to_its_namespaces_the_operator_never_lists_the_cluster() -> None:
    """Without --cluster-wide-claims, a read by id that no served object vouches for is refused, and
    the cluster is not even asked; one of this namespace's own DataAssets still may be named."""
    h = Harness(settings=replace(Harness().settings, cluster_wide_claims=False))
    refused = await h.reconcile(by_asset_id())
    assert refused.reason is Reason.INVALID_SPEC and "--cluster-wide-claims" in refused.message
    h.add(data_asset("chat", status=ready_status(azureResourceId=DATA_ID)))
    allowed = await h.reconcile(by_asset_id())
    assert allowed.reason is Reason.CREATING
    assert not [c for c in h.journal if c.who == "kube" and c.method == "claims"]
