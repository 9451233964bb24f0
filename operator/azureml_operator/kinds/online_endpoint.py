"""OnlineEndpoint: the endpoint the spec asks for, and the traffic maps Azure may be given now.

The maps are applied whole, and only when Azure would take them: every deployment they give a share
names a deployment that exists in Azure and has succeeded (its OnlineDeployment is Ready). Until
then Azure keeps the maps it has, and the endpoint says which deployments it waits for
(`TrafficPending`). A mirror share to a deployment being deleted is dropped first, so that its
deletion is not held by the mirror; live traffic to it is not moved: that is the user's decision.
Zero shares are what Azure means by leaving a deployment out, so they never count as a difference.

"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from azureml_operator.api.online_endpoint import (
    KEYLESS,
    KIND,
    AuthMode,
    OnlineEndpointSpec,
    OnlineEndpointStatus,
)
from azureml_operator.azure import online
from azureml_operator.azure.client import (
    OWNER_TAG,
    OWNER_UID_TAG,
    Connection,
    DesiredOnlineEndpoint,
    ObservedOnlineEndpoint,
)
from azureml_operator.conditions import Reason
from azureml_operator.reconcilers import rotation
from azureml_operator.reconcilers.adapters import Adapter, Decision, Effect, Observation, Outcome, Refs
from azureml_operator.reconcilers.common import (
    POLL_OPERATION,
    WAIT_DEPENDENCY,
    Event,
    Finality,
    Ownership,
    Verdict,
    merged_tags,
)
from azureml_operator.reconcilers.context import Context
from azureml_operator.reconcilers.lifecycle import Facts, Step, next_step, outcome_of
from azureml_operator.reconcilers.lookups import Indexed
from azureml_operator.reconcilers.objects import Obj
from azureml_operator.reconcilers.secrets import keys_secret_name, publish_secret
from azureml_operator.reconcilers.status import fields_of


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


# The lifecycle's steps, as this kind's actions (SETTLED is decided by the plan itself).
STEPS = {
    Step.CREATE: Action.CREATE,
    Step.CONFLICT: Action.CONFLICT,
    Step.WAIT: Action.WAIT,
    Step.FAILED: Action.FAILED,
    Step.UPDATE: Action.UPDATE,
}


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
    what = f"online endpoint {name}"
    facts = Facts(
        what,
        "endpointName",
        observed is not None,
        owner,
        observed.provisioning_state if observed else None,
        changes=differences(want, observed) if observed else (),
    )
    step = next_step(
        facts, creating=f"creating {what}", spec_changed_since_failure=spec_changed_since_failure
    )
    if step.step is not Step.SETTLED:
        return Plan(STEPS[step.step], step.message)
    assert observed is not None
    if maps.waiting_for:
        return Plan(
            Action.PENDING,
            f"{what} keeps its traffic {_show(observed.traffic)} until "
            f"{', '.join(maps.waiting_for)} {'is' if len(maps.waiting_for) == 1 else 'are'} Ready",
        )
    return Plan(Action.READY, f"{what} serves {_show(observed.traffic)}")


# -- the adapter ------------------------------------------------------------------------------------

DEPLOYMENT_KIND = "OnlineDeployment"
# An AMLToken endpoint's token is replaced this long before Azure's refreshAfter time, so no
# consumer of the Secret ever reads an expired one.
TOKEN_MARGIN = 300.0


@dataclass(frozen=True)
class Intent:
    """What the spec asks of Azure, and what the deployments allow now: `maps_now` turns it into the
    maps to send, given what Azure holds (so creation and update decide alike)."""

    endpoint: DesiredOnlineEndpoint  # with the declared maps
    ready: frozenset[str]
    deleting: frozenset[str]

    def maps(self, in_azure: ObservedOnlineEndpoint | None) -> Maps:
        return maps_now(
            traffic=self.endpoint.traffic,
            mirror_traffic=self.endpoint.mirror_traffic,
            ready=self.ready,
            deleting=self.deleting,
            in_azure=in_azure,
        )

    def to_send(self, maps: Maps) -> DesiredOnlineEndpoint:
        return replace(self.endpoint, traffic=maps.traffic, mirror_traffic=maps.mirror_traffic)


def deployment_name(entry: Indexed) -> str:
    named = entry.spec.get("deploymentName")
    return (named if isinstance(named, str) and named else entry.name).lower()


def intent(
    spec: OnlineEndpointSpec, dependents: Collection[Indexed], *, namespace: str, name: str, uid: str
) -> Intent:
    deployments = [e for e in dependents if e.kind == DEPLOYMENT_KIND]
    return Intent(
        DesiredOnlineEndpoint(
            auth_mode=spec.auth_mode.value,
            public_network_access=spec.public_network_access.value,
            description=spec.description,
            tags={**(spec.tags or {}), OWNER_TAG: f"{namespace}/{name}", OWNER_UID_TAG: uid},
            traffic=dict(spec.traffic),
            mirror_traffic=dict(spec.mirror_traffic),
        ),
        ready=frozenset(deployment_name(e) for e in deployments if e.ready and not e.deleting),
        deleting=frozenset(deployment_name(e) for e in deployments if e.deleting),
    )


OUTCOMES = {
    Action.CREATE: Outcome(Effect.CREATE, Reason.CREATING, poll=POLL_OPERATION),
    Action.UPDATE: Outcome(Effect.UPDATE, Reason.UPDATING, poll=POLL_OPERATION),
    Action.WAIT: Outcome(Effect.NONE, Reason.UPDATING, poll=POLL_OPERATION),
    # Usable already (keys published), but not as declared: the maps wait.
    Action.PENDING: Outcome(Effect.PUBLISH, Reason.TRAFFIC_PENDING, poll=WAIT_DEPENDENCY),
    Action.READY: Outcome(Effect.PUBLISH, Reason.SUCCEEDED, ready=True),
    Action.CONFLICT: Outcome(Effect.NONE, Reason.CONFLICT),
    Action.FAILED: Outcome(Effect.NONE, Reason.PROVISIONING_FAILED),
}


def status_fields(observed: ObservedOnlineEndpoint | None, maps: Maps) -> dict[str, Any]:
    if observed is None:
        return fields_of(OnlineEndpointStatus(waiting_for=list(maps.waiting_for)))
    return fields_of(
        OnlineEndpointStatus(
            scoring_uri=observed.scoring_uri,
            open_api_uri=observed.openapi_uri,
            provisioning_state=observed.provisioning_state,
            traffic=shares(observed.traffic),
            mirror_traffic=shares(observed.mirror_traffic),
            waiting_for=list(maps.waiting_for),
        )
    )


class OnlineEndpointAdapter(Adapter):
    info = KIND
    collection = online.COLLECTION
    tags_supported = True
    follows_dependents = True  # its traffic waits for its deployments; a deleted one loses its mirror

    def azure_name(self, obj: Obj, spec: OnlineEndpointSpec, refs: Refs) -> str:
        return spec.endpoint_name or obj.name

    def describe(self, name: str) -> str:
        return f"online endpoint {name}"

    def desired(self, obj: Obj, spec: OnlineEndpointSpec, refs: Refs) -> Intent:
        return intent(spec, refs.dependents, namespace=obj.namespace, name=obj.name, uid=obj.uid)

    def decide(self, o: Observation) -> Decision:
        wanted: Intent = o.desired
        maps = wanted.maps(o.observed)
        result = plan(
            want=wanted.to_send(maps),
            maps=maps,
            name=o.name,
            observed=o.observed,
            owner=o.owner,
            spec_changed_since_failure=o.spec_changed_since_last_pass,
        )
        state = o.observed.provisioning_state if o.observed else None
        outcome = outcome_of(OUTCOMES, STEPS, result.action, state)
        fields = {} if result.action is Action.CONFLICT else status_fields(o.observed, maps)
        in_azure = shares(o.observed.mirror_traffic if o.observed else {})
        dropped = [d for d in maps.dropped_mirror if d in in_azure]
        events = tuple(
            Event("Normal", "MirrorDropped", f"mirrored traffic to {d} dropped: it is being deleted")
            for d in dropped
        )
        # Dropping the mirror of a deployment being deleted is this operator's doing, not a drift.
        return Decision(
            result.action, result.message, outcome, fields, events, follows_dependents=bool(dropped)
        )

    def azure_api(self, conn: Connection) -> online.OnlineEndpoints:
        return online.OnlineEndpoints(conn)

    async def create(self, api: online.OnlineEndpoints, name: str, desired: Intent) -> None:
        await api.begin_put(name, desired.to_send(desired.maps(None)))

    async def update(
        self, api: online.OnlineEndpoints, name: str, desired: Intent, observed: ObservedOnlineEndpoint
    ) -> None:
        await api.begin_put(name, merged_tags(desired.to_send(desired.maps(observed)), observed))

    async def publish(
        self, ctx: Context, api: online.OnlineEndpoints, o: Observation, verdict: Verdict
    ) -> Verdict:
        """The scoring URI, and what a client authenticates with: the keys (Key), a token and its
        expiry, replaced before Azure's refresh time (AMLToken), or nothing (AADToken: Entra ID)."""
        secret = keys_secret_name(o.obj, o.spec)
        data = {"scoringUri": o.observed.scoring_uri or ""}
        auth = o.spec.auth_mode
        rotated = await rotation.rotate_for(
            ctx,
            api,
            o,
            secret,
            refusal=None if auth is AuthMode.KEY else f"authMode is {auth.value}: {KEYLESS}",
        )
        verdict = rotation.into(verdict, rotated, ctx.settings.drift_interval)
        if rotated.keys is not None:
            data |= {"primaryKey": rotated.keys.primary, "secondaryKey": rotated.keys.secondary}
        elif auth is AuthMode.AML_TOKEN:
            current = await ctx.kube.read_secret(o.obj.namespace, secret) or {}
            kept = {k: current.get(k, "") for k in ("accessToken", "expiresAt", "refreshAfter")}
            if kept["accessToken"] and time.time() < renewal_time(kept):
                data |= kept
            else:
                token = await api.token(o.name)
                now = time.time()
                # Without Azure's refresh time, half the remaining lifetime stands in for it.
                refresh_at = token.refresh_after or int(now + (token.expires_at - now) / 2)
                data |= {
                    "accessToken": token.access_token,
                    "expiresAt": str(token.expires_at),
                    "refreshAfter": str(int(refresh_at)),
                }
            # Look again in time to replace it, whatever the drift interval.
            due = max(5.0, renewal_time(data) - time.time())
            verdict.requeue_after = due if verdict.requeue_after is None else min(verdict.requeue_after, due)
            verdict.finality = Finality.REQUEUE
        return await publish_secret(ctx, o.obj, secret, data, verdict, what="scoring URI and credentials")


def renewal_time(secret: Mapping[str, str]) -> float:
    """When the operator replaces the token a Secret holds: TOKEN_MARGIN before Azure's refresh
    time, or half way from it to the expiry when the token lives too briefly for that margin (so a
    short-lived token is neither renewed at every pass nor left to expire)."""
    expires, refresh = _float(secret.get("expiresAt")), _float(secret.get("refreshAfter"))
    refresh = min(refresh, expires)
    return refresh - min(TOKEN_MARGIN, max(0.0, expires - refresh) / 2)


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


ADAPTER = OnlineEndpointAdapter()
