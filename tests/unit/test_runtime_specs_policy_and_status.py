"""Before any Azure call: the reconcile-policy annotation and the typed spec; after the pass: the status
the verdict becomes, checked against the kind's Status model."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import ValidationError
from runtime_fakes import (
    ADAPTERS,
    DEFAULT_TARGET,
    LLAMA,
    PHI,
    FakeSecret,
    Harness,
    adopt,
    endpoint,
    owner_tags,
    policy,
    subscription,
    workspace,
)

from azureml_operator.api.model_subscription import ModelSubscriptionStatus
from azureml_operator.api.serverless_endpoint import ServerlessEndpointStatus
from azureml_operator.api.workspace import WorkspaceStatus
from azureml_operator.conditions import Reason
from azureml_operator.errors import Terminal
from azureml_operator.reconcilers.common import Finality, Verdict
from azureml_operator.reconcilers.lookups import ref_name
from azureml_operator.reconcilers.status import next_status

ENDPOINT_ID = DEFAULT_TARGET.child_id("serverlessEndpoints", "llama")
T0 = "2026-01-01T00:00:00Z"


# -- typed specs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("of", "field"),
    [
        (endpoint("llama", "Meta-Llama-3-8B-Instruct"), "spec.modelId"),
        (endpoint("llama", f"{LLAMA}/versions/3"), "spec.modelId"),
        (endpoint("llama", spec={"endpointname": "x"}), "spec.endpointname"),
        (endpoint("llama", spec={"contentSafety": "Sometimes"}), "spec.contentSafety"),
        (endpoint("llama", spec={"endpointName": "9-starts-with-a-digit"}), "spec.endpointName"),
        (endpoint("llama", spec={"subscriptionRef": {"name": "Not_A_Name"}}), "spec.subscriptionRef.name"),
        (subscription("llama-sub", "not a model"), "spec.modelId"),
        (subscription("llama-sub", spec={"deletionPolicy": "Orphan"}), "spec.deletionPolicy"),
        (workspace("ws", spec={"subscriptionId": "nope"}), "spec.subscriptionId"),
        (workspace("ws", spec={"credential": {"clientId": "not-a-guid"}}), "spec.credential.clientId"),
    ],
)
async def test_an_invalid_spec_names_the_field_and_calls_nothing(of: dict[str, Any], field: str) -> None:
    h = Harness()
    verdict = await h.reconcile(of)
    assert (verdict.status, verdict.reason) == ("False", Reason.INVALID_SPEC)
    assert f"{field}:" in verdict.message
    assert verdict.finality is Finality.FINAL and verdict.requeue_after is None
    assert h.journal == []


async def test_a_missing_required_field_is_named() -> None:
    h = Harness()
    verdict = await h.reconcile(endpoint("llama") | {"spec": {}})
    assert verdict.reason is Reason.INVALID_SPEC
    assert verdict.message == "spec: set exactly one of modelId, modelRef"
    assert h.journal == []


# -- reconcile policy -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["skip", "Skip", " SKIP "])
async def test_skip_touches_nothing_and_reports_unknown(value: str) -> None:
    h = Harness()
    h.endpoints.add("llama", LLAMA)  # even a conflict is not looked at
    verdict = await h.reconcile(endpoint("llama", annotations=policy(value)))
    assert (verdict.status, verdict.reason) == ("Unknown", Reason.RECONCILE_SKIPPED)
    assert "skip" in verdict.message
    assert verdict.fields == {} and verdict.events == []
    assert verdict.finality is Finality.FINAL
    assert h.journal == []


async def test_skip_wins_over_an_invalid_spec() -> None:
    h = Harness()
    verdict = await h.reconcile(endpoint("llama", "bad", annotations=policy("skip")))
    assert verdict.reason is Reason.RECONCILE_SKIPPED


async def test_an_unknown_policy_is_an_invalid_spec_and_calls_nothing() -> None:
    h = Harness()
    verdict = await h.reconcile(endpoint("llama", annotations=policy("ignore")))
    assert (verdict.status, verdict.reason) == ("False", Reason.INVALID_SPEC)
    assert "azureml.dev/reconcile-policy='ignore'" in verdict.message
    assert "manage, skip, detach" in verdict.message
    assert h.journal == []


@pytest.mark.parametrize("value", ["manage", "detach"])
async def test_manage_and_detach_both_create(value: str) -> None:
    h = Harness()
    verdict = await h.reconcile(endpoint("llama", annotations=policy(value)))
    assert verdict.reason is Reason.CREATING
    assert [c.method for c in h.endpoints.writes()] == ["begin_put"]


# -- status ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (ServerlessEndpointStatus, {"inferenceUrl": "https://x"}),  # inferenceUri
        (ServerlessEndpointStatus, {"keySecretName": "x-keys"}),  # keysSecretName
        (ServerlessEndpointStatus, {"subscriptionStatus": "Subscribed"}),  # another kind's field
        (ServerlessEndpointStatus, {"endpointState": 3}),  # the wrong type
        (ModelSubscriptionStatus, {"marketplacePlan": {"publisher": "meta"}}),  # publisherId
        (WorkspaceStatus, {"workspaceID": "x"}),  # workspaceId
    ],
)
def test_a_misspelt_or_mistyped_status_field_raises(model: type[Any], fields: dict[str, Any]) -> None:
    verdict = Verdict.ready(Reason.SUCCEEDED, "ok", **fields)
    with pytest.raises(ValidationError):
        next_status({}, verdict, generation=1, now=T0, model=model)


def test_old_fields_of_another_version_do_not_fail_a_correct_patch() -> None:
    old = {"retiredField": "x", "endpointState": "Online"}
    verdict = Verdict.ready(Reason.SUCCEEDED, "ok", endpointState="Online", keysSecretName="llama-keys")
    patch, _ = next_status(old, verdict, generation=2, now=T0, model=ServerlessEndpointStatus)
    assert patch["keysSecretName"] == "llama-keys"
    assert "endpointState" not in patch


Scenario = Callable[[Harness], Awaitable[tuple[dict[str, Any], Verdict]]]


async def _endpoint_created(h: Harness) -> tuple[dict[str, Any], Verdict]:
    ep = endpoint("llama")
    return ep, await h.reconcile(ep)


async def _endpoint_ready(h: Harness) -> tuple[dict[str, Any], Verdict]:
    ep = endpoint("llama", status={"azureResourceId": ENDPOINT_ID})
    h.endpoints.add("llama", LLAMA, tags=owner_tags(ep))
    return ep, await h.reconcile(ep)


async def _endpoint_adopted(h: Harness) -> tuple[dict[str, Any], Verdict]:
    h.endpoints.add("llama", LLAMA)
    ep = endpoint("llama", annotations=adopt())
    return ep, await h.reconcile(ep)


async def _endpoint_conflict(h: Harness) -> tuple[dict[str, Any], Verdict]:
    h.endpoints.add("llama", LLAMA)
    ep = endpoint("llama")
    return ep, await h.reconcile(ep)


async def _subscription_created(h: Harness) -> tuple[dict[str, Any], Verdict]:
    sub = subscription("llama-sub")
    return sub, await h.reconcile(sub)


async def _subscription_adopted(h: Harness) -> tuple[dict[str, Any], Verdict]:
    h.subscriptions.add("llama-sub", LLAMA, subscription_status="Suspended")
    sub = subscription("llama-sub", annotations=adopt())
    return sub, await h.reconcile(sub)


async def _subscription_not_required(h: Harness) -> tuple[dict[str, Any], Verdict]:
    sub = subscription("phi-sub", PHI)
    return sub, await h.reconcile(sub)


async def _workspace_ready(h: Harness) -> tuple[dict[str, Any], Verdict]:
    h.kube.secrets[("team-a", "sp")] = FakeSecret({"clientId": "c", "clientSecret": "s", "tenantId": "t"})
    ws = workspace("ws", spec={"credential": {"secretRef": {"name": "sp"}}})
    return ws, await h.reconcile(ws)


async def _skipped(h: Harness) -> tuple[dict[str, Any], Verdict]:
    ep = endpoint("llama", annotations=policy("skip"))
    return ep, await h.reconcile(ep)


async def _create_rejected(h: Harness) -> tuple[dict[str, Any], Verdict]:
    h.subscriptions.fail("begin_create", Terminal("offer not available in this market"))
    sub = subscription("llama-sub")
    return sub, await h.reconcile(sub)


@pytest.mark.parametrize(
    "scenario",
    [
        _skipped,
        _create_rejected,
        _endpoint_created,
        _endpoint_ready,
        _endpoint_adopted,
        _endpoint_conflict,
        _subscription_created,
        _subscription_adopted,
        _subscription_not_required,
        _workspace_ready,
    ],
)
async def test_every_verdict_the_runtime_gives_is_a_valid_status_of_its_kind(scenario: Scenario) -> None:
    h = Harness()
    of, verdict = await scenario(h)
    model = ADAPTERS[of["kind"]].info.status_model
    patch, events = next_status(of.get("status"), verdict, generation=1, now=T0, model=model)
    model.model_validate(patch)
    assert patch["conditions"][0]["reason"] == str(verdict.reason)
    assert str(verdict.reason) in [e.reason for e in events]  # Ready changed: it is announced


def test_a_dependency_may_be_named_by_a_nested_field() -> None:
    spec = {"trainingData": {"dataAssetRef": {"name": "chat-train"}}, "subscriptionRef": {"name": "llama"}}
    assert ref_name(spec, "trainingData.dataAssetRef") == "chat-train"
    assert ref_name(spec, "subscriptionRef") == "llama"
    assert ref_name(spec, "validationData.dataAssetRef") is None
    assert ref_name({"trainingData": "not a mapping"}, "trainingData.dataAssetRef") is None
