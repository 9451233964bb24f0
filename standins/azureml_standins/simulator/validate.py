"""Typed reads of request bodies that fail with Azure's 400 `UserError`, naming the offending field."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from azureml_standins.simulator.errors import user_error

Json = dict[str, Any]


def _path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def obj(d: Json, key: str, parent: str = "", *, required: bool = False) -> Json | None:
    value = d.get(key)
    if value is None:
        if required:
            raise user_error(f"The field '{_path(parent, key)}' is required.", target=_path(parent, key))
        return None
    if not isinstance(value, dict):
        raise user_error(f"The field '{_path(parent, key)}' must be an object.", target=_path(parent, key))
    return value


def string(
    d: Json, key: str, parent: str = "", *, required: bool = False, default: str | None = None
) -> str | None:
    value = d.get(key)
    if value is None or value == "":
        if required:
            raise user_error(f"The field '{_path(parent, key)}' is required.", target=_path(parent, key))
        return default
    if not isinstance(value, str):
        raise user_error(f"The field '{_path(parent, key)}' must be a string.", target=_path(parent, key))
    return value


def integer(
    d: Json,
    key: str,
    parent: str = "",
    *,
    lo: int | None = None,
    hi: int | None = None,
    default: int | None = None,
) -> int | None:
    value = d.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise user_error(f"The field '{_path(parent, key)}' must be an integer.", target=_path(parent, key))
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = (
            f"between {lo} and {hi}"
            if lo is not None and hi is not None
            else (f">= {lo}" if lo is not None else f"<= {hi}")
        )
        raise user_error(
            f"The field '{_path(parent, key)}' must be {bounds}; got {value}.", target=_path(parent, key)
        )
    return value


def boolean(d: Json, key: str, parent: str = "", *, default: bool | None = None) -> bool | None:
    value = d.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise user_error(f"The field '{_path(parent, key)}' must be a boolean.", target=_path(parent, key))
    return value


def enum(
    d: Json,
    key: str,
    values: Iterable[str],
    parent: str = "",
    *,
    required: bool = False,
    default: str | None = None,
) -> str | None:
    """Case-insensitive match; returns the canonical spelling."""
    raw = string(d, key, parent, required=required)
    if raw is None:
        return default
    canonical = {v.lower(): v for v in values}
    if raw.lower() not in canonical:
        raise user_error(
            f"The value '{raw}' is not valid for '{_path(parent, key)}'; allowed: {', '.join(canonical.values())}.",
            target=_path(parent, key),
        )
    return canonical[raw.lower()]


def str_map(d: Json, key: str, parent: str = "") -> dict[str, str]:
    value = obj(d, key, parent) or {}
    for k, v in value.items():
        if not isinstance(v, str):
            raise user_error(
                f"The value of '{_path(parent, key)}.{k}' must be a string.", target=_path(parent, key)
            )
    return dict(value)


def int_map(d: Json, key: str, parent: str = "") -> dict[str, int]:
    value = obj(d, key, parent) or {}
    for k, v in value.items():
        if isinstance(v, bool) or not isinstance(v, int):
            raise user_error(
                f"The value of '{_path(parent, key)}.{k}' must be an integer.", target=_path(parent, key)
            )
        if v < 0 or v > 100:
            raise user_error(
                f"The value of '{_path(parent, key)}.{k}' must be between 0 and 100.",
                target=_path(parent, key),
            )
    return dict(value)


def name(value: str, pattern: str, what: str, rule: str) -> None:
    if not re.fullmatch(pattern, value):
        raise user_error(f"The {what} name '{value}' is invalid: {rule}", target="name")


GENERIC_NAME = r"[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}"
GENERIC_RULE = "it must start with a letter or digit and contain only letters, digits, '-' and '_' (at most 255 characters)."
ENDPOINT_NAME = r"(?=.{3,32}$)[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?"
ENDPOINT_RULE = "it must be 3-32 characters, start with a letter, end with a letter or digit, and contain only letters, digits and '-'."


# ARM's limits on a tracked resource's tags (Azure Resource Manager, "Use tags to organize your
# Azure resources": 50 tags, names of 512 characters without < > % & \ ? /, values of 256). The
# error codes and messages are UNVERIFIED; the status is ARM's 400.
MAX_TAGS = 50
TAG_NAME_MAX, TAG_VALUE_MAX = 512, 256
_TAG_NAME_FORBIDDEN = re.compile(r"[<>%&\\?/\x00-\x1f\x7f]")


def arm_tags(d: Json) -> dict[str, str]:
    tags = str_map(d, "tags")
    if len(tags) > MAX_TAGS:
        raise user_error(f"The resource has {len(tags)} tags; at most {MAX_TAGS} are allowed.", target="tags")
    for name, value in tags.items():
        if not name or len(name) > TAG_NAME_MAX:
            raise user_error(
                f"The tag name '{name[:64]}' must be 1 to {TAG_NAME_MAX} characters long.", target="tags"
            )
        if _TAG_NAME_FORBIDDEN.search(name):
            raise user_error(
                f"The tag name '{name[:64]}' has reserved characters '<,>,%,&,\\,?,/' or control characters.",
                target="tags",
            )
        if len(value) > TAG_VALUE_MAX:
            raise user_error(
                f"The value of tag '{name[:64]}' must be at most {TAG_VALUE_MAX} characters long.",
                target="tags",
            )
    return tags
