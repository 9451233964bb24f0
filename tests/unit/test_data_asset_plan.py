"""DataAsset decisions: register a version once, never change it, restore it if archived behind
Kubernetes' back, and say plainly when Azure holds other data under the same version."""

from __future__ import annotations

from dataclasses import replace

import pytest

from azureml_operator.api.data_asset import KIND, DataAssetSpec
from azureml_operator.azure.client import OWNER_TAG, OWNER_UID_TAG, ObservedData
from azureml_operator.azure.data import from_arm, to_arm
from azureml_operator.errors import InvalidSpec
from azureml_operator.kinds.data_asset import ADAPTER, Action, desired, plan
from azureml_operator.reconcilers.common import ADOPT_ANNOTATION, Ownership

UID = "7a1d2c3b-aaaa-bbbb-cccc-ddddeeeeffff"
PATH = "azureml://datastores/workspaceblobstore/paths/ft/train.jsonl"
ASSET = "azureml:chat-train:1"
SPEC = DataAssetSpec.model_validate({"version": "1", "path": PATH, "tags": {"team": "ml"}})
WANT = desired(SPEC, namespace="team-a", name="chat-train", uid=UID)
HAVE = ObservedData(
    id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/data/chat-train/versions/1",
    data_type="uri_file",
    path=PATH,
    description=None,
    archived=False,
    tags=dict(WANT.tags),
)


def decide(observed: ObservedData | None, owner: Ownership | None = Ownership.OURS) -> tuple[Action, str]:
    result = plan(want=WANT, asset_id=ASSET, observed=observed, owner=owner if observed else None)
    return result.action, result.message


def test_the_desired_version_carries_the_users_tags_and_the_owner_tags() -> None:
    assert WANT.tags == {"team": "ml", OWNER_TAG: "team-a/chat-train", OWNER_UID_TAG: UID}
    assert (WANT.data_type, WANT.path, WANT.description) == ("uri_file", PATH, None)


def test_nothing_in_azure_means_register() -> None:
    action, message = decide(None)
    assert action is Action.CREATE and ASSET in message and PATH in message


def test_a_foreign_version_is_a_conflict_pointing_at_adopt_and_a_new_version() -> None:
    action, message = decide(HAVE, Ownership.FOREIGN)
    assert action is Action.CONFLICT and ADOPT_ANNOTATION in message and "spec.version" in message


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"path": "https://example.org/other.jsonl"}, "path https://example.org/other.jsonl"),
        ({"data_type": "uri_folder"}, "type uri_folder"),
    ],
)
def test_other_data_under_the_same_version_can_never_converge_and_says_so(
    change: dict[str, str], said: str
) -> None:
    action, message = decide(replace(HAVE, **change))  # type: ignore[arg-type]
    assert action is Action.DIFFERS and said in message and "new version" in message


def test_a_trailing_slash_or_foreign_tags_are_not_differences() -> None:
    assert decide(replace(HAVE, path=PATH + "/", tags={"someone": "else"}))[0] is Action.READY


def test_an_archived_version_of_ours_is_restored() -> None:
    assert decide(replace(HAVE, archived=True))[0] is Action.RESTORE


def test_an_archived_version_counts_as_gone_for_deletion() -> None:
    assert ADAPTER.gone(replace(HAVE, archived=True)) and not ADAPTER.gone(HAVE)


def test_the_arm_body_round_trips() -> None:
    body = to_arm(WANT)
    assert body["properties"]["dataType"] == "uri_file" and body["properties"]["isArchived"] is False
    back = from_arm({"id": HAVE.id, **body})
    assert (back.path, back.data_type, back.tags, back.archived) == (PATH, "uri_file", WANT.tags, False)
    assert to_arm(WANT, archived=True)["properties"]["isArchived"] is True


def test_defaults_and_bad_paths_come_from_the_model() -> None:
    spec = KIND.parse_spec({"version": "1", "path": PATH})
    assert spec.type.value == "uri_file" and spec.deletion_policy.value == "Archive"
    with pytest.raises(InvalidSpec, match=r"spec\.path"):
        KIND.parse_spec({"version": "1", "path": "/local/file.jsonl"})
