"""The operator's log: human-readable lines by default, one JSON object per line on request
(`--log-format json`), each naming the object it is about (kind, namespace, name), whether the
line is the operator's or kopf's. A last filter blanks anything shaped like a credential, so a key
that reached a message by mistake (an exception quoting a response, say) is not written out."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
OBJECT = "azureml_object"  # the `extra` key the operator's own lines carry

# Values that authenticate: bearer tokens, and JSON or header fields named like keys and tokens.
_SECRETS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"""(?ix)(["']?(?:primary_?key|secondary_?key|access_?token|api[-_]?key|client_?secret|
        key_?value|token)["']?\s*[:=]\s*["']?)[^"'\s,}]{6,}"""
    ),
)
REDACTED = "<redacted>"


def object_ref(kind: str, namespace: str, name: str) -> dict[str, Any]:
    """`extra=` for a log line about one object."""
    return {OBJECT: {"kind": kind, "namespace": namespace, "name": name}}


def object_of(record: logging.LogRecord) -> Mapping[str, Any] | None:
    ours = getattr(record, OBJECT, None)
    if isinstance(ours, Mapping):
        return ours
    kopfs = getattr(record, "k8s_ref", None)  # kopf's per-object loggers
    if isinstance(kopfs, Mapping) and kopfs.get("name"):
        return {k: kopfs.get(k) for k in ("kind", "namespace", "name")}
    return None


def redact(text: str) -> str:
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        ref = object_of(record)
        if ref is not None:
            record = logging.makeLogRecord(record.__dict__)
            record.message = f"{ref.get('kind')} {ref.get('namespace')}/{ref.get('name')}: {record.message}"
        return redact(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        ref = object_of(record)
        if ref is not None:
            line["object"] = dict(ref)
        if record.exc_info:
            line["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


def configure(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
