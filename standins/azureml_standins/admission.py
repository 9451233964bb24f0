"""Check an object against a CRD's structural schema the way an API server does at admission:
OpenAPI validation, then every `x-kubernetes-validations` CEL rule with `self` (and, on update,
`oldSelf`; transition rules are skipped on create, as Kubernetes does), then defaulting.

The CEL dialect evaluated here is cel-python's standard library plus the list library's `sum()`;
a rule that needs another Kubernetes-only extension fails to compile and is reported, so no rule can
silently pass untested.
"""

from __future__ import annotations

import copy
from typing import Any

import celpy
import jsonschema
import re2
from jsonschema import validators

Schema = dict[str, Any]
_MISSING = object()


def _openapi_only(schema: Any) -> Any:
    """The schema as plain JSON Schema; fields it does not declare are errors, as with kubectl's
    default strict field validation (the server would otherwise prune them silently)."""
    if isinstance(schema, dict):
        out = {k: _openapi_only(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
        if "properties" in out and not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_openapi_only(v) for v in schema]
    return schema


def _re2_pattern(validator: Any, pattern: str, instance: Any, schema: Schema) -> Any:
    """`pattern` as an API server checks it: Go's RE2, where `$` is the end of the text (Python's
    `re` also matches before a final newline) and `\\w`, `\\d`, `\\s` are ASCII (Python's are
    Unicode). cel-python's `matches()` already uses RE2."""
    if validator.is_type(instance, "string") and not re2.search(pattern, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = validators.extend(jsonschema.Draft7Validator, {"pattern": _re2_pattern})


def _path(parts: list[str]) -> str:
    return ".".join(parts) or "<root>"


class CelError(Exception):
    """A rule that does not compile: a defect in the CRD, not in the object."""


_env = celpy.Environment()
_programs: dict[str, Any] = {}


def _list_sum(values: Any) -> Any:
    """Kubernetes' CEL list library `sum()` (since 1.24): the sum of a list of ints (0 when empty)."""
    if not isinstance(values, list) or not all(isinstance(v, celpy.celtypes.IntType) for v in values):
        raise TypeError("sum() takes a list of ints here")
    return celpy.celtypes.IntType(sum(int(v) for v in values))


# The Kubernetes extensions to CEL's standard library that the project's rules use; any other one
# still fails to compile, as the module docstring says.
_KUBERNETES_FUNCTIONS = {"sum": _list_sum}


def _program(rule: str) -> Any:
    if rule not in _programs:
        try:
            _programs[rule] = _env.program(_env.compile(rule), functions=_KUBERNETES_FUNCTIONS)
        except Exception as e:  # celpy raises several types
            raise CelError(f"CEL rule does not compile: {rule!r}: {e}") from e
    return _programs[rule]


def _check_rules(schema: Schema, value: Any, old: Any, parts: list[str], errors: list[str]) -> None:
    for entry in schema.get("x-kubernetes-validations", []):
        rule = entry["rule"]
        if "oldSelf" in rule and old is _MISSING:
            continue
        activation = {"self": value, **({"oldSelf": old} if old is not _MISSING else {})}
        program = _program(rule)
        try:
            result = program.evaluate(celpy.json_to_cel(activation))
        except Exception as e:
            result = e
        if isinstance(result, Exception):
            # A runtime error (an overflowing duration(), a missing key) refuses the object, as
            # kube-apiserver does (422 "failed rule"; the exact wording is UNVERIFIED).
            errors.append(f'{_path(parts)}: Invalid value: "object": failed rule: {rule}')
            continue
        if not bool(result):
            where = _path([*parts, entry["fieldPath"].lstrip(".")] if entry.get("fieldPath") else parts)
            errors.append(f"{where}: Invalid value: {entry.get('message', rule)}")
    props = schema.get("properties", {})
    if isinstance(value, dict):
        for name, sub in props.items():
            if name in value:
                sub_old = old.get(name, _MISSING) if isinstance(old, dict) else _MISSING
                _check_rules(sub, value[name], sub_old, [*parts, name], errors)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, v in value.items():
                sub_old = old.get(name, _MISSING) if isinstance(old, dict) else _MISSING
                _check_rules(extra, v, sub_old, [*parts, name], errors)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            # List items have no stable correlation for oldSelf unless listType=map; treat as new.
            _check_rules(schema["items"], item, _MISSING, [*parts, f"[{i}]"], errors)


def apply_defaults(schema: Schema, value: Any) -> Any:
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                apply_defaults(sub, value[name])
    return value


def validate(crd: Schema, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """Errors for `obj` (empty when admitted). `crd` is the CustomResourceDefinition document."""
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    candidate = apply_defaults(schema, copy.deepcopy(obj))
    errors = [
        f"{_path([str(p) for p in e.absolute_path])}: {e.message}"
        # Sorted by path and message: str() of an error pretty-prints the whole instance, which for
        # a 1 MiB value costs a second per error.
        for e in sorted(
            _Validator(_openapi_only(schema)).iter_errors(candidate),
            key=lambda e: (str(list(e.absolute_path)), e.message),
        )
    ]
    if errors:
        return errors
    old_candidate = apply_defaults(schema, copy.deepcopy(old)) if old is not None else _MISSING
    _check_rules(schema, candidate, old_candidate, [], errors)
    return errors
