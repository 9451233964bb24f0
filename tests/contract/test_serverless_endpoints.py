"""Serverless endpoints through the SDK: lifecycle, entity fields, keys, and each service rule."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from azure.ai.ml.entities import MarketplaceSubscription, ServerlessEndpoint
from azure.ai.ml.exceptions import ValidationException
from azure.core.exceptions import ResourceNotFoundError
from sdk_errors import expect_arm_error

from azureml_standins.simulator.process import SimulatorProcess

PHI = "azureml://registries/azureml/models/Phi-4-mini-instruct"
LLAMA = "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct"
SUB = "00000000-0000-0000-0000-000000000000"
WS = f"/subscriptions/{SUB}/resourceGroups/rg-sim/providers/Microsoft.MachineLearningServices/workspaces/ws-sim"
API = "api-version=2024-01-01-preview"


def arm(sim: SimulatorProcess, method: str, path: str, body: object = None) -> requests.Response:
    return requests.request(
        method,
        f"{sim.base_url}{path}?{API}",
        json=body,
        verify=str(sim.ca),
        headers={"Authorization": "Bearer test"},
        timeout=30,
    )


def test_microsoft_model_endpoint_lifecycle(ml, sim) -> None:
    ep = ml.serverless_endpoints.begin_create_or_update(
        ServerlessEndpoint(name="phi-ep", model_id=PHI, tags={"team": "a"})
    ).result()
    assert ep.provisioning_state == "succeeded"
    assert ep.model_id == PHI
    assert ep.auth_mode == "Key"  # the SDK never sends authMode: the service defaults it
    assert ep.location == "eastus2"
    assert ep.tags == {"team": "a"}
    assert ep.scoring_uri == f"{sim.base_url}/serverless/eastus2/phi-ep"

    keys = ml.serverless_endpoints.get_keys("phi-ep")
    assert len(keys.primary_key) == 32 and len(keys.secondary_key) == 32
    assert keys.primary_key != keys.secondary_key
    assert [e.name for e in ml.serverless_endpoints.list()] == ["phi-ep"]

    raw = arm(sim, "GET", f"{WS}/serverlessEndpoints/phi-ep").json()["properties"]
    assert raw["endpointState"] == "Online"
    assert raw["contentSafety"] == {"contentSafetyStatus": "Enabled"}
    assert "marketplaceSubscriptionId" not in raw
    assert "primaryKey" not in str(raw)

    ml.serverless_endpoints.begin_delete("phi-ep").result()
    with pytest.raises(ResourceNotFoundError):
        ml.serverless_endpoints.get("phi-ep")


def test_endpoint_state_follows_the_operations(ml, sim) -> None:
    sim.admin("POST", "latency", {"scale": 1})
    ml.serverless_endpoints.begin_create_or_update(
        ServerlessEndpoint(name="slow-ep", model_id=PHI), polling=False
    )
    raw = arm(sim, "GET", f"{WS}/serverlessEndpoints/slow-ep").json()["properties"]
    assert (raw["provisioningState"], raw["endpointState"]) == ("Creating", "Creating")
    sim.admin("POST", "clock", {"advanceSeconds": 3600})
    ml.serverless_endpoints.begin_delete("slow-ep", polling=False)
    raw = arm(sim, "GET", f"{WS}/serverlessEndpoints/slow-ep").json()["properties"]
    assert (raw["provisioningState"], raw["endpointState"]) == ("Deleting", "Deleting")


def test_partner_model_needs_a_marketplace_subscription(ml) -> None:
    err = expect_arm_error(
        lambda: ml.serverless_endpoints.begin_create_or_update(
            ServerlessEndpoint(name="llama", model_id=LLAMA)
        ).result(),
        400,
        "UserError",
        "Marketplace subscription for model .* is missing in workspace 'ws-sim'",
    )
    assert "meta-llama-3-8b-chat-offer" in err.error.message


def test_a_subscription_still_being_created_does_not_count(ml, sim) -> None:
    sim.admin("POST", "latency", {"scale": 1})
    ml.marketplace_subscriptions.begin_create_or_update(
        MarketplaceSubscription(name="llama-sub", model_id=LLAMA), polling=False
    )
    expect_arm_error(
        lambda: ml.serverless_endpoints.begin_create_or_update(
            ServerlessEndpoint(name="llama", model_id=LLAMA)
        ).result(),
        400,
        "UserError",
        "is missing",
    )


def test_partner_model_with_subscription_links_it(ml, sim) -> None:
    sub = ml.marketplace_subscriptions.begin_create_or_update(
        MarketplaceSubscription(name="llama-sub", model_id=LLAMA)
    ).result()
    ep = ml.serverless_endpoints.begin_create_or_update(
        ServerlessEndpoint(name="llama", model_id=LLAMA)
    ).result()
    assert ep.provisioning_state == "succeeded"
    raw = arm(sim, "GET", f"{WS}/serverlessEndpoints/llama").json()["properties"]
    assert raw["marketplaceSubscriptionId"] == sub.id


def test_deleting_the_subscription_makes_the_endpoint_unusable(ml, sim) -> None:
    ml.marketplace_subscriptions.begin_create_or_update(
        MarketplaceSubscription(name="llama-sub", model_id=LLAMA)
    ).result()
    ep = ml.serverless_endpoints.begin_create_or_update(
        ServerlessEndpoint(name="llama", model_id=LLAMA)
    ).result()
    key = ml.serverless_endpoints.get_keys("llama").primary_key
    chat = {"messages": [{"role": "user", "content": "hello"}]}
    url = f"{ep.scoring_uri}/v1/chat/completions"
    assert (
        requests.post(url, json=chat, headers={"api-key": key}, verify=str(sim.ca), timeout=30).status_code
        == 200
    )

    ml.marketplace_subscriptions.begin_delete("llama-sub").result()
    raw = arm(sim, "GET", f"{WS}/serverlessEndpoints/llama").json()["properties"]
    assert raw["endpointState"] == "Suspended"
    r = requests.post(url, json=chat, headers={"api-key": key}, verify=str(sim.ca), timeout=30)
    assert r.status_code == 403
    assert "subscription" in r.json()["error"]["message"]


def test_versioned_model_id_is_rejected_by_sdk_and_service(ml, sim) -> None:
    with pytest.raises(ValidationException):
        ml.serverless_endpoints.begin_create_or_update(
            ServerlessEndpoint(name="v-ep", model_id=f"{PHI}/versions/1")
        )
    r = arm(
        sim,
        "PUT",
        f"{WS}/serverlessEndpoints/v-ep",
        {"location": "eastus2", "properties": {"modelSettings": {"modelId": f"{PHI}/versions/1"}}},
    )
    assert r.status_code == 400
    assert "must not contain a version" in r.json()["error"]["message"]


def test_one_endpoint_per_model_per_workspace(ml) -> None:
    ml.serverless_endpoints.begin_create_or_update(ServerlessEndpoint(name="phi-one", model_id=PHI)).result()
    expect_arm_error(
        lambda: ml.serverless_endpoints.begin_create_or_update(
            ServerlessEndpoint(name="phi-two", model_id=PHI)
        ).result(),
        400,
        "UserError",
        "already has serverless endpoint 'phi-one'",
    )


@pytest.mark.parametrize("name", ["1starts-with-digit", "has_underscore", "x" * 53])
def test_name_rule(sim, name: str) -> None:
    r = arm(
        sim,
        "PUT",
        f"{WS}/serverlessEndpoints/{name}",
        {"location": "eastus2", "properties": {"modelSettings": {"modelId": PHI}}},
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "UserError"


def test_model_cannot_change_but_tags_can(ml, sim) -> None:
    ml.serverless_endpoints.begin_create_or_update(ServerlessEndpoint(name="phi-ep", model_id=PHI)).result()
    expect_arm_error(
        lambda: ml.serverless_endpoints.begin_create_or_update(
            ServerlessEndpoint(
                name="phi-ep", model_id="azureml://registries/azureml/models/Phi-3-mini-4k-instruct"
            )
        ).result(),
        400,
        "UserError",
        "cannot be changed",
    )
    updated = ml.serverless_endpoints.begin_create_or_update(
        ServerlessEndpoint(name="phi-ep", model_id=PHI, tags={"v": "2"})
    ).result()
    assert updated.tags == {"v": "2"}
    assert sim.admin("GET", "stats")["requests"]["PUT serverlessEndpoints"] == 3


def test_location_must_match_the_workspace(sim) -> None:
    r = arm(
        sim,
        "PUT",
        f"{WS}/serverlessEndpoints/far",
        {"location": "westus3", "properties": {"modelSettings": {"modelId": PHI}}},
    )
    assert r.status_code == 400 and "does not match" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"location": "eastus2"}, "'properties' is required"),
        ({"location": "eastus2", "properties": {}}, "'properties.modelSettings' is required"),
        ({"location": "eastus2", "properties": {"modelSettings": {"modelId": 7}}}, "must be a string"),
        (
            {
                "location": "eastus2",
                "sku": {"name": "Standard"},
                "properties": {"modelSettings": {"modelId": PHI}},
            },
            "not valid for 'sku.name'",
        ),
        (
            {"location": "eastus2", "properties": {"authMode": "AAD", "modelSettings": {"modelId": PHI}}},
            "not valid for 'properties.authMode'",
        ),
        (
            {
                "location": "eastus2",
                "properties": {
                    "contentSafety": {"contentSafetyStatus": "Maybe"},
                    "modelSettings": {"modelId": PHI},
                },
            },
            "contentSafetyStatus",
        ),
    ],
)
def test_malformed_bodies_get_user_errors(sim, body: dict, fragment: str) -> None:
    r = arm(sim, "PUT", f"{WS}/serverlessEndpoints/bad", body)
    assert r.status_code == 400, r.text
    assert fragment in r.json()["error"]["message"]


def test_content_safety_is_kept_when_sent(sim) -> None:
    r = arm(
        sim,
        "PUT",
        f"{WS}/serverlessEndpoints/unsafe",
        {
            "location": "eastus2",
            "properties": {
                "modelSettings": {"modelId": PHI},
                "contentSafety": {"contentSafetyStatus": "Disabled"},
            },
        },
    )
    assert r.status_code == 201
    assert r.json()["properties"]["contentSafety"] == {"contentSafetyStatus": "Disabled"}
    assert "Azure-AsyncOperation" in r.headers and int(r.headers["Retry-After"]) >= 1


def test_delete_answers_202_or_204_never_200(sim) -> None:
    assert arm(sim, "DELETE", f"{WS}/serverlessEndpoints/absent").status_code == 204
    sim.admin("POST", "latency", {"scale": 1})
    arm(
        sim,
        "PUT",
        f"{WS}/serverlessEndpoints/present",
        {"location": "eastus2", "properties": {"modelSettings": {"modelId": PHI}}},
    )
    busy = arm(sim, "DELETE", f"{WS}/serverlessEndpoints/present")
    assert busy.status_code == 409  # still being created
    sim.admin("POST", "clock", {"advanceSeconds": 3600})
    r = arm(sim, "DELETE", f"{WS}/serverlessEndpoints/present")
    assert r.status_code == 202
    assert "Location" in r.headers and "Azure-AsyncOperation" in r.headers


def test_regenerate_keys_over_rest(ml, sim) -> None:
    ml.serverless_endpoints.begin_create_or_update(ServerlessEndpoint(name="phi-ep", model_id=PHI)).result()
    before = ml.serverless_endpoints.get_keys("phi-ep")
    r = arm(sim, "POST", f"{WS}/serverlessEndpoints/phi-ep/regenerateKeys", {"keyType": "Secondary"})
    assert r.status_code == 200
    after = ml.serverless_endpoints.get_keys("phi-ep")
    assert after.primary_key == before.primary_key
    assert after.secondary_key != before.secondary_key
    assert r.json()["secondaryKey"] == after.secondary_key
    bad = arm(sim, "POST", f"{WS}/serverlessEndpoints/phi-ep/regenerateKeys", {"keyType": "Tertiary"})
    assert bad.status_code == 400


@pytest.fixture(scope="module")
def two_regions() -> Iterator[SimulatorProcess]:
    with SimulatorProcess(
        latency_scale=0.002,
        extra_args=[
            "--workspace",
            f"{SUB}/rg-other/ws-neighbour@eastus2",
            "--workspace",
            f"{SUB}/rg-eu/ws-eu@westeurope",
        ],
    ) as other:
        yield other


def test_names_are_unique_per_region(two_regions) -> None:
    two_regions.admin("POST", "reset")
    mine = two_regions.ml_client(retry_total=0)
    neighbour = two_regions.ml_client(resource_group="rg-other", workspace="ws-neighbour", retry_total=0)
    mine.serverless_endpoints.begin_create_or_update(
        ServerlessEndpoint(name="shared-name", model_id=PHI)
    ).result()
    expect_arm_error(
        lambda: neighbour.serverless_endpoints.begin_create_or_update(
            ServerlessEndpoint(
                name="Shared-Name", model_id="azureml://registries/azureml/models/Phi-3-mini-4k-instruct"
            ),
        ).result(),
        409,
        "UserError",
        "is not available",
    )


def test_model_must_be_offered_in_the_workspace_region(two_regions) -> None:
    two_regions.admin("POST", "reset")
    eu = two_regions.ml_client(resource_group="rg-eu", workspace="ws-eu", retry_total=0)
    expect_arm_error(
        lambda: eu.serverless_endpoints.begin_create_or_update(
            ServerlessEndpoint(name="phi-eu", model_id=PHI)
        ).result(),
        400,
        "UserError",
        "not available for serverless deployment in region 'westeurope'",
    )
