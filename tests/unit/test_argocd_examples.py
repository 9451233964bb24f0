"""examples/ under Argo CD: every object has the sync wave of its kind, no object comes before what it
needs (and an endpoint never before the deployments it must wait for), and examples/argocd's
Application selects exactly the objects the demo starts from, without the options that hurt."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from azureml_operator.api import KINDS
from azureml_standins import stories

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
APPLICATION = EXAMPLES / "argocd" / "application.yaml"
WAVE = "argocd.argoproj.io/sync-wave"
# The decision, per kind (charts/azureml-operator/argocd/README.md says why).
WAVES = {
    "Workspace": 0,
    "ModelSubscription": 1,
    "DataAsset": 1,
    "ServerlessEndpoint": 2,
    "FineTuneJob": 2,
    "OnlineEndpoint": 2,
    "OnlineDeployment": 2,
}


def wave(obj: dict[str, Any]) -> int:
    return int(((obj["metadata"].get("annotations") or {}).get(WAVE)) or 0)


def needs(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, name) of the objects `obj` waits for before it can be Ready."""
    spec = obj.get("spec") or {}
    found: list[tuple[str, str]] = []
    if "workspaceRef" in spec:
        found.append(("Workspace", spec["workspaceRef"]["name"]))
    if "subscriptionRef" in spec:
        found.append(("ModelSubscription", spec["subscriptionRef"]["name"]))
    for key in ("trainingData", "validationData"):
        if "dataAssetRef" in (spec.get(key) or {}):
            found.append(("DataAsset", spec[key]["dataAssetRef"]["name"]))
    if "fineTuneJob" in (spec.get("modelRef") or {}):
        found.append(("FineTuneJob", spec["modelRef"]["fineTuneJob"]))
    if "endpointRef" in spec:
        found.append(("OnlineEndpoint", spec["endpointRef"]["name"]))
    if obj["kind"] == "OnlineEndpoint":
        # TrafficPending until every deployment its maps name is Ready.
        for name in {**(spec.get("traffic") or {}), **(spec.get("mirrorTraffic") or {})}:
            found.append(("OnlineDeployment", name))
    return found


def test_every_kind_has_a_wave() -> None:
    assert sorted(WAVES) == sorted(info.kind for info in KINDS), "a new kind needs a sync wave"


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.yaml")), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_object_has_its_kinds_wave(path: Path) -> None:
    step = stories.Step(path, ())
    for obj in stories.load(path):
        if step.deletes:
            assert WAVE not in (obj["metadata"].get("annotations") or {}), "a delete step only names"
            continue
        assert (obj["metadata"].get("annotations") or {}).get(WAVE) == str(WAVES[obj["kind"]]), obj[
            "metadata"
        ]


def test_nothing_waits_for_a_later_wave() -> None:
    """Argo CD starts a wave once the earlier ones are Healthy: an object that needs one of a later
    wave is never Healthy, and the sync never goes on. Mutual needs must share a wave."""
    objects = {(o["kind"], o["metadata"]["name"]): o for o in stories.starting_manifests(EXAMPLES)}
    for step in stories.steps(EXAMPLES):
        if not step.deletes:
            objects.update({(o["kind"], o["metadata"]["name"]): o for o in step.docs})
    checked = 0
    for key, obj in objects.items():
        for need in needs(obj):
            if need in objects:
                assert wave(objects[need]) <= wave(obj), f"{key} needs {need}, in a later wave"
                checked += 1
    assert checked >= 5, "the examples lost their references: this test checks nothing"
    endpoint, blue = objects[("OnlineEndpoint", "chat-online")], objects[("OnlineDeployment", "blue")]
    assert wave(endpoint) == wave(blue), "each waits for the other: one wave"


# -- the Application -------------------------------------------------------------------------


def argo_glob(pattern: str) -> re.Pattern[str]:
    """Argo CD's directory include/exclude glob (gobwas/glob, no separators): `*` matches across
    folders, `?` one character, `{a,b}` either."""
    out, depth = "", 0
    for ch in pattern:
        if ch == "*":
            out += ".*"
        elif ch == "?":
            out += "."
        elif ch == "{":
            out, depth = out + "(?:", depth + 1
        elif ch == "}" and depth:
            out, depth = out + ")", depth - 1
        elif ch == "," and depth:
            out += "|"
        else:
            out += re.escape(ch)
    return re.compile(out + r"\Z")


def test_argo_glob_reads_as_argo_cd_does() -> None:
    exclude = argo_glob("{*/steps/*,argocd/*}")
    assert exclude.match("online/steps/1-green-mirrored.yaml")
    assert exclude.match("argocd/application.yaml")
    assert not exclude.match("online/endpoint.yaml") and not exclude.match("steps.yaml")


def application() -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(APPLICATION.read_text()) if d]
    assert len(docs) == 1
    return docs[0]


def test_the_application_syncs_exactly_what_the_demo_starts_from() -> None:
    app = application()
    assert (app["apiVersion"], app["kind"]) == ("argoproj.io/v1alpha1", "Application")
    source = app["spec"]["source"]
    root = ROOT / source["path"]
    assert root == EXAMPLES and source["directory"]["recurse"] is True
    exclude = argo_glob(source["directory"]["exclude"])
    manifest_file = re.compile(r"^.*\.(yaml|yml|json|jsonnet)$")  # what Argo CD reads in a directory
    selected = [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file() and manifest_file.match(p.name) and not exclude.match(p.relative_to(root).as_posix())
    ]
    synced = [d for p in selected for d in yaml.safe_load_all(p.read_text()) if d]
    key = [(d["kind"], d["metadata"]["name"]) for d in synced]
    assert key == [(d["kind"], d["metadata"]["name"]) for d in stories.starting_manifests(EXAMPLES)]
    assert all(d["apiVersion"] == "azureml.dev/v1alpha1" for d in synced), "it must not sync itself"


def test_the_application_avoids_the_options_that_hurt() -> None:
    spec = application()["spec"]
    options = spec["syncPolicy"].get("syncOptions") or []
    assert "Replace=true" not in options, "a replace drops the operator's finalizer"
    assert "ServerSideApply=true" not in options, "its structured-merge diff shows CRD defaults as drift"
    automated = spec["syncPolicy"]["automated"]
    assert automated == {"prune": False, "selfHeal": True}, "the documented decision"
    assert "resources-finalizer.argocd.argoproj.io" not in (application()["metadata"].get("finalizers") or [])
