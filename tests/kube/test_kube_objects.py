"""The object store through the API: server-set metadata, resourceVersion concurrency, generation,
list, PUT, the patch types, the status subresource, built-ins (Secrets, Events) and error bodies."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from kube_helpers import SLS, G, Http, V, endpoint, widget_crd
from kubernetes import client

W = "/apis/objects.example.dev/v1"


@pytest.fixture(scope="module")
def widgets(apiext: client.ApiextensionsV1Api) -> str:
    apiext.create_custom_resource_definition(widget_crd("objects.example.dev"))
    return W


def _status_body(body: dict[str, Any], code: int, reason: str) -> None:
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["status"] == "Failure" and body["code"] == code and body["reason"] == reason
    assert body["message"]


def test_create_sets_server_metadata(custom: client.CustomObjectsApi, project_crds: Any, ns: str) -> None:
    before = int(custom.list_namespaced_custom_object(G, V, ns, SLS)["metadata"]["resourceVersion"])
    obj = custom.create_namespaced_custom_object(G, V, ns, SLS, endpoint())
    meta = obj["metadata"]
    assert meta["namespace"] == ns and meta["name"] == "chat"
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z") and meta["generation"] == 1
    assert int(meta["resourceVersion"]) > before
    assert obj["apiVersion"] == f"{G}/{V}" and obj["kind"] == "ServerlessEndpoint"
    assert custom.get_namespaced_custom_object(G, V, ns, SLS, "chat") == obj


def test_create_fills_kind_namespace_and_generated_names(http: Http, core: client.CoreV1Api, ns: str) -> None:
    status, body, _ = http(
        "POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"generateName": "cm-"}}
    )
    assert status == 201
    assert body["kind"] == "ConfigMap" and body["apiVersion"] == "v1" and body["metadata"]["namespace"] == ns
    assert body["metadata"]["name"].startswith("cm-") and len(body["metadata"]["name"]) == len("cm-") + 5
    second = core.create_namespaced_config_map(ns, {"metadata": {"generateName": "cm-"}})
    assert second.metadata.name != body["metadata"]["name"]


def test_create_errors(http: Http, core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "one"}})
    status, body, _ = http("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "one"}})
    assert status == 409
    _status_body(body, 409, "AlreadyExists")
    assert body["details"] == {"name": "one", "kind": "configmaps"}
    status, body, _ = http("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {}})
    assert status == 422
    _status_body(body, 422, "Invalid")
    assert "name or generateName is required" in body["message"]
    status, body, _ = http("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "Bad_Name"}})
    assert status == 422 and "RFC 1123" in body["message"]
    status, body, _ = http("POST", "/api/v1/namespaces/missing-ns/configmaps", {"metadata": {"name": "x"}})
    assert status == 404
    _status_body(body, 404, "NotFound")
    assert body["message"] == 'namespaces "missing-ns" not found'
    status, body, _ = http(
        "POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "x", "namespace": "other"}}
    )
    assert status == 400
    _status_body(body, 400, "BadRequest")
    status, body, _ = http(
        "POST", f"/api/v1/namespaces/{ns}/configmaps", {"kind": "Secret", "metadata": {"name": "x"}}
    )
    assert status == 400
    status, body, _ = http("POST", f"/api/v1/namespaces/{ns}/configmaps", b"{not json")
    assert status == 400
    status, body, _ = http("GET", f"/api/v1/namespaces/{ns}/configmaps/nope")
    assert status == 404 and body["message"] == 'configmaps "nope" not found'
    status, body, _ = http("GET", f"/api/v1/namespaces/{ns}/nothings")
    assert status == 404 and body["reason"] == "NotFound"
    status, body, _ = http("POST", f"/api/v1/namespaces/{ns}/configmaps/one")
    assert status == 405
    _status_body(body, 405, "MethodNotAllowed")


def test_every_write_bumps_one_global_resource_version(core: client.CoreV1Api, ns: str) -> None:
    a = core.create_namespaced_config_map(ns, {"metadata": {"name": "a"}})
    b = core.create_namespaced_secret(ns, {"metadata": {"name": "b"}})
    assert int(b.metadata.resource_version) > int(a.metadata.resource_version)
    a2 = core.patch_namespaced_config_map("a", ns, {"data": {"k": "v"}})
    assert int(a2.metadata.resource_version) > int(b.metadata.resource_version)
    listed = core.list_namespaced_config_map(ns)
    assert int(listed.metadata.resource_version) >= int(a2.metadata.resource_version)
    # A write that changes nothing is no write: the resourceVersion stays.
    a3 = core.patch_namespaced_config_map("a", ns, {"data": {"k": "v"}})
    assert a3.metadata.resource_version == a2.metadata.resource_version
    core.delete_namespaced_config_map("a", ns)
    assert int(core.list_namespaced_config_map(ns).metadata.resource_version) > int(
        a3.metadata.resource_version
    )


def test_list_shape_and_cluster_wide_list(http: Http, core: client.CoreV1Api, ns: str) -> None:
    other = f"{ns}-b"
    core.create_namespace({"metadata": {"name": other}})
    core.create_namespaced_secret(ns, {"metadata": {"name": "s"}})
    core.create_namespaced_secret(other, {"metadata": {"name": "s"}})
    status, body, _ = http("GET", f"/api/v1/namespaces/{ns}/secrets")
    assert status == 200 and body["kind"] == "SecretList" and body["apiVersion"] == "v1"
    assert [o["metadata"]["name"] for o in body["items"]] == ["s"]
    assert int(body["metadata"]["resourceVersion"]) > 0
    everywhere = core.list_secret_for_all_namespaces(field_selector="metadata.name=s")
    assert {(s.metadata.namespace, s.metadata.name) for s in everywhere.items} >= {(ns, "s"), (other, "s")}


def test_limit_and_continue(core: client.CoreV1Api, ns: str) -> None:
    for i in range(5):
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"c{i}"}})
    first = core.list_namespaced_config_map(ns, limit=2)
    assert [c.metadata.name for c in first.items] == ["c0", "c1"] and first.metadata.remaining_item_count == 3
    rest = core.list_namespaced_config_map(ns, limit=10, _continue=first.metadata._continue)
    assert [c.metadata.name for c in rest.items] == ["c2", "c3", "c4"] and not rest.metadata._continue


def test_put_replaces_with_resource_version_precondition(core: client.CoreV1Api, ns: str) -> None:
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    body = {"metadata": {"name": "cm", "resourceVersion": cm.metadata.resource_version}, "data": {"b": "2"}}
    replaced = core.replace_namespaced_config_map("cm", ns, body)
    assert replaced.data == {"b": "2"}
    assert replaced.metadata.uid == cm.metadata.uid
    assert replaced.metadata.creation_timestamp == cm.metadata.creation_timestamp
    assert replaced.metadata.namespace == ns
    assert int(replaced.metadata.resource_version) > int(cm.metadata.resource_version)
    with pytest.raises(client.ApiException) as stale:
        core.replace_namespaced_config_map("cm", ns, body)  # the old resourceVersion
    assert stale.value.status == 409 and '"reason":"Conflict"' in stale.value.body
    # Without a resourceVersion, the replace is unconditional.
    again = core.replace_namespaced_config_map("cm", ns, {"metadata": {"name": "cm"}, "data": {"c": "3"}})
    assert again.data == {"c": "3"}
    with pytest.raises(client.ApiException) as renamed:
        core.replace_namespaced_config_map("cm", ns, {"metadata": {"name": "other"}})
    assert renamed.value.status == 400


def test_generation_tracks_spec_only(custom: client.CustomObjectsApi, widgets: str, ns: str) -> None:
    group = "objects.example.dev"
    obj = custom.create_namespaced_custom_object(
        group, "v1", ns, "widgets", {"metadata": {"name": "w"}, "spec": {"color": "red"}}
    )
    assert obj["metadata"]["generation"] == 1
    obj = custom.patch_namespaced_custom_object(
        group, "v1", ns, "widgets", "w", {"metadata": {"labels": {"a": "b"}}}
    )
    assert obj["metadata"]["generation"] == 1
    obj = custom.patch_namespaced_custom_object_status(
        group, "v1", ns, "widgets", "w", {"status": {"phase": "Ready"}}
    )
    assert obj["metadata"]["generation"] == 1 and obj["status"] == {"phase": "Ready"}
    obj = custom.patch_namespaced_custom_object(group, "v1", ns, "widgets", "w", {"spec": {"color": "blue"}})
    assert obj["metadata"]["generation"] == 2
    obj = custom.patch_namespaced_custom_object(group, "v1", ns, "widgets", "w", {"spec": {"color": "blue"}})
    assert obj["metadata"]["generation"] == 2


def test_merge_patch(custom: client.CustomObjectsApi, widgets: str, ns: str) -> None:
    group = "objects.example.dev"
    custom.create_namespaced_custom_object(
        group,
        "v1",
        ns,
        "widgets",
        {
            "metadata": {"name": "w", "labels": {"a": "1", "b": "2"}},
            "spec": {"tags": ["x", "y"], "color": "red"},
        },
    )
    obj = custom.patch_namespaced_custom_object(
        group,
        "v1",
        ns,
        "widgets",
        "w",
        {"metadata": {"labels": {"a": None, "c": "3"}}, "spec": {"tags": ["z"], "color": None}},
    )
    assert obj["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert obj["spec"] == {"tags": ["z"], "size": 1}


def test_merge_patch_with_stale_resource_version_conflicts(
    http: Http, custom: client.CustomObjectsApi, widgets: str, ns: str
) -> None:
    group = "objects.example.dev"
    obj = custom.create_namespaced_custom_object(group, "v1", ns, "widgets", {"metadata": {"name": "w"}})
    rv = obj["metadata"]["resourceVersion"]
    custom.patch_namespaced_custom_object(group, "v1", ns, "widgets", "w", {"spec": {"color": "red"}})
    status, body, _ = http(
        "PATCH",
        f"{W}/namespaces/{ns}/widgets/w",
        {"metadata": {"resourceVersion": rv}, "spec": {"color": "blue"}},
        content_type="application/merge-patch+json",
    )
    assert status == 409
    _status_body(body, 409, "Conflict")
    assert "the object has been modified" in body["message"]
    assert custom.get_namespaced_custom_object(group, "v1", ns, "widgets", "w")["spec"]["color"] == "red"


def test_json_patch_and_failed_test_op(
    http: Http, custom: client.CustomObjectsApi, widgets: str, ns: str
) -> None:
    group = "objects.example.dev"
    obj = custom.create_namespaced_custom_object(group, "v1", ns, "widgets", {"metadata": {"name": "w"}})
    rv = obj["metadata"]["resourceVersion"]
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": "/metadata/finalizers", "value": ["example.dev/f"]},
    ]
    status, body, _ = http(
        "PATCH", f"{W}/namespaces/{ns}/widgets/w", ops, content_type="application/json-patch+json"
    )
    assert status == 200 and body["metadata"]["finalizers"] == ["example.dev/f"]
    assert int(body["metadata"]["resourceVersion"]) > int(rv)
    # The same guard again: resourceVersion moved on, so the test fails with 422 and nothing changes.
    ops[1] = {"op": "remove", "path": "/metadata/finalizers"}
    status, failed, _ = http(
        "PATCH", f"{W}/namespaces/{ns}/widgets/w", ops, content_type="application/json-patch+json"
    )
    assert status == 422
    _status_body(failed, 422, "Invalid")
    current = custom.get_namespaced_custom_object(group, "v1", ns, "widgets", "w")
    assert current["metadata"]["finalizers"] == ["example.dev/f"]
    assert current["metadata"]["resourceVersion"] == body["metadata"]["resourceVersion"]
    # Through the client, with the current resourceVersion, it works.
    ops[0]["value"] = current["metadata"]["resourceVersion"]
    done = custom.patch_namespaced_custom_object(
        group, "v1", ns, "widgets", "w", ops, _content_type="application/json-patch+json"
    )
    assert "finalizers" not in done["metadata"]
    status, body, _ = http(
        "PATCH", f"{W}/namespaces/{ns}/widgets/w", {"op": "add"}, content_type="application/json-patch+json"
    )
    assert status == 400
    status, body, _ = http(
        "PATCH",
        f"{W}/namespaces/{ns}/widgets/w",
        [{"op": "remove", "path": "/spec/nothing"}],
        content_type="application/json-patch+json",
    )
    assert status == 422


def test_patch_media_types(
    http: Http, core: client.CoreV1Api, custom: client.CustomObjectsApi, widgets: str, ns: str
) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    status, body, _ = http(
        "PATCH",
        f"/api/v1/namespaces/{ns}/configmaps/cm",
        {"data": {"b": "2"}},
        content_type="application/strategic-merge-patch+json",
    )
    assert status == 200 and body["data"] == {"a": "1", "b": "2"}
    custom.create_namespaced_custom_object(
        "objects.example.dev", "v1", ns, "widgets", {"metadata": {"name": "w"}}
    )
    for media in ("application/strategic-merge-patch+json", "application/apply-patch+yaml"):
        status, body, _ = http("PATCH", f"{W}/namespaces/{ns}/widgets/w", {"spec": {}}, content_type=media)
        assert status == 415, media
        _status_body(body, 415, "UnsupportedMediaType")


def test_status_subresource_isolation(
    http: Http, custom: client.CustomObjectsApi, widgets: str, ns: str
) -> None:
    group = "objects.example.dev"
    created = custom.create_namespaced_custom_object(
        group,
        "v1",
        ns,
        "widgets",
        {"metadata": {"name": "w"}, "spec": {"color": "red"}, "status": {"phase": "Ready"}},
    )
    assert "status" not in created  # dropped on create: status is written through /status
    obj = custom.patch_namespaced_custom_object(
        group, "v1", ns, "widgets", "w", {"spec": {"color": "blue"}, "status": {"phase": "Ready"}}
    )
    assert obj["spec"]["color"] == "blue" and "status" not in obj
    obj = custom.patch_namespaced_custom_object_status(
        group, "v1", ns, "widgets", "w", {"spec": {"color": "green"}, "status": {"phase": "Pending"}}
    )
    assert obj["spec"]["color"] == "blue" and obj["status"] == {"phase": "Pending"}
    assert obj["metadata"]["generation"] == 2
    got = custom.get_namespaced_custom_object_status(group, "v1", ns, "widgets", "w")
    assert got["status"] == {"phase": "Pending"}
    # PUT on /status replaces status only; PUT on the main resource keeps it.
    got["status"] = {"phase": "Ready", "observedGeneration": 2}
    got["spec"] = {"color": "black"}
    obj = custom.replace_namespaced_custom_object_status(group, "v1", ns, "widgets", "w", got)
    assert obj["status"]["phase"] == "Ready" and obj["spec"]["color"] == "blue"
    obj["spec"] = {"color": "white"}
    obj.pop("status")
    obj = custom.replace_namespaced_custom_object(group, "v1", ns, "widgets", "w", obj)
    assert obj["spec"]["color"] == "white" and obj["status"]["phase"] == "Ready"
    # A stale resourceVersion on /status conflicts too.
    status, _, _ = http(
        "PATCH",
        f"{W}/namespaces/{ns}/widgets/w/status",
        {
            "metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
            "status": {"phase": "Pending"},
        },
        content_type="application/merge-patch+json",
    )
    assert status == 409


def test_status_is_plain_without_the_subresource(
    http: Http, apiext: client.ApiextensionsV1Api, custom: client.CustomObjectsApi, ns: str
) -> None:
    apiext.create_custom_resource_definition(widget_crd("plain.example.dev", status=False))
    obj = custom.create_namespaced_custom_object(
        "plain.example.dev", "v1", ns, "widgets", {"metadata": {"name": "w"}, "status": {"phase": "Ready"}}
    )
    assert obj["status"] == {"phase": "Ready"}
    assert http("GET", f"/apis/plain.example.dev/v1/namespaces/{ns}/widgets/w/status")[0] == 404


def test_secrets_string_data_and_immutability(core: client.CoreV1Api, ns: str) -> None:
    secret = core.create_namespaced_secret(ns, {"metadata": {"name": "s"}, "stringData": {"key": "value"}})
    assert secret.type == "Opaque" and secret.string_data is None
    assert base64.b64decode(secret.data["key"]) == b"value"
    secret = core.patch_namespaced_secret("s", ns, {"stringData": {"other": "x"}})
    assert set(secret.data) == {"key", "other"}
    core.create_namespaced_config_map(
        ns, {"metadata": {"name": "frozen"}, "data": {"a": "1"}, "immutable": True}
    )
    with pytest.raises(client.ApiException) as frozen:
        core.patch_namespaced_config_map("frozen", ns, {"data": {"a": "2"}})
    assert frozen.value.status == 422


def test_events_core_and_events_k8s_io(
    http: Http, api_client: client.ApiClient, core: client.CoreV1Api, ns: str
) -> None:
    event = {
        "metadata": {"generateName": "kopf-event-"},
        "involvedObject": {"kind": "Widget", "name": "w", "namespace": ns},
        "reason": "Logging",
        "message": "hello",
        "type": "Normal",
    }
    first = core.create_namespaced_event(ns, event)
    second = core.create_namespaced_event(ns, event)
    assert first.metadata.name.startswith("kopf-event-") and first.metadata.name != second.metadata.name
    listed = core.list_namespaced_event(ns, field_selector="reason=Logging,involvedObject.name=w")
    assert len(listed.items) == 2
    events_v1 = client.EventsV1Api(api_client)
    new_style = events_v1.create_namespaced_event(
        ns,
        {
            "metadata": {"generateName": "e-"},
            "eventTime": "2025-01-01T00:00:00.000000Z",
            "reportingController": "azureml.dev/operator",
            "reportingInstance": "x",
            "action": "Reconcile",
            "reason": "Ready",
            "regarding": {"kind": "Widget", "name": "w", "namespace": ns},
            "type": "Normal",
        },
    )
    assert [e.metadata.name for e in events_v1.list_namespaced_event(ns).items] == [new_style.metadata.name]


def test_namespaces_exist_and_are_objects(core: client.CoreV1Api, http: Http) -> None:
    names = {n.metadata.name for n in core.list_namespace().items}
    assert {"default", "kube-system"} <= names
    default = core.read_namespace("default")
    assert default.status.phase == "Active" and default.metadata.uid
    status, body, _ = http("POST", "/api/v1/namespaces", {"metadata": {"name": "Not_A_Label"}})
    assert status == 422 and "RFC 1123 label" in body["message"]


def test_dry_run_writes_nothing(http: Http, core: client.CoreV1Api, ns: str) -> None:
    status, body, _ = http(
        "POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "dry"}}, params={"dryRun": "All"}
    )
    assert status == 201 and body["metadata"]["name"] == "dry"
    assert core.list_namespaced_config_map(ns).items == []


def test_put_of_a_custom_resource_needs_a_resource_version(
    custom: client.CustomObjectsApi, widgets: str, ns: str
) -> None:
    obj = custom.create_namespaced_custom_object(
        "objects.example.dev", "v1", ns, "widgets", {"metadata": {"name": "w"}}
    )
    obj["metadata"].pop("resourceVersion")
    with pytest.raises(client.ApiException) as refused:
        custom.replace_namespaced_custom_object("objects.example.dev", "v1", ns, "widgets", "w", obj)
    assert refused.value.status == 422 and "must be specified for an update" in refused.value.body


def test_system_namespaces_cannot_be_deleted(http: Http) -> None:
    status, body, _ = http("DELETE", "/api/v1/namespaces/default")
    assert status == 403 and body["reason"] == "Forbidden"
    assert http("GET", "/api/v1/namespaces/default")[1]["status"]["phase"] == "Active"


def test_a_body_that_is_not_an_object_is_400(http: Http, ns: str) -> None:
    status, body, _ = http("POST", f"/api/v1/namespaces/{ns}/configmaps", [1, 2])
    assert status == 400 and body["kind"] == "Status"


def test_cluster_scoped_custom_resources(
    http: Http, apiext: client.ApiextensionsV1Api, custom: client.CustomObjectsApi
) -> None:
    apiext.create_custom_resource_definition(widget_crd("cluster.example.dev", scope="Cluster"))
    obj = custom.create_cluster_custom_object(
        "cluster.example.dev", "v1", "widgets", {"metadata": {"name": "global", "namespace": "ignored"}}
    )
    assert "namespace" not in obj["metadata"]
    assert custom.get_cluster_custom_object("cluster.example.dev", "v1", "widgets", "global") == obj
    listed = custom.list_cluster_custom_object("cluster.example.dev", "v1", "widgets")
    assert listed["kind"] == "WidgetList" and [o["metadata"]["name"] for o in listed["items"]] == ["global"]
    assert http("GET", "/apis/cluster.example.dev/v1/namespaces/default/widgets")[0] == 404
    _, served, _ = http("GET", "/apis/cluster.example.dev/v1")
    assert served["resources"][0]["namespaced"] is False
