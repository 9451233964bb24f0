"""Who owns an Azure resource, and what the reconcile-policy and adopt annotations ask for."""

from __future__ import annotations

import pytest

from azureml_operator.azure.client import OWNER_TAG, OWNER_UID_TAG
from azureml_operator.reconcilers.common import (
    ADOPT_ANNOTATION,
    POLICY_ANNOTATION,
    Ownership,
    Policy,
    PolicyError,
    adopt_requested,
    ownership,
    policy_of,
)

UID = "0b0e6a1c-1111-2222-3333-444455556666"
ARM_ID = (
    "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.MachineLearningServices"
    "/workspaces/ws/serverlessEndpoints/llama"
)


def test_annotation_names_are_in_the_api_group() -> None:
    assert POLICY_ANNOTATION == "azureml.dev/reconcile-policy"
    assert ADOPT_ANNOTATION == "azureml.dev/adopt"
    assert OWNER_TAG == "azureml.dev-owner"
    assert OWNER_UID_TAG == "azureml.dev-owner-uid"


# --- ownership ---------------------------------------------------------------------------------


def test_a_resource_tagged_with_our_uid_is_ours() -> None:
    owner = ownership(
        observed_id=ARM_ID,
        observed_tags={OWNER_UID_TAG: UID, "team": "ml"},
        recorded_id=None,
        uid=UID,
        adopt=False,
    )
    assert owner is Ownership.OURS


def test_our_uid_tag_wins_even_when_adoption_is_asked_for() -> None:
    owner = ownership(
        observed_id=ARM_ID, observed_tags={OWNER_UID_TAG: UID}, recorded_id=None, uid=UID, adopt=True
    )
    assert owner is Ownership.OURS


def test_the_id_recorded_in_status_makes_an_untagged_resource_ours() -> None:
    owner = ownership(observed_id=ARM_ID, observed_tags=None, recorded_id=ARM_ID, uid=UID, adopt=False)
    assert owner is Ownership.OURS


def test_the_recorded_id_matches_case_insensitively() -> None:
    owner = ownership(
        observed_id=ARM_ID.lower(),
        observed_tags={},
        recorded_id=ARM_ID.replace("resourceGroups", "RESOURCEGROUPS").upper(),
        uid=UID,
        adopt=False,
    )
    assert owner is Ownership.OURS


def test_another_objects_uid_tag_is_not_ours() -> None:
    owner = ownership(
        observed_id=ARM_ID,
        observed_tags={OWNER_UID_TAG: "someone-else", OWNER_TAG: "other/llama"},
        recorded_id=None,
        uid=UID,
        adopt=False,
    )
    assert owner is Ownership.FOREIGN


def test_a_different_recorded_id_is_not_ours() -> None:
    owner = ownership(
        observed_id=ARM_ID,
        observed_tags=None,
        recorded_id=ARM_ID.replace("/llama", "/mistral"),
        uid=UID,
        adopt=False,
    )
    assert owner is Ownership.FOREIGN


def test_neither_tag_nor_record_with_adopt_asked_is_adopt() -> None:
    owner = ownership(observed_id=ARM_ID, observed_tags={"team": "ml"}, recorded_id=None, uid=UID, adopt=True)
    assert owner is Ownership.ADOPT


def test_neither_tag_nor_record_is_foreign() -> None:
    owner = ownership(observed_id=ARM_ID, observed_tags=None, recorded_id=None, uid=UID, adopt=False)
    assert owner is Ownership.FOREIGN


def test_an_empty_recorded_id_never_matches() -> None:
    owner = ownership(observed_id="", observed_tags=None, recorded_id="", uid=UID, adopt=False)
    assert owner is Ownership.FOREIGN


# --- reconcile-policy annotation --------------------------------------------------------------


@pytest.mark.parametrize("annotations", [None, {}, {"unrelated": "skip"}])
def test_policy_defaults_to_manage(annotations: dict[str, str] | None) -> None:
    assert policy_of(annotations) is Policy.MANAGE


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("manage", Policy.MANAGE),
        ("skip", Policy.SKIP),
        ("detach", Policy.DETACH),
        ("Skip", Policy.SKIP),
        ("  DETACH\n", Policy.DETACH),
        (" Manage ", Policy.MANAGE),
    ],
)
def test_policy_is_read_ignoring_case_and_whitespace(value: str, expected: Policy) -> None:
    assert policy_of({POLICY_ANNOTATION: value}) is expected


@pytest.mark.parametrize("value", ["delete", "", "retain", "skip-it", "manage,skip"])
def test_an_invalid_policy_names_the_annotation_and_the_allowed_values(value: str) -> None:
    with pytest.raises(PolicyError) as raised:
        policy_of({POLICY_ANNOTATION: value})
    message = str(raised.value)
    assert POLICY_ANNOTATION in message
    assert repr(value) in message
    assert "manage, skip, detach" in message


def test_policy_error_is_a_value_error() -> None:
    assert issubclass(PolicyError, ValueError)


# --- adopt annotation -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "True", " TRUE ", "true\n"])
def test_adopt_is_requested_by_true_in_any_case(value: str) -> None:
    assert adopt_requested({ADOPT_ANNOTATION: value}) is True


@pytest.mark.parametrize("value", ["false", "yes", "1", "", "truee"])
def test_adopt_is_not_requested_by_anything_but_true(value: str) -> None:
    assert adopt_requested({ADOPT_ANNOTATION: value}) is False


@pytest.mark.parametrize("annotations", [None, {}, {POLICY_ANNOTATION: "true"}])
def test_adopt_is_not_requested_without_the_annotation(annotations: dict[str, str] | None) -> None:
    assert adopt_requested(annotations) is False
