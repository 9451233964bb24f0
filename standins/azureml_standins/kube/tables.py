"""Server-side printing: `kubectl get` asks for `as=Table` and prints the columns the server
chooses, so custom resources show their CRD's `additionalPrinterColumns` (Ready, State, ...)."""

from __future__ import annotations

import datetime
import re
from typing import Any

from azureml_standins.kube.discovery import ResourceInfo

_BUILTIN_COLUMNS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("", "secrets"): [{"name": "Type", "type": "string", "jsonPath": ".type"}],
    ("", "namespaces"): [{"name": "Status", "type": "string", "jsonPath": ".status.phase"}],
    ("", "events"): [
        {"name": "Type", "type": "string", "jsonPath": ".type"},
        {"name": "Reason", "type": "string", "jsonPath": ".reason"},
        {"name": "Object", "type": "string", "jsonPath": ".involvedObject.name"},
        {"name": "Message", "type": "string", "jsonPath": ".message"},
    ],
    ("coordination.k8s.io", "leases"): [
        {"name": "Holder", "type": "string", "jsonPath": ".spec.holderIdentity"}
    ],
}
_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
_TOKEN = re.compile(
    r"\.(?P<field>[A-Za-z0-9_\-]+)"
    r"|\[(?P<index>\d+)\]"
    r"|\[(?P<all>\*)\]"
    r"|\['(?P<quoted>[^']+)'\]"
    r"|\[\?\(@\.(?P<fpath>[A-Za-z0-9_.\-]+)\s*==\s*[\"'](?P<fvalue>[^\"']*)[\"']\)\]"
)


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def jsonpath(obj: Any, path: str) -> list[Any]:
    """The subset of JSONPath printer columns use: fields, indexes, `[*]`, `[?(@.k=="v")]`."""
    values = [obj]
    pos = 0
    path = path.strip().removeprefix("{").removesuffix("}").strip()
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if m is None:
            return []
        pos = m.end()
        out: list[Any] = []
        for v in values:
            if m["field"] is not None or m["quoted"] is not None:
                key = m["field"] if m["field"] is not None else m["quoted"]
                if isinstance(v, dict) and key in v:
                    out.append(v[key])
            elif m["index"] is not None:
                if isinstance(v, list) and int(m["index"]) < len(v):
                    out.append(v[int(m["index"])])
            elif m["all"] is not None:
                if isinstance(v, list):
                    out.extend(v)
                elif isinstance(v, dict):
                    out.extend(v.values())
            elif isinstance(v, list):
                for item in v:
                    found = jsonpath(item, "." + m["fpath"])
                    if found and str(found[0]) == m["fvalue"]:
                        out.append(item)
        values = out
    return values


def human_duration(seconds: float) -> str:
    """kubectl's compact ages: 45s, 3m20s, 5h, 2d3h, 400d."""
    s = max(int(seconds), 0)
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 730:
        return f"{d}d"
    return f"{d // 365}y{d % 365}d"


def _age(stamp: Any) -> str:
    try:
        then = datetime.datetime.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.UTC) - then).total_seconds())


def columns(info: ResourceInfo) -> list[dict[str, Any]]:
    if info.crd_version is not None:
        printer = info.crd_version.get("additionalPrinterColumns")
        if printer:
            return [dict(c) for c in printer]
        return [_AGE]
    return [*_BUILTIN_COLUMNS.get(info.key, []), _AGE]


def _cell(column: dict[str, Any], obj: dict[str, Any]) -> Any:
    values = jsonpath(obj, column["jsonPath"])
    if not values:
        return None
    if column.get("type") == "date":
        return _age(values[0])
    if len(values) == 1:
        return values[0]
    return ",".join(str(v) for v in values)


def table(
    info: ResourceInfo, objects: list[dict[str, Any]], meta: dict[str, Any], *, full: bool = False
) -> dict[str, Any]:
    cols = columns(info)
    definitions = [
        {
            "name": "Name",
            "type": "string",
            "format": "name",
            "description": "Name must be unique within a namespace.",
            "priority": 0,
        }
    ] + [
        {
            "name": c["name"],
            "type": "string" if c.get("type") == "date" else c.get("type", "string"),
            "format": c.get("format", ""),
            "description": c.get("description", ""),
            "priority": c.get("priority", 0),
        }
        for c in cols
    ]
    rows = []
    for obj in objects:
        row_object = (
            obj
            if full
            else {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        )
        rows.append(
            {"cells": [obj["metadata"]["name"], *(_cell(c, obj) for c in cols)], "object": row_object}
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": definitions,
        "rows": rows,
    }
