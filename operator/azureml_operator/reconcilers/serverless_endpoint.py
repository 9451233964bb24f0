"""Decisions for ServerlessEndpoint: the endpoint the spec asks for, how it differs from what Azure
holds, and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from azureml_operator.azure.client import (
    OWNER_TAG,
    OWNER_UID_TAG,
    DesiredServerless,
    ObservedServerless,
    is_in_progress,
)
from azureml_operator.reconcilers.common import Ownership
from azureml_operator.reconcilers.model_subscription import same_model


def desired(
    *, model_id: str, auth_mode: str, content_safety: str | None, namespace: str, name: str, uid: str
) -> DesiredServerless:
    return DesiredServerless(
        model_id=model_id,
        auth_mode=auth_mode,
        content_safety=content_safety,
        tags={OWNER_TAG: f"{namespace}/{name}", OWNER_UID_TAG: uid},
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


def merged_tags(want: DesiredServerless, have: ObservedServerless | None) -> DesiredServerless:
    """Keep tags someone else put on the endpoint: a PUT replaces the whole tag set."""
    if have is None or not have.tags:
        return want
    return DesiredServerless(
        model_id=want.model_id,
        auth_mode=want.auth_mode,
        content_safety=want.content_safety,
        tags={**have.tags, **want.tags},
    )


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


def plan(
    *,
    want: DesiredServerless,
    name: str,
    observed: ObservedServerless | None,
    owner: Ownership | None,
    spec_changed_since_failure: bool,
) -> Plan:
    if observed is None:
        return Plan(Action.CREATE, f"creating serverless endpoint {name} for {want.model_id}")
    if owner is Ownership.FOREIGN:
        return Plan(
            Action.CONFLICT,
            f"serverless endpoint {name} already exists in Azure and was not created by this object; "
            'annotate it with azureml.dev/adopt: "true" to take it over, or choose another spec.endpointName',
        )
    if not same_model(observed.model_id, want.model_id):
        return Plan(
            Action.CONFLICT,
            f"serverless endpoint {name} in Azure serves {observed.model_id}, not {want.model_id}; "
            "the model of an endpoint cannot change: delete it in Azure or choose another spec.endpointName",
        )
    if is_in_progress(observed.provisioning_state):
        return Plan(Action.WAIT, f"Azure reports provisioningState {observed.provisioning_state}")
    failed = (observed.provisioning_state or "").lower() in ("failed", "canceled")
    if failed and not spec_changed_since_failure:
        return Plan(
            Action.FAILED,
            f"Azure reports provisioningState {observed.provisioning_state} "
            f"(endpointState {observed.endpoint_state}); change the spec or delete the object to retry",
        )
    changes = drift(want, observed)
    if changes or failed:
        why = "; ".join(changes) if changes else "retrying the failed provisioning"
        return Plan(Action.UPDATE, f"updating serverless endpoint {name}: {why}")
    if (observed.endpoint_state or "").lower() == "suspended":
        return Plan(
            Action.SUSPENDED,
            f"serverless endpoint {name} is Suspended: the workspace's Marketplace subscription for "
            f"{want.model_id} is missing or inactive",
        )
    return Plan(Action.READY, f"serverless endpoint {name} is {observed.endpoint_state or 'Online'}")


def status_fields(observed: ObservedServerless | None) -> dict[str, Any]:
    if observed is None:
        return {"inferenceUri": None, "endpointState": None, "provisioningState": None}
    return {
        "inferenceUri": observed.inference_uri,
        "endpointState": observed.endpoint_state,
        "provisioningState": observed.provisioning_state,
    }
