"""Discovery of built-ins, and CustomResourceDefinitions registering (and unregistering) resources."""

from __future__ import annotations

import threading
from typing import Any

from kube_helpers import Http, eventually, widget_crd
from kubernetes import client

CRDS_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def _resources(http: Http, path: str) -> dict[str, dict[str, Any]]:
    status, body, _ = http("GET", path)
    assert status == 200, body
    assert body["kind"] == "APIResourceList"
    return {r["name"]: r for r in body["resources"]}


def test_version_and_core_api(http: Http, api_client: client.ApiClient) -> None:
    info = client.VersionApi(api_client).get_code()
    assert (info.major, info.minor) == ("1", "32")
    status, body, _ = http("GET", "/api")
    assert status == 200 and body["kind"] == "APIVersions" and body["versions"] == ["v1"]
    core = _resources(http, "/api/v1")
    assert core["namespaces"]["namespaced"] is False
    assert core["namespaces"]["kind"] == "Namespace" and "ns" in core["namespaces"]["shortNames"]
    assert core["namespaces/status"]["verbs"] == ["get", "patch", "update"]
    for plural, kind in [
        ("secrets", "Secret"),
        ("events", "Event"),
        ("configmaps", "ConfigMap"),
        ("serviceaccounts", "ServiceAccount"),
    ]:
        entry = core[plural]
        assert entry["kind"] == kind and entry["namespaced"] is True
        assert entry["singularName"] == kind.lower()
        assert {"create", "get", "list", "watch", "patch", "update", "delete"} <= set(entry["verbs"])


def test_builtin_groups(http: Http) -> None:
    status, body, _ = http("GET", "/apis")
    assert status == 200 and body["kind"] == "APIGroupList"
    groups = {g["name"]: g for g in body["groups"]}
    for group in ("apiextensions.k8s.io", "events.k8s.io", "coordination.k8s.io"):
        assert groups[group]["preferredVersion"]["version"] == "v1"
    crds = _resources(http, "/apis/apiextensions.k8s.io/v1")
    assert crds["customresourcedefinitions"]["namespaced"] is False
    assert "crd" in crds["customresourcedefinitions"]["shortNames"]
    assert "customresourcedefinitions/status" in crds
    assert _resources(http, "/apis/events.k8s.io/v1")["events"]["namespaced"] is True
    assert _resources(http, "/apis/coordination.k8s.io/v1")["leases"]["kind"] == "Lease"
    status, body, _ = http("GET", "/apis/coordination.k8s.io")
    assert status == 200 and body["kind"] == "APIGroup"
    status, body, _ = http("GET", "/apis/nothing.example.dev/v1")
    assert status == 404 and body["kind"] == "Status" and body["reason"] == "NotFound"


def test_project_crds_are_discoverable(http: Http, project_crds: dict[str, Any]) -> None:
    served = _resources(http, "/apis/azureml.dev/v1alpha1")
    sls = served["serverlessendpoints"]
    assert sls["kind"] == "ServerlessEndpoint" and sls["singularName"] == "serverlessendpoint"
    assert sls["namespaced"] is True and sls["shortNames"] == ["amlsls"] and sls["categories"] == ["azureml"]
    assert "serverlessendpoints/status" in served
    assert {"modelsubscriptions", "workspaces"} <= set(served)


def test_crd_registration_emits_event_and_establishes(http: Http, apiext: client.ApiextensionsV1Api) -> None:
    listed = apiext.list_custom_resource_definition()
    seen: list[dict[str, Any]] = []
    watcher = threading.Thread(
        target=lambda: seen.extend(
            http.watch(CRDS_PATH, {"resourceVersion": listed.metadata.resource_version}, count=1)
        )
    )
    watcher.start()
    crd = widget_crd("reg.example.dev", "gadgets", "Gadget", short=["gd"])
    eventually(lambda: http("GET", "/apis/reg.example.dev/v1")[0] == 404, "not yet served")
    created = apiext.create_custom_resource_definition(crd)
    watcher.join(10)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in seen] == [
        ("ADDED", "gadgets.reg.example.dev")
    ]
    conditions = {c.type: c.status for c in created.status.conditions}
    assert conditions == {"Established": "True", "NamesAccepted": "True"}
    assert created.status.accepted_names.kind == "Gadget"
    assert created.status.accepted_names.short_names == ["gd"]
    served = _resources(http, "/apis/reg.example.dev/v1")
    assert served["gadgets"]["kind"] == "Gadget" and served["gadgets"]["shortNames"] == ["gd"]
    assert served["gadgets"]["categories"] == ["all-widgets"]
    assert "gadgets/status" in served
    _, body, _ = http("GET", "/apis")
    assert "reg.example.dev" in {g["name"] for g in body["groups"]}


def test_deleting_a_crd_removes_the_resource_and_its_objects(
    http: Http, apiext: client.ApiextensionsV1Api, custom: client.CustomObjectsApi, ns: str
) -> None:
    apiext.create_custom_resource_definition(widget_crd("gone.example.dev", "things", "Thing"))
    custom.create_namespaced_custom_object(
        "gone.example.dev", "v1", ns, "things", {"metadata": {"name": "t1", "finalizers": ["x/y"]}}
    )
    _, listed, _ = http("GET", f"/apis/gone.example.dev/v1/namespaces/{ns}/things")
    rv = listed["metadata"]["resourceVersion"]
    apiext.delete_custom_resource_definition("things.gone.example.dev")
    assert http("GET", "/apis/gone.example.dev/v1")[0] == 404
    assert http("GET", f"/apis/gone.example.dev/v1/namespaces/{ns}/things/t1")[0] == 404
    assert "gone.example.dev" not in {g["name"] for g in http("GET", "/apis")[1]["groups"]}
    events = http.watch(CRDS_PATH, {"resourceVersion": rv}, until=lambda ev: ev[-1]["type"] == "DELETED")
    assert events[-1]["object"]["metadata"]["name"] == "things.gone.example.dev"
    # Recreated, it starts empty.
    apiext.create_custom_resource_definition(widget_crd("gone.example.dev", "things", "Thing"))
    assert custom.list_namespaced_custom_object("gone.example.dev", "v1", ns, "things")["items"] == []


def test_invalid_crd_is_refused(http: Http) -> None:
    crd = widget_crd("bad.example.dev", "bads", "Bad")
    crd["metadata"]["name"] = "wrong.bad.example.dev"
    status, body, _ = http("POST", CRDS_PATH, crd)
    assert status == 422 and body["reason"] == "Invalid"
    assert "metadata.name" in body["message"]


def test_version_priority() -> None:
    from azureml_standins.kube.discovery import version_priority

    versions = ["v1alpha1", "v1", "foo", "v2beta1", "v1beta2", "v2", "v1beta1", "v10"]
    assert sorted(versions, key=version_priority) == [
        "v10",
        "v2",
        "v1",
        "v2beta1",
        "v1beta2",
        "v1beta1",
        "v1alpha1",
        "foo",
    ]
