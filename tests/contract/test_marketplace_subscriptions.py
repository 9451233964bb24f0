"""Marketplace subscriptions through the SDK: lifecycle, the entity it parses, and each service rule."""

from __future__ import annotations

from azure.ai.ml.entities import MarketplaceSubscription
from azure.core.exceptions import ResourceNotFoundError
from sdk_errors import expect_arm_error

LLAMA = "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct"
MISTRAL = "azureml://registries/azureml-mistral/models/Mistral-large-2407"


def test_create_get_list_delete_round_trip(ml, sim) -> None:
    created = ml.marketplace_subscriptions.begin_create_or_update(
        MarketplaceSubscription(name="llama-sub", model_id=LLAMA)
    ).result()
    assert created.name == "llama-sub"
    assert created.model_id == LLAMA
    assert created.status == "subscribed"
    assert created.provisioning_state == "succeeded"
    assert created.marketplace_plan.publisher_id == "metagenai"
    assert created.marketplace_plan.offer_id and created.marketplace_plan.plan_id

    fetched = ml.marketplace_subscriptions.get("llama-sub")
    assert fetched.id.endswith("/workspaces/ws-sim/marketplaceSubscriptions/llama-sub")
    assert [s.name for s in ml.marketplace_subscriptions.list()] == ["llama-sub"]

    ml.marketplace_subscriptions.begin_delete("llama-sub").result()
    try:
        ml.marketplace_subscriptions.get("llama-sub")
        raise AssertionError("subscription still exists after delete")
    except ResourceNotFoundError:
        pass
    requests = sim.admin("GET", "stats")["requests"]
    assert requests["DELETE marketplaceSubscriptions"] == 1


def test_provisioning_is_asynchronous(ml, sim) -> None:
    poller = ml.marketplace_subscriptions.begin_create_or_update(
        MarketplaceSubscription(name="slow-sub", model_id=MISTRAL), polling=False
    )
    # Without polling, the entity is the initial 201 reply: still creating, not yet subscribed.
    assert poller.result().provisioning_state == "creating"
    sim.admin("POST", "clock", {"advanceSeconds": 3600})
    assert ml.marketplace_subscriptions.get("slow-sub").provisioning_state == "succeeded"


def test_deleting_a_missing_subscription_is_a_no_op(ml) -> None:
    ml.marketplace_subscriptions.begin_delete("never-existed").result()


def test_versioned_model_id_is_rejected(ml) -> None:
    # The SDK does not check this for subscriptions; the service does.
    expect_arm_error(
        lambda: ml.marketplace_subscriptions.begin_create_or_update(
            MarketplaceSubscription(name="v-sub", model_id=f"{LLAMA}/versions/9")
        ).result(),
        400,
        "UserError",
        "must not contain a version",
    )


def test_unknown_model_is_not_found(ml) -> None:
    expect_arm_error(
        lambda: ml.marketplace_subscriptions.begin_create_or_update(
            MarketplaceSubscription(name="x-sub", model_id="azureml://registries/azureml-meta/models/No-Such")
        ).result(),
        404,
        "UserError",
        "not found in registry",
    )


def test_microsoft_model_needs_no_subscription(ml) -> None:
    expect_arm_error(
        lambda: ml.marketplace_subscriptions.begin_create_or_update(
            MarketplaceSubscription(
                name="phi-sub", model_id="azureml://registries/azureml/models/Phi-4-mini-instruct"
            )
        ).result(),
        400,
        "UserError",
        "no marketplace subscription is needed",
    )


def test_one_subscription_per_offer_per_workspace(ml) -> None:
    ml.marketplace_subscriptions.begin_create_or_update(
        MarketplaceSubscription(name="first", model_id=LLAMA)
    ).result()
    expect_arm_error(
        lambda: ml.marketplace_subscriptions.begin_create_or_update(
            MarketplaceSubscription(name="second", model_id=LLAMA)
        ).result(),
        409,
        "Conflict",
        "already has marketplace subscription 'first'",
    )


def test_model_of_a_subscription_cannot_change(ml) -> None:
    ml.marketplace_subscriptions.begin_create_or_update(
        MarketplaceSubscription(name="fixed", model_id=LLAMA)
    ).result()
    expect_arm_error(
        lambda: ml.marketplace_subscriptions.begin_create_or_update(
            MarketplaceSubscription(name="fixed", model_id=MISTRAL)
        ).result(),
        400,
        "UserError",
        "cannot be changed",
    )


def test_name_rule(ml) -> None:
    expect_arm_error(
        lambda: ml.marketplace_subscriptions.begin_create_or_update(
            MarketplaceSubscription(name="-bad-name", model_id=LLAMA)
        ).result(),
        400,
        "UserError",
        "is invalid",
    )


def test_update_while_creating_conflicts(ml, sim) -> None:
    sim.admin("POST", "latency", {"scale": 1})  # hold the creation in flight
    ml.marketplace_subscriptions.begin_create_or_update(
        MarketplaceSubscription(name="busy", model_id=LLAMA), polling=False
    )
    expect_arm_error(
        lambda: ml.marketplace_subscriptions.begin_create_or_update(
            MarketplaceSubscription(name="busy", model_id=LLAMA), polling=False
        ).result(),
        409,
        "Conflict",
        "operation is in progress",
    )
