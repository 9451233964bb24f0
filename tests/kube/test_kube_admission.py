"""Admission of custom resources against the project's real CRDs: OpenAPI schema, CEL rules (with
oldSelf on update), defaults, unknown fields, and status validated only through /status."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from kube_helpers import LLAMA, SLS, G, Http, V, endpoint, widget_crd
from kubernetes import client

pytestmark = pytest.mark.usefixtures("project_crds")


def _path(ns: str, name: str = "") -> str:
    return f"/apis/{G}/{V}/namespaces/{ns}/{SLS}" + (f"/{name}" if name else "")


def test_defaults_are_applied_and_stored(custom: client.CustomObjectsApi, ns: str) -> None:
    created = custom.create_namespaced_custom_object(G, V, ns, SLS, endpoint())
    assert created["spec"] == {"modelId": LLAMA, "authMode": "Key", "deletionPolicy": "Delete"}
    assert custom.get_namespaced_custom_object(G, V, ns, SLS, "chat")["spec"] == created["spec"]


def test_versioned_model_id_is_rejected(http: Http, ns: str) -> None:
    status, body, _ = http("POST", _path(ns), endpoint(modelId=f"{LLAMA}/versions/3"))
    assert status == 422
    assert body["kind"] == "Status" and body["reason"] == "Invalid" and body["code"] == 422
    assert body["message"].startswith('ServerlessEndpoint.azureml.dev "chat" is invalid: spec.modelId: ')
    assert body["details"]["causes"][0]["field"] == "spec.modelId"
    assert http("GET", _path(ns, "chat"))[0] == 404


def test_cel_rule_on_create(http: Http, ns: str) -> None:
    status, body, _ = http("POST", _path(ns), endpoint(name="9-lives"))
    assert status == 422
    assert "metadata.name is not a valid serverless endpoint name" in body["message"]
    status, _, _ = http("POST", _path(ns), endpoint(name="9-lives", endpointName="nine-lives"))
    assert status == 201


def test_immutable_fields_are_enforced_with_old_self(custom: client.CustomObjectsApi, ns: str) -> None:
    custom.create_namespaced_custom_object(G, V, ns, SLS, endpoint(workspaceRef={"name": "ws"}))
    other = "azureml://registries/azureml-meta/models/Other"
    with pytest.raises(client.ApiException) as model:
        custom.patch_namespaced_custom_object(G, V, ns, SLS, "chat", {"spec": {"modelId": other}})
    assert model.value.status == 422
    assert (
        "spec.modelId: Invalid value: modelId is immutable: it names the Azure resource" in model.value.body
    )
    with pytest.raises(client.ApiException) as workspace:
        custom.patch_namespaced_custom_object(
            G, V, ns, SLS, "chat", {"spec": {"workspaceRef": {"name": "other"}}}
        )
    assert workspace.value.status == 422 and "spec.workspaceRef is immutable" in workspace.value.body
    # Mutable fields still change; a PUT of the whole object is checked the same way.
    obj = custom.patch_namespaced_custom_object(
        G, V, ns, SLS, "chat", {"spec": {"contentSafety": "Disabled"}}
    )
    assert obj["spec"]["contentSafety"] == "Disabled"
    replaced = copy.deepcopy(obj)
    replaced["spec"]["modelId"] = other
    with pytest.raises(client.ApiException) as put:
        custom.replace_namespaced_custom_object(G, V, ns, SLS, "chat", replaced)
    assert put.value.status == 422


def test_unknown_fields_pruned_with_warning_or_refused_when_strict(http: Http, ns: str) -> None:
    body = endpoint(bogus=1)
    status, obj, headers = http("POST", _path(ns), body)
    assert status == 201 and "bogus" not in obj["spec"]
    assert 'unknown field \\"spec.bogus\\"' in headers["Warning"]
    body["metadata"]["name"] = "strict"
    status, refused, _ = http("POST", _path(ns), body, params={"fieldValidation": "Strict"})
    assert status == 400 and refused["reason"] == "BadRequest"
    assert refused["message"] == 'strict decoding error: unknown field "spec.bogus"'
    body["metadata"]["name"] = "quiet"
    status, obj, headers = http("POST", _path(ns), body, params={"fieldValidation": "Ignore"})
    assert status == 201 and "Warning" not in headers and "bogus" not in obj["spec"]


def test_status_is_validated_through_the_status_subresource_only(
    http: Http, custom: client.CustomObjectsApi, ns: str
) -> None:
    custom.create_namespaced_custom_object(G, V, ns, SLS, endpoint())
    bad_condition = {
        "type": "Ready",
        "status": "Maybe",
        "reason": "X",
        "lastTransitionTime": "2025-01-01T00:00:00Z",
    }
    status, body, _ = http(
        "PATCH",
        _path(ns, "chat") + "/status",
        {"status": {"conditions": [bad_condition]}},
        content_type="application/merge-patch+json",
    )
    assert status == 422 and "status.conditions.0.status" in body["message"]
    # The main resource ignores status entirely: no error, no change.
    status, body, _ = http(
        "PATCH",
        _path(ns, "chat"),
        {"status": {"conditions": [bad_condition]}},
        content_type="application/merge-patch+json",
    )
    assert status == 200 and "status" not in body
    good = {**bad_condition, "status": "True"}
    obj = custom.patch_namespaced_custom_object_status(
        G, V, ns, SLS, "chat", {"status": {"conditions": [good], "observedGeneration": 1}}
    )
    assert obj["status"]["conditions"][0]["status"] == "True"
    status, body, _ = http(
        "PATCH",
        _path(ns, "chat") + "/status",
        {"status": {"unheardOf": 1}},
        content_type="application/merge-patch+json",
        params={"fieldValidation": "Strict"},
    )
    assert status == 400 and 'unknown field "status.unheardOf"' in body["message"]


def test_crd_without_apiversion_kind_metadata_in_schema(
    apiext: client.ApiextensionsV1Api, custom: client.CustomObjectsApi, ns: str
) -> None:
    crd = widget_crd("adm.example.dev")
    assert "metadata" not in crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    apiext.create_custom_resource_definition(crd)
    obj = custom.create_namespaced_custom_object(
        "adm.example.dev",
        "v1",
        ns,
        "widgets",
        {"apiVersion": "adm.example.dev/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}},
    )
    assert obj["spec"] == {"size": 1}
    with pytest.raises(client.ApiException) as bad:
        custom.create_namespaced_custom_object(
            "adm.example.dev", "v1", ns, "widgets", {"metadata": {"name": "x"}, "spec": {"size": "big"}}
        )
    assert bad.value.status == 422
    assert json.loads(bad.value.body)["message"].startswith(
        'Widget.adm.example.dev "x" is invalid: spec.size'
    )


def test_versions_share_objects(
    http: Http, apiext: client.ApiextensionsV1Api, custom: client.CustomObjectsApi, ns: str
) -> None:
    crd: dict[str, Any] = widget_crd("multi.example.dev")
    v2 = copy.deepcopy(crd["spec"]["versions"][0])
    v2.update(name="v2", storage=False)
    crd["spec"]["versions"].append(v2)
    apiext.create_custom_resource_definition(crd)
    custom.create_namespaced_custom_object(
        "multi.example.dev", "v1", ns, "widgets", {"metadata": {"name": "w"}}
    )
    seen = custom.get_namespaced_custom_object("multi.example.dev", "v2", ns, "widgets", "w")
    assert seen["apiVersion"] == "multi.example.dev/v2"
    _, group, _ = http("GET", "/apis/multi.example.dev")
    # Kubernetes prefers the highest version (v2 over v1), whichever one is stored.
    assert group["preferredVersion"]["version"] == "v2"
    assert [v["version"] for v in group["versions"]] == ["v2", "v1"]


def test_metadata_constraints_in_a_crd_schema(
    apiext: client.ApiextensionsV1Api, custom: client.CustomObjectsApi, ns: str
) -> None:
    crd = widget_crd("meta.example.dev")
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["metadata"] = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 5}},
    }
    apiext.create_custom_resource_definition(crd)
    labelled = {"metadata": {"name": "short", "labels": {"a": "b"}, "annotations": {"c": "d"}}}
    obj = custom.create_namespaced_custom_object("meta.example.dev", "v1", ns, "widgets", labelled)
    assert obj["metadata"]["labels"] == {"a": "b"} and obj["metadata"]["annotations"] == {"c": "d"}
    with pytest.raises(client.ApiException) as long_name:
        custom.create_namespaced_custom_object(
            "meta.example.dev", "v1", ns, "widgets", {"metadata": {"name": "toolong"}}
        )
    assert long_name.value.status == 422 and "metadata.name" in long_name.value.body
