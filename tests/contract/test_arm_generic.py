"""Generic ARM behaviour of the simulator (azure-ml-arm-contract.md §1-§2, azure-ml-service-rules.md §6):
authentication, api-version, not-found codes at each level of the ARM path, malformed requests, the
error envelope, request-id headers and list paging, through the SDK where it can express the request
and through plain `requests` where it cannot.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError
from sdk_errors import expect_arm_error

SUB = "00000000-0000-0000-0000-000000000000"
API = "2024-10-01-preview"
BEARER = {"Authorization": "Bearer contract-test"}
PHI = "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1"


def ws_url(sim: Any, sub: str = SUB, rg: str = "rg-sim", ws: str = "ws-sim") -> str:
    return (
        f"{sim.base_url}/subscriptions/{sub}/resourceGroups/{rg}/providers/"
        f"Microsoft.MachineLearningServices/workspaces/{ws}"
    )


def call(
    sim: Any,
    method: str,
    url: str,
    *,
    api_version: str | None = API,
    headers: dict[str, str] | None = None,
    json: Any = None,
    data: str | bytes | None = None,
) -> requests.Response:
    params = {"api-version": api_version} if api_version is not None else {}
    return requests.request(
        method,
        url,
        params=params,
        headers=BEARER if headers is None else headers,
        json=json,
        data=data,
        verify=str(sim.ca),
        timeout=30,
    )


def arm_error(resp: requests.Response, status: int, code: str) -> dict[str, Any]:
    """The reply is ARM's error envelope with this status and code; returns the error object."""
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    return error


def job_body(task: str = "ChatCompletion") -> dict[str, Any]:
    return {
        "properties": {
            "jobType": "FineTuning",
            "experimentName": "paging",
            "properties": {},
            "fineTuningDetails": {
                "modelProvider": "Custom",
                "taskType": task,
                "model": {"jobInputType": "mlflow_model", "uri": PHI},
                "trainingData": {
                    "jobInputType": "uri_file",
                    "uri": "azureml://datastores/workspaceblobstore/paths/ft/train.jsonl",
                },
            },
        }
    }


def assert_alive(sim: Any) -> None:
    assert call(sim, "GET", ws_url(sim)).status_code == 200


# -- authentication ----------------------------------------------------------------------------


def test_missing_authorization_is_401(sim) -> None:
    resp = call(sim, "GET", ws_url(sim), headers={})
    error = arm_error(resp, 401, "AuthenticationFailed")
    assert "missing" in error["message"]
    assert resp.headers["WWW-Authenticate"].startswith("Bearer ")
    assert_alive(sim)


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "token-without-scheme"])
def test_non_bearer_authorization_is_401(sim, value: str) -> None:
    resp = call(sim, "GET", ws_url(sim), headers={"Authorization": value})
    arm_error(resp, 401, "AuthenticationFailedInvalidHeader")
    assert_alive(sim)


def test_writes_without_authorization_change_nothing(sim, ml) -> None:
    resp = call(sim, "PUT", f"{ws_url(sim)}/jobs/unauthorised", headers={}, json=job_body())
    arm_error(resp, 401, "AuthenticationFailed")
    with pytest.raises(ResourceNotFoundError):
        ml.jobs.get("unauthorised")


def test_sdk_sees_401_as_client_authentication_error(sim) -> None:
    # The bearer token is any non-empty string; an empty one is refused like a missing header.
    from azure.ai.ml import MLClient
    from azure.core.credentials import AccessToken

    from azureml_standins.sdk import mlclient_cloud_kwargs

    class EmptyToken:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken(" ", 4102444800)

    ml = MLClient(EmptyToken(), SUB, "rg-sim", "ws-sim", retry_total=0, **mlclient_cloud_kwargs(sim.base_url))
    with pytest.raises(ClientAuthenticationError) as info:
        ml.workspaces.get("ws-sim")
    assert info.value.status_code == 401
    assert info.value.error.code == "AuthenticationFailedInvalidHeader"


# -- api-version ---------------------------------------------------------------------------------


def test_missing_api_version_is_400(sim) -> None:
    error = arm_error(call(sim, "GET", ws_url(sim), api_version=None), 400, "MissingApiVersionParameter")
    assert "api-version" in error["message"]


@pytest.mark.parametrize("version", ["latest", "2024-10-01-beta", "24-10-01", ""])
def test_malformed_api_version_is_400(sim, version: str) -> None:
    resp = call(sim, "GET", ws_url(sim), api_version=version)
    code = "MissingApiVersionParameter" if version == "" else "InvalidApiVersionParameter"
    arm_error(resp, 400, code)


def test_any_well_formed_api_version_is_accepted_and_recorded(sim) -> None:
    for version in ("2019-01-01", "2031-12-31-preview"):
        assert call(sim, "GET", ws_url(sim), api_version=version).status_code == 200
    api_versions = sim.admin("GET", "stats")["apiVersions"]
    assert api_versions["workspaces@2019-01-01"] == 1
    assert api_versions["workspaces@2031-12-31-preview"] == 1


# -- not found at each level -------------------------------------------------------------------------


def test_unknown_workspace_is_resource_not_found(sim) -> None:
    ml = sim.ml_client(workspace="nope", retry_total=0)
    expect_arm_error(lambda: ml.workspaces.get("nope"), 404, "ResourceNotFound", "workspaces/nope")


def test_unknown_resource_group_is_resource_group_not_found(sim) -> None:
    ml = sim.ml_client(resource_group="rg-nope", retry_total=0)
    expect_arm_error(lambda: ml.workspaces.get("ws-sim"), 404, "ResourceGroupNotFound", "rg-nope")


def test_unknown_subscription_is_subscription_not_found(sim) -> None:
    other = "11111111-1111-1111-1111-111111111111"
    ml = sim.ml_client(subscription=other, retry_total=0)
    expect_arm_error(lambda: ml.workspaces.get("ws-sim"), 404, "SubscriptionNotFound", other)
    # Resources below the missing level are reported at the first missing level.
    expect_arm_error(lambda: ml.jobs.get("any"), 404, "SubscriptionNotFound")


def test_resources_in_an_unknown_workspace_are_not_found(sim) -> None:
    ml = sim.ml_client(workspace="nope", retry_total=0)
    expect_arm_error(lambda: ml.serverless_endpoints.get("any"), 404, "ResourceNotFound", "workspaces/nope")


def test_path_segments_are_case_insensitive(sim) -> None:
    url = (
        ws_url(sim)
        .replace("resourceGroups", "RESOURCEGROUPS")
        .replace("workspaces/ws-sim", "Workspaces/WS-SIM")
    )
    url = url.replace("Microsoft.MachineLearningServices", "microsoft.machinelearningservices")
    resp = call(sim, "GET", url)
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "ws-sim"


@pytest.mark.parametrize(
    "suffix",
    ["/widgets", "/widgets/w1", "/jobs/j1/widgets", "/onlineEndpoints/e1/widgets/x"],
)
def test_unknown_resource_type_is_invalid_resource_type(sim, suffix: str) -> None:
    error = arm_error(call(sim, "GET", ws_url(sim) + suffix), 404, "InvalidResourceType")
    assert "widgets" in error["message"] and "Microsoft.MachineLearningServices" in error["message"]


def test_unknown_provider_namespace_is_invalid_resource_type(sim) -> None:
    url = f"{sim.base_url}/subscriptions/{SUB}/resourceGroups/rg-sim/providers/Microsoft.Storage/storageAccounts/sa"
    arm_error(call(sim, "GET", url), 404, "InvalidResourceType")


def test_workspace_list_of_the_resource_group(sim) -> None:
    url = f"{sim.base_url}/subscriptions/{SUB}/resourceGroups/rg-sim/providers/Microsoft.MachineLearningServices/workspaces"
    resp = call(sim, "GET", url)
    assert resp.status_code == 200
    assert [w["name"] for w in resp.json()["value"]] == ["ws-sim"]


# -- malformed requests ----------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["{not json", '{"properties": ', "\xff\xfe"])
def test_invalid_json_body_is_invalid_request_content(sim, ml, data: str) -> None:
    resp = call(
        sim,
        "PUT",
        f"{ws_url(sim)}/jobs/badjson",
        headers={**BEARER, "Content-Type": "application/json"},
        data=data.encode("latin-1"),
    )
    arm_error(resp, 400, "InvalidRequestContent")
    with pytest.raises(ResourceNotFoundError):
        ml.jobs.get("badjson")
    assert_alive(sim)


def test_authentication_comes_before_the_content(sim) -> None:
    # ARM authenticates before it reads the body: no Authorization and a broken body is a 401.
    resp = call(
        sim, "PUT", f"{ws_url(sim)}/jobs/badjson", headers={"Content-Type": "application/json"}, data=b"{"
    )
    arm_error(resp, 401, "AuthenticationFailed")
    # An authenticated broken body is counted and spends a write token like any other write.
    resp = call(
        sim,
        "PUT",
        f"{ws_url(sim)}/jobs/badjson",
        headers={**BEARER, "Content-Type": "application/json"},
        data=b"{",
    )
    arm_error(resp, 400, "InvalidRequestContent")
    assert resp.headers["x-ms-ratelimit-remaining-subscription-writes"] == "199"
    assert sim.admin("GET", "stats")["requests"]["PUT jobs"] == 2


@pytest.mark.parametrize("body", [[1, 2], "a string", 42, None])
def test_put_body_that_is_not_an_object_is_refused(sim, body: Any) -> None:
    url = f"{ws_url(sim)}/jobs/notobject"
    resp = (
        call(sim, "PUT", url)
        if body is None
        else call(sim, "PUT", url, json=body, headers={**BEARER, "Content-Type": "application/json"})
    )
    error = arm_error(resp, 400, "InvalidRequestContent")
    assert "JSON object" in error["message"]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("PATCH", "/jobs/j1"),  # the SDK never PATCHes; the simulator does not serve it
        ("POST", "/jobs"),  # collections are read-only
        ("PUT", "/jobs"),
        ("DELETE", "/serverlessEndpoints"),
        ("GET", "/jobs/j1/cancel"),  # actions are POST only
        ("PUT", ""),  # workspaces are fixed at start-up
        ("DELETE", ""),
    ],
)
def test_method_not_allowed_is_405(sim, method: str, suffix: str) -> None:
    resp = call(sim, method, ws_url(sim) + suffix, json={} if method in ("PUT", "POST", "PATCH") else None)
    arm_error(resp, 405, "MethodNotAllowed")


def test_action_on_a_missing_resource_is_404(sim) -> None:
    arm_error(call(sim, "POST", f"{ws_url(sim)}/jobs/missing/cancel"), 404, "ResourceNotFound")


def test_unknown_action_is_invalid_resource_type(sim) -> None:
    arm_error(call(sim, "POST", f"{ws_url(sim)}/jobs/j1/explode"), 404, "InvalidResourceType")


def test_paths_outside_arm_are_not_found(sim) -> None:
    resp = call(sim, "GET", f"{sim.base_url}/no/such/route")
    arm_error(resp, 404, "NotFound")
    resp = call(sim, "GET", f"{sim.base_url}/subscriptions/{SUB}")
    arm_error(resp, 404, "NotFound")


def test_unknown_operation_id_is_404(sim) -> None:
    url = (
        f"{sim.base_url}/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/locations/eastus2/"
        f"mfeOperationsStatus/{uuid.uuid4()}"
    )
    arm_error(call(sim, "GET", url), 404, "NotFound")


# -- envelope and headers -----------------------------------------------------------------------------


def test_every_error_has_the_arm_envelope(sim) -> None:
    """One request per error class above: each body is exactly {"error": {code, message, ...}}."""
    url = ws_url(sim)
    cases = [
        call(sim, "GET", url, headers={}),
        call(sim, "GET", url, api_version=None),
        call(sim, "GET", ws_url(sim, ws="nope")),
        call(sim, "GET", url + "/widgets"),
        call(sim, "PUT", url + "/jobs/x", data=b"{", headers={**BEARER, "Content-Type": "application/json"}),
        call(sim, "PUT", url + "/jobs/x", json=[]),
        call(sim, "PATCH", url + "/jobs/x", json={}),
        call(sim, "PUT", url + "/jobs/x", json={"properties": {"jobType": "Command"}}),
        call(sim, "GET", url + "/jobs/x"),
    ]
    for resp in cases:
        assert 400 <= resp.status_code < 500, resp.text
        error = resp.json()["error"]
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]
        assert error.get("details", []) == []
        assert isinstance(error.get("additionalInfo", []), list)


def test_request_id_headers(sim) -> None:
    client_id = str(uuid.uuid4())
    ok = call(sim, "GET", ws_url(sim), headers={**BEARER, "x-ms-client-request-id": client_id})
    assert ok.status_code == 200
    assert ok.headers["x-ms-client-request-id"] == client_id
    first = ok.headers["x-ms-request-id"]
    assert uuid.UUID(first)
    assert ok.headers["x-ms-correlation-request-id"]

    again = call(sim, "GET", ws_url(sim))
    assert again.headers["x-ms-request-id"] != first
    assert "x-ms-client-request-id" not in again.headers

    # Errors carry them too, including the ones refused before routing.
    for resp in (
        call(sim, "GET", ws_url(sim), headers={"x-ms-client-request-id": client_id}),
        call(sim, "GET", ws_url(sim) + "/widgets", headers={**BEARER, "x-ms-client-request-id": client_id}),
    ):
        assert resp.status_code >= 400
        assert resp.headers["x-ms-client-request-id"] == client_id
        assert resp.headers["x-ms-request-id"]


def test_sdk_requests_are_echoed(ml, sim) -> None:
    # The SDK sends its own x-ms-client-request-id; the reply must echo it (azure-core logs it).
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    seen: list[tuple[str | None, str | None]] = []

    class Capture(SansIOHTTPPolicy):  # type: ignore[type-arg]
        def on_response(self, request: Any, response: Any) -> None:
            seen.append(
                (
                    request.http_request.headers.get("x-ms-client-request-id"),
                    response.http_response.headers.get("x-ms-client-request-id"),
                )
            )

    client = sim.ml_client(retry_total=0, per_call_policies=[Capture()])
    client.workspaces.get("ws-sim")
    assert seen, "the capture policy saw no response"
    for sent, echoed in seen:
        assert sent and echoed == sent


# -- workspace and paging -----------------------------------------------------------------------------


def test_workspace_get(ml) -> None:
    ws = ml.workspaces.get("ws-sim")
    assert ws.name == "ws-sim"
    assert ws.location == "eastus2"
    assert (
        ws.id
        == f"/subscriptions/{SUB}/resourceGroups/rg-sim/providers/Microsoft.MachineLearningServices/workspaces/ws-sim"
    )
    assert ws.discovery_url.endswith("/discovery")


def test_workspace_name_argument_is_case_insensitive(sim) -> None:
    ml = sim.ml_client(workspace="WS-SIM", retry_total=0)
    assert ml.workspaces.get("WS-SIM").name == "ws-sim"


def test_list_paging_follows_next_link(ml, sim) -> None:
    # Fine-tuning job PUTs are synchronous and cheap, so they fill pages of 100 quickly. (The SDK
    # parses each fine-tuning job slowly, so one item past a page boundary is enough.)
    with requests.Session() as s:

        def put(i: int) -> None:
            resp = s.put(
                f"{ws_url(sim)}/jobs/page-{i:03d}",
                params={"api-version": API},
                json=job_body(),
                headers=BEARER,
                verify=str(sim.ca),
                timeout=30,
            )
            assert resp.status_code == 201, resp.text

        for i in range(100):
            put(i)
        full = call(sim, "GET", f"{ws_url(sim)}/jobs", api_version="2024-01-01-preview").json()
        assert len(full["value"]) == 100
        assert "nextLink" not in full  # exactly one page
        put(100)

    first = call(sim, "GET", f"{ws_url(sim)}/jobs", api_version="2024-01-01-preview").json()
    assert len(first["value"]) == 100
    assert first["nextLink"].startswith(f"{sim.base_url}/subscriptions/")
    assert "api-version=2024-01-01-preview" in first["nextLink"]
    second = call(sim, "GET", first["nextLink"], api_version=None).json()
    assert [j["name"] for j in second["value"]] == ["page-100"]
    assert "nextLink" not in second

    before = sim.admin("GET", "stats")["requests"]["GET jobs"]
    names = [j.name for j in ml.jobs.list()]
    assert sorted(names) == [f"page-{i:03d}" for i in range(101)]
    assert sim.admin("GET", "stats")["requests"]["GET jobs"] - before == 2  # one GET per page


def test_last_page_has_no_next_link(sim) -> None:
    call(sim, "PUT", f"{ws_url(sim)}/jobs/only", json=job_body())
    body = call(sim, "GET", f"{ws_url(sim)}/jobs").json()
    assert [j["name"] for j in body["value"]] == ["only"]
    assert "nextLink" not in body


def test_invalid_skip_token_is_refused(sim) -> None:
    resp = requests.get(
        f"{ws_url(sim)}/jobs",
        params={"api-version": API, "$skipToken": "not-a-token"},
        headers=BEARER,
        verify=str(sim.ca),
        timeout=30,
    )
    arm_error(resp, 400, "UserError")


# -- long-running operation headers (contract §2.3) ------------------------------------------------------


def test_lro_replies_carry_absolute_poll_urls_and_a_non_zero_retry_after(sim) -> None:
    sim.admin("POST", "latency", {"scale": 1})  # hold the operations in flight
    url = f"{ws_url(sim)}/serverlessEndpoints/lro-sls"
    body = {
        "location": "eastus2",
        "sku": {"name": "Consumption"},
        "properties": {
            "modelSettings": {"modelId": "azureml://registries/azureml/models/Phi-4-mini-instruct"}
        },
    }
    created = call(sim, "PUT", url, json=body, api_version="2024-01-01-preview")
    assert created.status_code == 201
    assert created.json()["properties"]["provisioningState"] == "Creating"
    aao = created.headers["Azure-AsyncOperation"]
    assert aao.startswith(f"{sim.base_url}/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/")
    assert "/mfeOperationsStatus/" in aao and "api-version=" in aao
    assert int(created.headers["Retry-After"]) >= 1  # 0 would mean "30 s" to the SDK

    status = call(sim, "GET", aao, api_version=None)
    assert status.status_code == 200
    doc = status.json()
    assert doc["status"] == "InProgress" and doc["startTime"] and "endTime" not in doc
    assert int(status.headers["Retry-After"]) >= 1
    # A second write while the first is in flight is refused.
    arm_error(call(sim, "PUT", url, json=body, api_version="2024-01-01-preview"), 409, "Conflict")

    sim.admin("POST", "clock", {"advanceSeconds": 3600})
    done = call(sim, "GET", aao, api_version=None).json()
    assert done["status"] == "Succeeded" and done["endTime"] and done["percentComplete"] == 100.0

    deleting = call(sim, "DELETE", url, api_version="2024-01-01-preview")
    assert deleting.status_code == 202  # never 200 for serverless endpoints (contract §6 row 10)
    location = deleting.headers["Location"]
    assert "/mfeOperationResults/" in location and deleting.headers["Azure-AsyncOperation"]
    pending = call(sim, "GET", location, api_version=None)
    assert pending.status_code == 202
    assert pending.headers["Location"]  # an empty Location would send the SDK to "/"
    assert int(pending.headers["Retry-After"]) >= 1
    sim.admin("POST", "clock", {"advanceSeconds": 3600})
    assert call(sim, "GET", location, api_version=None).status_code in (200, 204)
    arm_error(call(sim, "GET", url, api_version="2024-01-01-preview"), 404, "ResourceNotFound")
    # Deleting what is gone is 204.
    assert call(sim, "DELETE", url, api_version="2024-01-01-preview").status_code == 204


def test_operation_of_another_subscription_is_not_found(sim) -> None:
    sim.admin("POST", "latency", {"scale": 1})
    body = {
        "location": "eastus2",
        "properties": {
            "modelSettings": {"modelId": "azureml://registries/azureml/models/Phi-4-mini-instruct"}
        },
    }
    aao = call(sim, "PUT", f"{ws_url(sim)}/serverlessEndpoints/op-sls", json=body).headers[
        "Azure-AsyncOperation"
    ]
    other = aao.replace(SUB, "11111111-1111-1111-1111-111111111111")
    arm_error(call(sim, "GET", other, api_version=None), 404, "NotFound")
