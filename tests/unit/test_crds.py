"""The CRDs: generated from the pydantic models, committed, structural, and admitting exactly what
they should — CEL rules included, evaluated as an API server would."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from azureml_operator import crdgen
from azureml_operator.api import KINDS
from azureml_standins import admission, stories

ROOT = Path(__file__).parents[2]
CRDS = {info.kind: yaml.safe_load(crdgen.render(info)) for info in KINDS}
LLAMA = "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct"


def test_committed_crds_are_fresh() -> None:
    for name, text in crdgen.render_all().items():
        committed = ROOT / "crds" / name
        assert committed.exists(), f"crds/{name} is missing: run `azureml-operator crds --output-dir crds`"
        assert committed.read_text() == text, (
            f"crds/{name} is stale: run `azureml-operator crds --output-dir crds`"
        )
    assert sorted(p.name for p in (ROOT / "crds").glob("*.yaml")) == sorted(crdgen.render_all())


def _walk(schema: dict[str, Any], path: str = ""):  # type: ignore[no-untyped-def]
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_schemas_are_structural_and_described(kind: str) -> None:
    schema = CRDS[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        assert "type" in node, f"{kind}{path} has no type"
        for forbidden in ("anyOf", "oneOf", "allOf", "$ref", "title"):
            assert forbidden not in node, f"{kind}{path} has {forbidden}"
        assert not ("properties" in node and "additionalProperties" in node), f"{kind}{path}"
        if path.startswith(".spec.") and path.count(".") == 2:
            assert node.get("description"), f"{kind}{path} has no description for kubectl explain"
    for entry in (e for _, n in _walk(schema) for e in n.get("x-kubernetes-validations", [])):
        admission._program(entry["rule"])  # compiles, or raises CelError


def _load(path: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / path).read_text())


EXAMPLES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").rglob("*.yaml"))


# What examples/ may hold besides azureml.dev objects, each checked for what it is (the Argo CD
# Application that syncs the examples: tests/unit/test_argocd_examples.py checks it further).
OTHER_MANIFESTS = {("argoproj.io/v1alpha1", "Application")}


@pytest.mark.parametrize("path", EXAMPLES)
def test_examples_are_admitted(path: str) -> None:
    """Every object an example applies (a story's delete step names objects; it applies none)."""
    if stories.Step(ROOT / path, ()).deletes:
        [named] = stories.load(ROOT / path)
        assert set(named) == {"apiVersion", "kind", "metadata"}, "a delete step only names what it deletes"
        return
    everything = [d for d in yaml.safe_load_all((ROOT / path).read_text()) if d]
    ours = stories.load(ROOT / path)
    others = [d for d in everything if d not in ours]
    assert ours or others, f"{path} holds no object"
    for obj in ours:
        assert admission.validate(CRDS[obj["kind"]], obj) == [], obj["metadata"]["name"]
    for obj in others:
        assert (obj.get("apiVersion"), obj.get("kind")) in OTHER_MANIFESTS, f"{path}: not a known manifest"
        assert obj["metadata"]["name"] and isinstance(obj["spec"], dict), path
    assert not (ours and others), f"{path} mixes azureml.dev objects with others"


def _endpoint(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "azureml.dev/v1alpha1",
        "kind": "ServerlessEndpoint",
        "metadata": {"name": "chat"},
        "spec": {"modelId": LLAMA, **spec},
    }


def _subscription(name: str = "llama", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "azureml.dev/v1alpha1",
        "kind": "ModelSubscription",
        "metadata": {"name": name},
        "spec": {"modelId": LLAMA, **spec},
    }


def _workspace(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "azureml.dev/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": "ws"},
        "spec": {
            "subscriptionId": "00000000-0000-0000-0000-000000000000",
            "resourceGroup": "rg",
            "workspaceName": "ws-sim",
            **spec,
        },
    }


INVALID = [
    (_endpoint(modelId=f"{LLAMA}/versions/2"), "spec.modelId"),
    (_endpoint(modelId="Meta-Llama-3-8B-Instruct"), "spec.modelId"),
    (_endpoint(endpointName="1-starts-with-a-digit"), "spec.endpointName"),
    (_endpoint(endpointName="x" * 53), "spec.endpointName"),
    (
        {**_endpoint(), "metadata": {"name": "has.dots"}},
        "metadata.name is not a valid serverless endpoint name",
    ),
    (
        {**_endpoint(endpointName="chat"), "metadata": {"name": "a" * 193}},
        "metadata.name may have at most 192 characters: the operator tags the Azure endpoint",
    ),
    (
        {**_endpoint(endpointName="chat", keysSecretName="chat-keys"), "metadata": {"name": "a" * 250}},
        "the namespace may have up to 63",
    ),
    (_endpoint(authMode="AAD"), "spec.authMode"),
    (_endpoint(contentSafety="Maybe"), "spec.contentSafety"),
    (_endpoint(deletionPolicy="Orphan"), "spec.deletionPolicy"),
    (_endpoint(keysSecretName="Not_A_Secret"), "spec.keysSecretName"),
    (_endpoint(workspaceRef={}), "spec.workspaceRef"),
    (_endpoint(unknownField=1), "unknownField"),
    ({**_endpoint(), "spec": {}}, "modelId"),
    (_subscription(modelId="azureml://registries/azureml-meta/models/M/versions/1"), "spec.modelId"),
    (_subscription(name="has.dots"), "not a valid marketplace subscription name"),
    (_subscription(subscriptionName="-dash-first"), "spec.subscriptionName"),
    (_workspace(subscriptionId="not-a-guid"), "spec.subscriptionId"),
    (_workspace(workspaceName="x"), "spec.workspaceName"),
    (
        _workspace(
            credential={"clientId": "00000000-0000-0000-0000-000000000001", "secretRef": {"name": "sp"}}
        ),
        "clientId or secretRef, not both",
    ),
    (_workspace(credential={"clientId": "nope"}), "spec.credential.clientId"),
]


@pytest.mark.parametrize("obj, fragment", INVALID, ids=[f for _, f in INVALID])
def test_invalid_manifests_are_rejected_with_a_clear_message(obj: dict[str, Any], fragment: str) -> None:
    errors = admission.validate(CRDS[obj["kind"]], obj)
    assert errors, f"admitted: {obj}"
    assert any(fragment in e for e in errors), errors


def test_names_are_bounded_only_where_a_derived_name_or_tag_binds() -> None:
    longest = {**_endpoint(endpointName="chat"), "metadata": {"name": "a" * 192}}
    assert admission.validate(CRDS["ServerlessEndpoint"], longest) == []
    # A marketplace subscription carries no tags and the operator derives no object name from it.
    assert (
        admission.validate(CRDS["ModelSubscription"], _subscription("a" * 253, subscriptionName="llama"))
        == []
    )
    ws = _workspace()
    assert admission.validate(CRDS["Workspace"], {**ws, "metadata": {"name": "a" * 253}}) == []


def _updated(obj: dict[str, Any], **spec: Any) -> dict[str, Any]:
    new = copy.deepcopy(obj)
    new["spec"].update(spec)
    return new


UPDATES = [
    (
        _endpoint(),
        _updated(_endpoint(), modelId="azureml://registries/azureml/models/Phi-4-mini-instruct"),
        "modelId is immutable",
    ),
    (_endpoint(), _updated(_endpoint(), endpointName="renamed"), "serverless endpoint name"),
    (_endpoint(), _updated(_endpoint(), workspaceRef={"name": "other"}), "workspaceRef is immutable"),
    (_subscription(), _updated(_subscription(), subscriptionName="other"), "marketplace subscription name"),
    (_workspace(), _updated(_workspace(), workspaceName="another-ws"), "workspaceName is immutable"),
    (_workspace(), _updated(_workspace(), resourceGroup="rg2"), "resourceGroup is immutable"),
]


@pytest.mark.parametrize("old, new, fragment", UPDATES, ids=[f for *_, f in UPDATES])
def test_azure_identity_fields_are_immutable(old: dict[str, Any], new: dict[str, Any], fragment: str) -> None:
    assert admission.validate(CRDS[new["kind"]], old) == []
    errors = admission.validate(CRDS[new["kind"]], new, old=old)
    assert any(fragment in e for e in errors), errors


def test_updates_that_keep_the_identity_are_admitted() -> None:
    old = _endpoint()
    same_name = _updated(old, endpointName="chat", contentSafety="Disabled", deletionPolicy="Retain")
    assert admission.validate(CRDS["ServerlessEndpoint"], same_name, old=old) == []
    ws = _workspace()
    assert (
        admission.validate(CRDS["Workspace"], _updated(ws, credential={"secretRef": {"name": "sp"}}), old=ws)
        == []
    )


def test_defaults_are_applied() -> None:
    obj = admission.apply_defaults(
        CRDS["ServerlessEndpoint"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"], _endpoint()
    )
    assert obj["spec"]["deletionPolicy"] == "Delete" and obj["spec"]["authMode"] == "Key"


def test_every_kind_shows_readys_reason_beside_it_and_its_message_when_wide() -> None:
    for info in KINDS:
        columns = CRDS[info.kind]["spec"]["versions"][0]["additionalPrinterColumns"]
        names = [c["name"] for c in columns]
        assert names[names.index("Ready") + 1] == "Reason", info.kind
        message = next(c for c in columns if c["name"] == "Message")
        assert message.get("priority") == 1 and message["jsonPath"].endswith("].message"), info.kind
        assert names[-1] == "Age" and names[-2] == "Message", info.kind
