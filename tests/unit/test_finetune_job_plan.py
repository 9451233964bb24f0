"""FineTuneJob's pure decisions: the job's name and what is submitted, what each phase means, what
status remembers of it, and the message a finished job keeps."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from azureml_operator.api.finetune_job import KIND, FineTuneJobSpec, JobError
from azureml_operator.azure.client import OWNER_TAG, OWNER_UID_TAG, ObservedJob
from azureml_operator.conditions import Reason
from azureml_operator.kinds.finetune_job import (
    OUTCOMES,
    TRAINING_REF,
    Action,
    Seen,
    desired,
    duration,
    endpoint_spec,
    error_of,
    job_name,
    plan,
    settled_plan,
)
from azureml_operator.reconcilers.common import Ownership
from azureml_operator.reconcilers.lookups import Indexed, indexed
from azureml_operator.reconcilers.objects import Obj
from azureml_operator.reconcilers.status import fields_of

JOB_NAME_RULE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$")
PHI = "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/7"
URI = "azureml://datastores/workspaceblobstore/paths/ft/valid.jsonl"
T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
NAME = "team-a-ft-0123456789"
MODEL_ID = "azureml://locations/eastus2/workspaces/guid/models/phi-ft/versions/1"


def spec(**overrides: Any) -> FineTuneJobSpec:
    raw = {
        "task": "ChatCompletion",
        "model": PHI,
        "trainingData": {"dataAssetRef": {"name": "train"}},
        "validationData": {"uri": URI},
        **overrides,
    }
    parsed: FineTuneJobSpec = KIND.parse_spec(raw)
    return parsed


def data_entry(name: str = "train", **spec_fields: Any) -> Indexed:
    meta = {"namespace": "team-a", "name": name, "uid": "uid-d"}
    ready = {"conditions": [{"type": "Ready", "status": "True"}]}
    return indexed("DataAsset", {"metadata": meta, "spec": {"version": "3", **spec_fields}, "status": ready})


def job(status: str, **kwargs: Any) -> ObservedJob:
    return ObservedJob(
        id="/jobs/x", name=NAME, status=status, tags={}, studio_url="https://studio/x", **kwargs
    )


def step(observed: ObservedJob | None, seen: Seen, now: datetime, owner: Ownership = Ownership.OURS) -> Any:
    return plan(name=NAME, want=None, observed=observed, owner=owner, seen=seen, now=now)


NEVER = Seen(None, None, None, None)


# -- the job's name and what is submitted -----------------------------------------------------------


def test_the_job_name_is_stable_per_object_and_new_for_a_new_object_of_the_same_name() -> None:
    a = job_name("team-a", "ft", "uid-1")
    assert a == job_name("team-a", "ft", "uid-1")
    assert a != job_name("team-a", "ft", "uid-2")
    assert a.startswith("team-a-ft-") and JOB_NAME_RULE.match(a)


def test_the_longest_names_still_fit_azures_rule() -> None:
    name = job_name("n" * 63, "a.b." + "x" * 249, "uid")
    assert JOB_NAME_RULE.match(name) and len(name) == 255


def test_submission_names_the_data_assets_version_and_tags_the_owner() -> None:
    refs = {TRAINING_REF: data_entry(assetName="chat")}
    want = desired(spec(), namespace="team-a", name="ft", uid="uid-1", refs=refs)
    assert want is not None
    assert (want.training_data, want.validation_data) == ("azureml:chat:3", URI)
    assert want.tags == {OWNER_TAG: "team-a/ft", OWNER_UID_TAG: "uid-1"}
    assert (want.experiment_name, want.display_name) == ("team-a", "team-a/ft")
    assert want.output_model_name == job_name("team-a", "ft", "uid-1")
    assert want.task == "ChatCompletion" and want.model == PHI


def test_a_data_asset_without_assetname_is_registered_under_its_object_name() -> None:
    want = desired(spec(), namespace="ns", name="ft", uid="u", refs={TRAINING_REF: data_entry()})
    assert want is not None and want.training_data == "azureml:train:3"


def test_nothing_can_be_submitted_before_the_data_asset_exists() -> None:
    assert desired(spec(), namespace="ns", name="ft", uid="u", refs={}) is None


def test_the_specs_names_and_tags_win_but_not_over_the_owner_tags() -> None:
    s = spec(
        jobName="my-job",
        experimentName="exp",
        displayName="Mine",
        tags={"team": "a", OWNER_UID_TAG: "forged"},
        trainingData={"assetId": "azureml:chat:1"},
    )
    want = desired(s, namespace="ns", name="ft", uid="u", refs={})
    assert want is not None
    assert (want.output_model_name, want.experiment_name, want.display_name) == ("my-job", "exp", "Mine")
    assert want.tags[OWNER_UID_TAG] == "u" and want.tags["team"] == "a"
    assert want.training_data == "azureml:chat:1"
    prefixed = desired(
        spec(outputModelNamePrefix="phi-ft"),
        namespace="ns",
        name="ft",
        uid="u",
        refs={TRAINING_REF: data_entry()},
    )
    assert prefixed is not None and prefixed.output_model_name == "phi-ft"


# -- phases ---------------------------------------------------------------------------------------


def test_nothing_in_azure_and_nothing_seen_is_a_submission() -> None:
    result = step(None, NEVER, T0)
    assert result.action is Action.SUBMIT and fields_of(result.status) == {"jobName": NAME}


def test_a_job_that_vanished_from_azure_is_not_submitted_again() -> None:
    result = step(None, Seen("Running", T0, T0, None), T0)
    assert result.action is Action.LOST and OUTCOMES[result.action].reason is Reason.JOB_FAILED
    assert "deleted there before it finished" in result.message


@pytest.mark.parametrize("owner", [Ownership.FOREIGN, Ownership.ADOPT])
def test_a_job_of_that_name_that_is_not_ours_is_a_conflict_even_when_adoption_is_asked(
    owner: Ownership,
) -> None:
    result = step(job("Running"), NEVER, T0, owner)
    assert result.action is Action.CONFLICT and "spec.jobName" in result.message
    assert fields_of(result.status) == {}


@pytest.mark.parametrize(
    ("phase", "action", "reason"),
    [
        ("NotStarted", Action.PENDING, Reason.QUEUED),
        ("Queued", Action.PENDING, Reason.QUEUED),
        ("Provisioning", Action.PENDING, Reason.QUEUED),
        ("SomethingNew", Action.PENDING, Reason.QUEUED),
        ("Running", Action.RUNNING, Reason.RUNNING),
        ("Finalizing", Action.RUNNING, Reason.RUNNING),
        ("CancelRequested", Action.RUNNING, Reason.RUNNING),
        ("Failed", Action.FAILED, Reason.JOB_FAILED),
        ("NotResponding", Action.FAILED, Reason.JOB_FAILED),
        ("Canceled", Action.CANCELED, Reason.JOB_CANCELED),
    ],
)
def test_each_phase_has_its_reason(phase: str, action: Action, reason: Reason) -> None:
    result = step(job(phase), NEVER, T0)
    assert result.action is action and OUTCOMES[action].reason is reason


def test_a_phase_change_is_an_event_with_the_time_spent_in_the_last_phase_and_restarts_polling() -> None:
    seen = Seen("Queued", T0, None, None)
    later = T0 + timedelta(minutes=7, seconds=30)
    result = step(job("Running"), seen, later)
    assert result.progressed
    [event] = result.events
    assert (event.type, event.reason) == ("Normal", "Running")
    assert "is Running" in event.message and "(was Queued for 7 min)" in event.message
    status = fields_of(result.status)
    assert status["phase"] == "Running"
    assert status["phaseTransitionTime"] == status["startTime"] == "2026-12-01T12:07:30Z"
    assert status["endTime"] is None


def test_the_same_phase_again_says_how_long_and_posts_nothing() -> None:
    seen = Seen("Running", T0, T0, None)
    result = step(job("Running"), seen, T0 + timedelta(hours=2, minutes=5))
    assert not result.progressed and result.events == ()
    assert result.message == f"fine-tuning job {NAME} is Running (for 2 h 5 min)"
    assert fields_of(result.status)["phaseTransitionTime"] == "2026-12-01T12:00:00Z"


def test_completed_before_the_model_is_reported_keeps_polling() -> None:
    result = step(job("Completed", output_model_name="phi-ft"), Seen("Running", T0, T0, None), T0)
    assert result.action is Action.REGISTERING and OUTCOMES[result.action].poll is not None


def test_completed_with_its_model_is_ready_and_reports_the_model() -> None:
    observed = job(
        "Completed", output_model_name="phi-ft", output_model_version="1", output_model_id=MODEL_ID
    )
    done = T0 + timedelta(minutes=42)
    result = step(observed, Seen("Running", T0, T0, None), done)
    assert result.action is Action.COMPLETED and OUTCOMES[result.action].ready
    status = fields_of(result.status)
    assert status["registeredModel"] == {"name": "phi-ft", "version": "1", "modelId": MODEL_ID}
    assert status["endTime"] == "2026-12-01T12:42:00Z" and status["studioUrl"] == "https://studio/x"
    assert "after running 42 min" in result.message and MODEL_ID in result.message


def test_a_failed_job_reports_azures_code_and_message_with_a_warning() -> None:
    failure = "UserError: Data 'x.csv' is not a JSONL file"
    result = step(job("Failed", failure=failure), Seen("Running", T0, T0, None), T0 + timedelta(minutes=3))
    assert fields_of(result.status)["error"] == {
        "code": "UserError",
        "message": "Data 'x.csv' is not a JSONL file",
    }
    [event] = result.events
    assert (event.type, event.reason) == ("Warning", "JobFailed") and failure in event.message
    assert failure in result.message


def test_an_error_without_a_code_is_kept_whole() -> None:
    whole = "the node ran out of memory: OOM"
    assert error_of(whole) == JobError(code=None, message=whole)
    assert error_of(None) == JobError(code=None, message="Azure gave no reason")


# -- a finished job, from status alone -------------------------------------------------------------


def as_status(fields: dict[str, Any]) -> dict[str, Any]:
    return {"azureResourceId": "/jobs/x", **fields}


@pytest.mark.parametrize(
    "observed",
    [
        job("Completed", output_model_name="phi-ft", output_model_version="1", output_model_id=MODEL_ID),
        job("Failed", failure="UserError: bad data"),
        job("Canceled"),
    ],
)
def test_a_settled_pass_repeats_exactly_the_message_the_finishing_pass_wrote(observed: ObservedJob) -> None:
    started = T0 + timedelta(seconds=0.4)
    running = step(job("Running"), Seen("Queued", T0, None, None), started)
    running_status = fields_of(running.status)
    finishing = step(observed, Seen.of(running_status), started + timedelta(minutes=59, seconds=59.7))
    settled = settled_plan(NAME, as_status({**running_status, **fields_of(finishing.status)}))
    assert settled is not None
    assert (settled.action, settled.message) == (finishing.action, finishing.message)
    assert fields_of(settled.status) == {} and settled.events == ()


@pytest.mark.parametrize("phase", ["Queued", "Running", None])
def test_a_job_that_has_not_finished_is_not_settled(phase: str | None) -> None:
    assert settled_plan(NAME, {"phase": phase}) is None


def test_completed_without_a_registered_model_is_not_settled() -> None:
    assert settled_plan(NAME, {"phase": "Completed"}) is None


def test_durations_are_coarse_so_status_is_not_rewritten_every_poll() -> None:
    assert [duration(s) for s in (5, 59, 60, 119 * 60, 125 * 60)] == [
        "less than a minute",
        "less than a minute",
        "1 min",
        "119 min",
        "2 h 5 min",
    ]


# -- the deploy child -----------------------------------------------------------------------------


def test_deploy_asks_for_an_endpoint_of_this_jobs_model_in_its_workspace() -> None:
    s = spec(
        workspaceRef={"name": "ws"},
        subscriptionRef={"name": "llama-sub"},
        deploy={"serverlessEndpoint": {"name": "phi-ft", "contentSafety": "Disabled", "keysSecretName": "k"}},
    )
    obj = Obj("azureml.dev/v1alpha1", "FineTuneJob", "finetunejobs", "team-a", "ft", "uid", 1, {}, {})
    assert endpoint_spec(s, obj) == {
        "modelRef": {"fineTuneJob": "ft"},
        "authMode": "Key",  # the CRD's default, as the API server will store it
        "deletionPolicy": "Delete",
        "workspaceRef": {"name": "ws"},
        "subscriptionRef": {"name": "llama-sub"},
        "contentSafety": "Disabled",
        "keysSecretName": "k",
    }
    assert endpoint_spec(spec(), obj) is None
