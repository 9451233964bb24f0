"""Deleting an object, in process against fakes: what is retained is left alone, what this object made
is deleted and waited for, a failure that needs a person keeps the finalizer and says what to do, and a
Workspace stays until nothing uses it."""

from __future__ import annotations

from typing import Any

import pytest
from runtime_fakes import (
    DEFAULT_TARGET,
    LLAMA,
    NAMESPACE,
    Call,
    FakeSecret,
    Harness,
    endpoint,
    event_reasons,
    not_ready_status,
    owner_tags,
    policy,
    ready_status,
    subscription,
    uid_of,
    workspace,
)

from azureml_operator.conditions import Reason
from azureml_operator.errors import Recoverable, Terminal, Throttled
from azureml_operator.kinds.workspace import CREDENTIAL_FINALIZER
from azureml_operator.reconcilers.common import Finality
from azureml_operator.runtime.loop import DETACH_HINT

ENDPOINT_ID = DEFAULT_TARGET.child_id("serverlessEndpoints", "llama")
SUBSCRIPTION_ID = DEFAULT_TARGET.child_id("marketplaceSubscriptions", "llama-sub")


def owned_endpoint(h: Harness, **kwargs: Any) -> dict[str, Any]:
    """An endpoint this object created: its id recorded, its tags on the resource in Azure."""
    status = kwargs.pop("status", {"azureResourceId": ENDPOINT_ID})
    ep = endpoint("llama", status=status, deleting=True, **kwargs)
    h.endpoints.add("llama", LLAMA, tags=owner_tags(ep))
    return ep


# -- what is not deleted --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "annotations", "why"),
    [
        ({"deletionPolicy": "Retain"}, {}, "deletionPolicy is Retain"),
        ({}, policy("detach"), "azureml.dev/reconcile-policy is detach"),
        ({}, policy("skip"), "azureml.dev/reconcile-policy is skip"),
    ],
)
async def test_a_retained_resource_is_left_in_azure_and_the_object_released(
    spec: dict[str, str], annotations: dict[str, str], why: str
) -> None:
    h = Harness()
    ep = owned_endpoint(h, spec=spec, annotations=annotations)
    verdict = await h.finalize(ep)

    assert verdict.released and verdict.finality is Finality.RELEASED
    assert event_reasons(verdict) == ["Retained"]
    assert verdict.events[0].message == f"left {ENDPOINT_ID} in Azure: {why}"
    assert h.journal == []  # not even a read
    assert "llama" in h.endpoints.resources


async def test_nothing_recorded_releases_at_once_without_asking_azure() -> None:
    h = Harness()
    h.endpoints.add("llama", LLAMA)  # someone's endpoint of the same name
    verdict = await h.finalize(endpoint("llama", deleting=True))
    assert verdict.released
    assert verdict.message == "nothing in Azure to delete"
    assert verdict.events == []
    assert h.journal == []


async def test_a_retained_object_that_recorded_nothing_posts_no_retained_event() -> None:
    h = Harness()
    verdict = await h.finalize(endpoint("llama", spec={"deletionPolicy": "Retain"}, deleting=True))
    assert verdict.released
    assert verdict.events == []


async def test_a_microsoft_model_subscription_deletes_nothing() -> None:
    h = Harness()
    sub = subscription(
        "phi-sub",
        "azureml://registries/azureml/models/Phi-4-mini-instruct",
        status={"azureResourceId": SUBSCRIPTION_ID},
        deleting=True,
    )
    verdict = await h.finalize(sub)
    assert verdict.released
    assert h.journal == []


# -- deleting what this object made ---------------------------------------------------------------


async def test_an_owned_endpoint_is_deleted_and_waited_for_until_azure_reports_it_gone() -> None:
    h = Harness()
    ep = owned_endpoint(h)

    first = await h.finalize(ep, attempt=0)
    assert not first.released
    assert (first.status, first.reason) == ("False", Reason.DELETING)
    assert first.finality is Finality.REQUEUE and first.requeue_after is not None
    assert event_reasons(first) == ["Deleting"]
    assert h.endpoints.methods() == ["get", "begin_delete"]

    second = await h.finalize(ep, attempt=1)  # Azure is still deleting it: no second DELETE
    assert not second.released and second.reason is Reason.DELETING
    assert second.requeue_after is not None
    assert second.events == []
    assert h.endpoints.methods() == ["get", "begin_delete", "get"]

    h.endpoints.finish_deletions()
    third = await h.finalize(ep, attempt=2)
    assert third.released
    assert third.message == "serverless endpoint llama is gone"
    assert h.endpoints.methods() == ["get", "begin_delete", "get", "get"]
    assert h.kube_calls() == []


async def test_an_owned_subscription_is_deleted_and_its_endpoints_are_warned() -> None:
    h = Harness()
    user = endpoint("chat", LLAMA)
    other_model = endpoint("other", "azureml://registries/azureml-mistral/models/Mistral-large")
    h.add(user, other_model)
    sub = subscription("llama-sub", status={"azureResourceId": SUBSCRIPTION_ID}, deleting=True)
    h.subscriptions.add("llama-sub", LLAMA)
    verdict = await h.finalize(sub)

    assert not verdict.released and verdict.reason is Reason.DELETING
    assert h.subscriptions.methods() == ["get", "begin_delete"]
    assert event_reasons(verdict) == ["Deleting", "SubscriptionInUse", "SubscriptionDeleted"]
    assert "chat" in verdict.events[1].message and "other" not in verdict.events[1].message
    assert verdict.events[2].regarding is not None
    assert verdict.events[2].regarding["metadata"]["uid"] == uid_of(user)


async def test_an_unknown_policy_on_deletion_still_deletes_rather_than_leak() -> None:
    h = Harness()
    ep = owned_endpoint(h, annotations=policy("detatch"))
    verdict = await h.finalize(ep)
    assert not verdict.released
    assert h.endpoints.methods() == ["get", "begin_delete"]


async def test_a_resource_already_gone_releases() -> None:
    h = Harness()
    verdict = await h.finalize(endpoint("llama", status={"azureResourceId": ENDPOINT_ID}, deleting=True))
    assert verdict.released
    assert h.endpoints.methods() == ["get"]


async def test_a_gone_workspace_releases_with_the_resource() -> None:
    h = Harness()
    ep = owned_endpoint(h)
    h.endpoints.fail("get", Terminal("workspace ws-default not found", reason=Reason.WORKSPACE_NOT_FOUND))
    verdict = await h.finalize(ep)
    assert verdict.released
    assert "workspace is gone" in verdict.message


# -- what is not this object's to delete ----------------------------------------------------------


async def test_an_untagged_subscription_claimed_by_another_object_is_released_without_deleting() -> None:
    h = Harness()
    theirs = subscription("llama-sub", namespace="team-b", status={"azureResourceId": SUBSCRIPTION_ID})
    mine = subscription("llama-sub", status={"azureResourceId": SUBSCRIPTION_ID}, deleting=True)
    h.add(theirs, mine)
    h.subscriptions.add("llama-sub", LLAMA)
    verdict = await h.finalize(mine)
    assert verdict.released
    assert "not created by this object" in verdict.message
    assert h.subscriptions.methods() == ["get"]
    assert "llama-sub" in h.subscriptions.resources


async def test_a_conflicting_subscription_that_recorded_nothing_is_released_without_asking_azure() -> None:
    h = Harness()
    theirs = subscription("llama-sub", namespace="team-b", status={"azureResourceId": SUBSCRIPTION_ID})
    h.add(theirs)
    h.subscriptions.add("llama-sub", LLAMA)
    mine = subscription("llama-sub", status=not_ready_status("Conflict"), deleting=True)
    verdict = await h.finalize(mine)
    assert verdict.released
    assert h.journal == []


async def test_a_forged_status_id_does_not_let_deletion_delete_a_tagged_strangers_endpoint() -> None:
    h = Harness()
    stranger_id = DEFAULT_TARGET.child_id("serverlessEndpoints", "theirs")
    h.endpoints.add("theirs", LLAMA, tags=owner_tags(endpoint("theirs", namespace="team-b")))
    forged = endpoint(
        "mine", spec={"endpointName": "theirs"}, status={"azureResourceId": stranger_id}, deleting=True
    )
    verdict = await h.finalize(forged)
    assert verdict.released
    assert "left alone" in verdict.message
    assert h.endpoints.methods() == ["get"]
    assert "theirs" in h.endpoints.resources


# -- deletion that needs a person -----------------------------------------------------------------


async def test_a_terminal_failure_keeps_the_finalizer_and_says_what_to_do() -> None:
    h = Harness()
    ep = owned_endpoint(h)
    h.endpoints.fail(
        "begin_delete", Terminal("the caller may not delete endpoints", reason=Reason.AZURE_REJECTED)
    )
    verdict = await h.finalize(ep)

    assert not verdict.released
    assert (verdict.status, verdict.reason) == ("False", Reason.DELETION_BLOCKED)
    assert "the caller may not delete endpoints" in verdict.message
    assert DETACH_HINT in verdict.message
    assert verdict.finality is Finality.REQUEUE and verdict.requeue_after is not None
    assert "llama" in h.endpoints.resources


async def test_a_credential_the_deletion_cannot_use_keeps_the_finalizer() -> None:
    h = Harness()
    ws = workspace("ws", spec={"credential": {"secretRef": {"name": "sp"}}})
    h.add(ws)
    ep = owned_endpoint(h, spec={"workspaceRef": {"name": "ws"}})
    verdict = await h.finalize(ep)
    assert not verdict.released
    assert verdict.reason is Reason.DELETION_BLOCKED
    assert "credential Secret sp" in verdict.message and DETACH_HINT in verdict.message
    assert h.azure_calls() == []


async def test_a_missing_workspace_is_waited_for_before_deleting() -> None:
    h = Harness()
    ep = owned_endpoint(h, spec={"workspaceRef": {"name": "ws"}})
    verdict = await h.finalize(ep)
    assert not verdict.released
    assert verdict.reason is Reason.WAITING_FOR_WORKSPACE
    assert verdict.message.startswith("cannot delete serverless endpoint llama yet")
    assert verdict.requeue_after is not None


async def test_an_invalid_spec_keeps_the_finalizer_and_names_the_field() -> None:
    h = Harness()
    ep = endpoint("llama", "not-a-model-id", status={"azureResourceId": ENDPOINT_ID}, deleting=True)
    verdict = await h.finalize(ep)
    assert not verdict.released
    assert verdict.reason is Reason.DELETION_BLOCKED
    assert "spec.modelId" in verdict.message and DETACH_HINT in verdict.message
    assert h.journal == []


async def test_throttling_during_deletion_is_retried_after_what_azure_asked() -> None:
    h = Harness()
    ep = owned_endpoint(h)
    h.endpoints.fail("begin_delete", Throttled("429", retry_after=17.0))
    verdict = await h.finalize(ep)
    assert not verdict.released
    assert verdict.reason is Reason.THROTTLED
    assert verdict.requeue_after == 17.0


async def test_a_transient_failure_during_deletion_is_retried() -> None:
    h = Harness()
    ep = owned_endpoint(h, status={"azureResourceId": ENDPOINT_ID, **not_ready_status("Updating")})
    h.endpoints.fail("get", Recoverable("503 Service Unavailable"))
    verdict = await h.finalize(ep)
    assert not verdict.released
    assert verdict.reason is Reason.AZURE_UNAVAILABLE
    assert "retrying in" in verdict.message
    assert verdict.requeue_after is not None


async def test_a_transient_failure_while_deleting_a_ready_object_is_retried_not_blocked() -> None:
    h = Harness()
    ep = owned_endpoint(h, status=ready_status(azureResourceId=ENDPOINT_ID))
    h.endpoints.fail("get", Recoverable("503 Service Unavailable"))
    verdict = await h.finalize(ep, attempt=0)
    assert not verdict.released
    assert verdict.requeue_after is not None
    assert verdict.reason is Reason.AZURE_UNAVAILABLE


# -- a Workspace and its users --------------------------------------------------------------------


async def test_a_workspace_is_held_until_its_users_are_gone_then_frees_its_credential_secret() -> None:
    h = Harness()
    h.kube.secrets[(NAMESPACE, "sp")] = FakeSecret(
        {"clientId": "c", "clientSecret": "s", "tenantId": "t"}, finalizers=[CREDENTIAL_FINALIZER]
    )
    ws = workspace("ws", spec={"credential": {"secretRef": {"name": "sp"}}}, deleting=True)
    ep = endpoint("llama", spec={"workspaceRef": {"name": "ws"}}, deleting=True)
    sub = subscription("llama-sub", spec={"workspaceRef": {"name": "ws"}})
    elsewhere = endpoint("llama", namespace="team-b", spec={"workspaceRef": {"name": "ws"}})
    h.add(ws, ep, sub, elsewhere)

    held = await h.finalize(ws)
    assert not held.released
    assert held.reason is Reason.DELETING and held.requeue_after is not None
    assert "2 object(s)" in held.message
    assert "ModelSubscription llama-sub, ServerlessEndpoint llama" in held.message
    assert h.journal == []

    h.remove(ep)
    h.remove(sub)
    released = await h.finalize(ws)
    assert released.released
    assert h.journal == [Call("kube", "set_secret_finalizer", (NAMESPACE, "sp", CREDENTIAL_FINALIZER, False))]
    assert h.kube.secrets[(NAMESPACE, "sp")].finalizers == []
