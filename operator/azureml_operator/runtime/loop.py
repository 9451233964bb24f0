"""The one algorithm every kind runs, written once.

reconcile: policy annotation -> typed spec -> workspace -> dependency gates -> observe -> ownership
-> the kind's pure decision -> act -> verdict.
finalize: policy and deletionPolicy -> dependents -> workspace -> observe -> ownership -> delete ->
wait -> release. A failure that only a person can fix keeps the finalizer and says what to do.
"""

from __future__ import annotations

from typing import Any

from azureml_operator import conditions
from azureml_operator.azure.client import OWNER_TAG, OWNER_UID_TAG, WorkspaceTarget
from azureml_operator.conditions import Reason, is_transient
from azureml_operator.errors import AzureFailure, InvalidSpec, Recoverable, Terminal, Throttled
from azureml_operator.reconcilers.adapters import Adapter, Decision, Effect, Gate, Observation, Refs, Unmet
from azureml_operator.reconcilers.common import (
    ADOPT_ANNOTATION,
    POLICY_ANNOTATION,
    POLL_OPERATION,
    RETRY_UNAVAILABLE,
    WAIT_DEPENDENCY,
    Backoff,
    Event,
    Finality,
    Ownership,
    Policy,
    PolicyError,
    Verdict,
    Written,
    adopt_requested,
    ownership,
    policy_of,
)
from azureml_operator.reconcilers.context import Context, KubeForbidden, ObjectGone
from azureml_operator.reconcilers.lookups import Indexed, foreign_reference, ref_name
from azureml_operator.reconcilers.objects import Obj
from azureml_operator.reconcilers.status import merged, next_status, undo
from azureml_operator.runtime import workspaces
from azureml_operator.runtime.workspaces import Blocked

# A Ready object rides out this many consecutive transient read failures before it reports one:
# a single 500 must not flip Ready (and every Argo CD health check and alert with it).
HOLD_READY_ATTEMPTS = 2
# Waiting for dependents costs no Azure call (the index answers), so it may look often.
WAIT_DEPENDENTS = Backoff(base=2.0, cap=10.0)
DETACH_HINT = f'set the annotation {POLICY_ANNOTATION}: "detach" to leave it in Azure and let the object go'


async def reconcile(adapter: Adapter, obj: Obj, ctx: Context, attempt: int) -> Verdict:
    try:
        policy = policy_of(obj.annotations)
    except PolicyError as err:
        return Verdict.not_ready(Reason.INVALID_SPEC, str(err))
    if policy is Policy.SKIP:
        return Verdict.unknown(
            Reason.RECONCILE_SKIPPED,
            f"{POLICY_ANNOTATION} is skip: the operator does not touch Azure for this object",
        )
    if (elsewhere := foreign_reference(obj.spec, obj.namespace)) is not None:
        return Verdict.not_ready(
            Reason.INVALID_SPEC,
            f"{elsewhere}: objects use only their own namespace's Workspaces, credentials and "
            f"endpoints; refer to one in {obj.namespace}",
        )
    try:
        spec = adapter.info.parse_spec(obj.spec)
        return await _reconcile(adapter, obj, spec, ctx, attempt)
    except InvalidSpec as err:
        return Verdict.not_ready(Reason.INVALID_SPEC, str(err))
    except Blocked as blocked:
        return blocked.verdict
    except ObjectGone as gone:
        # Deleted (or replaced) in the middle of the pass, before anything was created: nothing to
        # report to an object that is not there.
        verdict = Verdict.unknown(Reason.DELETING, str(gone))
        verdict.keep_status = True
        return verdict


CLUSTER_CLAIMS_HINT = "--cluster-wide-claims, the chart's rbac.clusterWideClaims, lets it look"


async def _reconcile(adapter: Adapter, obj: Obj, spec: Any, ctx: Context, attempt: int) -> Verdict:
    refs = referenced(adapter, obj, ctx)
    name = adapter.azure_name(obj, spec, refs)
    settled = adapter.settled(obj, spec)
    if settled is not None:
        # Nothing in Azure can change any more: report what status holds, with no Azure call.
        observation = Observation(obj, spec, name, None, None, None)
        verdict = settled.verdict(attempt)
        if settled.effect is Effect.PUBLISH:
            return await adapter.publish(ctx, None, observation, verdict)
        return verdict
    unmet = gates(adapter, obj, ctx)
    incomplete = [u for u in unmet if u.dependency.gate is Gate.ALL]
    if incomplete:
        return waiting(incomplete[0], attempt)
    before_creation = [u for u in unmet if u.dependency.gate is Gate.CREATE]
    if before_creation and obj.recorded_id is None and not adopt_requested(obj.annotations):
        # Nothing of ours in Azure yet, and creating it must wait: a read would only spend ARM's
        # read bucket to learn the same (an adoption still looks, as it needs no dependency).
        return waiting(before_creation[0], attempt)
    desired = adapter.desired(obj, spec, refs)
    if not adapter.needs_azure(spec):
        return adapter.decide(Observation(obj, spec, name, desired, None, None)).verdict(attempt)
    resolved = await resolve(adapter, obj, spec, refs, ctx, attempt)
    api = adapter.azure_api(await workspaces.connect(resolved, ctx))
    try:
        observed = await adapter.read(api, name)
        owner, claimant = None, None
        adopt = adopt_requested(obj.annotations)
        if observed is not None and adapter.deletes_in_azure:
            owner, claimant = await claim_on(adapter, obj, observed, ctx, adopt=adopt)
        observation = Observation(obj, spec, name, desired, observed, owner, unmet, refs, attempt)
        decision = adapter.decide(observation)
        expected = resolved.target.child_id(adapter.collection, name) if adapter.collection else ""
        trespass = (
            await foreign_read(adapter, obj, spec, resolved.target, ctx)
            if decision.effect is Effect.CREATE
            else None
        )
        if trespass is not None:
            return Verdict.not_ready(Reason.INVALID_SPEC, trespass)
        verdict = await act(adapter, ctx, api, observation, decision, expected, attempt)
        if claimant is not None and verdict.reason is Reason.CONFLICT:
            verdict.message = (
                f"{adapter.describe(name)} in Azure is managed by {claimant}; {ADOPT_ANNOTATION} only takes "
                "over resources no object manages: choose another name"
            )
    except AzureFailure as failure:
        return failure_verdict(adapter, obj, failure, attempt, adapter.describe(name))
    # An adoption is made once it is recorded where ownership is read: in the owner tags (put on by
    # an update) where the resource takes tags, else in status.
    # A Conflict (e.g. a version that holds other data) takes nothing over.
    adopted = (
        owner is Ownership.ADOPT
        and verdict.reason is not Reason.CONFLICT
        and (not adapter.tags_supported or decision.effect is Effect.UPDATE)
    )
    if observed is not None and (owner is Ownership.OURS or adopted):
        verdict.fields.setdefault("azureResourceId", observed.id)
    if adopted and verdict.fields.get("azureResourceId"):
        what = adapter.describe(name)
        verdict.events.append(
            Event("Normal", "Adopted", f"took over the existing {what} ({ADOPT_ANNOTATION})")
        )
    return verdict


async def resolve(
    adapter: Adapter, obj: Obj, spec: Any, refs: Refs, ctx: Context, attempt: int
) -> workspaces.ResolvedWorkspace:
    if adapter.uses_workspace:
        return await workspaces.by_reference(adapter.workspace_of(spec, refs), obj.namespace, ctx, attempt)
    return await workspaces.from_spec(obj.name, obj.namespace, spec, ctx, attempt)


def referenced(adapter: Adapter, obj: Obj, ctx: Context) -> Refs:
    """The objects the declared dependencies name that exist, by dependency field, and the objects
    whose declared dependencies name this one."""
    found = {}
    for dep in adapter.dependencies:
        target = ref_name(obj.spec, dep.field)
        entry = ctx.lookups.get(dep.kind, obj.namespace, target) if target else None
        if entry is not None:
            found[dep.field] = entry
    dependents = tuple(
        e for e in ctx.lookups.referencing(adapter.info.kind, obj.namespace, obj.name) if e.uid != obj.uid
    )
    return Refs(found, dependents)


async def foreign_read(
    adapter: Adapter, obj: Obj, spec: Any, target: WorkspaceTarget, ctx: Context
) -> str | None:
    """Why the creation must not read what it names (another namespace's object owns it), or None.
    Owners are looked for in the index (every namespace this operator serves) and, since only a
    creation asks, in the whole cluster where the operator may list it. An operator scoped to its
    namespaces without that leave reads by id only what one of its own objects vouches for."""
    for read in adapter.reads(spec):
        arm_id = target.child_id(read.collection, read.name)
        owners = {(c.namespace, c.name) for c in ctx.lookups.claims(arm_id) if c.kind == read.kind}
        if ctx.settings.lists_cluster and not foreign(owners, obj.namespace):
            try:
                owners |= {(ns, name) for ns, name, _ in await ctx.kube.claims(read.plural, arm_id)}
            except KubeForbidden:
                return (
                    f"spec.{read.field} names a {read.kind} resource by id, and the operator may not "
                    f"list {read.plural} in every namespace to check who manages it: name a "
                    f"{read.kind} of this namespace instead ({CLUSTER_CLAIMS_HINT})"
                )
        if others := foreign(owners, obj.namespace):
            return (
                f"spec.{read.field} names what {read.kind} {others[0]} of another namespace manages; "
                f"objects use only their own namespace's: create a {read.kind} here"
            )
        if not ctx.settings.lists_cluster and not owners:
            return (
                f"spec.{read.field} names a {read.kind} resource by id; an operator scoped to its "
                "namespaces cannot tell whether another namespace's object manages it "
                f"({CLUSTER_CLAIMS_HINT}): name a {read.kind} of this namespace instead"
            )
    return None


def foreign(owners: set[tuple[str, str]], namespace: str) -> list[str]:
    return sorted(f"{ns}/{name}" for ns, name in owners if ns != namespace)


def waiting(unmet: Unmet, attempt: int) -> Verdict:
    if unmet.invalid:
        return Verdict.not_ready(Reason.INVALID_SPEC, unmet.message)
    return Verdict.not_ready(
        unmet.dependency.waiting, unmet.message, requeue_after=WAIT_DEPENDENCY.delay(attempt)
    )


def gates(adapter: Adapter, obj: Obj, ctx: Context) -> tuple[Unmet, ...]:
    """The declared dependencies that are not Ready (yet); a reference that can never be right is
    reported at once instead of being waited for."""
    unmet = []
    for dep in adapter.dependencies:
        if dep.gate is None:
            continue
        target = ref_name(obj.spec, dep.field)
        if target is None:
            continue
        entry = ctx.lookups.get(dep.kind, obj.namespace, target)
        if entry is None:
            message = f"waiting for {dep.kind} {target}, which does not exist in namespace {obj.namespace}"
            unmet.append(Unmet(dep, message))
        elif (problem := adapter.dependency_mismatch(dep, entry, obj)) is not None:
            unmet.append(Unmet(dep, problem, invalid=True))
        elif not adapter.dependency_ready(dep, entry):
            unmet.append(Unmet(dep, f"waiting for {dep.kind} {target} {dep.until}{stuck(entry)}"))
    return tuple(unmet)


def stuck(entry: Indexed) -> str:
    """What a dependency that waits for a person reports, to say in the waiting message. One that is
    on its way is not described: its every step would be a status write here too (at scale, that
    is most of the API server's load), for what its own status already shows."""
    if entry.reason is None or entry.reason in conditions.TRANSIENT:
        return ""
    return (
        f" (it reports {entry.reason}: {entry.message})" if entry.message else f" (it reports {entry.reason})"
    )


async def act(
    adapter: Adapter,
    ctx: Context,
    api: Any,
    observation: Observation,
    decision: Decision,
    expected_id: str,
    attempt: int,
) -> Verdict:
    match decision.effect:
        case Effect.CREATE:
            blocking = [u for u in observation.unmet if u.dependency.gate is Gate.CREATE]
            if blocking:
                return waiting(blocking[0], attempt)
            verdict = await create_recorded(adapter, ctx, api, observation, decision, expected_id)
            return repaired(verdict, observation, decision, "recreate")
        case Effect.UPDATE:
            await adapter.update(api, observation.name, observation.desired, observation.observed)
            verdict = decision.verdict(0)
            verdict.events.append(Event("Normal", "Updating", decision.message))
            return repaired(verdict, observation, decision, "update")
        case Effect.PUBLISH:
            return await adapter.publish(ctx, api, observation, decision.verdict(attempt))
    return decision.verdict(attempt)


def repaired(verdict: Verdict, observation: Observation, decision: Decision, how: str) -> Verdict:
    """A write to a resource that was Ready as declared repairs a drift (something changed, or was
    deleted, in Azure): its Event says so, in place of the routine one, and the metric counts it."""
    if not observation.was_ready_as_declared or decision.follows_dependents:
        return verdict
    verdict.drift_repaired = how
    what = "changed" if how == "update" else "deleted"
    verdict.events = [
        Event("Normal", "DriftRepaired", f"{what} in Azure outside Kubernetes: {decision.message}")
        if e.reason in ("Updating", "Creating")
        else e
        for e in verdict.events
    ]
    return verdict


async def create_recorded(
    adapter: Adapter, ctx: Context, api: Any, observation: Observation, decision: Decision, expected_id: str
) -> Verdict:
    """Write the expected ARM id to status *before* asking Azure to create it, so a restart between
    the two still recognises the creation as this object's; take it back if Azure said no. The same
    write reports the creation (the status the pass ends with, unless Azure's answer adds to it):
    one status write where there would be two, at scale a good part of the API server's load."""
    obj = observation.obj
    verdict = decision.verdict(0)
    verdict.fields["azureResourceId"] = expected_id
    verdict.events.append(Event("Normal", "Creating", decision.message))
    record, _ = next_status(obj.status, verdict, obj.generation, model=adapter.info.status_model)
    version = await ctx.kube.patch_status(obj.plural, obj.namespace, obj.name, record, obj.uid)
    stored = merged(obj.status, record)
    try:
        await adapter.create(api, observation.name, observation.desired)
    except Terminal:
        back = undo(obj.status, stored, record)
        await ctx.kube.patch_status(obj.plural, obj.namespace, obj.name, back, obj.uid)
        raise
    verdict.written = Written(stored, version)
    return verdict


async def owner_of(adapter: Adapter, obj: Obj, observed: Any, ctx: Context, *, adopt: bool) -> Ownership:
    return (await claim_on(adapter, obj, observed, ctx, adopt=adopt))[0]


async def claim_on(
    adapter: Adapter, obj: Obj, observed: Any, ctx: Context, *, adopt: bool
) -> tuple[Ownership, str | None]:
    """Whose is the resource Azure holds under this object's name, and (when another object's) whose?
    Claims of other objects are read from the index (what this operator watches); before adopting,
    from the whole cluster too."""
    tags = dict(getattr(observed, "tags", None) or {}) if adapter.tags_supported else None
    tagged_uid = (tags or {}).get(OWNER_UID_TAG)
    others = [f"{c.kind} {c.namespace}/{c.name}" for c in ctx.lookups.claims(observed.id) if c.uid != obj.uid]
    alive = True
    if tagged_uid and tagged_uid != obj.uid:
        others.append(f"{adapter.info.kind} {(tags or {}).get(OWNER_TAG) or tagged_uid}")
        if adopt:
            alive = await tagged_owner_alive(adapter, tags or {}, tagged_uid, ctx)
            if not alive:
                others.pop()
    if adopt and not others and tagged_uid != obj.uid:
        # Who else claims it, in every namespace; where the operator cannot look, adopt nothing.
        found = [("", f"perhaps an object outside the operator's namespaces ({CLUSTER_CLAIMS_HINT})", "")]
        if ctx.settings.lists_cluster:
            try:
                found = await ctx.kube.claims(adapter.info.plural, observed.id)
            except Exception:
                found = [("", f"perhaps an object the operator may not list ({CLUSTER_CLAIMS_HINT})", "")]
        others = [
            f"{adapter.info.kind} {ns}/{name}" if ns else name for ns, name, uid in found if uid != obj.uid
        ]
    owner = ownership(
        observed_id=observed.id,
        observed_tags=tags,
        recorded_id=obj.recorded_id,
        uid=obj.uid,
        adopt=adopt,
        tags_supported=adapter.tags_supported,
        claimed_by_another=bool(others) and not (tags and tagged_uid == obj.uid),
        tagged_owner_alive=alive,
    )
    return owner, (others[0] if others and owner is Ownership.FOREIGN else None)


async def tagged_owner_alive(adapter: Adapter, tags: dict[str, str], uid: str, ctx: Context) -> bool:
    """Does the object named by the resource's owner tags still exist? Unsure counts as yes."""
    if ctx.lookups.by_uid(uid) is not None:
        return True
    namespace, _, name = tags.get(OWNER_TAG, "").partition("/")
    if not namespace or not name:
        return True
    if not ctx.settings.lists_cluster and namespace not in ctx.settings.namespaces:
        return True  # not a namespace it may read: it cannot tell
    try:
        return await ctx.kube.object_uid(adapter.info.plural, namespace, name) == uid
    except Exception:  # cannot tell: assume it is alive and adopt nothing
        return True


def was_ready(obj: Obj) -> bool:
    return conditions.is_ready(obj.status.get("conditions"))


def failure_verdict(
    adapter: Adapter, obj: Obj, failure: AzureFailure, attempt: int, what: str, *, hold: bool = True
) -> Verdict:
    """Throttled and transient failures retry on their own; the rest wait for a person (and the
    drift check). The message always carries what Azure said. With `hold`, a Ready object keeps its
    status through its first transient failures."""
    throttled = isinstance(failure, Throttled)
    if isinstance(failure, Throttled):
        delay = failure.retry_after
        verdict = Verdict.not_ready(
            Reason.THROTTLED, f"Azure throttled {what}; retrying in {delay:.0f} s", requeue_after=delay
        )
    else:
        delay = RETRY_UNAVAILABLE.delay(failing_for(obj, failure.reason, attempt))
        verdict = Verdict.not_ready(failure.reason, f"{what} failed: {failure.message}")
    if (
        (throttled or isinstance(failure, Recoverable))
        and hold
        and was_ready(obj)
        and attempt < HOLD_READY_ATTEMPTS
    ):
        verdict.requeue_after, verdict.keep_status = delay, True
        verdict.finality = Finality.REQUEUE
        return verdict
    if throttled:
        verdict.observed = False
        return verdict
    if is_transient(failure.reason):
        verdict.message += f"; retrying in {delay:.0f} s"
        verdict.requeue_after, verdict.finality = delay, Finality.REQUEUE
        verdict.observed = False
        return verdict
    hint = adapter.failure_hints.get(failure.reason)
    if hint:
        verdict.message += f"; {hint}"
        verdict.requeue_after, verdict.finality = WAIT_DEPENDENCY.delay(attempt), Finality.REQUEUE
    return verdict


def failing_for(obj: Obj, reason: Reason, attempt: int) -> int:
    """The attempt a failure's back-off grows from: the object's, if its last pass failed the same
    way (or it is Ready, and so far kept its status through the failures), else none. `attempt`
    counts the passes in a row that asked to look again, polls included: a 503 after ten polls of
    a long creation is a first failure, retried in seconds, not minutes."""
    stored = conditions.get(obj.status.get("conditions")) or {}
    return attempt if stored.get("reason") == reason or stored.get("status") == "True" else 0


# -- deletion -----------------------------------------------------------------------------------


async def finalize(adapter: Adapter, obj: Obj, ctx: Context, attempt: int) -> Verdict:
    """`released` when the object may go; otherwise a verdict to retry after `requeue_after`."""
    try:
        policy = policy_of(obj.annotations)
    except PolicyError:
        policy = Policy.MANAGE  # a typo must not leak an Azure resource
    if adapter.held_while_referenced:
        users = [
            u for u in ctx.lookups.referencing(adapter.info.kind, obj.namespace, obj.name) if u.uid != obj.uid
        ]
        if users:
            names = ", ".join(sorted(f"{u.kind} {u.name}" for u in users)[:10])
            return Verdict.not_ready(
                Reason.DELETING,
                f"waiting for {len(users)} object(s) using this {adapter.info.kind} to be deleted first: {names}",
                requeue_after=WAIT_DEPENDENTS.delay(attempt),
            )
    if not adapter.deletes_in_azure:
        await adapter.released(ctx, obj)
        return Verdict.release(f"{adapter.info.kind} released")
    recorded = obj.recorded_id
    retain = obj.spec.get("deletionPolicy") == "Retain"
    if policy is not Policy.MANAGE or retain:
        if not recorded:
            return Verdict.release("nothing in Azure to delete")
        why = (
            f"{POLICY_ANNOTATION} is {policy.value}"
            if policy is not Policy.MANAGE
            else "deletionPolicy is Retain"
        )
        message = f"left {recorded} in Azure: {why}"
        return Verdict.release(message, Event("Normal", "Retained", message))
    if not recorded:
        return Verdict.release("nothing in Azure to delete")
    try:
        spec = adapter.info.parse_spec(obj.spec)
    except InvalidSpec as err:
        return _stuck(f"cannot delete {recorded}: {err}; fix the spec, or {DETACH_HINT}", attempt)
    if not adapter.needs_azure(spec):
        return Verdict.release("nothing in Azure to delete")
    refs = referenced(adapter, obj, ctx)
    name = adapter.azure_name(obj, spec, refs)
    what = adapter.describe(name)
    settled = adapter.settled(obj, spec)
    if settled is not None:
        return Verdict.release(f"{settled.message}: nothing to do in Azure")
    held = adapter.deletion_hold(obj, spec, refs, attempt)
    if held is not None:
        return held
    try:
        api = adapter.azure_api(
            await workspaces.connect(await resolve(adapter, obj, spec, refs, ctx, attempt), ctx)
        )
    except Blocked as blocked:
        if is_transient(blocked.verdict.reason):
            return Verdict.not_ready(
                blocked.verdict.reason,
                f"cannot delete {what} yet: {blocked.verdict.message}",
                requeue_after=WAIT_DEPENDENCY.delay(attempt),
            )
        return _stuck(f"cannot delete {what}: {blocked.verdict.message}; fix that, or {DETACH_HINT}", attempt)
    try:
        observed = await adapter.read(api, name)
        if observed is None:
            return Verdict.release(f"{what} is gone")
        retired = adapter.gone(observed)
        if retired:
            return Verdict.release(f"{what} {retired}")
        if await owner_of(adapter, obj, observed, ctx, adopt=False) is not Ownership.OURS:
            return Verdict.release(f"{what} was not created by this object: left alone")
        verdict = Verdict.not_ready(
            Reason.DELETING, f"{adapter.deleting} {what}", requeue_after=POLL_OPERATION.delay(attempt)
        )
        if (getattr(observed, "provisioning_state", None) or "").lower() != "deleting":
            await adapter.delete(api, name)
            verdict.events += [
                Event("Normal", "Deleting", verdict.message),
                *adapter.deletion_events(obj, spec, ctx),
            ]
        return verdict
    except AzureFailure as failure:
        if failure.reason is Reason.WORKSPACE_NOT_FOUND:
            return Verdict.release(f"the workspace is gone, and {what} with it")
        if isinstance(failure, Recoverable) and failure.status == 409:  # busy with another operation
            return Verdict.not_ready(
                Reason.DELETING,
                f"waiting for Azure to finish the operation in flight on {what} before deleting it",
                requeue_after=POLL_OPERATION.delay(attempt),
            )
        verdict = failure_verdict(adapter, obj, failure, attempt, f"deleting {what}", hold=False)
        if verdict.requeue_after is None:
            return _stuck(f"{verdict.message}; fix that, or {DETACH_HINT}", attempt)
        return verdict


def _stuck(message: str, attempt: int) -> Verdict:
    """A deletion only a person can unblock: the finalizer stays (releasing would orphan a billed
    resource), the object says what to do (a Warning, once), and it is looked at again slowly."""
    return Verdict.not_ready(Reason.DELETION_BLOCKED, message, requeue_after=RETRY_UNAVAILABLE.delay(attempt))
