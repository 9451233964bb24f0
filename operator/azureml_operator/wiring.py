"""The only module that imports kopf: operator settings, the index every object is filed in, and
for every kind one watch-event handler that schedules the object's passes and one finalizer.

One object, one schedule: a pass runs, and its verdict says when the next is due (a poll, a
back-off, or the drift interval), unless the object changes first. Retries and the drift check are
the same schedule, so an outage never doubles the read rate. The `Scheduler` runs them: passes for
one object never overlap; different objects never wait for each other.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import kopf

from azureml_operator import conditions, logs, metrics, slots
from azureml_operator.api.common import GROUP, VERSION
from azureml_operator.api.key_rotation import ROTATE_ANNOTATION
from azureml_operator.azure.pool import ClientPool
from azureml_operator.conditions import Reason
from azureml_operator.kubeapi import KubeApi
from azureml_operator.reconcilers.adapters import Adapter
from azureml_operator.reconcilers.common import (
    ADOPT_ANNOTATION,
    POLICY_ANNOTATION,
    RETRY_UNAVAILABLE,
    Backoff,
    Event,
    Verdict,
)
from azureml_operator.reconcilers.context import Context, KubeForbidden
from azureml_operator.reconcilers.lookups import Indexed, ObjectIndex, indexed, ref_name
from azureml_operator.reconcilers.objects import Obj
from azureml_operator.reconcilers.status import next_status
from azureml_operator.runtime import loop
from azureml_operator.runtime.keyed_lock import KeyedLock
from azureml_operator.runtime.registry import ADAPTERS, references
from azureml_operator.runtime.scheduler import Next, Scheduler
from azureml_operator.settings import Settings

FINALIZER = f"{GROUP}/finalizer"
KOPF_PREFIX = f"kopf.{GROUP}"
# How long a pass waits for the watch to deliver the loop's own last status write. Past it the pass
# reads the object from the API server instead (a relisted watch may never deliver that version).
CATCH_UP_SECONDS = 10.0
# How many passes work at once (see `slots`): far more than the threads that make the Kubernetes
# and Azure calls (6 and --azure-concurrency), so none of those waits for work.
PASSES_AT_ONCE = 128
# How many of the versions the watch delivered last a schedule keeps, to tell whether its own last
# write is among them.
DELIVERED_KEPT = 4
# How long a pass in flight at shutdown has to end: one cut off mid-request may leave a write in
# Azure nobody recorded.
PASS_GRACE_SECONDS = 4.0
# How often a pass held back (its object not in the index yet, or without our finalizer) looks again
# when no event of the object comes, and every how many such looks (about 4 minutes) it asks the API
# server whether the object is still there. Not sooner: while kopf works through a long queue (10 000
# objects applied at once) thousands wait for their finalizer's event, and reads would lengthen it.
HELD_WAIT = Backoff(base=0.5, cap=8.0)
HELD_BEFORE_READ = 32
log = logging.getLogger(__name__)


@dataclass(slots=True)
class Schedule:
    """One object between its passes: how many passes in a row asked to look again, and the last
    change of the object a pass acted on. The object as the watch last delivered it is its entry in
    the `ObjectIndex`."""

    kind: str
    attempt: int = 0
    seen: tuple[Any, ...] = ()
    # The reason of the last pass's verdict: the back-off grows while it stays the same.
    reason: str | None = None
    # Was the object Ready before (when this operator first saw it, or since)? Its first Ready is timed.
    ready_before: bool | None = None
    held: int = 0  # passes in a row held back: no index entry, or no finalizer yet
    # The resourceVersion of the last status write, and the versions the watch delivered lately.
    # The body is as new as the last watch event: a pass that ran on a body from before the
    # previous pass's write would miss what that pass recorded (the ARM id recorded before a
    # creation, which makes the resource found next ours) and diff its status against old values.
    written: str | None = None
    delivered: tuple[str, ...] = ()  # the last DELIVERED_KEPT, newest last (a deque is 10 times larger)
    caught_up: bool = True
    waiter: asyncio.Future[None] | None = None  # a pass waiting for the watch to catch up

    def saw(self, body: Mapping[str, Any]) -> None:
        version = (body.get("metadata") or {}).get("resourceVersion")
        if version:
            self.delivered = (*self.delivered[1 - DELIVERED_KEPT :], version)
            if version == self.written:
                self.caught_up = True
                if self.waiter is not None and not self.waiter.done():
                    self.waiter.set_result(None)

    def wrote(self, version: str | None) -> None:
        self.written = version
        self.caught_up = version is None or version in self.delivered

    async def catch_up(self) -> bool:
        """Wait until the watch has delivered the last status write; False if it has not in
        CATCH_UP_SECONDS (a slow or relisted watch may never deliver that very version)."""
        if self.caught_up:
            return True
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait({self.waiter}, timeout=CATCH_UP_SECONDS)
        finally:
            self.waiter = None
        return self.caught_up


@dataclass
class OperatorState:
    """Built on startup, kept in kopf's memo: the dependencies and the per-object state."""

    settings: Settings
    pool: ClientPool | None = None
    kube: KubeApi | None = None
    scheduler: Scheduler | None = None
    locks: KeyedLock = field(default_factory=KeyedLock)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    # The Ready status and reason last seen of each object, to tell when it moves on.
    readiness: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    # Every object as the watch last delivered it; filled by kopf's indexing step (see `_indexer`).
    index: ObjectIndex = field(default_factory=ObjectIndex)

    def context(self) -> Context:
        assert self.pool is not None and self.kube is not None, "startup has not run"
        return Context(self.settings, self.pool, self.kube, self.index)

    @property
    def stopping(self) -> bool:
        return self.scheduler is not None and self.scheduler.stopping


def relevant(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """What, when it changes, calls for a pass now: the spec (generation) and the annotations the
    operator reads. Status changes (our own writes) do not."""
    meta = body.get("metadata") or {}
    notes = meta.get("annotations") or {}
    return (
        meta.get("generation"),
        notes.get(POLICY_ANNOTATION),
        notes.get(ADOPT_ANNOTATION),
        notes.get(ROTATE_ANNOTATION),
    )


def post(body: Mapping[str, Any], events: list[Event]) -> None:
    """Post Events, and log them: the log tells the same story as `kubectl get events`."""
    for event in events:
        target = event.regarding if event.regarding is not None else body
        meta = target.get("metadata", {})
        log.log(
            logging.WARNING if event.type == "Warning" else logging.INFO,
            "%s: %s",
            event.reason,
            event.message,
            extra=logs.object_ref(str(target.get("kind")), meta.get("namespace", ""), meta.get("name", "")),
        )
        # kopf only reads the body as a mapping; its annotation is narrower than that.
        kopf.event(
            cast(kopf.Body, target), type=event.type, reason=event.reason, message=event.message[:1024]
        )


def ref_of(obj: Obj) -> dict[str, Any]:
    return logs.object_ref(obj.kind, obj.namespace, obj.name)


def forbidden(err: KubeForbidden, obj: Obj, attempt: int) -> Verdict:
    """The operator's own RBAC lacks a verb: say which, on the object, and look again (a fixed Role
    takes effect without a restart)."""
    log.warning("Kubernetes RBAC refused the operator: %s", err, extra=ref_of(obj))
    verdict = Verdict.not_ready(
        Reason.KUBERNETES_FORBIDDEN,
        f"{err}; the operator's Role or ClusterRole lacks this (see the chart's RBAC)",
        requeue_after=RETRY_UNAVAILABLE.delay(attempt),
    )
    verdict.observed = False  # the pass was cut short: the spec is still to be acted on
    return verdict


def unexpected(err: Exception, obj: Obj, doing: str, attempt: int) -> Verdict:
    log.exception("%s failed unexpectedly", doing, extra=ref_of(obj))
    verdict = Verdict.not_ready(
        Reason.AZURE_UNAVAILABLE,
        # One bounded line: an exception's text may be a whole HTTP exchange.
        " ".join(f"unexpected error: {type(err).__name__}: {err}".split())[:512],
        requeue_after=RETRY_UNAVAILABLE.delay(attempt),
    )
    verdict.observed = False  # the pass was cut short: the spec is still to be acted on
    return verdict


async def write_status(
    state: OperatorState,
    adapter: Adapter,
    body: Mapping[str, Any],
    verdict: Verdict,
    generation: int | None = None,
) -> str | None:
    """Write what changed of the status (for this uid only) and post the Events it calls for; the
    resourceVersion written, if anything was (by this write or by the pass itself). `generation`
    is the one the pass decided on, if not the body's: observedGeneration must never claim a spec
    the pass has not seen."""
    assert state.kube is not None
    obj = Obj.from_body(adapter.info.kind, adapter.info.plural, body)
    observed = obj.generation if generation is None else generation
    stored = verdict.written.status if verdict.written else body.get("status")
    patch, events = next_status(dict(stored or {}), verdict, observed, model=adapter.info.status_model)
    version = verdict.written.version if verdict.written else None
    if patch:
        try:
            version = await state.kube.patch_status(obj.plural, obj.namespace, obj.name, patch, obj.uid)
        except Exception as err:  # gone or replaced meanwhile: the next pass, if any, tells
            log.info("status not written: %s", err, extra=ref_of(obj))
            return verdict.written.version if verdict.written else None
    post(body, events)
    return version


def count(kind: str, obj: Obj, verdict: Verdict, schedule: Schedule, trigger: str, took: float) -> None:
    """One pass in the metrics: its duration and result, a drift repair, the object's state now,
    and, the first time it is Ready, how long that took from its creation."""
    metrics.RECONCILE_SECONDS.labels(kind).observe(took)
    metrics.RECONCILES.labels(kind, trigger, str(verdict.reason)).inc()
    if verdict.drift_repaired:
        metrics.DRIFT_REPAIRS.labels(kind, verdict.drift_repaired).inc()
    if not verdict.keep_status:
        metrics.RESOURCES.observe(obj.uid, kind, verdict.status, str(verdict.reason))
    if verdict.status == "True" and not schedule.ready_before:
        schedule.ready_before = True
        if (age := obj.age_seconds()) is not None:
            metrics.TIME_TO_READY.labels(kind).observe(age)


def is_current(context: Context, adapter: Adapter, body: Mapping[str, Any]) -> bool:
    """Is this body the object that exists now? A pass for a deleted object (or an older one of the
    same name) must do nothing at all."""
    meta = body.get("metadata") or {}
    entry = context.lookups.get(adapter.info.kind, meta.get("namespace", ""), meta.get("name", ""))
    return entry is not None and entry.uid == meta.get("uid")


def guarded(body: Mapping[str, Any]) -> bool:
    """Does the object carry our finalizer? kopf spawns the loop in the same cycle that asks for
    the finalizer; an object deleted before it lands vanishes at once, and whatever a pass created
    in Azure meanwhile would be left there with nobody to delete it."""
    return FINALIZER in ((body.get("metadata") or {}).get("finalizers") or ())


def deleting(body: Mapping[str, Any]) -> bool:
    return bool((body.get("metadata") or {}).get("deletionTimestamp"))


async def run_pass(state: OperatorState, uid: str, trigger: str) -> Next:
    """One pass of one object, and when the next one is due."""
    schedule = state.schedules.get(uid)
    if schedule is None or being_deleted(state, uid) or state.stopping:
        return None  # gone, or its deletion speaks for it now
    adapter = ADAPTERS[schedule.kind]
    # The body the watch delivers once it has caught up with the last pass's status write, not one
    # from before: that one lacks what the last pass wrote (the ARM id recorded before a creation,
    # without which the creation found next would be taken for a stranger's). Waiting is not work:
    # the slot goes to another pass meanwhile, and nothing of the object is held yet.
    caught_up = True
    if not schedule.caught_up:
        async with slots.waiting():
            caught_up = await schedule.catch_up()
        if being_deleted(state, uid) or state.stopping:
            return None
    body, context = state.index.document(uid), state.context()
    if not is_current(context, adapter, body) or not guarded(body):
        # The index still shows an older object of this name (kopf handles each object's events on
        # its own, so a deletion may be indexed after the next creation); or the finalizer has not
        # landed. Never act for the wrong object or an unguarded one. The object's next event runs
        # the pass again; the time-out, growing, is for the older object's deletion, which is not
        # one of its events.
        schedule.held += 1
        if schedule.held % HELD_BEFORE_READ == 0 and await vanished(state, adapter, body):
            forget(state, uid)  # deleted while the watch was away: no event will say so
            return None
        return HELD_WAIT.delay(schedule.held - 1), trigger
    schedule.held = 0
    current = body if caught_up else await fresh(state, adapter, body)
    if not current or deleting(current) or state.stopping:
        return None
    schedule.seen = relevant(current)
    if schedule.ready_before is None:
        stored = conditions.get((current.get("status") or {}).get("conditions")) or {}
        schedule.ready_before = stored.get("status") == "True"
    obj = Obj.from_body(adapter.info.kind, adapter.info.plural, current)
    started = time.monotonic()
    async with state.locks.hold(uid):
        try:
            verdict = await loop.reconcile(adapter, obj, context, schedule.attempt)
        except KubeForbidden as err:
            verdict = forbidden(err, obj, schedule.attempt)
        except Exception as err:  # a bug must show on the object, not only in a log
            verdict = unexpected(err, obj, "reconcile", schedule.attempt)
        if state.schedules.get(uid) is not schedule or being_deleted(state, uid) or state.stopping:
            return None  # deleted or shutting down meanwhile: the finalizer speaks for it now
        if (written := await write_status(state, adapter, current, verdict, obj.generation)) is not None:
            schedule.wrote(written)
    count(adapter.info.kind, obj, verdict, schedule, trigger, time.monotonic() - started)
    if verdict.progressed or verdict.reason != schedule.reason:
        schedule.attempt = 0  # a new state: its own back-off starts from the beginning
    schedule.reason = verdict.reason
    if verdict.requeue_after is not None:
        schedule.attempt += 1
        return verdict.requeue_after, "retry"
    schedule.attempt = 0
    return drift_delay(state.settings.drift_interval), "drift"


async def vanished(state: OperatorState, adapter: Adapter, body: Mapping[str, Any]) -> bool:
    """Is the object gone from the API server (or replaced by another of its name)? Not when the
    read fails: the next look asks again."""
    try:
        return await stored_object(state, adapter, body) is None
    except Exception:
        return False


def being_deleted(state: OperatorState, uid: str) -> bool:
    """Gone from the index (deleted), or its deletion has begun."""
    entry = state.index.by_uid(uid)
    return entry is None or entry.deleting


def forget(state: OperatorState, uid: str) -> None:
    state.schedules.pop(uid, None)
    if state.scheduler is not None:
        state.scheduler.forget(uid)


def drift_delay(interval: float) -> float:
    """The wait before an object's next drift check: spread over up to 20 % more than the interval,
    never less, so that no object is read twice within one drift interval however the checks bunch
    up (after a start, every object is read at once)."""
    return interval * random.uniform(1.0, 1.2)


async def fresh(state: OperatorState, adapter: Adapter, body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object as the API server holds it now, for a pass the watch has not caught up with; the
    watch's body if that read fails or finds another object (the next pass sees to it)."""
    try:
        now = await stored_object(state, adapter, body)
    except Exception as err:
        log.info("could not read the object afresh: %s", err)
        return body
    return body if now is None else now


async def stored_object(
    state: OperatorState, adapter: Adapter, body: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """The object as the API server holds it now; None if it is gone or another object holds its
    name (a different uid)."""
    assert state.kube is not None
    meta = body.get("metadata") or {}
    now = await state.kube.read_object(adapter.info.plural, meta.get("namespace", ""), meta.get("name", ""))
    if now is None or (now.get("metadata") or {}).get("uid") != meta.get("uid"):
        return None
    return now


def wake(state: OperatorState, uid: str) -> None:
    schedule = state.schedules.get(uid)
    if schedule is not None and state.scheduler is not None:
        schedule.attempt = 0
        state.scheduler.now(uid, "change")


async def on_event(adapter: Adapter, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    """Every event of an object: the first schedules its first pass; a change a user made runs its
    pass now, with a fresh back-off. A change of its Ready status or reason runs the passes of the
    objects related to it now (an endpoint whose deployment became Ready, a deployment whose
    endpoint now exists in Azure though its traffic waits, an endpoint whose fine-tuning job
    completed), instead of at their next back-off. Reasons change only when Azure or a spec moves
    on, so this cannot loop."""
    state: OperatorState = memo.state
    context = state.context()
    uid = str(body.get("metadata", {}).get("uid", ""))
    if kwargs.get("type") == "DELETED":
        forget(state, uid)
        state.index.drop(uid)
        state.readiness.pop(uid, None)
        return
    if state.scheduler is not None and state.scheduler.context is None:
        # Passes run in copies of the first event's handler context (kopf.event needs kopf's
        # variables), never in the context of the event that woke them.
        state.scheduler.context = contextvars.copy_context()
    schedule = state.schedules.get(uid)
    first = schedule is None
    if schedule is None:
        schedule = state.schedules[uid] = Schedule(adapter.info.kind)
    schedule.saw(body)
    if state.scheduler is not None:
        if deleting(body):
            state.scheduler.forget(uid)  # a pass in flight may end; the finalizer takes over
        elif first or schedule.held:
            state.scheduler.now(uid, "start")
        elif schedule.seen and relevant(body) != schedule.seen:
            wake(state, uid)
    condition = conditions.get((body.get("status") or {}).get("conditions")) or {}
    ready = (condition.get("status"), condition.get("reason"))
    before = state.readiness.get(uid, ready)
    state.readiness[uid] = ready
    if before != ready:
        for entry in related(adapter, body, context):
            wake(state, entry.uid)


def related(adapter: Adapter, body: Mapping[str, Any], context: Context) -> list[Indexed]:
    """The objects whose next pass this one's Ready flip may change: those that name it through
    their declared references and wait (for it, or for someone to fix what failed) or report from
    it, and those it names that follow their dependents. Others would only spend an Azure read: a
    Ready object, or one polling its own operation, gains nothing from a dependency's flip."""
    obj = Obj.from_body(adapter.info.kind, adapter.info.plural, body)
    named = [
        context.lookups.get(kind, obj.namespace, target)
        for kind, path in references(adapter)
        if (target := ref_name(obj.spec, path))
    ]
    parents = [
        e for e in named if e is not None and e.kind in ADAPTERS and ADAPTERS[e.kind].follows_dependents
    ]
    naming = [
        e
        for e in context.lookups.referencing(adapter.info.kind, obj.namespace, obj.name)
        if stalled(e) or reports_from(e.kind, adapter.info.kind)
    ]
    return [e for e in (*parents, *naming) if e.uid != obj.uid]


def reports_from(kind: str, named: str) -> bool:
    adapter = ADAPTERS.get(kind)
    return adapter is not None and any(d.kind == named and d.follows for d in adapter.dependencies)


def stalled(entry: Indexed) -> bool:
    """Not Ready and not on a schedule of its own: waiting for a dependency, failed, or not yet
    reported."""
    if entry.ready:
        return False
    reason = entry.reason
    return reason is None or reason in conditions.WAITING or reason not in conditions.TRANSIENT


async def finalize(adapter: Adapter, body: kopf.Body, retry: int, memo: Any, **kwargs: Any) -> None:
    state: OperatorState = memo.state
    uid = str(body.get("metadata", {}).get("uid", ""))
    async with state.locks.hold(uid):
        # kopf's body is from the deletion's event: a pass that ended after it may have recorded
        # the ARM id of a creation it started (without it there would be "nothing to delete").
        current = await fresh(state, adapter, body)
        obj = Obj.from_body(adapter.info.kind, adapter.info.plural, current)
        try:
            verdict = await loop.finalize(adapter, obj, state.context(), retry)
        except KubeForbidden as err:
            verdict = forbidden(err, obj, retry)
        except Exception as err:  # a bug must show on the object, not only in a log
            verdict = unexpected(err, obj, "deletion", retry)
    if verdict.released:
        post(current, verdict.events)
        forget(state, obj.uid)
        state.readiness.pop(obj.uid, None)
        metrics.RESOURCES.forget(obj.uid)
        log.info("released: %s", verdict.message, extra=ref_of(obj))
        return
    await write_status(state, adapter, current, verdict)
    raise kopf.TemporaryError(verdict.message, delay=verdict.requeue_after)


def _bind(fn: Callable[..., Any], adapter: Adapter, name: str) -> Callable[..., Any]:
    async def handler(**kwargs: Any) -> Any:
        return await fn(adapter, **kwargs)

    handler.__name__ = handler.__qualname__ = f"{name}_{adapter.info.plural}"
    return handler


def _indexer(adapter: Adapter) -> Callable[..., Any]:
    """Files each event's body in the operator's own index. It runs in kopf's indexing step, so kopf
    holds every handler back until the objects listed at start-up are all filed (a pass must not
    take an object it has not seen yet for absent); it returns nothing, so kopf stores nothing of
    its own: a second copy of every body."""
    refs = references(adapter)
    kind = adapter.info.kind

    # Async, though it awaits nothing: kopf runs a sync handler in a worker thread, a thread hop
    # on every event of every object (at 10 000 objects, a sixth of the operator's CPU).
    async def index(body: kopf.Body, memo: Any, **_: Any) -> None:
        memo.state.index.put(indexed(kind, body, refs))

    index.__name__ = f"index_{adapter.info.plural}"
    return index


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Every handler, for every kind, in one place."""

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
        configure(settings)
        metrics.initialise([adapter.info.kind for adapter in ADAPTERS.values()])
        state: OperatorState = memo.state
        # Off the loop too: the client's API classes are imported on first use, seconds of CPU.
        state.kube = await asyncio.to_thread(lambda: KubeApi(kube_api_client()))
        state.pool = ClientPool(state.settings.arm_endpoint, concurrency=state.settings.azure_concurrency)
        state.scheduler = Scheduler(lambda uid, trigger: run_pass(state, uid, trigger), limit=PASSES_AT_ONCE)
        # What is loaded by now (kopf, the clients, their modules) lives as long as the process:
        # the garbage collector need not walk it again at every full collection, each of which
        # otherwise costs more the more objects the operator serves.
        gc.freeze()

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: Any, **_: Any) -> None:
        state: OperatorState = memo.state
        if state.scheduler is not None:
            await state.scheduler.stop(PASS_GRACE_SECONDS)
        if state.pool is not None:
            state.pool.close()

    for adapter in ADAPTERS.values():
        resource = (GROUP, VERSION, adapter.info.plural)
        indexer = _indexer(adapter)
        kopf.index(*resource, id=indexer.__name__, registry=registry)(indexer)
        kopf.on.event(*resource, id="wake", registry=registry)(_bind(on_event, adapter, "wake"))
        kopf.on.delete(*resource, id="finalize", registry=registry)(_bind(finalize, adapter, "finalize"))


def kube_api_client() -> Any:
    """The kubernetes client's own login: in-cluster service account, else KUBECONFIG."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf's diff-base, for handlers of creations and updates; there are none here (each object's
    loop compares what it acts on itself), so none is stored. kopf's own would be a patch and a
    watch event per object for nothing, and two deep copies of the body on every event. With the
    same empty essence before and after, kopf sees no change: a deletion is still told by its
    deletionTimestamp."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return cast(kopf.BodyEssence, {})

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return cast(kopf.BodyEssence, {})

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        pass


def configure(kopf_settings: kopf.OperatorSettings) -> None:
    kopf_settings.persistence.finalizer = FINALIZER
    # Status stays ours and structural: kopf keeps its progress in annotations, under a prefix of
    # its own (kopf ignores annotation changes under its own prefix, so it must not be
    # `azureml.dev`: editing azureml.dev/reconcile-policy has to wake the object's loop).
    kopf_settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    kopf_settings.persistence.diffbase_storage = NoDiffBase()
    kopf_settings.posting.level = logging.INFO
    # kopf keeps a worker per object for this long after its last event, holding that raw event
    # (managedFields and all). Handlers here return at once, so an object's next event seldom comes
    # within it: at 10 000 objects, 5 s (kopf's default) kept about 1 500 workers alive.
    kopf_settings.queueing.idle_timeout = 1.0
    # Azure's load balancers drop idle connections after ~4 minutes: keep every watch shorter than
    # that, and let kopf's inactivity timeout (bookmarks arrive every minute) catch a silent drop.
    kopf_settings.watching.server_timeout = 210
    kopf_settings.watching.client_timeout = 240
    kopf_settings.watching.connect_timeout = 30
    kopf_settings.networking.request_timeout = 60
