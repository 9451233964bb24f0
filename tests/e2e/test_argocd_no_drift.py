"""The examples synced as Argo CD syncs them, against the operator: wave by wave, the next wave only
once the health check (charts/azureml-operator/argocd/health/health.lua, run as Argo CD runs it)
says Healthy for every object of the waves before. Then nothing a manifest declares has changed on
the live object, so Argo CD has no diff to show: the operator writes status, its finalizer and
kopf's bookkeeping annotations, never spec, labels or an annotation someone declared; the only
other fields are the CRDs' schema defaults, which Argo CD's default three-way diff ignores (the
manifest does not set them). Nothing the operator creates carries the Application's tracking
annotation, so Argo CD never takes it for part of the Application (or prunes it)."""

from __future__ import annotations

import copy
import json
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import yaml
from e2e_helpers import ROOT, Cluster
from kubernetes import client

from azureml_operator import crdgen
from azureml_operator.api import KINDS
from azureml_standins import admission, argocd, stories
from azureml_standins.operator import OperatorProcess

WAVE = "argocd.argoproj.io/sync-wave"
TRACKING = "argocd.argoproj.io/tracking-id"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
APP = "azureml-examples"
# The operator's own keys on an object (kopf's progress and diff-base storage); Argo CD's diff
# ignores them, since no manifest sets them.
OPERATOR_PREFIX = "kopf.azureml.dev/"


def as_argo_cd_applies(doc: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The manifest as Argo CD (annotation tracking, client-side apply) creates it."""
    body = copy.deepcopy(doc)
    meta = body["metadata"]
    meta["namespace"] = namespace
    notes = meta.setdefault("annotations", {})
    group = body["apiVersion"].split("/")[0]
    notes[TRACKING] = f"{APP}:{group}/{body['kind']}:{namespace}/{meta['name']}"
    notes[LAST_APPLIED] = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return body


# Short enough for two drift checks to run before the comparison.
DRIFT_INTERVAL = 2.0
SPEC_SCHEMAS = {
    info.kind: yaml.safe_load(crdgen.render(info))["spec"]["versions"][0]["schema"]["openAPIV3Schema"][
        "properties"
    ]["spec"]
    for info in KINDS
}


def added(declared: Any, live: Any, path: str = "spec") -> list[str]:
    """Paths the live value has that the declared one does not (the schema's defaults)."""
    if not isinstance(declared, dict) or not isinstance(live, dict):
        return []
    out = [f"{path}.{k}" for k in live if k not in declared]
    for k in declared:
        out += added(declared[k], live.get(k), f"{path}.{k}")
    return out


def test_the_examples_sync_wave_by_wave_and_show_no_drift(
    start_operator: Callable[..., OperatorProcess], api_client: client.ApiClient, namespace: str
) -> None:
    cluster = Cluster(api_client, namespace, start_operator(drift_interval=DRIFT_INTERVAL).log_text)
    health = argocd.Health()
    waves: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for doc in stories.starting_manifests(ROOT / "examples"):
        waves[int(doc["metadata"]["annotations"][WAVE])].append(doc)
    assert sorted(waves) == [0, 1, 2]

    applied: dict[tuple[str, str], dict[str, Any]] = {}
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)

    def assess(key: tuple[str, str]) -> argocd.Assessment:
        a = health.assess(cluster.get(*key) or {})
        if not seen[key] or seen[key][-1] != a.status:
            seen[key].append(a.status)
        return a

    def all_healthy(keys: list[tuple[str, str]]) -> bool:
        results = {key: assess(key) for key in keys}
        degraded = {k: a.message for k, a in results.items() if a.status == "Degraded"}
        assert not degraded, f"Argo CD would fail the sync: {degraded}"
        return all(a.status == "Healthy" for a in results.values())

    for number in sorted(waves):
        keys = []
        for doc in waves[number]:
            body = as_argo_cd_applies(doc, cluster.namespace)
            cluster.apply(body)
            key = (doc["kind"], doc["metadata"]["name"])
            applied[key], keys = body, [*keys, key]
            assess(key)  # at once, before the operator could have reported anything
        # Argo CD waits for this wave before the next; it does not wait for the last, this test does.
        cluster.wait(
            f"wave {number} to be Healthy",
            lambda keys=keys: all_healthy(keys),
            timeout=45,
            state=lambda keys=keys: {f"{k[0]}/{k[1]}": assess(k) for k in keys},
        )

    # Every object was Progressing before it was Healthy: the check did not call it Healthy at once.
    assert all(states[0] == "Progressing" and states[-1] == "Healthy" for states in seen.values()), seen

    # Let the drift checks run: a repair, or anything else that wrote spec, would show below.
    time.sleep(2 * DRIFT_INTERVAL)
    defaults: dict[str, list[str]] = {}
    for (kind, name), body in applied.items():
        live = cluster.get(kind, name)
        assert live is not None
        assert health.assess(live).status == "Healthy", (kind, name, live.get("status"))
        meta = live["metadata"]
        assert meta["generation"] == 1, f"{kind} {name}: something wrote its spec"
        declared = copy.deepcopy(body["spec"])
        assert live["spec"] == admission.apply_defaults(SPEC_SCHEMAS[kind], declared), f"{kind} {name}"
        defaults[f"{kind}/{name}"] = added(body["spec"], live["spec"])
        assert (meta.get("labels") or {}) == (body["metadata"].get("labels") or {}), f"{kind} {name}"
        notes = meta.get("annotations") or {}
        for key, value in body["metadata"]["annotations"].items():
            assert notes.get(key) == value, f"{kind} {name}: annotation {key} changed"
        extra = sorted(set(notes) - set(body["metadata"]["annotations"]))
        assert all(k.startswith(OPERATOR_PREFIX) for k in extra), f"{kind} {name}: {extra}"
        assert meta.get("finalizers") == ["azureml.dev/finalizer"], f"{kind} {name}"
    # The only fields the manifests do not declare: the schema's defaults, set by the API server.
    # Argo CD's default three-way diff skips them (not in Git, not in last-applied); the
    # structured-merge diff of ServerSideApply=true, before server-side diff, would not.
    assert defaults["ServerlessEndpoint/phi-chat"] == ["spec.authMode", "spec.deletionPolicy"], defaults
    print("schema defaults on the live objects:", json.dumps(defaults, sort_keys=True))

    # What the operator made for the examples: owned by them, never tracked as the Application's.
    made = [("ServerlessEndpoint", "phi-ft")]
    for kind, name in made:
        child = cluster.get(kind, name)
        assert child is not None
        assert health.assess(child).status == "Healthy"
        assert TRACKING not in (child["metadata"].get("annotations") or {})
        assert child["metadata"]["ownerReferences"][0]["kind"] == "FineTuneJob"
    for name in ("llama-chat-keys", "phi-chat-keys", "phi-ft-keys", "chat-online-keys"):
        secret = cluster.core.read_namespaced_secret(name, cluster.namespace)
        assert TRACKING not in (secret.metadata.annotations or {}), name
        assert "app.kubernetes.io/instance" not in (secret.metadata.labels or {}), name
        assert secret.metadata.owner_references, name
