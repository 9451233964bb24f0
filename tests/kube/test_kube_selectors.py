"""Label and field selectors: the parser and matcher, and their use on list."""

from __future__ import annotations

import pytest
from kubernetes import client

from azureml_standins.kube.errors import ApiError
from azureml_standins.kube.selectors import field_selector, label_selector


def _obj(name: str = "n", namespace: str = "ns", **labels: str) -> dict:
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels}, "type": "Opaque"}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", {}, True),
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app!=web", {"app": "db"}, True),
        ("app!=web", {}, True),
        ("app!=web", {"app": "web"}, False),
        ("app in (web, db)", {"app": "db"}, True),
        ("app in (web,db)", {"app": "cache"}, False),
        ("app notin (web,db)", {"app": "cache"}, True),
        ("app notin (web,db)", {}, True),
        ("app notin (web,db)", {"app": "web"}, False),
        ("app", {"app": ""}, True),
        ("app", {}, False),
        ("!app", {}, True),
        ("!app", {"app": "x"}, False),
        ("app=web,tier in (front),!canary", {"app": "web", "tier": "front"}, True),
        ("app=web,tier in (front),!canary", {"app": "web", "tier": "front", "canary": "1"}, False),
        ("azureml.dev/owner=chat", {"azureml.dev/owner": "chat"}, True),
        ("replicas>2", {"replicas": "3"}, True),
        ("replicas<2", {"replicas": "3"}, False),
    ],
)
def test_label_selector(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert label_selector(selector)(_obj(**labels)) is expected


@pytest.mark.parametrize("bad", ["app in (web", "app = = web", "in (a)", "app=we b", "-app"])
def test_invalid_label_selectors(bad: str) -> None:
    with pytest.raises(ApiError) as e:
        label_selector(bad)
    assert e.value.code == 400


def test_field_selector() -> None:
    obj = _obj("chat", "team-a")
    assert field_selector("metadata.name=chat")(obj)
    assert field_selector("metadata.name==chat,metadata.namespace=team-a")(obj)
    assert not field_selector("metadata.namespace!=team-a")(obj)
    assert field_selector("type=Opaque", supported=("type",))(obj)
    with pytest.raises(ApiError) as e:
        field_selector("type=Opaque")
    assert e.value.code == 400
    with pytest.raises(ApiError):
        field_selector("metadata.name")


def test_selectors_on_list(core: client.CoreV1Api, ns: str) -> None:
    for name, labels in [("a", {"app": "web"}), ("b", {"app": "db"}), ("c", {})]:
        core.create_namespaced_secret(ns, {"metadata": {"name": name, "labels": labels}})
    names = lambda **kw: [s.metadata.name for s in core.list_namespaced_secret(ns, **kw).items]  # noqa: E731
    assert names(label_selector="app=web") == ["a"]
    assert names(label_selector="app") == ["a", "b"]
    assert names(label_selector="!app") == ["c"]
    assert names(label_selector="app notin (web)") == ["b", "c"]
    assert names(field_selector="metadata.name!=a") == ["b", "c"]
    assert names(field_selector=f"metadata.namespace={ns},metadata.name=b") == ["b"]
    assert names(field_selector="type=Opaque", label_selector="app in (db,web)") == ["a", "b"]
