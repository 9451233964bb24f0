"""OnlineDeployment: the deployment the spec asks for, how it differs from what Azure holds, and what
to do about it. Its share of traffic is the endpoint's business; this kind only reports it.

What Azure updates in place (model, environment, code, instance count, settings, variables) is put
right with one PUT of the same deployment; what it cannot (instance type, egress access) makes the
deployment one that can never become the spec, reported as such.

Deleting one that still gets live traffic is held until the endpoint's traffic moves; a mirror to
it is dropped by the endpoint first; one whose endpoint is gone or going is released at once (Azure
deletes an endpoint's deployments with it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from azureml_operator.api.online_deployment import KIND, OnlineDeploymentSpec, OnlineDeploymentStatus
from azureml_operator.azure import online
from azureml_operator.azure.client import (
    OWNER_TAG,
    OWNER_UID_TAG,
    Connection,
    DesiredOnlineDeployment,
    ObservedOnlineDeployment,
)
from azureml_operator.conditions import Reason
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
)
from azureml_operator.reconcilers.lifecycle import Facts, Step, next_step, outcome_of
from azureml_operator.reconcilers.lookups import Indexed, ref_name
from azureml_operator.reconcilers.objects import Obj
from azureml_operator.reconcilers.status import fields_of

_SHORT = re.compile(r"^azureml:([^:@/]+):([^:@/]+)$")
_PATH = re.compile(r"/(models|environments)/([^/]+)/versions/([^/]+)$", re.IGNORECASE)
_REGISTRY = re.compile(r"^azureml://registries/([^/]+)/", re.IGNORECASE)


def asset_key(value: str | None) -> tuple[str, str, str] | None:
    """(where, name, version) of a model or environment version, whichever way it is written:
    `azureml:<name>:<version>` and the workspace ARM id Azure turns it into are the same asset. None
    for a reference that cannot be compared (a label such as @latest)."""
    if not value:
        return None
    short = _SHORT.match(value)
    if short:
        return ("workspace", short.group(1).lower(), short.group(2).lower())
    path = _PATH.search(value)
    if path is None:
        return None
    registry = _REGISTRY.match(value)
    where = f"registry {registry.group(1).lower()}" if registry else "workspace"
    return (where, path.group(2).lower(), path.group(3).lower())


def desired(spec: OnlineDeploymentSpec, *, namespace: str, name: str, uid: str) -> DesiredOnlineDeployment:
    def dumped(model: Any) -> dict[str, Any] | None:
        return model.model_dump(by_alias=True, exclude_none=True) if model is not None else None

    code = spec.code_configuration
    return DesiredOnlineDeployment(
        model=spec.model,
        environment=spec.environment,
        code_id=code.code_id if code else None,
        scoring_script=code.scoring_script if code else None,
        instance_type=spec.instance_type,
        instance_count=spec.instance_count,
        request_settings=dumped(spec.request_settings) or {},
        liveness_probe=dumped(spec.liveness_probe),
        readiness_probe=dumped(spec.readiness_probe),
        environment_variables=dict(spec.environment_variables or {}),
        app_insights_enabled=spec.app_insights_enabled,
        egress_public_network_access=spec.egress_public_network_access.value,
        tags={OWNER_TAG: f"{namespace}/{name}", OWNER_UID_TAG: uid},
    )


def fixed_differences(want: DesiredOnlineDeployment, have: ObservedOnlineDeployment) -> list[str]:
    """What Azure holds differently and cannot change in place."""
    changes = []
    if (have.instance_type or "").lower() != want.instance_type.lower():
        changes.append(f"instanceType {have.instance_type}, not {want.instance_type}")
    egress = have.egress_public_network_access or "Enabled"
    if egress.lower() != want.egress_public_network_access.lower():
        changes.append(f"egressPublicNetworkAccess {egress}, not {want.egress_public_network_access}")
    return changes


def differences(want: DesiredOnlineDeployment, have: ObservedOnlineDeployment) -> list[str]:
    """What Azure holds differently and updates in place, as `field: have -> want` phrases. Only
    what the spec sets counts (an omitted environment accepts the model's own)."""
    changes = []
    if want.model is not None and asset_key(want.model) != asset_key(have.model):
        changes.append(f"model: {have.model} -> {want.model}")
    wanted_env = asset_key(want.environment)
    if wanted_env is not None and wanted_env != asset_key(have.environment):
        changes.append(f"environment: {have.environment} -> {want.environment}")
    if have.instance_count != want.instance_count:
        changes.append(f"instanceCount: {have.instance_count} -> {want.instance_count}")
    for key, value in want.request_settings.items():
        if have.request_settings.get(key) != value:
            changes.append(f"requestSettings.{key}: {have.request_settings.get(key)} -> {value}")
    if have.environment_variables != want.environment_variables:
        changes.append("environmentVariables")
    if have.app_insights_enabled != want.app_insights_enabled:
        changes.append(f"appInsightsEnabled: {have.app_insights_enabled} -> {want.app_insights_enabled}")
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
    DIFFERS = "differs"  # holds what Azure cannot change in place
    FAILED = "failed"


@dataclass(frozen=True)
class Plan:
    action: Action
    message: str


# The lifecycle's steps, as this kind's actions (SETTLED is decided by the plan itself).
STEPS = {
    Step.CREATE: Action.CREATE,
    Step.CONFLICT: Action.CONFLICT,
    Step.DIFFERS: Action.DIFFERS,
    Step.WAIT: Action.WAIT,
    Step.FAILED: Action.FAILED,
    Step.UPDATE: Action.UPDATE,
}


def plan(
    *,
    want: DesiredOnlineDeployment,
    name: str,
    observed: ObservedOnlineDeployment | None,
    owner: Ownership | None,
    spec_changed_since_failure: bool,
) -> Plan:
    what = f"online deployment {name}"
    facts = Facts(what, "deploymentName", observed is not None, owner, None)
    if observed is not None:
        fixed = fixed_differences(want, observed)
        facts = replace(
            facts,
            provisioning_state=observed.provisioning_state,
            unchangeable=(
                f"{what} in Azure has {'; '.join(fixed)}, and Azure cannot change that in place: "
                "create a new deployment and move the traffic to it"
            )
            if fixed
            else None,
            failure=f": {observed.failure}" if observed.failure else "",
            changes=differences(want, observed),
        )
    creating = (
        f"creating {what} of {want.model or want.environment} on {want.instance_count} x {want.instance_type}"
    )
    step = next_step(facts, creating=creating, spec_changed_since_failure=spec_changed_since_failure)
    if step.step is not Step.SETTLED:
        return Plan(STEPS[step.step], step.message)
    assert observed is not None
    return Plan(Action.READY, f"{what} runs {observed.instance_count} x {observed.instance_type}")


# -- the adapter ------------------------------------------------------------------------------------

ENDPOINT_REF = "endpointRef"
OUTCOMES = {
    Action.CREATE: Outcome(Effect.CREATE, Reason.CREATING, poll=POLL_OPERATION),
    Action.UPDATE: Outcome(Effect.UPDATE, Reason.UPDATING, poll=POLL_OPERATION),
    Action.WAIT: Outcome(Effect.NONE, Reason.UPDATING, poll=POLL_OPERATION),
    Action.READY: Outcome(Effect.NONE, Reason.SUCCEEDED, ready=True),
    Action.CONFLICT: Outcome(Effect.NONE, Reason.CONFLICT),
    Action.DIFFERS: Outcome(Effect.NONE, Reason.CONFLICT),
    Action.FAILED: Outcome(Effect.NONE, Reason.PROVISIONING_FAILED),
}


def endpoint_name_of(entry: Indexed | None, spec: OnlineDeploymentSpec) -> str:
    """The endpoint's name in Azure: its spec.endpointName, else its object name."""
    if entry is None:
        return spec.endpoint_ref.name
    named = entry.spec.get("endpointName")
    return named if isinstance(named, str) and named else entry.name


def share_of(entry: Indexed | None, deployment: str, which: str) -> int:
    """This deployment's share in the endpoint's map as Azure has it (the endpoint's status)."""
    shares = (entry.status.get(which) if entry is not None else None) or {}
    return next((int(v) for k, v in shares.items() if k.lower() == deployment.lower()), 0)


class OnlineDeploymentAdapter(Adapter):
    info = KIND
    collection = online.COLLECTION
    tags_supported = True
    # Nothing in Azure before the endpoint exists there: the deployment's path and workspace are its.
    dependencies = (
        Dependency(
            "OnlineEndpoint",
            ENDPOINT_REF,
            gate=Gate.ALL,
            waiting=Reason.WAITING_FOR_ENDPOINT,
            follows=True,
            until="to exist in Azure",
        ),
    )

    def azure_name(self, obj: Obj, spec: OnlineDeploymentSpec, refs: Refs) -> str:
        endpoint = endpoint_name_of(refs.get(ENDPOINT_REF), spec)
        return f"{endpoint}/{online.DEPLOYMENTS}/{spec.deployment_name or obj.name}"

    def describe(self, name: str) -> str:
        endpoint, deployment = _split(name)
        return f"online deployment {deployment} of endpoint {endpoint}"

    def workspace_of(self, spec: OnlineDeploymentSpec, refs: Refs) -> str | None:
        endpoint = refs.get(ENDPOINT_REF)
        return ref_name(endpoint.spec, "workspaceRef") if endpoint is not None else None

    def dependency_ready(self, dependency: Dependency, entry: Indexed) -> bool:
        # Its endpoint exists in Azure: one whose traffic waits for this very deployment is not Ready.
        state = str(entry.status.get("provisioningState") or "")
        return bool(entry.status.get("azureResourceId")) and state.lower() == "succeeded"

    def desired(self, obj: Obj, spec: OnlineDeploymentSpec, refs: Refs) -> DesiredOnlineDeployment:
        return desired(spec, namespace=obj.namespace, name=obj.name, uid=obj.uid)

    def decide(self, o: Observation) -> Decision:
        result = plan(
            want=o.desired,
            name=o.name.rpartition("/")[2],
            observed=o.observed,
            owner=o.owner,
            spec_changed_since_failure=o.spec_changed_since_last_pass,
        )
        state = o.observed.provisioning_state if o.observed else None
        outcome = outcome_of(OUTCOMES, STEPS, result.action, state)
        fields: dict[str, Any] = {}
        if result.action is not Action.CONFLICT and o.observed is not None:
            endpoint, deployment = o.refs.get(ENDPOINT_REF), o.observed.name
            fields = fields_of(
                OnlineDeploymentStatus(
                    provisioning_state=o.observed.provisioning_state,
                    instance_count=o.observed.instance_count,
                    traffic=share_of(endpoint, deployment, "traffic"),
                    mirror_traffic=share_of(endpoint, deployment, "mirrorTraffic"),
                )
            )
        return Decision(result.action, result.message, outcome, fields)

    def deletion_hold(self, obj: Obj, spec: OnlineDeploymentSpec, refs: Refs, attempt: int) -> Verdict | None:
        endpoint = refs.get(ENDPOINT_REF)
        if endpoint is None or endpoint.deleting:
            # Azure deletes an endpoint's deployments with it (§10.2): no second delete each.
            return Verdict.release(
                f"its endpoint {spec.endpoint_ref.name} is gone or going, and this deployment with it"
            )
        deployment = spec.deployment_name or obj.name
        live = share_of(endpoint, deployment, "traffic")
        if live:
            message = (
                f"OnlineEndpoint {endpoint.name} still sends {live} % of its live traffic to this deployment: "
                "move it away (its spec.traffic) and the deletion proceeds"
            )
            return Verdict.not_ready(
                Reason.DELETION_BLOCKED, message, requeue_after=WAIT_DEPENDENCY.delay(attempt)
            )
        if share_of(endpoint, deployment, "mirrorTraffic"):
            message = (
                f"waiting for OnlineEndpoint {endpoint.name} to stop mirroring traffic to this deployment"
            )
            return Verdict.not_ready(Reason.DELETING, message, requeue_after=WAIT_DEPENDENCY.delay(attempt))
        return None

    def azure_api(self, conn: Connection) -> online.OnlineDeployments:
        return online.OnlineDeployments(conn)

    async def read(self, api: online.OnlineDeployments, name: str) -> ObservedOnlineDeployment | None:
        endpoint, deployment = _split(name)
        return await api.get(endpoint, deployment)

    async def create(
        self, api: online.OnlineDeployments, name: str, desired: DesiredOnlineDeployment
    ) -> None:
        await api.begin_put(*_split(name), desired)

    async def update(
        self,
        api: online.OnlineDeployments,
        name: str,
        desired: DesiredOnlineDeployment,
        observed: ObservedOnlineDeployment,
    ) -> None:
        await api.begin_put(*_split(name), merged_tags(desired, observed))

    async def delete(self, api: online.OnlineDeployments, name: str) -> None:
        await api.begin_delete(*_split(name))


def _split(name: str) -> tuple[str, str]:
    endpoint, _, deployment = name.partition(f"/{online.DEPLOYMENTS}/")
    return endpoint, deployment


ADAPTER = OnlineDeploymentAdapter()
