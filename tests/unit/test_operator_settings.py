"""`azureml-operator run` configuration: flags and environment, parsed and checked up front."""

from __future__ import annotations

from pathlib import Path

import pytest

from azureml_operator.azure.client import WorkspaceTarget
from azureml_operator.azure.cloud import PUBLIC_ARM
from azureml_operator.settings import Settings, SettingsError, parse, parse_workspace

NO_ENV: dict[str, str] = {}
WS_ARM_ID = (
    "/subscriptions/0000-1111/resourceGroups/rg-ml"
    "/providers/Microsoft.MachineLearningServices/workspaces/ws-prod"
)


def test_defaults_with_one_namespace() -> None:
    assert parse(["--namespace", "team-a"], NO_ENV) == Settings(namespaces=("team-a",))
    settings = parse(["-n", "team-a"], NO_ENV)
    assert settings.arm_endpoint == PUBLIC_ARM
    assert (settings.metrics_port, settings.health_port, settings.drift_interval) == (8080, 8081, 600.0)
    assert settings.azure_concurrency == 8
    assert settings.operator_credential_kind == "operator"


# --- namespaces -------------------------------------------------------------------------------


def test_namespace_is_repeatable() -> None:
    settings = parse(["--namespace", "a", "-n", "b", "--namespace", "c"], NO_ENV)
    assert settings.namespaces == ("a", "b", "c")
    assert settings.all_namespaces is False


def test_a_scoped_operator_lists_the_cluster_only_when_told_it_may() -> None:
    assert parse(["-n", "a"], NO_ENV).lists_cluster is False
    assert parse(["-n", "a", "--cluster-wide-claims"], NO_ENV).lists_cluster is True
    assert parse(["-n", "a"], {"AZUREML_OPERATOR_CLUSTER_WIDE_CLAIMS": "true"}).lists_cluster is True
    assert parse(["--all-namespaces"], NO_ENV).lists_cluster is True


def test_namespaces_come_from_a_comma_separated_environment_variable() -> None:
    settings = parse([], {"AZUREML_OPERATOR_NAMESPACES": "a, b,,c ,"})
    assert settings.namespaces == ("a", "b", "c")


def test_namespace_flags_win_over_the_environment_list() -> None:
    settings = parse(["-n", "flag"], {"AZUREML_OPERATOR_NAMESPACES": "env-a,env-b"})
    assert settings.namespaces == ("flag",)


@pytest.mark.parametrize("argv", [["--all-namespaces"], ["-A"]])
def test_all_namespaces_by_flag(argv: list[str]) -> None:
    settings = parse(argv, NO_ENV)
    assert settings.all_namespaces is True and settings.namespaces == ()


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes"])
def test_all_namespaces_by_environment(value: str) -> None:
    assert parse([], {"AZUREML_OPERATOR_ALL_NAMESPACES": value}).all_namespaces is True


def test_all_namespaces_ignores_the_environment_namespace_list() -> None:
    settings = parse(["--all-namespaces"], {"AZUREML_OPERATOR_NAMESPACES": "a,b"})
    assert settings.all_namespaces is True and settings.namespaces == ()


@pytest.mark.parametrize(
    "env",
    [
        NO_ENV,
        {"AZUREML_OPERATOR_NAMESPACES": " , ,"},
        {"AZUREML_OPERATOR_ALL_NAMESPACES": "false"},
        {"AZUREML_OPERATOR_ALL_NAMESPACES": "no"},
    ],
)
def test_without_namespaces_or_all_namespaces_it_asks_for_one(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=r"--namespace NAME \(repeatable\) or --all-namespaces"):
        parse([], env)


def test_namespace_and_all_namespaces_together_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(["--namespace", "a", "--all-namespaces"], NO_ENV)
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_namespace_flag_wins_over_all_namespaces_from_the_environment() -> None:
    settings = parse(["--namespace", "team-a"], {"AZUREML_OPERATOR_ALL_NAMESPACES": "true"})
    assert settings.namespaces == ("team-a",)
    assert settings.all_namespaces is False


# --- ARM endpoint and the development credential ----------------------------------------------


def test_arm_endpoint_is_normalised_to_one_trailing_slash() -> None:
    settings = parse(["-A", "--arm-endpoint", "https://arm.example.com:8443/some/path"], NO_ENV)
    assert settings.arm_endpoint == "https://arm.example.com:8443/"


def test_arm_endpoint_flag_wins_over_the_environment() -> None:
    settings = parse(
        ["-A", "--arm-endpoint", "https://flag.example.com"],
        {"AZUREML_OPERATOR_ARM_ENDPOINT": "https://env.example.com"},
    )
    assert settings.arm_endpoint == "https://flag.example.com/"
    assert parse(["-A"], {"AZUREML_OPERATOR_ARM_ENDPOINT": "https://env.example.com"}).arm_endpoint == (
        "https://env.example.com/"
    )


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8443", "http://management.azure.com", "management.azure.com"]
)
def test_a_non_https_arm_endpoint_is_rejected(url: str) -> None:
    with pytest.raises(SettingsError, match="https://"):
        parse(["-A", "--arm-endpoint", url], NO_ENV)


def test_the_dev_credential_is_refused_for_public_azure() -> None:
    with pytest.raises(SettingsError) as raised:
        parse(["-A", "--dev-credential"], NO_ENV)
    message = str(raised.value)
    assert "--dev-credential" in message and "loopback" in message and PUBLIC_ARM in message


@pytest.mark.parametrize(
    "url", ["https://arm.example.com", "https://10.0.0.5:8443", "https://localhost.evil.com"]
)
def test_the_dev_credential_is_refused_for_a_non_loopback_endpoint(url: str) -> None:
    with pytest.raises(SettingsError, match="loopback"):
        parse(["-A", "--dev-credential", "--arm-endpoint", url], NO_ENV)


@pytest.mark.parametrize("url", ["https://127.0.0.1:8443", "https://localhost:9443", "https://[::1]:8443"])
def test_the_dev_credential_is_allowed_for_a_loopback_endpoint(url: str) -> None:
    settings = parse(["-A", "--dev-credential", "--arm-endpoint", url], NO_ENV)
    assert settings.dev_credential is True
    assert settings.operator_credential_kind == "static"
    assert settings.arm_endpoint == url + "/"


def test_the_dev_credential_from_the_environment_is_checked_too() -> None:
    env = {"AZUREML_OPERATOR_DEV_CREDENTIAL": "true"}
    with pytest.raises(SettingsError, match="loopback"):
        parse(["-A"], env)
    assert parse(["-A"], {**env, "AZUREML_OPERATOR_ARM_ENDPOINT": "https://127.0.0.1:1"}).dev_credential


# --- default workspace ------------------------------------------------------------------------


def test_default_workspace_as_sub_rg_ws() -> None:
    settings = parse(["-A", "--default-workspace", "0000-1111/rg-ml/ws-prod"], NO_ENV)
    assert settings.default_workspace == WorkspaceTarget("0000-1111", "rg-ml", "ws-prod")


def test_default_workspace_as_an_arm_id() -> None:
    settings = parse(["-A", "--default-workspace", WS_ARM_ID], NO_ENV)
    assert settings.default_workspace == WorkspaceTarget("0000-1111", "rg-ml", "ws-prod")
    assert settings.default_workspace is not None and settings.default_workspace.arm_id == WS_ARM_ID


def test_default_workspace_from_the_environment() -> None:
    settings = parse(["-A"], {"AZUREML_OPERATOR_DEFAULT_WORKSPACE": "s/r/w"})
    assert settings.default_workspace == WorkspaceTarget("s", "r", "w")
    assert parse(["-A"], NO_ENV).default_workspace is None


@pytest.mark.parametrize(
    "text",
    [
        "/subscriptions/S/resourcegroups/R/providers/Microsoft.MachineLearningServices/workspaces/W",
        "subscriptions/S/resourceGroups/R/providers/Microsoft.MachineLearningServices/workspaces/W/",
        "  S/R/W  ",
        "/S/R/W/",
    ],
)
def test_parse_workspace_accepts_both_forms_loosely(text: str) -> None:
    assert parse_workspace(text) == WorkspaceTarget("S", "R", "W")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ws-only",
        "sub/rg",
        "sub/rg/ws/extra",
        "/subscriptions/S/resourceGroups/R/providers/Microsoft.MachineLearningServices/workspaces",
        WorkspaceTarget("S", "R", "W").child_id("serverlessEndpoints", "e"),
        "/tenants/S/resourceGroups/R/providers/Microsoft.MachineLearningServices/workspaces/W",
        "/subscriptions/S/groups/R/providers/Microsoft.MachineLearningServices/workspaces/W",
    ],
)
def test_parse_workspace_rejects_other_forms_naming_both_accepted_ones(text: str) -> None:
    with pytest.raises(SettingsError) as raised:
        parse_workspace(text)
    assert repr(text) in str(raised.value)
    assert "SUBSCRIPTION/RESOURCE_GROUP/WORKSPACE or an ARM id" in str(raised.value)


def test_a_bad_default_workspace_flag_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="not SUBSCRIPTION/RESOURCE_GROUP/WORKSPACE"):
        parse(["-A", "--default-workspace", "just-a-name"], NO_ENV)


def test_parse_workspace_rejects_an_arm_id_that_is_not_a_workspace() -> None:
    with pytest.raises(SettingsError):
        parse_workspace("/subscriptions/S/resourceGroups/R/providers/Microsoft.Storage/storageAccounts/acct")


# --- numbers and files ------------------------------------------------------------------------


def test_numbers_from_flags_and_environment() -> None:
    env = {
        "AZUREML_OPERATOR_METRICS_PORT": "9000",
        "AZUREML_OPERATOR_HEALTH_PORT": "9001",
        "AZUREML_OPERATOR_DRIFT_INTERVAL": "30",
        "AZUREML_OPERATOR_AZURE_CONCURRENCY": "2",
    }
    settings = parse(["-A", "--health-port", "0"], env)
    assert (settings.metrics_port, settings.health_port) == (9000, 0)
    assert (settings.drift_interval, settings.azure_concurrency) == (30.0, 2)


@pytest.mark.parametrize("value", ["0", "-5", "0.0"])
def test_drift_interval_must_be_positive(value: str) -> None:
    with pytest.raises(SettingsError, match="--drift-interval must be positive"):
        parse(["-A", f"--drift-interval={value}"], NO_ENV)


def test_a_drift_interval_of_zero_from_the_environment_is_refused_too() -> None:
    with pytest.raises(SettingsError, match="--drift-interval must be positive"):
        parse(["-A"], {"AZUREML_OPERATOR_DRIFT_INTERVAL": "0"})


def test_drift_interval_nan_is_refused() -> None:
    with pytest.raises(SettingsError, match="--drift-interval"):
        parse(["-A", "--drift-interval", "nan"], NO_ENV)


@pytest.mark.parametrize(("flag", "value"), [("--metrics-port", "65536"), ("--health-port", "-1")])
def test_ports_must_be_port_numbers(flag: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"{flag} {value} is not a port number"):
        parse(["-A", f"{flag}={value}"], NO_ENV)


def test_azure_concurrency_must_be_at_least_one() -> None:
    with pytest.raises(SettingsError, match="--azure-concurrency must be at least 1"):
        parse(["-A", "--azure-concurrency", "0"], NO_ENV)


def test_a_non_numeric_port_in_the_environment_is_a_usage_error_naming_its_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(["-A"], {"AZUREML_OPERATOR_METRICS_PORT": "eighty"})
    assert exit_info.value.code == 2
    assert "--metrics-port: invalid int value: 'eighty'" in capsys.readouterr().err


def test_ca_bundle_that_exists_is_kept(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert parse(["-A", "--ca-bundle", str(bundle)], NO_ENV).ca_bundle == str(bundle)


def test_ca_bundle_that_does_not_exist_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(SettingsError, match=f"--ca-bundle {missing}: no such file"):
        parse(["-A", "--ca-bundle", str(missing)], NO_ENV)


def test_ca_bundle_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="no such file"):
        parse(["-A"], {"AZUREML_OPERATOR_CA_BUNDLE": str(tmp_path)})
