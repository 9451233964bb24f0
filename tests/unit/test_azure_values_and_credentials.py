"""Plain Azure values (enum casing, in-progress states, ARM ids) and credential choices: the static
development token goes only to loopback, and a client secret never shows in a repr or cache key."""

from __future__ import annotations

import pytest

from azureml_operator.azure.client import EndpointKeys, WorkspaceTarget, is_in_progress, pascal
from azureml_operator.azure.credentials import (
    CredentialRefused,
    CredentialSpec,
    StaticTokenCredential,
    build,
    is_loopback,
)

SECRET = "s3cr3t-Value~with.Chars"


# --- pascal / is_in_progress ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("in_progress", "InProgress"),
        ("succeeded", "Succeeded"),
        ("Succeeded", "Succeeded"),
        ("InProgress", "InProgress"),
        ("pending_fulfillment_start", "PendingFulfillmentStart"),
        ("", ""),
    ],
)
def test_pascal_shows_azure_enum_values_in_azures_casing(value: str | None, expected: str | None) -> None:
    assert pascal(value) == expected


@pytest.mark.parametrize(
    "state",
    ["Creating", "Updating", "Deleting", "Accepted", "Provisioning", "InProgress", "in_progress", "CREATING"],
)
def test_operations_in_flight_are_in_progress(state: str) -> None:
    assert is_in_progress(state) is True


@pytest.mark.parametrize("state", [None, "", "Succeeded", "Failed", "Canceled", "Online", "Suspended"])
def test_settled_states_are_not_in_progress(state: str | None) -> None:
    assert is_in_progress(state) is False


# --- WorkspaceTarget / EndpointKeys -----------------------------------------------------------


def test_workspace_target_arm_ids() -> None:
    target = WorkspaceTarget("sub", "rg", "ws")
    assert target.arm_id == (
        "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
    )
    assert target.child_id("serverlessEndpoints", "ep") == f"{target.arm_id}/serverlessEndpoints/ep"
    assert str(target) == "sub/rg/ws"


def test_endpoint_keys_do_not_show_in_their_repr() -> None:
    keys = EndpointKeys(primary="primary-key-value", secondary="secondary-key-value")
    assert "primary-key-value" not in repr(keys) and "secondary-key-value" not in repr(keys)


# --- loopback ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost:1",
        "https://LOCALHOST:8443/",
        "https://127.0.0.1:8443",
        "https://127.5.6.7",
        "https://[::1]:1",
    ],
)
def test_loopback_urls(url: str) -> None:
    assert is_loopback(url) is True


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com",
        "https://management.azure.com/",
        "https://localhost.example.com",
        "https://127.0.0.1.nip.io",
        "https://10.0.0.1",
        "https://0.0.0.0:8443",
        "https://[::]:1",
        "not a url",
        "",
    ],
)
def test_non_loopback_urls(url: str) -> None:
    assert is_loopback(url) is False


# --- build ------------------------------------------------------------------------------------


@pytest.mark.parametrize("arm", ["https://example.com", "https://management.azure.com/"])
def test_the_static_credential_is_refused_off_loopback(arm: str) -> None:
    with pytest.raises(CredentialRefused) as raised:
        build(CredentialSpec("static"), arm)
    assert "loopback" in str(raised.value) and arm in str(raised.value)


@pytest.mark.parametrize("arm", ["https://localhost:1", "https://[::1]:1", "https://127.0.0.1:8443/"])
def test_the_static_credential_is_allowed_on_loopback(arm: str) -> None:
    credential = build(CredentialSpec("static"), arm)
    assert isinstance(credential, StaticTokenCredential)
    assert credential.get_token("https://management.azure.com/.default").token == "simulator-token"


def test_the_static_token_is_valid_for_about_an_hour() -> None:
    import time

    token = StaticTokenCredential("t").get_token("scope")
    assert token.token == "t"
    assert 3590 <= token.expires_on - time.time() <= 3610


# --- CredentialSpec ---------------------------------------------------------------------------


def spec(secret: str = SECRET) -> CredentialSpec:
    return CredentialSpec(
        "service-principal", client_id="app-id", tenant_id="tenant-id", client_secret=secret
    )


def test_the_client_secret_is_not_in_the_repr() -> None:
    text = repr(spec())
    assert SECRET not in text
    assert "app-id" in text and "tenant-id" in text


def test_the_client_secret_is_not_in_the_key() -> None:
    key = spec().key
    assert all(SECRET not in part for part in key)
    assert SECRET not in repr(key)
    assert key[:3] == ("service-principal", "app-id", "tenant-id")


def test_a_rotated_secret_gets_a_new_key() -> None:
    assert spec().key != spec("rotated").key
    assert spec().key == spec().key


def test_keys_without_secrets_are_still_distinct_by_identity() -> None:
    assert CredentialSpec("operator").key != CredentialSpec("static").key
    assert (
        CredentialSpec("workload-identity", client_id="a").key
        != CredentialSpec("workload-identity", client_id="b").key
    )


@pytest.mark.parametrize(
    ("credential", "text"),
    [
        (CredentialSpec("operator"), "the operator's own identity"),
        (CredentialSpec("static"), "the development token"),
        (CredentialSpec("workload-identity", client_id="cid"), "workload identity cid"),
        (spec(), "service principal app-id (tenant tenant-id)"),
    ],
)
def test_describe_names_the_identity_without_the_secret(credential: CredentialSpec, text: str) -> None:
    assert credential.describe() == text
    assert SECRET not in credential.describe()
