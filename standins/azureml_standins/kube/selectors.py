"""Label and field selectors, as `labelSelector=` and `fieldSelector=` on list, watch and
deletecollection. kopf's `settings.watching.*_selectors` and the operator's own lookups (e.g.
children by label) send them; ignoring them would return objects a real server filters out."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any

from azureml_standins.kube.errors import ApiError, bad_request

Matcher = Callable[[dict[str, Any]], bool]

_KEY = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_NOT_EXISTS = re.compile(rf"^!\s*({_KEY})$")
_EXISTS = re.compile(rf"^({_KEY})$")
_SET = re.compile(rf"^({_KEY})\s+(in|notin)\s*\(([^()]*)\)$")
_COMPARE = re.compile(rf"^({_KEY})\s*(==|=|!=|>|<)\s*({_VALUE})$")
_VALUE_RE = re.compile(rf"^{_VALUE}$")


def _split_outside_parens(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def _label_requirement(term: str) -> Callable[[dict[str, str]], bool]:
    if m := _NOT_EXISTS.match(term):
        key = m[1]
        return lambda labels: key not in labels
    if m := _EXISTS.match(term):
        key = m[1]
        return lambda labels: key in labels
    if m := _SET.match(term):
        key, op = m[1], m[2]
        values = {v.strip() for v in m[3].split(",")}
        if not all(_VALUE_RE.match(v) for v in values):
            raise bad_request(f"unable to parse requirement: invalid label value in {term!r}")
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if m := _COMPARE.match(term):
        key, op, value = m[1], m[2], m[3]
        if op in ("=", "=="):
            return lambda labels: labels.get(key) == value
        if op == "!=":
            return lambda labels: labels.get(key) != value
        try:
            bound = int(value)
        except ValueError:
            raise bad_request(
                f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer: {term!r}"
            ) from None

        def compare(labels: dict[str, str]) -> bool:
            try:
                actual = int(labels[key])
            except (KeyError, ValueError):
                return False
            return actual > bound if op == ">" else actual < bound

        return compare
    raise bad_request(f"unable to parse requirement: {term!r} is not a valid label selector requirement")


def label_selector(text: str | None) -> Matcher:
    """A predicate over objects; raises 400 BadRequest for a selector a real server rejects."""
    if not text or not text.strip():
        return lambda obj: True
    requirements = [_label_requirement(term) for term in _split_outside_parens(text)]

    def match(obj: dict[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(r(labels) for r in requirements)

    return match


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def field_value(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _field_terms(text: str) -> list[tuple[str, bool, str]]:
    """(field, equal?, value) for each term; raises 400 for a term that is not `f=v`, `f==v`, `f!=v`."""
    terms: list[tuple[str, bool, str]] = []
    for raw in _split_unescaped(text, ","):
        term = raw.strip()
        if not term:
            continue
        m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(==|=|!=)\s*(.*)$", term.replace("\\,", ","))
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        key, op, value = m[1], m[2], m[3].replace("\\=", "=").replace("\\\\", "\\")
        terms.append((key, op != "!=", value))
    return terms


def exact_name(text: str | None) -> str | None:
    """The name a field selector pins with `metadata.name=NAME` (so that a list or watch of it is
    authorized as a request for that one object, as a real server does), else None."""
    if not text or not text.strip():
        return None
    try:
        terms = _field_terms(text)
    except ApiError:
        return None
    return next((value for key, equal, value in terms if key == "metadata.name" and equal), None)


def field_selector(text: str | None, supported: Collection[str] = ()) -> Matcher:
    """`metadata.name`, `metadata.namespace` and the resource's own selectable fields, with `=`,
    `==` and `!=`; any other field is a 400, as on a real server."""
    if not text or not text.strip():
        return lambda obj: True
    allowed = {"metadata.name", "metadata.namespace", *supported}
    terms = _field_terms(text)
    for key, _, _ in terms:
        if key not in allowed:
            raise bad_request(f'"{key}" is not a known field selector: only "{", ".join(sorted(allowed))}"')

    def match(obj: dict[str, Any]) -> bool:
        return all((field_value(obj, key) == value) == equal for key, equal, value in terms)

    return match
