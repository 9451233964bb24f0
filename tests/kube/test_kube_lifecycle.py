"""Deletion: finalizers and deletionTimestamp, ownerReference garbage collection, namespace
deletion, preconditions and propagation policies."""

from __future__ import annotations

from typing import Any

import pytest
from kube_helpers import SLS, G, Http, V, endpoint, eventually
from kubernetes import client


def _gone(read: Any, *args: Any) -> bool:
    try:
        read(*args)
    except client.ApiException as e:
        return e.status == 404
    return False


def _owner_ref(owner: Any) -> dict[str, Any]:
    meta = owner.metadata
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": meta.name, "uid": meta.uid, "controller": True}


def test_delete_without_finalizers_is_immediate(http: Http, core: client.CoreV1Api, ns: str) -> None:
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}})
    rv = cm.metadata.resource_version
    status, body, _ = http("DELETE", f"/api/v1/namespaces/{ns}/configmaps/cm")
    assert status == 200 and body["kind"] == "Status" and body["status"] == "Success"
    assert body["details"]["name"] == "cm" and body["details"]["uid"] == cm.metadata.uid
    events = http.watch(f"/api/v1/namespaces/{ns}/configmaps", {"resourceVersion": rv}, count=1)
    assert events[0]["type"] == "DELETED"
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) > int(rv)
    assert http("DELETE", f"/api/v1/namespaces/{ns}/configmaps/cm")[0] == 404


def test_finalizers_hold_deletion_until_removed(http: Http, core: client.CoreV1Api, ns: str) -> None:
    cm = core.create_namespaced_config_map(
        ns, {"metadata": {"name": "cm", "finalizers": ["example.dev/a", "example.dev/b"]}}
    )
    rv = cm.metadata.resource_version
    status, deleting, _ = http("DELETE", f"/api/v1/namespaces/{ns}/configmaps/cm")
    assert status == 200
    meta = deleting["metadata"]
    assert meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 0
    assert int(meta["resourceVersion"]) > int(rv)
    # A repeated DELETE changes nothing.
    status, again, _ = http("DELETE", f"/api/v1/namespaces/{ns}/configmaps/cm")
    assert status == 200 and again["metadata"]["resourceVersion"] == meta["resourceVersion"]
    # No new finalizers on an object being deleted.
    with pytest.raises(client.ApiException) as refused:
        core.patch_namespaced_config_map(
            "cm", ns, {"metadata": {"finalizers": ["example.dev/a", "example.dev/b", "new/one"]}}
        )
    assert refused.value.status == 422 and "no new finalizers" in refused.value.body
    # Removing one finalizer keeps it; removing the last deletes it.
    core.patch_namespaced_config_map("cm", ns, {"metadata": {"finalizers": ["example.dev/b"]}})
    assert core.read_namespaced_config_map("cm", ns).metadata.deletion_timestamp is not None
    last = core.patch_namespaced_config_map("cm", ns, {"metadata": {"finalizers": None}})
    assert _gone(core.read_namespaced_config_map, "cm", ns)
    events = http.watch(f"/api/v1/namespaces/{ns}/configmaps", {"resourceVersion": rv}, count=3)
    assert [e["type"] for e in events] == ["MODIFIED", "MODIFIED", "DELETED"]
    assert events[-1]["object"]["metadata"]["resourceVersion"] == last.metadata.resource_version


def test_deletion_bumps_generation_of_custom_resources(
    custom: client.CustomObjectsApi, project_crds: Any, ns: str
) -> None:
    body = endpoint()
    body["metadata"]["finalizers"] = ["example.dev/f"]
    custom.create_namespaced_custom_object(G, V, ns, SLS, body)
    deleting = custom.delete_namespaced_custom_object(G, V, ns, SLS, "chat")
    assert deleting["metadata"]["deletionTimestamp"] and deleting["metadata"]["generation"] == 2
    custom.patch_namespaced_custom_object(G, V, ns, SLS, "chat", {"metadata": {"finalizers": []}})
    assert _gone(custom.get_namespaced_custom_object, G, V, ns, SLS, "chat")


def test_garbage_collection_of_dependents(core: client.CoreV1Api, ns: str) -> None:
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "owner"}})
    other = core.create_namespaced_config_map(ns, {"metadata": {"name": "other-owner"}})
    core.create_namespaced_secret(ns, {"metadata": {"name": "plain", "ownerReferences": [_owner_ref(owner)]}})
    core.create_namespaced_secret(
        ns,
        {
            "metadata": {
                "name": "held",
                "ownerReferences": [_owner_ref(owner)],
                "finalizers": ["example.dev/f"],
            }
        },
    )
    two = _owner_ref(other)
    two["controller"] = False
    core.create_namespaced_secret(
        ns, {"metadata": {"name": "shared", "ownerReferences": [_owner_ref(owner), two]}}
    )
    grandchild_owner = core.create_namespaced_config_map(
        ns, {"metadata": {"name": "child-cm", "ownerReferences": [_owner_ref(owner)]}}
    )
    core.create_namespaced_secret(
        ns, {"metadata": {"name": "grandchild", "ownerReferences": [_owner_ref(grandchild_owner)]}}
    )
    core.create_namespaced_secret(ns, {"metadata": {"name": "unrelated"}})
    core.delete_namespaced_config_map("owner", ns, propagation_policy="Background")
    assert _gone(core.read_namespaced_secret, "plain", ns)
    assert _gone(core.read_namespaced_config_map, "child-cm", ns)
    assert _gone(core.read_namespaced_secret, "grandchild", ns)
    held = core.read_namespaced_secret("held", ns)
    assert held.metadata.deletion_timestamp is not None
    shared = core.read_namespaced_secret("shared", ns)
    assert [r.name for r in shared.metadata.owner_references] == ["other-owner"]
    assert core.read_namespaced_secret("unrelated", ns).metadata.deletion_timestamp is None
    core.patch_namespaced_secret("held", ns, {"metadata": {"finalizers": None}})
    assert _gone(core.read_namespaced_secret, "held", ns)


def test_owner_with_finalizers_collects_only_when_finally_deleted(core: client.CoreV1Api, ns: str) -> None:
    owner = core.create_namespaced_config_map(
        ns, {"metadata": {"name": "owner", "finalizers": ["example.dev/f"]}}
    )
    core.create_namespaced_secret(ns, {"metadata": {"name": "child", "ownerReferences": [_owner_ref(owner)]}})
    core.delete_namespaced_config_map("owner", ns)
    assert core.read_namespaced_secret("child", ns).metadata.deletion_timestamp is None
    core.patch_namespaced_config_map("owner", ns, {"metadata": {"finalizers": None}})
    assert _gone(core.read_namespaced_secret, "child", ns)


def test_owner_references_need_uid_kind_api_version_name(http: Http, ns: str) -> None:
    status, body, _ = http(
        "POST",
        f"/api/v1/namespaces/{ns}/secrets",
        {
            "metadata": {
                "name": "s",
                "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "x"}],
            }
        },
    )
    assert status == 422 and "ownerReferences[0].uid" in body["message"]


@pytest.mark.parametrize("policy", ["Background", "Foreground", "Orphan"])
def test_propagation_policies_are_accepted(http: Http, core: client.CoreV1Api, ns: str, policy: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}})
    status, _, _ = http(
        "DELETE",
        f"/api/v1/namespaces/{ns}/configmaps/cm",
        {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy},
    )
    assert status == 200
    assert _gone(core.read_namespaced_config_map, "cm", ns)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}})
    assert (
        http("DELETE", f"/api/v1/namespaces/{ns}/configmaps/cm", params={"propagationPolicy": policy})[0]
        == 200
    )
    assert (
        http("DELETE", f"/api/v1/namespaces/{ns}/configmaps/x", params={"propagationPolicy": "Sideways"})[0]
        == 400
    )


def test_delete_preconditions(http: Http, core: client.CoreV1Api, ns: str) -> None:
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}})
    status, body, _ = http(
        "DELETE", f"/api/v1/namespaces/{ns}/configmaps/cm", {"preconditions": {"resourceVersion": "1"}}
    )
    assert status == 409 and body["reason"] == "Conflict"
    status, _, _ = http(
        "DELETE",
        f"/api/v1/namespaces/{ns}/configmaps/cm",
        {"preconditions": {"uid": cm.metadata.uid, "resourceVersion": cm.metadata.resource_version}},
    )
    assert status == 200


def test_delete_collection(http: Http, core: client.CoreV1Api, ns: str) -> None:
    for name, app in [("a", "x"), ("b", "x"), ("c", "y")]:
        core.create_namespaced_config_map(ns, {"metadata": {"name": name, "labels": {"app": app}}})
    core.delete_collection_namespaced_config_map(ns, label_selector="app=x")
    assert [c.metadata.name for c in core.list_namespaced_config_map(ns).items] == ["c"]


def test_deleting_a_namespace_deletes_its_objects(http: Http, core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "plain"}})
    core.create_namespaced_secret(ns, {"metadata": {"name": "held", "finalizers": ["example.dev/f"]}})
    status, deleting, _ = http("DELETE", f"/api/v1/namespaces/{ns}")
    assert status == 200 and deleting["kind"] == "Namespace"
    assert deleting["status"]["phase"] == "Terminating" and deleting["metadata"]["deletionTimestamp"]
    assert _gone(core.read_namespaced_config_map, "plain", ns)
    assert core.read_namespaced_secret("held", ns).metadata.deletion_timestamp is not None
    status, body, _ = http("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "late"}})
    assert status == 403 and "being terminated" in body["message"]
    core.patch_namespaced_secret("held", ns, {"metadata": {"finalizers": None}})
    eventually(lambda: _gone(core.read_namespace, ns), "the namespace to go")
    assert ns not in {n.metadata.name for n in core.list_namespace().items}
