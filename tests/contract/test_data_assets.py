"""Data assets (`workspaces/{ws}/data/{name}[/versions/{version}]`) through `ml.data`: registration of
remote `uri_file`/`uri_folder` data, reads by version and by the `latest` label, lists, archiving, and
each service rule; raw ARM calls for what the SDK cannot send (a local path would be uploaded).

What the SDK sends, observed against the simulator with azure-ai-ml 1.35.2 (api-version
2023-04-01-preview throughout): `create_or_update` PUT `.../data/{name}/versions/{version}` (with no
version: GET `.../data/{name}` for `nextVersion` first); `get(name, version=)` GET of the version;
`get(name, label="latest")` GET of the container, then of its `latestVersion`; `list()` GET
`.../data?listViewType=ActiveOnly`; `list(name=)` GET `.../data/{name}/versions?listViewType=ActiveOnly`;
`archive`/`restore(name, version=)` GET of the version, then PUT of it with `isArchived` flipped;
`archive`/`restore(name)` the same on the container.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
import requests
from azure.ai.ml.constants import AssetTypes, ListViewType
from azure.ai.ml.entities import Data
from azure.ai.ml.exceptions import MlException
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from sdk_errors import expect_arm_error

SUB = "00000000-0000-0000-0000-000000000000"
WS = f"/subscriptions/{SUB}/resourceGroups/rg-sim/providers/Microsoft.MachineLearningServices/workspaces/ws-sim"
DATA_API = "2023-04-01-preview"  # what ml.data uses for every call
TRAIN = "azureml://datastores/workspaceblobstore/paths/ft/train.jsonl"
TRAIN_HTTPS = "https://example.com/datasets/chat/train.jsonl"
FOLDER = "azureml://datastores/workspaceblobstore/paths/ft/"


def data(name: str = "chat-train", version: str | None = "1", path: str = TRAIN, **kwargs: Any) -> Data:
    return Data(name=name, version=version, type=kwargs.pop("type", AssetTypes.URI_FILE), path=path, **kwargs)


def arm(sim: Any, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
    return requests.request(
        method,
        f"{sim.base_url}{WS}/{path}",
        params={"api-version": DATA_API, **params},
        json=body,
        headers={"Authorization": "Bearer contract-test"},
        verify=str(sim.ca),
        timeout=30,
    )


def version_body(uri: str = TRAIN, data_type: str = "uri_file", **props: Any) -> dict[str, Any]:
    return {"properties": {"dataType": data_type, "dataUri": uri, "isAnonymous": False, **props}}


def expect_rest_error(resp: requests.Response, status: int, code: str, match: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code
    assert match in error["message"], error["message"]
    return error


# -- registration and reads ----------------------------------------------------------------------


def test_uri_file_with_a_datastore_path_round_trip(ml, sim) -> None:
    created = ml.data.create_or_update(data(description="chat examples", tags={"team": "a"}))
    assert (created.name, created.version, created.type) == ("chat-train", "1", "uri_file")
    assert created.path == TRAIN
    assert created.id == f"{WS}/data/chat-train/versions/1"
    assert created.description == "chat examples"
    assert created.tags == {"team": "a"}

    fetched = ml.data.get("chat-train", version="1")
    assert (fetched.path, fetched.description, fetched.tags) == (TRAIN, "chat examples", {"team": "a"})

    raw = arm(sim, "GET", "data/chat-train/versions/1").json()
    assert raw["type"] == "Microsoft.MachineLearningServices/workspaces/data/versions"
    assert raw["name"] == "1"
    assert raw["properties"]["isArchived"] is False
    container = arm(sim, "GET", "data/chat-train").json()
    assert container["type"] == "Microsoft.MachineLearningServices/workspaces/data"
    assert container["properties"] == {
        "dataType": "uri_file",
        "tags": {},
        "properties": {},
        "isArchived": False,
        "latestVersion": "1",
        "nextVersion": "2",
    }
    stats = sim.admin("GET", "stats")
    assert stats["apiVersions"]["data/versions@2023-04-01-preview"] >= 2
    assert stats["resources"] == {"data": 1, "data/versions": 1}


def test_uri_file_with_an_https_path_and_a_uri_folder(ml) -> None:
    https = ml.data.create_or_update(data("chat-https", path=TRAIN_HTTPS))
    assert https.path == TRAIN_HTTPS
    folder = ml.data.create_or_update(data("chat-folder", path=FOLDER, type=AssetTypes.URI_FOLDER))
    assert (folder.type, folder.path) == ("uri_folder", FOLDER)
    assert ml.data.get("chat-folder", version="1").type == "uri_folder"


def test_remote_paths_never_leave_loopback(ml, monkeypatch: pytest.MonkeyPatch) -> None:
    # A local path would make the SDK GET the workspace datastore and upload to blob storage; remote
    # paths are registered as they are. Every connection the SDK opens is to the simulator.
    hosts: set[str] = set()
    real = socket.getaddrinfo

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:
        hosts.add(str(host))
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    ml.data.create_or_update(data("remote-a", path=TRAIN))
    ml.data.create_or_update(data("remote-b", path=TRAIN_HTTPS))
    ml.data.create_or_update(data("remote-c", path=FOLDER, type=AssetTypes.URI_FOLDER))
    ml.data.archive("remote-a", version="1")
    assert hosts == {"127.0.0.1"}


def test_latest_label_is_the_most_recently_created_version(ml) -> None:
    ml.data.create_or_update(data(version="2", path=f"{FOLDER}v2.jsonl"))
    ml.data.create_or_update(data(version="1", path=f"{FOLDER}v1.jsonl"))
    latest = ml.data.get("chat-train", label="latest")
    assert (latest.version, latest.path) == ("1", f"{FOLDER}v1.jsonl")


def test_a_version_without_a_number_gets_the_next_one(ml, sim) -> None:
    first = ml.data.create_or_update(data(version=None, path=f"{FOLDER}a.jsonl"))
    assert first.version == "1"
    ml.data.create_or_update(data(version="7", path=f"{FOLDER}b.jsonl"))
    auto = ml.data.create_or_update(data(version=None, path=f"{FOLDER}c.jsonl"))
    assert auto.version == "8"  # the container's nextVersion: highest numeric version + 1
    assert arm(sim, "GET", "data/chat-train").json()["properties"]["nextVersion"] == "9"


def test_list_containers_and_versions(ml) -> None:
    ml.data.create_or_update(data(version="1", path=f"{FOLDER}1.jsonl"))
    ml.data.create_or_update(data(version="2", path=f"{FOLDER}2.jsonl"))
    ml.data.create_or_update(data("chat-valid", path=f"{FOLDER}valid.jsonl"))

    containers = {d.name: d for d in ml.data.list()}
    assert sorted(containers) == ["chat-train", "chat-valid"]
    assert containers["chat-train"].latest_version == "2"
    assert containers["chat-train"].type == "uri_file"
    versions = list(ml.data.list(name="chat-train"))
    assert [(v.version, v.path) for v in versions] == [("1", f"{FOLDER}1.jsonl"), ("2", f"{FOLDER}2.jsonl")]
    assert list(ml.data.list(name="no-such-data")) == []


def test_missing_version_is_not_found(ml) -> None:
    ml.data.create_or_update(data())
    err = expect_arm_error(
        lambda: ml.data.get("chat-train", version="9"),
        404,
        "ResourceNotFound",
        "^Data asset 'chat-train' version '9' was not found in workspace 'ws-sim'.$",
    )
    assert isinstance(err, ResourceNotFoundError)
    with pytest.raises(ResourceNotFoundError):
        ml.data.get("no-such-data", version="1")
    # For a label the SDK reads the container and turns its 404 into its own (client-side) error.
    with pytest.raises(MlException, match="Asset no-such-data does not exist in workspace ws-sim"):
        ml.data.get("no-such-data", label="latest")


# -- immutability ------------------------------------------------------------------------------


def test_changing_the_path_of_a_version_is_refused_with_azures_message(ml) -> None:
    ml.data.create_or_update(data())
    with pytest.raises(HttpResponseError) as info:
        ml.data.create_or_update(data(path=f"{FOLDER}other.jsonl"))
    err = info.value
    # Azure's wording, which azure-ai-ml keeps as ASSET_PATH_ERROR; its comparison with str(err)
    # never matches (str adds "Code:"/"Message:" lines), so a plain HttpResponseError reaches the caller.
    assert type(err) is HttpResponseError
    assert err.status_code == 400
    assert (err.error.code, err.error.message) == ("UserError", "Asset paths cannot be updated.")
    assert str(err).startswith("(UserError) Asset paths cannot be updated.")
    assert err.error.target == "properties.dataUri"
    assert ml.data.get("chat-train", version="1").path == TRAIN


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"description": "changed"}, "description"),
        ({"tags": {"team": "b"}}, "tags"),
        ({"properties": {"k": "v"}}, "properties"),
    ],
)
def test_changing_anything_else_of_a_version_is_refused(ml, change: dict[str, Any], field: str) -> None:
    ml.data.create_or_update(data(description="original", tags={"team": "a"}))
    with pytest.raises(HttpResponseError) as info:
        ml.data.create_or_update(data(**{"description": "original", "tags": {"team": "a"}, **change}))
    err = info.value
    assert type(err) is HttpResponseError
    assert err.status_code == 400
    assert err.error.code == "UserError"
    assert err.error.message == (
        f"Data asset 'chat-train' version '1' already exists and cannot be changed (differs in: {field}); "
        "only isArchived can change. Register a new version instead."
    )
    fetched = ml.data.get("chat-train", version="1")
    assert (fetched.description, fetched.tags, fetched.properties) == ("original", {"team": "a"}, {})


def test_registering_the_same_version_again_is_a_no_op(ml, sim) -> None:
    ml.data.create_or_update(data(description="same", tags={"team": "a"}))
    before = arm(sim, "GET", "data/chat-train/versions/1").json()
    again = ml.data.create_or_update(data(description="same", tags={"team": "a"}))
    assert (again.version, again.path, again.description) == ("1", TRAIN, "same")
    after = arm(sim, "GET", "data/chat-train/versions/1").json()
    assert after == before  # lastModifiedAt included
    resp = arm(sim, "PUT", "data/chat-train/versions/1", version_body(description="same", tags={"team": "a"}))
    assert resp.status_code == 200, resp.text  # 201 only for a new version
    assert len(list(ml.data.list(name="chat-train"))) == 1


def test_a_version_must_have_the_type_of_its_data_asset(ml) -> None:
    ml.data.create_or_update(data())
    expect_arm_error(
        lambda: ml.data.create_or_update(data(version="2", path=FOLDER, type=AssetTypes.URI_FOLDER)),
        400,
        "UserError",
        "^Data asset 'chat-train' is of type 'uri_file'; version '2' cannot be of type 'uri_folder'.$",
    )


def test_the_type_of_a_data_asset_cannot_change(ml, sim) -> None:
    ml.data.create_or_update(data())
    body = {"properties": {"dataType": "uri_folder", "tags": {}, "properties": {}, "isArchived": False}}
    resp = arm(sim, "PUT", "data/chat-train", body)
    expect_rest_error(resp, 400, "UserError", "cannot be changed to 'uri_folder'")


# -- archive and restore -----------------------------------------------------------------------


def test_archive_and_restore_a_version(ml, sim) -> None:
    ml.data.create_or_update(data(version="1", path=f"{FOLDER}1.jsonl"))
    ml.data.create_or_update(data(version="2", path=f"{FOLDER}2.jsonl"))

    ml.data.archive("chat-train", version="1")
    assert arm(sim, "GET", "data/chat-train/versions/1").json()["properties"]["isArchived"] is True
    assert [v.version for v in ml.data.list(name="chat-train")] == ["2"]
    archived = ml.data.list(name="chat-train", list_view_type=ListViewType.ARCHIVED_ONLY)
    assert [v.version for v in archived] == ["1"]
    assert len(list(ml.data.list(name="chat-train", list_view_type=ListViewType.ALL))) == 2
    assert ml.data.get("chat-train", version="1").path == f"{FOLDER}1.jsonl"  # still readable

    ml.data.restore("chat-train", version="1")
    assert arm(sim, "GET", "data/chat-train/versions/1").json()["properties"]["isArchived"] is False
    assert [v.version for v in ml.data.list(name="chat-train")] == ["1", "2"]


def test_archive_is_the_only_change_a_version_accepts(sim) -> None:
    assert arm(sim, "PUT", "data/chat-train/versions/1", version_body()).status_code == 201
    resp = arm(sim, "PUT", "data/chat-train/versions/1", version_body(isArchived=True, description="x"))
    expect_rest_error(resp, 400, "UserError", "(differs in: description)")
    assert arm(sim, "GET", "data/chat-train/versions/1").json()["properties"]["isArchived"] is False


def test_archiving_the_data_asset_archives_every_version(ml, sim) -> None:
    ml.data.create_or_update(data(version="1", path=f"{FOLDER}1.jsonl"))
    ml.data.create_or_update(data(version="2", path=f"{FOLDER}2.jsonl"))
    ml.data.archive("chat-train")

    assert list(ml.data.list()) == []
    assert [d.name for d in ml.data.list(list_view_type=ListViewType.ARCHIVED_ONLY)] == ["chat-train"]
    assert list(ml.data.list(name="chat-train")) == []
    assert arm(sim, "GET", "data/chat-train/versions/2").json()["properties"]["isArchived"] is True

    # "If the entire data asset container is archived, you cannot restore individual versions."
    expect_arm_error(
        lambda: ml.data.restore("chat-train", version="2"),
        400,
        "UserError",
        "^Data asset 'chat-train' is archived as a whole; restore the data asset",
    )
    ml.data.restore("chat-train")
    assert [v.version for v in ml.data.list(name="chat-train")] == ["1", "2"]
    assert [d.name for d in ml.data.list()] == ["chat-train"]


def test_invalid_list_view_type_is_refused(sim) -> None:
    resp = arm(sim, "GET", "data", listViewType="Everything")
    expect_rest_error(resp, 400, "UserError", "The listViewType 'Everything' is invalid")


# -- names, versions and bodies ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["-chat", "chat.train", "chat train", "x" * 256])
def test_invalid_name_is_refused(ml, name: str) -> None:
    # The SDK does not check data asset names; the service does (the spec's pattern, no dots).
    err = expect_arm_error(
        lambda: ml.data.create_or_update(data(name, path=TRAIN_HTTPS)),
        400,
        "UserError",
        f"^The data asset name '{name}' is invalid: it must start with a letter or digit",
    )
    assert err.error.target == "name"
    assert list(ml.data.list()) == []


def test_names_at_the_limits_are_accepted(ml) -> None:
    for name in ("a", "0_x-Y", "x" * 255):
        assert ml.data.create_or_update(data(name, path=TRAIN_HTTPS)).name == name


@pytest.mark.parametrize("version", ["-1", ".1", "1 2", "v" * 256])
def test_invalid_version_is_refused(ml, version: str) -> None:
    expect_arm_error(
        lambda: ml.data.create_or_update(data(version=version)),
        400,
        "UserError",
        "is invalid: it must start with a letter or digit",
    )


def test_versions_that_are_not_numbers_are_accepted(ml) -> None:
    for version in ("2024.06.01", "v2-rc_1"):
        assert (
            ml.data.create_or_update(data(version=version, path=f"{FOLDER}{version}.jsonl")).version
            == version
        )


@pytest.mark.parametrize(
    "uri", ["./ft/train.jsonl", "/home/me/train.jsonl", "C:\\data\\train.jsonl", "ftp://x/y"]
)
def test_data_uri_must_be_a_remote_uri(sim, uri: str) -> None:
    # Never sent by the SDK, which uploads local paths first: raw REST shows the service's check.
    resp = arm(sim, "PUT", "data/chat-train/versions/1", version_body(uri))
    error = expect_rest_error(resp, 400, "UserError", f"The dataUri '{uri}' is not a URI of data in storage")
    assert error["target"] == "properties.dataUri"


@pytest.mark.parametrize(
    ("props", "match"),
    [
        ({"dataUri": TRAIN}, "'properties.dataType' is required"),
        ({"dataType": "parquet", "dataUri": TRAIN}, "'parquet' is not valid for 'properties.dataType'"),
        ({"dataType": "uri_file"}, "'properties.dataUri' is required"),
        (
            {"dataType": "uri_file", "dataUri": TRAIN, "tags": {"n": 1}},
            "'properties.tags.n' must be a string",
        ),
    ],
)
def test_malformed_version_body_is_refused(sim, props: dict[str, Any], match: str) -> None:
    resp = arm(sim, "PUT", "data/chat-train/versions/1", {"properties": props})
    expect_rest_error(resp, 400, "UserError", match)
    assert arm(sim, "GET", "data/chat-train").status_code == 404


def test_data_assets_cannot_be_deleted(ml, sim) -> None:
    ml.data.create_or_update(data())
    for path in ("data/chat-train/versions/1", "data/chat-train"):
        resp = arm(sim, "DELETE", path)
        expect_rest_error(
            resp, 400, "UserError", "cannot be deleted: data assets are immutable. Archive it instead."
        )
    assert ml.data.get("chat-train", version="1").path == TRAIN
