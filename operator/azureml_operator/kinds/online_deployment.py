"""OnlineDeployment: the deployment the spec asks for, how it differs from what Azure holds, and what
to do about it. Its share of traffic is the endpoint's business; this kind only reports it.

What Azure updates in place (model, environment, code, instance count, settings, variables) is put
right with one PUT of the same deployment; what it cannot (instance type, egress access) makes the
deployment one that can never become the spec, reported as such.

The adapter (Azure calls) lands with `azure/online.py`; these are its pure decisions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from azureml_operator.api.online_deployment import OnlineDeploymentSpec
from azureml_operator.azure.client import (
    OWNER_TAG,
    OWNER_UID_TAG,
    DesiredOnlineDeployment,
    ObservedOnlineDeployment,
    is_in_progress,
)
from azureml_operator.reconcilers.common import Ownership, azure_reports, has_failed, not_ours

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


def plan(
    *,
    want: DesiredOnlineDeployment,
    name: str,
    observed: ObservedOnlineDeployment | None,
    owner: Ownership | None,
    spec_changed_since_failure: bool,
) -> Plan:
    if observed is None:
        return Plan(
            Action.CREATE,
            f"creating online deployment {name} of {want.model or want.environment} on "
            f"{want.instance_count} x {want.instance_type}",
        )
    if owner is Ownership.FOREIGN:
        return Plan(
            Action.CONFLICT,
            not_ours(f"online deployment {name}", "Azure", ", or choose another spec.deploymentName"),
        )
    if is_in_progress(observed.provisioning_state):
        return Plan(Action.WAIT, azure_reports(observed.provisioning_state))
    fixed = fixed_differences(want, observed)
    if fixed:
        return Plan(
            Action.DIFFERS,
            f"online deployment {name} in Azure has {'; '.join(fixed)}, and Azure cannot change that in "
            "place: create a new deployment and move the traffic to it",
        )
    failed = has_failed(observed.provisioning_state)
    if failed and not spec_changed_since_failure:
        why = f": {observed.failure}" if observed.failure else ""
        return Plan(
            Action.FAILED,
            f"Azure reports provisioningState {observed.provisioning_state}{why}; change the spec or delete "
            "the object to retry",
        )
    changes = differences(want, observed)
    if changes or failed:
        return Plan(
            Action.UPDATE,
            f"updating online deployment {name}: {'; '.join(changes) or 'retrying the failed provisioning'}",
        )
    return Plan(
        Action.READY, f"online deployment {name} runs {observed.instance_count} x {observed.instance_type}"
    )
