"""Watches: replay, resuming from a resourceVersion, 410 Gone, bookmarks, timeouts, filtering by
namespace and selectors (objects entering and leaving a selection), and no lost events."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from kube_helpers import Http
from kubernetes import client, watch

from azureml_standins.kube.process import KubeProcess


def _names(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"]["name"]) for e in events if e["type"] != "BOOKMARK"]


def test_watch_without_resource_version_replays_current_objects(
    http: Http, core: client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "a"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "b"}})
    for params in ({}, {"resourceVersion": "0"}):
        events = http.watch(f"/api/v1/namespaces/{ns}/configmaps", params, count=2)
        assert _names(events) == [("ADDED", "a"), ("ADDED", "b")]


def test_watch_from_resource_version_sends_only_later_changes(
    http: Http, core: client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "old"}})
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, {"metadata": {"name": "new"}})
    core.patch_namespaced_config_map("old", ns, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("new", ns)
    events = http.watch(f"/api/v1/namespaces/{ns}/configmaps", {"resourceVersion": rv}, count=3)
    assert _names(events) == [("ADDED", "new"), ("MODIFIED", "old"), ("DELETED", "new")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)


def test_official_client_watch_sees_live_changes(
    api_client: client.ApiClient, core: client.CoreV1Api, ns: str
) -> None:
    rv = core.list_namespaced_secret(ns).metadata.resource_version

    def writer() -> None:
        time.sleep(0.1)
        core.create_namespaced_secret(ns, {"metadata": {"name": "live"}})
        core.delete_namespaced_secret("live", ns)

    thread = threading.Thread(target=writer)
    thread.start()
    seen = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_secret, ns, resource_version=rv, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 2:
            w.stop()
    thread.join()
    assert seen == [("ADDED", "live"), ("DELETED", "live")]


def test_watch_filters_by_namespace(http: Http, core: client.CoreV1Api, ns: str) -> None:
    other = f"{ns}-other"
    core.create_namespace({"metadata": {"name": other}})
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(other, {"metadata": {"name": "elsewhere"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "here"}})
    events = http.watch(f"/api/v1/namespaces/{ns}/configmaps", {"resourceVersion": rv}, count=1)
    assert _names(events) == [("ADDED", "here")]
    everywhere = http.watch("/api/v1/configmaps", {"resourceVersion": rv}, count=2)
    assert _names(everywhere) == [("ADDED", "elsewhere"), ("ADDED", "here")]


def test_watch_selectors_and_objects_leaving_the_selection(
    http: Http, core: client.CoreV1Api, ns: str
) -> None:
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, {"metadata": {"name": "a", "labels": {"app": "x"}}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "b", "labels": {"app": "y"}}})
    core.patch_namespaced_config_map("b", ns, {"metadata": {"labels": {"app": "x"}}})
    core.patch_namespaced_config_map("a", ns, {"metadata": {"labels": {"app": "z"}}})
    events = http.watch(
        f"/api/v1/namespaces/{ns}/configmaps", {"resourceVersion": rv, "labelSelector": "app=x"}, count=3
    )
    assert _names(events) == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    by_name = http.watch(
        f"/api/v1/namespaces/{ns}/configmaps",
        {"resourceVersion": rv, "fieldSelector": "metadata.name=b"},
        count=2,
    )
    assert _names(by_name) == [("ADDED", "b"), ("MODIFIED", "b")]


def test_bookmarks_carry_the_latest_resource_version(http: Http, core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "a"}})
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    events = http.watch(
        f"/api/v1/namespaces/{ns}/configmaps",
        {"resourceVersion": rv, "allowWatchBookmarks": "true"},
        count=1,
    )
    assert events[0]["type"] == "BOOKMARK"
    assert events[0]["object"]["kind"] == "ConfigMap"
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) >= int(rv)
    # Without allowWatchBookmarks there are none: the stream ends at its timeout with no events.
    quiet = http.watch(f"/api/v1/namespaces/{ns}/configmaps", {"resourceVersion": rv, "timeoutSeconds": "1"})
    assert quiet == []


def test_timeout_seconds_ends_the_stream(http: Http, ns: str) -> None:
    started = time.monotonic()
    events = http.watch(f"/api/v1/namespaces/{ns}/secrets", {"timeoutSeconds": "1"})
    assert events == [] and 0.9 <= time.monotonic() - started < 5


def test_send_initial_events_ends_with_a_marked_bookmark(http: Http, core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "a"}})
    events = http.watch(
        f"/api/v1/namespaces/{ns}/configmaps",
        {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true"},
        count=2,
    )
    assert events[0]["type"] == "ADDED" and events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_watch_of_a_single_object_path(http: Http, core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "a"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "b"}})
    events = http.watch(f"/api/v1/namespaces/{ns}/configmaps/b", {"timeoutSeconds": "1"})
    assert _names(events) == [("ADDED", "b")]


def test_no_event_is_lost_between_list_and_watch(http: Http, core: client.CoreV1Api, ns: str) -> None:
    """Writes racing a list-then-watch client all reach it exactly once, in order."""
    stop = threading.Event()
    written: list[str] = []

    def writer() -> None:
        i = 0
        while not stop.is_set() and i < 200:
            name = f"c{i:03d}"
            core.create_namespaced_config_map(ns, {"metadata": {"name": name}})
            written.append(name)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(0.05)
    listed = core.list_namespaced_config_map(ns)
    names = [c.metadata.name for c in listed.items]
    events = http.watch(
        f"/api/v1/namespaces/{ns}/configmaps",
        {"resourceVersion": listed.metadata.resource_version},
        until=lambda ev: len(names) + len(ev) >= 40,
    )
    stop.set()
    thread.join()
    names += [e["object"]["metadata"]["name"] for e in events]
    assert names == written[: len(names)]


def test_too_old_resource_version_is_gone() -> None:
    with KubeProcess(history_limit=3) as small:
        http = Http(small.url, ca=small.ca)
        core = client.CoreV1Api(small.client())
        rv = core.list_namespaced_config_map("default").metadata.resource_version
        for i in range(5):
            core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}})
        events = http.watch("/api/v1/namespaces/default/configmaps", {"resourceVersion": rv})
        assert [e["type"] for e in events] == ["ERROR"]
        error = events[0]["object"]
        assert error["kind"] == "Status" and error["code"] == 410 and error["reason"] == "Expired"
        assert "too old resource version" in error["message"]
        # Recent enough resourceVersions still resume.
        latest = core.list_namespaced_config_map("default").metadata.resource_version
        core.create_namespaced_config_map("default", {"metadata": {"name": "after"}})
        assert _names(
            http.watch("/api/v1/namespaces/default/configmaps", {"resourceVersion": latest}, count=1)
        ) == [("ADDED", "after")]


@pytest.mark.parametrize("bad", ["labelSelector=app in (x", "fieldSelector=spec.nothing=1"])
def test_bad_selectors_are_400(http: Http, bad: str, ns: str) -> None:
    key, _, value = bad.partition("=")
    status, body, _ = http("GET", f"/api/v1/namespaces/{ns}/configmaps", params={key: value})
    assert status == 400 and body["reason"] == "BadRequest"


def test_history_keeps_every_version_intact(http: Http, core: client.CoreV1Api, ns: str) -> None:
    """Events replayed from the history show each object as it was, not as it is now."""
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    created = core.create_namespaced_config_map(ns, {"metadata": {"name": "a"}, "data": {"v": "1"}})
    patched = core.patch_namespaced_config_map("a", ns, {"data": {"v": "2"}})
    events = http.watch(f"/api/v1/namespaces/{ns}/configmaps", {"resourceVersion": rv}, count=2)
    assert [(e["object"]["metadata"]["resourceVersion"], e["object"]["data"]["v"]) for e in events] == [
        (created.metadata.resource_version, "1"),
        (patched.metadata.resource_version, "2"),
    ]
