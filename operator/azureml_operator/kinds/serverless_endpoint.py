"""ServerlessEndpoint: the endpoint the spec asks for, how it differs from what Azure holds, what to
do about it, and the keys Secret that makes it usable.

The model is a registry model (`spec.modelId`) or the one a FineTuneJob of the namespace registers
(`spec.modelRef.fineTuneJob`): then nothing happens in Azure until that job has completed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from azureml_operator.api.serverless_endpoint import KIND, ServerlessEndpointSpec, ServerlessEndpointStatus
from azureml_operator.azure import serverless
from azureml_operator.azure.client import (
    OWNER_TAG,
    OWNER_UID_TAG,
    Connection,
    DesiredServerless,
    ModelSource,
    ObservedServerless,
)
from azureml_operator.conditions import Reason
from azureml_operator.errors import InvalidSpec, Terminal
from azureml_operator.kinds.finetune_job import job_name_of
from azureml_operator.reconcilers import rotation
from azureml_operator.reconcilers.adapters import (
    Adapter,
    Decision,
    Dependency,
    Effect,
    Gate,
    Observation,
    Outcome,
    Refs,
)
from azureml_operator.reconcilers.common import (
    POLL_OPERATION,
    WAIT_DEPENDENCY,
    Ownership,
    Verdict,
    merged_tags,
    same_model,
)
from azureml_operator.reconcilers.context import Context
from azureml_operator.reconcilers.lifecycle import Facts, Step, next_step, outcome_of
from azureml_operator.reconcilers.lookups import Indexed, workspace_mismatch
from azureml_operator.reconcilers.objects import Obj
from azureml_operator.reconcilers.secrets import keys_secret_name, publish_secret
from azureml_operator.reconcilers.status import fields_of


def desired(
    *,
    model_id: str,
    auth_mode: str,
    content_safety: str | None,
    namespace: str,
    name: str,
    uid: str,
    source: ModelSource | None = None,
) -> DesiredServerless:
    return DesiredServerless(
        model_id=model_id,
        auth_mode=auth_mode,
        content_safety=content_safety,
        tags={OWNER_TAG: f"{namespace}/{name}", OWNER_UID_TAG: uid},
        source=source,
    )


def drift(want: DesiredServerless, have: ObservedServerless) -> list[str]:
    """The fields Azure holds differently from the spec, as `field: have -> want` phrases.

    Only what the spec sets counts: an omitted contentSafety accepts whatever Azure defaulted to,
    and tags other than the operator's own are left to whoever set them.
    """
    changes = []
    if want.content_safety is not None and (have.content_safety or "") != want.content_safety:
        changes.append(f"contentSafety: {have.content_safety} -> {want.content_safety}")
    if (have.auth_mode or "") != want.auth_mode:
        changes.append(f"authMode: {have.auth_mode} -> {want.auth_mode}")
    for tag, value in want.tags.items():
        if have.tags.get(tag) != value:
            changes.append(f"tag {tag}")
    return changes


class Action(Enum):
    CREATE = "create"
    UPDATE = "update"
    WAIT = "wait"
    READY = "ready"
    CONFLICT = "conflict"
    FAILED = "failed"
    SUSPENDED = "suspended"


@dataclass(frozen=True)
class Plan:
    action: Action
    message: str


# The lifecycle's steps, as this kind's actions (SETTLED is decided by the plan itself).
STEPS = {
    Step.CREATE: Action.CREATE,
    Step.CONFLICT: Action.CONFLICT,
    Step.DIFFERS: Action.CONFLICT,
    Step.WAIT: Action.WAIT,
    Step.FAILED: Action.FAILED,
    Step.UPDATE: Action.UPDATE,
}


def plan(
    *,
    want: DesiredServerless,
    name: str,
    observed: ObservedServerless | None,
    owner: Ownership | None,
    spec_changed_since_failure: bool,
) -> Plan:
    what = f"serverless endpoint {name}"
    facts = Facts(what, "endpointName", observed is not None, owner, None)
    if observed is not None:
        facts = replace(
            facts,
            provisioning_state=observed.provisioning_state,
            unchangeable=None
            if same_model(observed.model_id, want.model_id)
            else (
                f"{what} in Azure serves {observed.model_id}, not {want.model_id}; the model of an "
                "endpoint cannot change: delete it in Azure or choose another spec.endpointName"
            ),
            failure=f" (endpointState {observed.endpoint_state})",
            changes=drift(want, observed),
        )
    step = next_step(
        facts,
        creating=f"creating {what} for {want.model_id}",
        spec_changed_since_failure=spec_changed_since_failure,
    )
    if step.step is not Step.SETTLED:
        return Plan(STEPS[step.step], step.message)
    assert observed is not None
    if (observed.endpoint_state or "").lower() == "suspended":
        return Plan(
            Action.SUSPENDED,
            f"{what} is Suspended: the workspace's Marketplace subscription for {want.model_id} is "
            "missing or inactive",
        )
    return Plan(Action.READY, f"{what} is {observed.endpoint_state or 'Online'}")


def status_fields(observed: ObservedServerless | None, model_id: str) -> dict[str, Any]:
    if observed is None:
        return fields_of(
            ServerlessEndpointStatus(
                inference_uri=None, endpoint_state=None, provisioning_state=None, model_id=model_id
            )
        )
    return fields_of(
        ServerlessEndpointStatus(
            inference_uri=observed.inference_uri,
            endpoint_state=observed.endpoint_state,
            provisioning_state=observed.provisioning_state,
            model_id=observed.model_id,
        )
    )


OUTCOMES = {
    Action.CREATE: Outcome(Effect.CREATE, Reason.CREATING, poll=POLL_OPERATION),
    Action.UPDATE: Outcome(Effect.UPDATE, Reason.UPDATING, poll=POLL_OPERATION),
    Action.WAIT: Outcome(Effect.NONE, Reason.UPDATING, poll=POLL_OPERATION),
    Action.READY: Outcome(Effect.PUBLISH, Reason.SUCCEEDED, ready=True),
    Action.CONFLICT: Outcome(Effect.NONE, Reason.CONFLICT),
    Action.FAILED: Outcome(Effect.NONE, Reason.PROVISIONING_FAILED),
    Action.SUSPENDED: Outcome(Effect.NONE, Reason.SUBSCRIPTION_INACTIVE, poll=WAIT_DEPENDENCY),
}


MODEL_REF = "modelRef.fineTuneJob"


def model_of(spec: ServerlessEndpointSpec, refs: Refs) -> tuple[str, ModelSource | None]:
    """The model id to serve: the spec's, or the one the referenced FineTuneJob reports, with the job
    it must come from. That report is status, which anyone who may write the job's status can
    change: a creation asks Azure first (`ServerlessEndpointAdapter.create`)."""
    if spec.model_id is not None:
        return spec.model_id, None
    job = refs.get(MODEL_REF)
    registered = (job.status.get("registeredModel") or {}) if job is not None else {}
    model_id = registered.get("modelId") if isinstance(registered, dict) else None
    if job is None or not isinstance(model_id, str) or not model_id:
        # Unreachable past the gate (the job is Ready only with its model registered), unless the
        # job's status was edited by hand.
        named = spec.model_ref.fine_tune_job if spec.model_ref else "?"
        raise InvalidSpec(f"FineTuneJob {named} is Ready but reports no registered model")
    return model_id, ModelSource(job_name=job_name_of(job), owner_uid=job.uid)


class ServerlessEndpointAdapter(Adapter):
    info = KIND
    collection = serverless.COLLECTION
    tags_supported = True
    # The subscription gates creation only: an existing endpoint is always observed and reported as
    # Azure has it, even while its ModelSubscription is away.
    dependencies = (
        Dependency("ModelSubscription", "subscriptionRef"),
        Dependency("FineTuneJob", MODEL_REF, gate=Gate.ALL, waiting=Reason.WAITING_FOR_MODEL),
    )
    failure_hints = {
        Reason.SUBSCRIPTION_MISSING: "create a ModelSubscription for the model "
        "(and name it in spec.subscriptionRef to wait for it)"
    }

    def azure_name(self, obj: Obj, spec: ServerlessEndpointSpec, refs: Refs) -> str:
        return spec.endpoint_name or obj.name

    def describe(self, name: str) -> str:
        return f"serverless endpoint {name}"

    def desired(self, obj: Obj, spec: ServerlessEndpointSpec, refs: Refs) -> DesiredServerless:
        model_id, source = model_of(spec, refs)
        return desired(
            model_id=model_id,
            source=source,
            auth_mode=spec.auth_mode,
            content_safety=spec.content_safety.value if spec.content_safety else None,
            namespace=obj.namespace,
            name=obj.name,
            uid=obj.uid,
        )

    def dependency_mismatch(self, dependency: Dependency, entry: Indexed, obj: Obj) -> str | None:
        if dependency.kind == "FineTuneJob":
            # A fine-tuned model is registered in the job's workspace, and only deploys there.
            return workspace_mismatch(entry, obj.kind, obj.spec, MODEL_REF)
        theirs, ours = str(entry.spec.get("modelId") or ""), str(obj.spec.get("modelId") or "")
        # With modelRef the subscription is for the fine-tune's base model, which Azure checks.
        if theirs and ours and not same_model(theirs, ours):
            return (
                f"spec.subscriptionRef names ModelSubscription {entry.name} for {theirs}, "
                f"but this endpoint serves {ours}"
            )
        # A Marketplace subscription belongs to one workspace: another's does not let this one deploy.
        return workspace_mismatch(entry, obj.kind, obj.spec, "subscriptionRef")

    def decide(self, o: Observation) -> Decision:
        result = plan(
            want=o.desired,
            name=o.name,
            observed=o.observed,
            owner=o.owner,
            spec_changed_since_failure=o.spec_changed_since_last_pass,
        )
        state = o.observed.provisioning_state if o.observed else None
        outcome = outcome_of(OUTCOMES, STEPS, result.action, state)
        fields = {} if result.action is Action.CONFLICT else status_fields(o.observed, o.desired.model_id)
        return Decision(result.action, result.message, outcome, fields)

    def azure_api(self, conn: Connection) -> serverless.ServerlessEndpoints:
        return serverless.ServerlessEndpoints(conn)

    async def create(
        self, api: serverless.ServerlessEndpoints, name: str, desired: DesiredServerless
    ) -> None:
        if desired.source is not None:
            # Only a model the named job registered in Azure is deployed, whatever its status says.
            registered = await api.fine_tuned_model(desired.source)
            if registered is None or not same_model(registered, desired.model_id):
                raise Terminal(
                    f"{desired.model_id} is not the model fine-tuning job {desired.source.job_name} of that "
                    f"FineTuneJob registered in Azure ({registered or 'none'}): not deploying it",
                    reason=Reason.CONFLICT,
                )
        await api.begin_put(name, desired)

    async def update(
        self,
        api: serverless.ServerlessEndpoints,
        name: str,
        desired: DesiredServerless,
        observed: ObservedServerless,
    ) -> None:
        await api.begin_put(name, merged_tags(desired, observed))

    async def publish(
        self, ctx: Context, api: serverless.ServerlessEndpoints, o: Observation, verdict: Verdict
    ) -> Verdict:
        """Copy the URI and keys into the keys Secret, after the key rotation's step if one is due;
        Ready only once they are there."""
        secret = keys_secret_name(o.obj, o.spec)
        rotated = await rotation.rotate_for(ctx, api, o, secret)
        keys = rotated.keys
        assert keys is not None  # a Key endpoint's keys are always read
        data = {
            "primaryKey": keys.primary,
            "secondaryKey": keys.secondary,
            "endpoint": o.observed.inference_uri or "",
        }
        verdict = rotation.into(verdict, rotated, ctx.settings.drift_interval)
        return await publish_secret(ctx, o.obj, secret, data, verdict, what="URI and keys")


ADAPTER = ServerlessEndpointAdapter()
