"""OnlineEndpoint: the endpoint the spec asks for, and the traffic maps Azure may be given now.

The maps are applied whole, and only when Azure would take them: every deployment they give a share
names a deployment that exists in Azure and has succeeded (its OnlineDeployment is Ready). Until
then Azure keeps the maps it has, and the endpoint says which deployments it waits for
(`TrafficPending`). A mirror share to a deployment being deleted is dropped first, so that its
deletion is not held by the mirror; live traffic to it is not moved: that is the user's decision.
Zero shares are what Azure means by leaving a deployment out, so they never count as a difference.

The adapter (Azure calls, Secret) lands with `azure/online.py`; these are its pure decisions.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import Enum

from azureml_operator.azure.client import DesiredOnlineEndpoint, ObservedOnlineEndpoint, is_in_progress
from azureml_operator.reconcilers.common import Ownership, azure_reports, has_failed, not_ours


def shares(traffic: Mapping[str, int]) -> dict[str, int]:
    """The positive shares: Azure reports 0 for every deployment a map leaves out."""
    return {k.lower(): v for k, v in traffic.items() if v > 0}


@dataclass(frozen=True)
class Maps:
    """The maps to hold in Azure now, and the deployments the declared ones still wait for."""

    traffic: dict[str, int]
    mirror_traffic: dict[str, int]
    waiting_for: tuple[str, ...] = ()
    dropped_mirror: tuple[str, ...] = ()  # mirror shares left out: their deployments are going


def maps_now(
    *,
    traffic: Mapping[str, int],
    mirror_traffic: Mapping[str, int],
    ready: Collection[str],
    deleting: Collection[str],
    in_azure: ObservedOnlineEndpoint | None,
) -> Maps:
    """What Azure may be given: the declared maps once every deployment with a share is ready, else
    the maps Azure has (none for a new endpoint). Deployment names compare case-insensitively, as
    Azure's do."""
    ready_names = {d.lower() for d in ready}
    going = {d.lower() for d in deleting}
    live = shares(traffic)
    mirror = {k: v for k, v in shares(mirror_traffic).items() if k not in going}
    dropped = tuple(sorted(k for k in shares(mirror_traffic) if k in going))
    waiting = tuple(sorted(d for d in {*live, *mirror} if d not in ready_names))
    if not waiting:
        return Maps(live, mirror, (), dropped)
    held_live = shares(in_azure.traffic) if in_azure is not None else {}
    held_mirror = shares(in_azure.mirror_traffic) if in_azure is not None else {}
    # Even while waiting, a mirror to a deployment being deleted goes.
    held_mirror = {k: v for k, v in held_mirror.items() if k not in going}
    return Maps(held_live, held_mirror, waiting, dropped)


def differences(want: DesiredOnlineEndpoint, have: ObservedOnlineEndpoint) -> list[str]:
    """What Azure holds differently, as `field: have -> want` phrases; tags other than the
    operator's own are left to whoever set them."""
    changes = []
    if (have.auth_mode or "").lower() != want.auth_mode.lower():
        changes.append(f"authMode: {have.auth_mode} -> {want.auth_mode}")
    if (have.public_network_access or "Enabled").lower() != want.public_network_access.lower():
        changes.append(f"publicNetworkAccess: {have.public_network_access} -> {want.public_network_access}")
    if want.description is not None and (have.description or "") != want.description:
        changes.append("description")
    if shares(have.traffic) != shares(want.traffic):
        changes.append(f"traffic: {_show(have.traffic)} -> {_show(want.traffic)}")
    if shares(have.mirror_traffic) != shares(want.mirror_traffic):
        changes.append(f"mirrorTraffic: {_show(have.mirror_traffic)} -> {_show(want.mirror_traffic)}")
    for tag, value in want.tags.items():
        if have.tags.get(tag) != value:
            changes.append(f"tag {tag}")
    return changes


def _show(traffic: Mapping[str, int]) -> str:
    positive = shares(traffic)
    return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(positive.items())) + "}" if positive else "{}"


class Action(Enum):
    CREATE = "create"
    UPDATE = "update"
    WAIT = "wait"  # an operation is in flight in Azure
    PENDING = "pending"  # as declared except the maps, which wait for deployments
    READY = "ready"
    CONFLICT = "conflict"
    FAILED = "failed"


@dataclass(frozen=True)
class Plan:
    action: Action
    message: str


def plan(
    *,
    want: DesiredOnlineEndpoint,
    maps: Maps,
    name: str,
    observed: ObservedOnlineEndpoint | None,
    owner: Ownership | None,
    spec_changed_since_failure: bool,
) -> Plan:
    """`want` already carries `maps` (what Azure may be given now)."""
    if observed is None:
        return Plan(Action.CREATE, f"creating online endpoint {name}")
    if owner is Ownership.FOREIGN:
        return Plan(
            Action.CONFLICT,
            not_ours(f"online endpoint {name}", "Azure", ", or choose another spec.endpointName"),
        )
    if is_in_progress(observed.provisioning_state):
        return Plan(Action.WAIT, azure_reports(observed.provisioning_state))
    failed = has_failed(observed.provisioning_state)
    if failed and not spec_changed_since_failure:
        return Plan(
            Action.FAILED,
            f"Azure reports provisioningState {observed.provisioning_state}; change the spec or delete "
            "the object to retry",
        )
    changes = differences(want, observed)
    if changes or failed:
        why = "; ".join(changes) if changes else "retrying the failed provisioning"
        return Plan(Action.UPDATE, f"updating online endpoint {name}: {why}")
    if maps.waiting_for:
        return Plan(
            Action.PENDING,
            f"online endpoint {name} keeps its traffic {_show(observed.traffic)} until "
            f"{', '.join(maps.waiting_for)} {'is' if len(maps.waiting_for) == 1 else 'are'} Ready",
        )
    return Plan(Action.READY, f"online endpoint {name} serves {_show(observed.traffic)}")
