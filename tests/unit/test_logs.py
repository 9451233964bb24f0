"""The operator's log lines: text or JSON, naming their object (ours or kopf's), credentials blanked."""

from __future__ import annotations

import json
import logging

import pytest

from azureml_operator import logs, settings


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("azureml_operator.wiring", logging.INFO, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_a_text_line_starts_with_the_object_it_is_about() -> None:
    line = logs.TextFormatter().format(
        record(
            "%s: %s",
            "Creating",
            "creating online endpoint chat",
            **logs.object_ref("OnlineEndpoint", "ns", "chat"),
        )
    )
    assert line.endswith(
        "INFO azureml_operator.wiring: OnlineEndpoint ns/chat: Creating: creating online endpoint chat"
    )


def test_a_json_line_carries_the_object_from_ours_or_from_kopf() -> None:
    ours = json.loads(
        logs.JsonFormatter().format(record("released", **logs.object_ref("Workspace", "ns", "ws")))
    )
    assert ours["object"] == {"kind": "Workspace", "namespace": "ns", "name": "ws"}
    assert (ours["level"], ours["logger"], ours["message"]) == ("INFO", "azureml_operator.wiring", "released")
    assert ours["time"].endswith("+00:00")
    kopf_ref = {
        "apiVersion": "azureml.dev/v1alpha1",
        "kind": "DataAsset",
        "name": "d",
        "namespace": "ns",
        "uid": "u",
    }
    kopfs = json.loads(logs.JsonFormatter().format(record("Handler 'x' succeeded.", k8s_ref=kopf_ref)))
    assert kopfs["object"] == {"kind": "DataAsset", "namespace": "ns", "name": "d"}
    assert "object" not in json.loads(logs.JsonFormatter().format(record("watching ns")))


@pytest.mark.parametrize(
    "leak",
    [
        "Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi",
        '{"primaryKey": "Zm9vYmFyYmF6cXV4", "secondaryKey": "c2Vjb25kc2Vjb25k"}',
        "accessToken=abcdefghijklmnop",
        '{"keyType": "Primary", "keyValue": "s3cr3t-v4lue-123"}',
    ],
)
def test_credentials_are_blanked_in_both_formats(leak: str) -> None:
    for formatter in (logs.TextFormatter(), logs.JsonFormatter()):
        line = formatter.format(record("answer: %s", leak))
        assert logs.REDACTED in line
        for secret in (
            "eyJ0eXAiOiJKV1QiLCJhbGciOi",
            "Zm9vYmFyYmF6cXV4",
            "c2Vjb25kc2Vjb25k",
            "abcdefghijklmnop",
            "s3cr3t-v4lue-123",
        ):
            assert secret not in line


def test_level_and_format_come_from_flags_or_the_environment() -> None:
    assert settings.parse(["-A", "--log-format", "JSON", "--log-level", "warning"]).log_format == "json"
    chosen = settings.parse(
        ["-A"], env={"AZUREML_OPERATOR_LOG_FORMAT": "json", "AZUREML_OPERATOR_LOG_LEVEL": "debug"}
    )
    assert (chosen.log_format, chosen.log_level) == ("json", "DEBUG")
    assert settings.parse(["-A"]).log_format == "text"
    with pytest.raises(settings.SettingsError, match="log format 'yaml' is not one of: text, json"):
        settings.parse(["-A"], env={"AZUREML_OPERATOR_LOG_FORMAT": "yaml"})
