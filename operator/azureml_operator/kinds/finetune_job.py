"""FineTuneJob: submit one fine-tuning job, follow it through its phases, serve what it registers.

A job cannot change once submitted, so there is nothing to update or repair: the object submits it
once, then only observes. The job's name is derived from the object (or given), and the job carries
the owner tags, so a restart in the middle of a submission finds its own job instead of submitting
a second one; a job of that name without them is someone else's (a Conflict).

Once the job has finished, status holds everything there is to know: passes make no Azure call at
all (`settled`), and only keep the `deploy` child — a ServerlessEndpoint owned by this object — in
step with the spec.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from azureml_operator.api.data_asset import KIND as DATA_KIND
from azureml_operator.api.finetune_job import (
    KIND,
    DataInput,
    FineTuneJobSpec,
    FineTuneJobStatus,
    JobError,
    RegisteredModel,
)
from azureml_operator.api.serverless_endpoint import KIND as ENDPOINT_KIND
from azureml_operator.azure import jobs
from azureml_operator.azure.client import OWNER_TAG, OWNER_UID_TAG, Connection, DesiredJob, ObservedJob
from azureml_operator.azure.data import COLLECTION as DATA_COLLECTION
from azureml_operator.azure.data import version_path as data_version_path
from azureml_operator.conditions import Reason
from azureml_operator.reconcilers.adapters import (
    Adapter,
    Decision,
    Dependency,
    Effect,
    Observation,
    Outcome,
    Read,
    Refs,
)
from azureml_operator.reconcilers.common import POLL_OPERATION, Backoff, Event, Ownership, Verdict
from azureml_operator.reconcilers.context import Context, ObjectNotOwned
from azureml_operator.reconcilers.lookups import Indexed, workspace_mismatch
from azureml_operator.reconcilers.objects import Obj
from azureml_operator.reconcilers.status import fields_of

# A queued or running job is looked at after 5 s, doubling to a minute; a phase change starts the
# doubling again. Real fine-tunes take hours, and a minute late is never noticed.
POLL_JOB = Backoff(base=5.0, cap=60.0)

TRAINING_REF = "trainingData.dataAssetRef"
VALIDATION_REF = "validationData.dataAssetRef"

# The service's JobStatus values, by what they mean here (compared lower-case). The rest (NotStarted,
# Starting, Provisioning, Preparing, Queued, Scheduled, Paused, and any added later) are pending.
_RUNNING = frozenset({"running", "finalizing", "cancelrequested"})
_FAILED = frozenset({"failed", "notresponding"})
_NAME_MAX = 255
_NOT_IN_NAME = re.compile(r"[^a-zA-Z0-9_-]+")


def job_name(namespace: str, name: str, uid: str) -> str:
    """`<namespace>-<name>-<hash of the uid>`: stable for the object's life, new for a new object of
    the same name, and within Azure's job name rule (`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$`)."""
    digest = hashlib.sha256(uid.encode()).hexdigest()[:10]
    stem = _NOT_IN_NAME.sub("-", f"{namespace}-{name}")[: _NAME_MAX - len(digest) - 1]
    return f"{stem}-{digest}"


def job_name_of(entry: Indexed) -> str:
    """The Azure job of a FineTuneJob as the index holds it: from its spec and uid, never its status."""
    named = entry.spec.get("jobName")
    return named if isinstance(named, str) and named else job_name(entry.namespace, entry.name, entry.uid)


def data_id(data: DataInput, entry: Indexed | None) -> str | None:
    """What the job's input names: the DataAsset's `azureml:<name>:<version>`, an asset id or a URI.
    None: the DataAsset is not there (submission waits for it)."""
    if data.data_asset_ref is None:
        return data.asset_id or data.uri
    if entry is None:
        return None
    asset = entry.spec.get("assetName") or entry.name
    return f"azureml:{asset}:{entry.spec.get('version')}"


def desired(spec: FineTuneJobSpec, *, namespace: str, name: str, uid: str, refs: Refs) -> DesiredJob | None:
    training = data_id(spec.training_data, refs.get(TRAINING_REF))
    validation = data_id(spec.validation_data, refs.get(VALIDATION_REF))
    if training is None or validation is None:
        return None
    return DesiredJob(
        task=spec.task.value,
        model=spec.model,
        training_data=training,
        validation_data=validation,
        hyperparameters=dict(spec.hyperparameters),
        output_model_name=spec.output_model_name_prefix or spec.job_name or job_name(namespace, name, uid),
        experiment_name=spec.experiment_name or namespace,
        display_name=spec.display_name or f"{namespace}/{name}",
        tags={**(spec.tags or {}), OWNER_TAG: f"{namespace}/{name}", OWNER_UID_TAG: uid},
        properties=dict(spec.properties or {}),
    )


class Action(Enum):
    SUBMIT = "submit"
    CONFLICT = "conflict"
    LOST = "lost"  # seen before, gone from Azure before it finished
    PENDING = "pending"
    RUNNING = "running"
    REGISTERING = "registering"  # Completed, the output model not reported yet
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


OUTCOMES = {
    Action.SUBMIT: Outcome(Effect.CREATE, Reason.CREATING, poll=POLL_OPERATION),
    Action.CONFLICT: Outcome(Effect.NONE, Reason.CONFLICT),
    Action.LOST: Outcome(Effect.NONE, Reason.JOB_FAILED),
    Action.PENDING: Outcome(Effect.NONE, Reason.QUEUED, poll=POLL_JOB),
    Action.RUNNING: Outcome(Effect.NONE, Reason.RUNNING, poll=POLL_JOB),
    Action.REGISTERING: Outcome(Effect.NONE, Reason.RUNNING, poll=POLL_JOB),
    Action.COMPLETED: Outcome(Effect.PUBLISH, Reason.SUCCEEDED, ready=True),
    Action.FAILED: Outcome(Effect.NONE, Reason.JOB_FAILED),
    Action.CANCELED: Outcome(Effect.NONE, Reason.JOB_CANCELED),
}
TERMINAL_ACTIONS = frozenset({Action.COMPLETED, Action.FAILED, Action.CANCELED, Action.LOST})


def action_of(phase: str | None, *, model_registered: bool) -> Action:
    state = (phase or "").lower()
    if state == "completed":
        return Action.COMPLETED if model_registered else Action.REGISTERING
    if state in _FAILED:
        return Action.FAILED
    if state == "canceled":
        return Action.CANCELED
    if state in _RUNNING:
        return Action.RUNNING
    return Action.PENDING  # the pending states, and any the service adds later


def parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def duration(seconds: float) -> str:
    """Coarse on purpose: a condition message that changes every poll would be a status write every
    poll."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


@dataclass(frozen=True)
class Seen:
    """What status remembers of the job: its phase and when things were first seen."""

    phase: str | None
    since: datetime | None
    start: datetime | None
    end: datetime | None

    @classmethod
    def of(cls, status: dict[str, Any]) -> Seen:
        return cls(
            phase=status.get("phase"),
            since=parse_time(status.get("phaseTransitionTime")),
            start=parse_time(status.get("startTime")),
            end=parse_time(status.get("endTime")),
        )


def error_of(failure: str | None) -> JobError:
    """`<code>: <message>` as Azure reports a failed job; a message without a code stays whole."""
    code, sep, message = (failure or "").partition(": ")
    if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]*", code):
        return JobError(code=code, message=message)
    return JobError(code=None, message=failure or "Azure gave no reason")


def finished_message(
    name: str, phase: str, seen: Seen, model: RegisteredModel | None, error: JobError | None
) -> str:
    """The message of a finished job: built from status only, so a settled pass repeats it exactly."""
    ran = (
        f" after running {duration((seen.end - seen.start).total_seconds())}"
        if seen.start and seen.end
        else ""
    )
    message = f"fine-tuning job {name} {phase}{ran}"
    if model is not None and model.model_id:
        message += f"; registered model {model.name}:{model.version} ({model.model_id})"
    if error is not None:
        message += f": {error.code + ': ' if error.code else ''}{error.message}"
    return message


@dataclass(frozen=True)
class Plan:
    action: Action
    message: str
    status: FineTuneJobStatus
    events: tuple[Event, ...] = ()
    progressed: bool = False


def plan(
    *,
    name: str,
    want: DesiredJob | None,
    observed: ObservedJob | None,
    owner: Ownership | None,
    seen: Seen,
    now: datetime,
) -> Plan:
    now = now.replace(microsecond=0)  # as status stores it: a settled pass recomputes the same message
    if observed is None:
        if seen.phase is not None:
            return Plan(
                Action.LOST,
                f"fine-tuning job {name} is no longer in Azure (it was {seen.phase}): it was deleted there "
                "before it finished; to fine-tune again, delete this object and create a new one",
                FineTuneJobStatus(),
            )
        source = f" on {want.training_data}" if want is not None else ""
        model = want.model if want is not None else "the model"
        return Plan(
            Action.SUBMIT,
            f"submitting fine-tuning job {name} of {model}{source}",
            FineTuneJobStatus(job_name=name),
        )
    if owner is not Ownership.OURS:
        return Plan(
            Action.CONFLICT,
            f"fine-tuning job {name} already exists in the workspace and was not submitted by this object; "
            "a submitted job cannot be adopted (its spec cannot be made to match): set spec.jobName to "
            "another name",
            FineTuneJobStatus(),
        )
    phase = observed.status or "NotStarted"
    registered = None
    if observed.output_model_id and observed.output_model_name and observed.output_model_version:
        registered = RegisteredModel(
            name=observed.output_model_name,
            version=observed.output_model_version,
            model_id=observed.output_model_id,
        )
    action = action_of(phase, model_registered=registered is not None)
    changed = phase != seen.phase
    since = now if changed or seen.since is None else seen.since
    start = seen.start or (now if action is Action.RUNNING and phase.lower() == "running" else None)
    end = seen.end or (now if action in TERMINAL_ACTIONS or action is Action.REGISTERING else None)
    error = error_of(observed.failure) if action is Action.FAILED else None
    status = FineTuneJobStatus(
        job_name=name,
        phase=phase,
        phase_transition_time=iso(since),
        start_time=iso(start) if start else None,
        end_time=iso(end) if end else None,
        studio_url=observed.studio_url,
        error=error,
        registered_model=registered,
    )
    if action in TERMINAL_ACTIONS:
        message = finished_message(name, phase, Seen(phase, since, start, end), registered, error)
    elif action is Action.REGISTERING:
        message = f"fine-tuning job {name} Completed; waiting for Azure to report the registered model"
    else:
        message = f"fine-tuning job {name} is {phase} (for {duration((now - since).total_seconds())})"
    events: tuple[Event, ...] = ()
    if changed and action in TERMINAL_ACTIONS:  # the message already says how long it ran
        kind = "Normal" if action is Action.COMPLETED else "Warning"
        events = (Event(kind, str(OUTCOMES[action].reason), message),)
    elif changed:
        was = (
            f" (was {seen.phase} for {duration((now - seen.since).total_seconds())})"
            if seen.phase and seen.since
            else ""
        )
        events = (Event("Normal", str(OUTCOMES[action].reason), f"{message}{was}"),)
    return Plan(action, message, status, events, progressed=changed)


def settled_plan(name: str, status: dict[str, Any]) -> Plan | None:
    """The plan for a job that status says has finished, from status alone; None if it has not."""
    seen = Seen.of(status)
    model = (
        RegisteredModel.model_validate(status["registeredModel"]) if status.get("registeredModel") else None
    )
    action = action_of(seen.phase, model_registered=bool(model and model.model_id))
    if seen.phase is None or action not in TERMINAL_ACTIONS:
        return None
    error = JobError.model_validate(status["error"]) if status.get("error") else None
    return Plan(action, finished_message(name, seen.phase, seen, model, error), FineTuneJobStatus())


def endpoint_spec(spec: FineTuneJobSpec, obj: Obj) -> dict[str, Any] | None:
    """The spec of the ServerlessEndpoint `deploy` asks for: it serves this job's model, in its workspace."""
    deploy = spec.deploy.serverless_endpoint if spec.deploy else None
    if deploy is None:
        return None
    child: dict[str, Any] = {"modelRef": {"fineTuneJob": obj.name}, "deletionPolicy": deploy.deletion_policy}
    if spec.workspace_ref is not None:
        child["workspaceRef"] = {"name": spec.workspace_ref.name}
    if spec.subscription_ref is not None:
        child["subscriptionRef"] = {"name": spec.subscription_ref.name}
    if deploy.content_safety is not None:
        child["contentSafety"] = deploy.content_safety.value
    if deploy.keys_secret_name is not None:
        child["keysSecretName"] = deploy.keys_secret_name
    # With every default filled in, as the API server stores it: else the stored spec would always
    # differ from this one, and each pass would write the child again.
    parsed = ENDPOINT_KIND.parse_spec(child)
    normal: dict[str, Any] = parsed.model_dump(by_alias=True, exclude_none=True, mode="json")
    return normal


class FineTuneJobAdapter(Adapter):
    info = KIND
    collection = jobs.COLLECTION
    tags_supported = True
    deleting = "canceling"
    # Data and subscription gate the submission only: a submitted job is observed whatever happens
    # to them since.
    dependencies = (
        Dependency("DataAsset", TRAINING_REF, waiting=Reason.WAITING_FOR_DATA),
        Dependency("DataAsset", VALIDATION_REF, waiting=Reason.WAITING_FOR_DATA),
        Dependency("ModelSubscription", "subscriptionRef"),
    )

    def azure_name(self, obj: Obj, spec: FineTuneJobSpec, refs: Refs) -> str:
        return spec.job_name or job_name(obj.namespace, obj.name, obj.uid)

    def describe(self, name: str) -> str:
        return f"fine-tuning job {name}"

    def desired(self, obj: Obj, spec: FineTuneJobSpec, refs: Refs) -> DesiredJob | None:
        return desired(spec, namespace=obj.namespace, name=obj.name, uid=obj.uid, refs=refs)

    def dependency_mismatch(self, dependency: Dependency, entry: Indexed, obj: Obj) -> str | None:
        return workspace_mismatch(entry, obj.kind, obj.spec, dependency.field)

    def _decision(self, result: Plan) -> Decision:
        return Decision(
            result.action,
            result.message,
            OUTCOMES[result.action],
            fields_of(result.status),
            result.events,
            progressed=result.progressed,
        )

    def decide(self, o: Observation) -> Decision:
        result = plan(
            name=o.name,
            want=o.desired,
            observed=o.observed,
            owner=o.owner,
            seen=Seen.of(o.obj.status),
            now=datetime.now(UTC),
        )
        return self._decision(result)

    def reads(self, spec: FineTuneJobSpec) -> tuple[Read, ...]:
        found = []
        for field, data in (("trainingData", spec.training_data), ("validationData", spec.validation_data)):
            parts = (data.asset_id or "").split(":")
            if len(parts) == 3:
                path = data_version_path(parts[1], parts[2])
                found.append(
                    Read(f"{field}.assetId", DATA_KIND.kind, DATA_KIND.plural, DATA_COLLECTION, path)
                )
        return tuple(found)

    def settled(self, obj: Obj, spec: FineTuneJobSpec) -> Decision | None:
        if not obj.recorded_id:
            return None
        result = settled_plan(self.azure_name(obj, spec, Refs()), obj.status)
        return None if result is None else self._decision(result)

    def gone(self, observed: ObservedJob) -> str | None:
        return f"has finished ({observed.status})" if jobs.is_terminal(observed.status) else None

    def azure_api(self, conn: Connection) -> jobs.FineTuningJobs:
        return jobs.FineTuningJobs(conn)

    async def read(self, api: jobs.FineTuningJobs, name: str) -> ObservedJob | None:
        job = await api.get(name)
        if (
            job is not None
            and (job.status or "").lower() == "completed"
            and job.output_model_name
            and job.output_model_version
        ):
            model_id = await api.model_id(job.output_model_name, job.output_model_version)
            job = replace(job, output_model_id=model_id)
        return job

    async def create(self, api: jobs.FineTuningJobs, name: str, desired: DesiredJob) -> None:
        await api.begin_create(name, desired)

    async def delete(self, api: jobs.FineTuningJobs, name: str) -> None:
        await api.begin_cancel(name)

    async def publish(self, ctx: Context, api: Any, o: Observation, verdict: Verdict) -> Verdict:
        """Completed: keep the ServerlessEndpoint `deploy` asks for, owned by this object."""
        child = endpoint_spec(o.spec, o.obj)
        if child is None or o.spec.deploy is None or o.spec.deploy.serverless_endpoint is None:
            return verdict
        name = o.spec.deploy.serverless_endpoint.name
        try:
            change = await ctx.kube.apply_owned_object(
                ENDPOINT_KIND, o.obj.namespace, name, o.obj.owner_reference, child
            )
        except ObjectNotOwned as err:
            return Verdict.not_ready(Reason.CONFLICT, f"{verdict.message}; but {err}", **verdict.fields)
        verdict.fields["serverlessEndpoint"] = name
        if change != "unchanged":
            verdict.events.append(
                Event(
                    "Normal",
                    "EndpointCreated" if change == "created" else "EndpointUpdated",
                    f"ServerlessEndpoint {name} {change} for the fine-tuned model",
                )
            )
        return verdict


ADAPTER = FineTuneJobAdapter()
