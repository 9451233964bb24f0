"""The stand-in's watch faults (`POST /_standin/faults`), as a real API server shows them to a
client: compaction makes resuming from an older resourceVersion a 410 ERROR event (and a resume
from the compacted one still works), a dropped stream simply ends (the client resumes, nothing
lost), and an expired one ends with an ERROR 410 event. Its own stand-in, so that breaking watches
never touches another test's."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kube_helpers import Http, eventually
from kubernetes import client

from azureml_standins.kube.process import KubeProcess

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture(scope="module")
def faulty() -> Iterator[KubeProcess]:
    with KubeProcess(bookmark_interval=0.2) as process:
        yield process


@pytest.fixture(scope="module")
def fhttp(faulty: KubeProcess) -> Http:
    return Http(faulty.url, ca=faulty.ca)


@pytest.fixture(scope="module")
def fcore(faulty: KubeProcess) -> client.CoreV1Api:
    return client.CoreV1Api(faulty.client())


class OpenWatch:
    """A watch read in a thread until the server ends it: `events` so far, `ended` once it ended."""

    def __init__(self, http: Http, params: dict[str, str]) -> None:
        self.events: list[dict[str, Any]] = []
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(http, params), daemon=True)
        self._thread.start()

    def _read(self, http: Http, params: dict[str, str]) -> None:
        query = {"watch": "true", "allowWatchBookmarks": "true", **params}
        try:
            with http.session.get(
                http.base + CONFIGMAPS, params=query, stream=True, verify=http.verify, timeout=10
            ) as resp:
                for line in resp.iter_lines():
                    if line:
                        self.events.append(json.loads(line))
        finally:
            self.ended.set()

    def types(self) -> list[str]:
        return [e["type"] for e in self.events if e["type"] != "BOOKMARK"]

    def wait_open(self) -> None:
        """Until the server has sent something: the stream is registered with the store."""
        eventually(lambda: self.events, "the watch to be open")


def _rv(core: client.CoreV1Api) -> str:
    rv: str = core.list_namespaced_config_map("default").metadata.resource_version
    return rv


def test_after_compaction_an_older_resumption_is_410_and_a_current_one_is_served(
    faulty: KubeProcess, fhttp: Http, fcore: client.CoreV1Api
) -> None:
    before = _rv(fcore)
    fcore.create_namespaced_config_map("default", {"metadata": {"name": "compacted"}})
    refused = faulty.expired_resumptions()

    answer = faulty.watch_faults(compact=True)

    compacted = answer["compactedResourceVersion"]
    assert int(compacted) > int(before)
    events = fhttp.watch(CONFIGMAPS, {"resourceVersion": before})
    assert [e["type"] for e in events] == ["ERROR"]  # in a 200 stream, which then ends
    status = events[0]["object"]
    assert (status["kind"], status["apiVersion"], status["code"], status["reason"]) == (
        "Status",
        "v1",
        410,
        "Expired",
    )
    assert "too old resource version" in status["message"]
    assert faulty.expired_resumptions() == refused + 1
    # A relist gives a resourceVersion that resumes, and the changes after it arrive.
    fcore.create_namespaced_config_map("default", {"metadata": {"name": "after-compaction"}})
    resumed = fhttp.watch(CONFIGMAPS, {"resourceVersion": compacted}, count=1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in resumed] == [("ADDED", "after-compaction")]


def test_dropped_watches_end_cleanly_and_resume_without_losing_an_event(
    faulty: KubeProcess, fhttp: Http, fcore: client.CoreV1Api
) -> None:
    rv = _rv(fcore)
    open_watch = OpenWatch(fhttp, {"resourceVersion": rv})
    open_watch.wait_open()

    assert faulty.watch_faults(drop_watches=True)["dropped"] >= 1

    assert open_watch.ended.wait(5), "the stream did not end"
    assert "ERROR" not in open_watch.types()
    last = open_watch.events[-1]["object"]["metadata"]["resourceVersion"]
    fcore.create_namespaced_config_map("default", {"metadata": {"name": "while-reconnecting"}})
    resumed = fhttp.watch(CONFIGMAPS, {"resourceVersion": last}, count=1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in resumed] == [
        ("ADDED", "while-reconnecting")
    ]


def test_expired_watches_end_with_a_410_error_event(
    faulty: KubeProcess, fhttp: Http, fcore: client.CoreV1Api
) -> None:
    open_watch = OpenWatch(fhttp, {"resourceVersion": _rv(fcore)})
    open_watch.wait_open()

    assert faulty.watch_faults(expire_watches=True)["expired"] >= 1

    assert open_watch.ended.wait(5), "the stream did not end"
    assert open_watch.types() == ["ERROR"]
    error = open_watch.events[-1]["object"]
    assert error["kind"] == "Status" and error["code"] == 410 and error["reason"] == "Expired"


def test_compaction_dropped_watch_then_relist_with_the_official_client(
    faulty: KubeProcess, fcore: client.CoreV1Api
) -> None:
    """What kopf does on a 410: the official client raises it as an ApiException and a relist
    gives a resourceVersion to watch from."""
    stale = _rv(fcore)
    fcore.create_namespaced_config_map("default", {"metadata": {"name": "stale-maker"}})
    faulty.watch_faults(compact=True)
    from kubernetes import watch

    with pytest.raises(client.ApiException) as caught:
        for _ in watch.Watch().stream(
            fcore.list_namespaced_config_map, "default", resource_version=stale, timeout_seconds=2
        ):
            pass
    assert caught.value.status == 410
    relisted = _rv(fcore)
    assert int(relisted) >= int(stale)


@pytest.mark.parametrize(
    "body",
    [{}, {"dropWatches": "yes"}, {"dropEverything": True}, [True]],
    ids=["empty", "not-boolean", "unknown", "not-an-object"],
)
def test_a_bad_fault_is_400(fhttp: Http, body: Any) -> None:
    status, answer, _ = fhttp("POST", "/_standin/faults", body)
    assert status == 400 and answer["reason"] == "BadRequest", answer


def test_faults_are_for_the_admin_only(faulty: KubeProcess, fhttp: Http) -> None:
    anonymous = Http(faulty.url, token=None, ca=faulty.ca)
    status, _, _ = anonymous("POST", "/_standin/faults", {"dropWatches": True})
    assert status in (401, 403)
    status, _, _ = fhttp("DELETE", "/_standin/faults")
    assert status == 405
