"""Hypothesis strategies for objects of every kind, read off the CRD schemas themselves.

An object starts from a valid spec of its kind (the unit fakes' builders) and takes a few mutations
at paths of the schema: a value drawn from the field's own schema (pattern, enum, bounds), the field
removed, a value of the wrong type, a bound missed by one, or a hostile string. So both branches are
exercised: much is refused at admission, and much is admitted and reaches the operator.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import runtime_fakes as rf
from fuzz_admission import spec_schema
from hypothesis import strategies as st

from azureml_operator.reconcilers.common import ADOPT_ANNOTATION, POLICY_ANNOTATION

Json = Any
ROTATE_ANNOTATION = "azureml.dev/rotate-keys"  # another change may give it a meaning; odd values first

BASES: dict[str, Callable[[], dict[str, Any]]] = {
    "Workspace": lambda: rf.workspace("ws"),
    "ModelSubscription": lambda: rf.subscription("llama-sub"),
    "ServerlessEndpoint": lambda: rf.endpoint("llama", spec={"subscriptionRef": {"name": "llama-sub"}}),
    "DataAsset": lambda: rf.data_asset("train"),
    "FineTuneJob": lambda: rf.finetune_job("ft"),
    "OnlineEndpoint": lambda: rf.online_endpoint("chat", spec={"traffic": {"blue": 100}}),
    "OnlineDeployment": lambda: rf.online_deployment("blue", spec={"instanceCount": 2}),
}
KINDS = tuple(BASES)

# Strings no field should choke on: bidi controls, combining marks, NUL and other controls, astral
# emoji, zero-width and BOM characters, injected JSON and SQL, a CEL-looking string, case-mapping
# oddities, long runs.
HOSTILE = (
    "",
    " ",
    "\u202eevil\u202c",  # RIGHT-TO-LEFT OVERRIDE
    "\u05e9\u05dc\u05d5\u05dd",  # Hebrew
    "a\u0301\u0301\u0301\u0301",  # combining acute accents
    "nul\x00byte",
    "tab\tnew\nline\r",
    "\x7f\x1b[31mred",
    "\U0001f600\U0001f9d1\u200d\U0001f52c",  # emoji with a ZWJ sequence
    "\ufeffbom",
    "\u200b",  # zero-width space
    '"}, "status": {"phase": "Completed"}, "x": {"',  # injected JSON
    '{"$ref": "#/definitions/x"}',
    "'; DROP TABLE endpoints; --",
    "${jndi:ldap://x}",
    "self == oldSelf",
    "../../../etc/passwd",
    "azureml://registries/../models/x",
    "\uff21\uff5a\uff55\uff52\uff45",  # fullwidth letters
    "\u01c5",  # titlecase digraph: lower() and upper() disagree
    "\u0130",  # lower() grows a combining dot
    "x" * 300,
    "é" * 2000,
)

WRONG_TYPES: tuple[Json, ...] = (0, -1, 2**63, 1.5, True, False, [], ["x"], {}, {"a": 1}, "0")


def hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40))


def from_schema(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Json]:
    """A value the schema describes (mostly valid; a pattern with a length bound may miss it)."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        lo, hi = schema.get("minLength", 0), schema.get("maxLength")
        if "pattern" in schema:
            base = st.from_regex(schema["pattern"], fullmatch=True)
            return base.filter(lambda s: len(s) >= lo) if lo else base
        return st.text(min_size=lo, max_size=min(hi or 40, 40))
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        items = schema.get("items") or {"type": "string"}
        return st.lists(from_schema(items, depth + 1), max_size=min(schema.get("maxItems", 3), 3))
    if kind == "object" or "properties" in schema or "additionalProperties" in schema:
        if depth > 4:
            return st.just({})
        props = schema.get("properties") or {}
        if props:
            required = set(schema.get("required", []))
            return st.fixed_dictionaries(
                {k: from_schema(v, depth + 1) for k, v in props.items() if k in required},
                optional={k: from_schema(v, depth + 1) for k, v in props.items() if k not in required},
            )
        extra = schema.get("additionalProperties")
        values = from_schema(extra, depth + 1) if isinstance(extra, dict) else st.text(max_size=10)
        keys = st.one_of(st.from_regex(r"^[a-z][a-z0-9-]{0,8}$", fullmatch=True), hostile_text())
        return st.dictionaries(keys, values, max_size=3)
    return st.one_of(st.text(max_size=10), st.integers(), st.booleans())


def invalid_for(schema: dict[str, Any]) -> st.SearchStrategy[Json]:
    """A value the schema refuses, or that sits on its edge."""
    options: list[st.SearchStrategy[Json]] = [st.sampled_from(WRONG_TYPES), hostile_text()]
    if "maxLength" in schema:
        options.append(st.just("a" * (schema["maxLength"] + 1)))
    if "minimum" in schema:
        options.append(st.just(schema["minimum"] - 1))
    if "maximum" in schema:
        options.append(st.just(schema["maximum"] + 1))
    if "enum" in schema:
        options.append(st.sampled_from([str(v).lower() for v in schema["enum"]] + ["Other"]))
    return st.one_of(options)


def schema_paths(
    schema: dict[str, Any], prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every property path of an object schema, with the schema at that path."""
    out = []
    for name, sub in (schema.get("properties") or {}).items():
        path = (*prefix, name)
        out.append((path, sub))
        out.extend(schema_paths(sub, path))
    return out


def _set(spec: dict[str, Any], path: tuple[str, ...], value: Json) -> None:
    node = spec
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = value


def _delete(spec: dict[str, Any], path: tuple[str, ...]) -> None:
    node: Any = spec
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)


@st.composite
def mutated_spec(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    schema = spec_schema(kind)
    if draw(st.integers(0, 9)) == 0:
        return dict(draw(from_schema(schema)))  # the whole spec from the schema
    spec = copy.deepcopy(BASES[kind]()["spec"])
    paths = schema_paths(schema)
    for _ in range(draw(st.integers(0, 3))):
        path, sub = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(("schema", "schema", "schema", "delete", "invalid")))
        if action == "delete":
            _delete(spec, path)
        else:
            _set(spec, path, draw(from_schema(sub) if action == "schema" else invalid_for(sub)))
    return spec


NAME = st.from_regex(r"^[a-z]([-a-z0-9]{0,20}[a-z0-9])?$", fullmatch=True)
ODD_ANNOTATION_VALUES = st.one_of(
    st.sampled_from(("true", "True", " TRUE ", "false", "yes", "1", "skip", "Skip", "detach", "manage")),
    st.sampled_from(HOSTILE),
    st.just(json.dumps({"policy": "skip"})),
)


@st.composite
def annotations(draw: st.DrawFn) -> dict[str, str]:
    keys = st.sampled_from((POLICY_ANNOTATION, ADOPT_ANNOTATION, ROTATE_ANNOTATION, "azureml.dev/unknown"))
    if draw(st.integers(0, 3)):
        return {}  # most objects carry none, so that most passes get past the policy check
    return draw(st.dictionaries(keys, ODD_ANNOTATION_VALUES, min_size=1, max_size=3))


@st.composite
def objects(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """A whole object of `kind` as a client would POST it."""
    base = BASES[kind]()
    name = draw(st.sampled_from((base["metadata"]["name"],) * 3 + ("",)))
    name = name or draw(st.one_of(NAME, hostile_text()))
    return {
        "apiVersion": base["apiVersion"],
        "kind": kind,
        "metadata": {"name": name, "annotations": draw(annotations())},
        "spec": draw(mutated_spec(kind)),
    }
