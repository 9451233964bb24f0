"""The only module that imports kopf: operator settings, the indexes other objects are looked up in,
one set of handlers per kind registered in one loop, and the translation of a controller's verdict
into a status patch, Events and kopf's retry.

Every trigger (create, update, resume after a restart, the drift timer) runs the same level-based
reconcile; passes for one object are serialised by a per-object lock, so the timer and an edit never
race each other into Azure, while different objects never wait for each other.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import kopf

from azureml_operator import metrics
from azureml_operator.api import KINDS, KindInfo
from azureml_operator.api.common import API_VERSION, GROUP, VERSION
from azureml_operator.azure.pool import ClientPool
from azureml_operator.conditions import Reason
from azureml_operator.controllers import runtime
from azureml_operator.controllers.common import Dependencies, Obj
from azureml_operator.kubeapi import KubeApi
from azureml_operator.reconcilers.common import RETRY_UNAVAILABLE, Event, Verdict
from azureml_operator.reconcilers.status import next_status
from azureml_operator.settings import Settings

FINALIZER = f"{GROUP}/finalizer"
KOPF_PREFIX = f"kopf.{GROUP}"
log = logging.getLogger(__name__)


@dataclass
class OperatorState:
    """Built on startup, kept in kopf's memo: the dependencies and the per-object locks."""

    settings: Settings
    pool: ClientPool | None = None
    kube: KubeApi | None = None
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)


class IndexLookups:
    """`controllers.common.Lookups` over kopf's in-memory indexes."""

    def __init__(self, handler_kwargs: dict[str, Any]) -> None:
        # kopf hands every handler each index as a keyword argument named by the index's id.
        self._workspaces = handler_kwargs.get("workspace_specs") or {}
        self._subscriptions = handler_kwargs.get("subscription_states") or {}
        self._endpoints = handler_kwargs.get("endpoint_models") or {}

    @staticmethod
    def _first(index: Any, key: Any) -> Any:
        store = index.get(key)
        return next(iter(store), None) if store else None

    def workspace(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._first(self._workspaces, (namespace, name))

    def subscription(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._first(self._subscriptions, (namespace, name))

    def endpoints_using(self, namespace: str, workspace: str | None, model_id: str) -> list[dict[str, Any]]:
        store = self._endpoints.get((namespace, workspace or "", model_id.lower()))
        return list(store) if store else []


def to_obj(info: KindInfo, body: kopf.Body) -> Obj:
    meta = body.get("metadata", {})
    return Obj(
        api_version=API_VERSION,
        kind=info.kind,
        plural=info.plural,
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        generation=int(meta.get("generation") or 0),
        annotations=dict(meta.get("annotations") or {}),
        spec=dict(body.get("spec") or {}),
        status=dict(body.get("status") or {}),
    )


def post(body: kopf.Body, events: list[Event]) -> None:
    """Post Events, and log them: the log tells the same story as `kubectl get events`."""
    for event in events:
        target = event.regarding if event.regarding is not None else body
        meta = target.get("metadata", {})
        log.log(
            logging.WARNING if event.type == "Warning" else logging.INFO,
            "%s %s/%s: %s: %s",
            target.get("kind"),
            meta.get("namespace"),
            meta.get("name"),
            event.reason,
            event.message,
        )
        kopf.event(target, type=event.type, reason=event.reason, message=event.message[:1024])


def _deps(state: OperatorState, kwargs: dict[str, Any]) -> Dependencies:
    assert state.pool is not None and state.kube is not None, "startup has not run"
    return Dependencies(state.settings, state.pool, state.kube, IndexLookups(kwargs))


async def _reconcile(
    info: KindInfo, trigger: str, body: kopf.Body, patch: kopf.Patch, retry: int, memo: Any, **kwargs: Any
) -> None:
    state: OperatorState = memo.state
    obj = to_obj(info, body)
    started = time.monotonic()
    async with state.locks.setdefault(obj.uid, asyncio.Lock()):
        try:
            verdict = await runtime.reconcile(obj, _deps(state, kwargs), retry)
        except Exception as err:  # a bug must show on the object, not only in a log
            verdict = unexpected(err, obj, "reconcile", retry)
    post(body, write_status(patch, body, verdict, obj.generation))
    metrics.RECONCILE_SECONDS.labels(info.kind).observe(time.monotonic() - started)
    metrics.RECONCILES.labels(info.kind, trigger, str(verdict.reason)).inc()
    metrics.RESOURCES.observe(obj.uid, info.kind, verdict.status, str(verdict.reason))
    if verdict.requeue_after is not None:
        raise kopf.TemporaryError(verdict.message, delay=verdict.requeue_after)


async def _finalize(
    info: KindInfo, body: kopf.Body, patch: kopf.Patch, retry: int, memo: Any, **kwargs: Any
) -> None:
    state: OperatorState = memo.state
    obj = to_obj(info, body)
    async with state.locks.setdefault(obj.uid, asyncio.Lock()):
        try:
            verdict = await runtime.finalize(obj, _deps(state, kwargs), retry)
        except Exception as err:  # a bug must show on the object, not only in a log
            verdict = unexpected(err, obj, "deletion", retry)
    post(body, verdict.events)
    if verdict.released:
        state.locks.pop(obj.uid, None)
        metrics.RESOURCES.forget(obj.uid)
        log.info("%s released: %s", obj.ref, verdict.message)
        return
    write_status(patch, body, verdict, obj.generation)  # its Events are the verdict's, posted above
    raise kopf.TemporaryError(verdict.message, delay=verdict.requeue_after)


async def _forget(info: KindInfo, body: kopf.Body, memo: Any, **_: Any) -> None:
    """A kind without a finalizer still leaves a lock and a gauge entry to drop."""
    uid = body.get("metadata", {}).get("uid", "")
    memo.state.locks.pop(uid, None)
    metrics.RESOURCES.forget(uid)


def write_status(patch: kopf.Patch, body: kopf.Body, verdict: Verdict, generation: int) -> list[Event]:
    """Put the changed status fields into kopf's patch; returns the Events the change calls for."""
    status_patch, events = next_status(body.get("status"), verdict, generation)
    for key, value in status_patch.items():
        patch.status[key] = value
    return events


def unexpected(err: Exception, obj: Obj, doing: str, retry: int) -> Verdict:
    log.exception("%s of %s failed unexpectedly", doing, obj.ref)
    return Verdict.not_ready(
        Reason.AZURE_UNAVAILABLE,
        f"unexpected error: {type(err).__name__}: {err}",
        requeue_after=RETRY_UNAVAILABLE.delay(retry),
    )


def _bind(fn: Callable[..., Any], *args: Any) -> Callable[..., Any]:
    async def handler(**kwargs: Any) -> Any:
        return await fn(*args, **kwargs)

    handler.__name__ = handler.__qualname__ = f"{fn.__name__.strip('_')}_{'_'.join(map(str, args))}"
    return handler


def _index_functions() -> Iterator[tuple[str, Callable[..., Any]]]:
    def workspace_specs(namespace: str, name: str, spec: kopf.Spec, **_: Any) -> dict[Any, Any]:
        return {(namespace, name): dict(spec)}

    def subscription_states(
        namespace: str, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any
    ) -> dict[Any, Any]:
        ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
        return {
            (namespace, name): {
                "ready": ready.get("status") == "True",
                "reason": ready.get("reason"),
                "message": ready.get("message"),
                "modelId": spec.get("modelId"),
            }
        }

    def endpoint_models(namespace: str, name: str, uid: str, spec: kopf.Spec, **_: Any) -> dict[Any, Any]:
        workspace = (spec.get("workspaceRef") or {}).get("name") or ""
        ref = {
            "apiVersion": API_VERSION,
            "kind": "ServerlessEndpoint",
            "metadata": {"namespace": namespace, "name": name, "uid": uid},
        }
        return {(namespace, workspace, str(spec.get("modelId", "")).lower()): ref}

    yield "workspaces", workspace_specs
    yield "modelsubscriptions", subscription_states
    yield "serverlessendpoints", endpoint_models


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Every handler, for every kind, in one place."""

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
        configure(settings)
        state: OperatorState = memo.state
        state.kube = KubeApi(await asyncio.to_thread(kube_api_client))
        state.pool = ClientPool(state.settings.arm_endpoint, concurrency=state.settings.azure_concurrency)
        # Importing azure-ai-ml takes ~1.5 s: do it now, off the event loop, not in the first reconcile.
        await asyncio.get_running_loop().run_in_executor(state.pool.executor, __import__, "azure.ai.ml")

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: Any, **_: Any) -> None:
        if memo.state.pool is not None:
            memo.state.pool.close()

    for plural, fn in _index_functions():
        kopf.index(GROUP, VERSION, plural, id=fn.__name__, registry=registry)(fn)

    for info in KINDS:
        resource = (GROUP, VERSION, info.plural)
        for trigger, decorator in (
            ("resume", kopf.on.resume),
            ("create", kopf.on.create),
            ("update", kopf.on.update),
        ):
            decorator(*resource, id=f"reconcile-{trigger}", registry=registry)(
                _bind(_reconcile, info, trigger)
            )
        kopf.timer(
            *resource,
            id="drift",
            interval=settings.drift_interval,
            # Spread the objects' checks: ±10 % of the interval, chosen per object.
            initial_delay=lambda **_: settings.drift_interval * random.uniform(0.9, 1.1),
            registry=registry,
        )(_bind(_reconcile, info, "drift"))
        if runtime.deletes_in_azure(info.kind):
            kopf.on.delete(*resource, id="finalize", registry=registry)(_bind(_finalize, info))
        else:  # optional: no finalizer, the object goes at once whether the operator runs or not
            kopf.on.delete(*resource, id="forget", optional=True, registry=registry)(_bind(_forget, info))


def kube_api_client() -> Any:
    """The kubernetes client's own login: in-cluster service account, else KUBECONFIG."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


def configure(kopf_settings: kopf.OperatorSettings) -> None:
    kopf_settings.persistence.finalizer = FINALIZER
    # Status stays ours and structural: kopf keeps its progress and diff-base in annotations, under
    # a prefix of its own. kopf ignores every annotation under its prefix when it looks for changes,
    # so it must not be `azureml.dev`: editing azureml.dev/reconcile-policy has to trigger a pass.
    kopf_settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    kopf_settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    kopf_settings.posting.level = logging.INFO
    # Azure's load balancers drop idle connections after ~4 minutes: keep every watch shorter than
    # that, and let kopf's inactivity timeout (bookmarks arrive every minute) catch a silent drop.
    kopf_settings.watching.server_timeout = 210
    kopf_settings.watching.client_timeout = 240
    kopf_settings.watching.connect_timeout = 30
    kopf_settings.networking.request_timeout = 60
