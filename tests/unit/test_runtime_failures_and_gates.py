"""Dependency gates and failures, in process against fakes: creating waits for the ModelSubscription
it names (an existing endpoint does not), a reference that can never be right is an InvalidSpec, and
every Azure failure class ends in the verdict it should, with or without a retry."""

from __future__ import annotations

from typing import Any

import pytest
from runtime_fakes import (
    DEFAULT_TARGET,
    LLAMA,
    MISTRAL,
    NAMESPACE,
    FakeApiServerless,
    FakeApiSubscription,
    FakeSecret,
    Harness,
    adopt,
    endpoint,
    not_ready_status,
    owner_tags,
    ready_status,
    subscription,
    workspace,
)

from azureml_operator.azure.credentials import CredentialRefused
from azureml_operator.conditions import Reason
from azureml_operator.errors import Recoverable, Terminal, Throttled
from azureml_operator.reconcilers.common import RETRY_UNAVAILABLE, WAIT_DEPENDENCY, Backoff, Finality
from azureml_operator.reconcilers.lookups import ref_name
from azureml_operator.runtime import loop
from azureml_operator.settings import Settings

ENDPOINT_ID = DEFAULT_TARGET.child_id("serverlessEndpoints", "llama")
WITH_SUB = {"subscriptionRef": {"name": "llama-sub"}}


def within(delay: float | None, backoff: Backoff, attempt: int) -> bool:
    """A back-off's delay for `attempt`, its ±20 % jitter allowed."""
    raw = min(backoff.cap, backoff.base * 2**attempt)
    return delay is not None and 0.8 * raw - 0.01 <= delay <= 1.2 * raw + 0.01


def assert_nothing_created(h: Harness) -> None:
    assert h.kube.patches == []
    assert h.endpoints.writes() == []


# -- gates ----------------------------------------------------------------------------------------


async def test_creating_waits_for_a_subscription_that_does_not_exist() -> None:
    h = Harness()
    verdict = await h.reconcile(endpoint("llama", spec=WITH_SUB), attempt=2)
    assert (verdict.status, verdict.reason) == ("False", Reason.WAITING_FOR_SUBSCRIPTION)
    assert (
        verdict.message
        == f"waiting for ModelSubscription llama-sub, which does not exist in namespace {NAMESPACE}"
    )
    assert verdict.finality is Finality.REQUEUE and within(verdict.requeue_after, WAIT_DEPENDENCY, 2)
    assert_nothing_created(h)


async def test_a_subscription_of_that_name_in_another_namespace_does_not_count() -> None:
    h = Harness()
    h.add(subscription("llama-sub", namespace="team-b", status=ready_status()))
    verdict = await h.reconcile(endpoint("llama", spec=WITH_SUB))
    assert verdict.reason is Reason.WAITING_FOR_SUBSCRIPTION
    assert_nothing_created(h)


async def test_creating_waits_for_a_subscription_on_its_way_with_one_message_for_all_its_steps() -> None:
    # Each step of the subscription must not be a status write of the endpoint too.
    messages = set()
    for status in (
        None,
        not_ready_status("Creating", "subscribing"),
        not_ready_status("Creating", "polling"),
    ):
        h = Harness()
        h.add(subscription("llama-sub", status=status))
        verdict = await h.reconcile(endpoint("llama", spec=WITH_SUB))
        assert verdict.reason is Reason.WAITING_FOR_SUBSCRIPTION and verdict.requeue_after is not None
        assert_nothing_created(h)
        messages.add(verdict.message)
    assert messages == {"waiting for ModelSubscription llama-sub to be Ready"}


async def test_waiting_for_a_subscription_that_needs_a_person_says_what_it_reports() -> None:
    h = Harness()
    h.add(
        subscription("llama-sub", status=not_ready_status("SubscriptionInactive", "the offer was suspended"))
    )
    verdict = await h.reconcile(endpoint("llama", spec=WITH_SUB))
    assert verdict.reason is Reason.WAITING_FOR_SUBSCRIPTION
    assert verdict.message == (
        "waiting for ModelSubscription llama-sub to be Ready "
        "(it reports SubscriptionInactive: the offer was suspended)"
    )
    assert_nothing_created(h)


async def test_a_ready_subscription_opens_the_gate() -> None:
    h = Harness()
    h.add(subscription("llama-sub", status=ready_status()))
    verdict = await h.reconcile(endpoint("llama", spec=WITH_SUB))
    assert verdict.reason is Reason.CREATING
    assert [c.method for c in h.endpoints.writes()] == ["begin_put"]


async def test_an_existing_endpoint_is_observed_and_reported_without_waiting_for_its_subscription() -> None:
    h = Harness()
    ep = endpoint("llama", spec=WITH_SUB, status={"azureResourceId": ENDPOINT_ID})
    h.endpoints.add("llama", LLAMA, tags=owner_tags(ep), endpoint_state="Suspended")
    verdict = await h.reconcile(ep)
    assert verdict.reason is Reason.SUBSCRIPTION_INACTIVE
    assert verdict.fields["endpointState"] == "Suspended"
    assert verdict.fields["azureResourceId"] == ENDPOINT_ID
    assert h.endpoints.writes() == []


async def test_while_creation_waits_an_endpoint_with_nothing_recorded_reads_nothing_from_azure() -> None:
    """At scale ARM's read bucket, not its write bucket, ran out first: every endpoint waiting for
    its subscription read its own absence again at each back-off."""
    h = Harness()
    h.add(subscription("llama-sub", status=not_ready_status("Creating", "subscribing the workspace")))
    verdict = await h.reconcile(endpoint("llama", spec=WITH_SUB))
    assert verdict.reason is Reason.WAITING_FOR_SUBSCRIPTION
    assert h.endpoints.calls == [] and [c for c in h.journal if c.who == "azure"] == []


async def test_an_adoption_looks_in_azure_while_the_subscription_is_away() -> None:
    h = Harness()
    h.endpoints.add("llama", LLAMA)
    ep = endpoint("llama", spec=WITH_SUB, annotations=adopt())
    verdict = await h.reconcile(ep)
    assert [c.method for c in h.endpoints.calls][:1] == ["get"]
    assert verdict.reason is Reason.UPDATING  # taken over (tagged) without the subscription


async def test_an_existing_online_endpoint_is_ready_while_its_subscription_is_away() -> None:
    h = Harness()
    ep = endpoint("llama", spec=WITH_SUB, status={"azureResourceId": ENDPOINT_ID})
    h.endpoints.add("llama", LLAMA, tags=owner_tags(ep))
    verdict = await h.reconcile(ep)
    assert (verdict.status, verdict.reason) == ("True", Reason.SUCCEEDED)
    assert (NAMESPACE, "llama-keys") in h.kube.secrets


async def test_a_subscription_ref_to_another_model_is_an_invalid_spec_not_a_wait() -> None:
    h = Harness()
    h.add(subscription("llama-sub", MISTRAL, status=ready_status()))
    verdict = await h.reconcile(endpoint("llama", LLAMA, spec=WITH_SUB))
    assert (verdict.status, verdict.reason) == ("False", Reason.INVALID_SPEC)
    assert MISTRAL in verdict.message and LLAMA in verdict.message
    assert "spec.subscriptionRef" in verdict.message
    assert verdict.finality is Finality.FINAL and verdict.requeue_after is None
    assert_nothing_created(h)


async def test_a_missing_workspace_is_waited_for_without_any_azure_call() -> None:
    h = Harness()
    verdict = await h.reconcile(endpoint("llama", spec={"workspaceRef": {"name": "ws"}}))
    assert verdict.reason is Reason.WAITING_FOR_WORKSPACE
    assert verdict.requeue_after is not None
    assert h.journal == []


async def test_a_reference_to_another_namespace_is_refused_before_anything_is_read() -> None:
    h = Harness()
    h.add(workspace("ws", namespace="team-b"))
    verdict = await h.reconcile(
        endpoint("llama", spec={"workspaceRef": {"name": "ws", "namespace": "team-b"}})
    )
    assert (verdict.status, verdict.reason) == ("False", Reason.INVALID_SPEC)
    assert "spec.workspaceRef names namespace team-b" in verdict.message and NAMESPACE in verdict.message
    assert h.journal == []


async def test_a_workspace_with_an_invalid_spec_is_an_invalid_spec_of_its_users() -> None:
    h = Harness()
    h.add(workspace("ws", spec={"subscriptionId": "not-a-guid"}))
    verdict = await h.reconcile(endpoint("llama", spec={"workspaceRef": {"name": "ws"}}))
    assert verdict.reason is Reason.INVALID_SPEC
    assert "Workspace ws: spec.subscriptionId" in verdict.message
    assert h.journal == []


async def test_an_object_uses_its_workspaces_target_and_service_principal() -> None:
    h = Harness()
    h.kube.secrets[(NAMESPACE, "sp")] = FakeSecret({"clientId": "c", "clientSecret": "s", "tenantId": "t"})
    h.add(workspace("ws", spec={"credential": {"secretRef": {"name": "sp"}}}))
    verdict = await h.reconcile(endpoint("llama", spec={"workspaceRef": {"name": "ws"}}))
    assert verdict.reason is Reason.CREATING
    (connect,) = [c for c in h.journal if c.who == "azure"]
    target, credential = connect.args
    assert (target.resource_group, target.workspace_name) == ("rg-team-a", "ws-team-a")
    assert (credential.kind, credential.client_id, credential.tenant_id) == ("service-principal", "c", "t")
    (patch,) = h.kube.patches
    assert patch.fields["azureResourceId"] == target.child_id("serverlessEndpoints", "llama")
    assert h.azure.endpoints(target).methods() == ["get", "begin_put"]
    assert h.endpoints.calls == []  # nothing went to the default workspace


async def test_a_credential_secret_without_all_its_keys_is_reported_before_azure_is_called() -> None:
    h = Harness()
    h.kube.secrets[(NAMESPACE, "sp")] = FakeSecret({"clientId": "c"})
    h.add(workspace("ws", spec={"credential": {"secretRef": {"name": "sp"}}}))
    verdict = await h.reconcile(endpoint("llama", spec={"workspaceRef": {"name": "ws"}}))
    assert verdict.reason is Reason.INVALID_SPEC
    assert "lacks clientSecret, tenantId" in verdict.message
    assert h.azure_calls() == []


async def test_no_workspace_ref_and_no_default_workspace_is_an_invalid_spec() -> None:
    h = Harness(settings=Settings(namespaces=(NAMESPACE,), dev_credential=True))
    verdict = await h.reconcile(endpoint("llama"))
    assert verdict.reason is Reason.INVALID_SPEC
    assert "--default-workspace" in verdict.message
    assert h.journal == []


async def test_a_refused_credential_is_credential_rejected() -> None:
    h = Harness()
    h.azure.connect_error = CredentialRefused("the static token only works with a loopback ARM endpoint")
    verdict = await h.reconcile(endpoint("llama"))
    assert verdict.reason is Reason.CREDENTIAL_REJECTED
    assert "loopback" in verdict.message
    assert h.endpoints.calls == []


# -- failure classification -----------------------------------------------------------------------


async def test_throttling_is_retried_after_what_azure_asked() -> None:
    h = Harness()
    h.endpoints.fail("get", Throttled("429 Too Many Requests", retry_after=17.0))
    verdict = await h.reconcile(endpoint("llama"))
    assert (verdict.status, verdict.reason) == ("False", Reason.THROTTLED)
    assert verdict.requeue_after == 17.0 and verdict.finality is Finality.REQUEUE
    assert verdict.message == "Azure throttled serverless endpoint llama; retrying in 17 s"
    assert not verdict.keep_status


async def test_a_transient_failure_is_azure_unavailable_and_retried_with_back_off() -> None:
    h = Harness()
    h.endpoints.fail("get", Recoverable("503 Service Unavailable"))
    failed_before = not_ready_status("AzureUnavailable", "503")
    verdict = await h.reconcile(endpoint("llama", status=failed_before), attempt=1)
    assert (verdict.status, verdict.reason) == ("False", Reason.AZURE_UNAVAILABLE)
    assert verdict.message.startswith(
        "serverless endpoint llama failed: 503 Service Unavailable; retrying in "
    )
    assert within(verdict.requeue_after, RETRY_UNAVAILABLE, 1)
    assert not verdict.keep_status


async def test_a_failure_after_many_polls_is_a_first_failure() -> None:
    """The attempt counts every pass that looked again, polls of a long creation included: the
    first 503 among them waits the back-off's first step, not its eighth (found by the fault storm,
    where one 503 after a few polls parked an endpoint for 80 s)."""
    h = Harness()
    h.endpoints.fail("get", Recoverable("503 Service Unavailable"))
    verdict = await h.reconcile(endpoint("llama", status=not_ready_status("Creating")), attempt=7)
    assert verdict.reason is Reason.AZURE_UNAVAILABLE
    assert within(verdict.requeue_after, RETRY_UNAVAILABLE, 0)


async def test_a_transient_create_failure_keeps_the_record_in_case_azure_made_it() -> None:
    h = Harness()
    h.endpoints.fail("begin_put", Recoverable("504 Gateway Timeout"))
    verdict = await h.reconcile(endpoint("llama"))
    assert verdict.reason is Reason.AZURE_UNAVAILABLE
    (record,) = h.kube.patches
    assert record.fields["azureResourceId"] == ENDPOINT_ID


async def test_a_terminal_failure_reports_its_reason_and_waits_for_a_person() -> None:
    h = Harness()
    h.endpoints.fail(
        "begin_put", Terminal("quota of serverless endpoints reached", reason=Reason.QUOTA_EXCEEDED)
    )
    verdict = await h.reconcile(endpoint("llama"))
    assert (verdict.status, verdict.reason) == ("False", Reason.QUOTA_EXCEEDED)
    assert verdict.message == "serverless endpoint llama failed: quota of serverless endpoints reached"
    assert verdict.finality is Finality.FINAL and verdict.requeue_after is None


async def test_a_terminal_failure_without_a_reason_is_azure_rejected() -> None:
    h = Harness()
    h.endpoints.fail("get", Terminal("400 Bad Request"))
    verdict = await h.reconcile(endpoint("llama"))
    assert verdict.reason is Reason.AZURE_REJECTED
    assert verdict.finality is Finality.FINAL


async def test_a_missing_subscription_gets_the_kinds_hint_and_is_looked_at_again() -> None:
    h = Harness()
    h.endpoints.fail("begin_put", Terminal("no Marketplace subscription", reason=Reason.SUBSCRIPTION_MISSING))
    verdict = await h.reconcile(endpoint("llama"))
    assert verdict.reason is Reason.SUBSCRIPTION_MISSING
    assert "create a ModelSubscription for the model" in verdict.message
    assert verdict.requeue_after is not None


@pytest.mark.parametrize("attempt", range(loop.HOLD_READY_ATTEMPTS))
async def test_a_ready_object_keeps_its_status_through_the_first_transient_read_failures(
    attempt: int,
) -> None:
    h = Harness()
    ep = endpoint("llama", status=ready_status(azureResourceId=ENDPOINT_ID))
    h.endpoints.fail("get", Recoverable("500 Internal Server Error"))
    verdict = await h.reconcile(ep, attempt=attempt)
    assert verdict.keep_status
    assert verdict.reason is Reason.AZURE_UNAVAILABLE
    assert within(verdict.requeue_after, RETRY_UNAVAILABLE, attempt)


async def test_a_ready_object_reports_the_failure_once_it_has_lasted() -> None:
    h = Harness()
    ep = endpoint("llama", status=ready_status(azureResourceId=ENDPOINT_ID))
    h.endpoints.fail("get", Recoverable("500 Internal Server Error"))
    verdict = await h.reconcile(ep, attempt=loop.HOLD_READY_ATTEMPTS)
    assert not verdict.keep_status
    assert (verdict.status, verdict.reason) == ("False", Reason.AZURE_UNAVAILABLE)
    assert "retrying in" in verdict.message
    assert verdict.requeue_after is not None


async def test_a_ready_object_whose_keys_cannot_be_read_keeps_its_status() -> None:
    h = Harness()
    ep = endpoint("llama", status=ready_status(azureResourceId=ENDPOINT_ID))
    h.endpoints.add("llama", LLAMA, tags=owner_tags(ep))
    h.endpoints.fail("keys", Recoverable("502 Bad Gateway"))
    verdict = await h.reconcile(ep)
    assert verdict.keep_status
    assert h.kube.secrets == {}


async def test_a_not_ready_object_does_not_hold_a_status_it_never_had() -> None:
    h = Harness()
    ep = endpoint("llama", status=not_ready_status("Creating"))
    h.endpoints.fail("get", Recoverable("500 Internal Server Error"))
    verdict = await h.reconcile(ep)
    assert not verdict.keep_status
    assert verdict.reason is Reason.AZURE_UNAVAILABLE


async def test_a_keys_secret_owned_by_someone_else_is_a_conflict() -> None:
    h = Harness()
    ep = endpoint("llama", status={"azureResourceId": ENDPOINT_ID})
    h.endpoints.add("llama", LLAMA, tags=owner_tags(ep))
    h.kube.secrets[(NAMESPACE, "llama-keys")] = FakeSecret({"x": "y"}, [{"uid": "someone-else"}])
    verdict = await h.reconcile(ep)
    assert (verdict.status, verdict.reason) == ("False", Reason.CONFLICT)
    assert "Secret llama-keys" in verdict.message
    assert h.kube.secrets[(NAMESPACE, "llama-keys")].data == {"x": "y"}
    assert "keysSecretName" not in verdict.fields


async def test_a_ready_object_keeps_its_status_through_a_first_throttled_read() -> None:
    h = Harness()
    ep = endpoint("llama", status=ready_status(azureResourceId=ENDPOINT_ID))
    h.endpoints.fail("get", Throttled("429 Too Many Requests", retry_after=10.0))
    verdict = await h.reconcile(ep, attempt=0)
    assert verdict.requeue_after == 10.0
    assert verdict.keep_status


async def test_a_subscription_ref_to_another_workspaces_subscription_is_an_invalid_spec() -> None:
    h = Harness()
    h.add(workspace("ws-a"), workspace("ws-b", spec={"workspaceName": "ws-team-b"}))
    h.add(subscription("llama-sub", LLAMA, spec={"workspaceRef": {"name": "ws-a"}}, status=ready_status()))
    ep = endpoint("llama", LLAMA, spec={"workspaceRef": {"name": "ws-b"}, **WITH_SUB})
    verdict = await h.reconcile(ep)
    assert verdict.reason is Reason.INVALID_SPEC
    assert h.kube.patches == []
    assert all(c.method != "begin_put" for c in h.journal)


# -- a kind that lives inside another object's resource ------------------------------------------


class _InsideItsSubscription(FakeApiServerless):
    """A stand-in for kinds such as OnlineDeployment: its name and workspace come from the object it
    names (here, its ModelSubscription), not from its own spec."""

    def azure_name(self, obj: Any, spec: Any, refs: Any) -> str:
        parent = refs.get("subscriptionRef")
        return f"{parent.name}-{obj.name}" if parent is not None else obj.name

    def workspace_of(self, spec: Any, refs: Any) -> str | None:
        parent = refs.get("subscriptionRef")
        return ref_name(parent.spec, "workspaceRef") if parent is not None else None

    def dependency_mismatch(self, dependency: Any, entry: Any, obj: Any) -> str | None:
        return None  # its parent's workspace is its own, by construction


async def test_a_kind_may_take_its_name_and_workspace_from_the_object_it_names() -> None:
    h = Harness()
    h.add(workspace("ws"), subscription(spec={"workspaceRef": {"name": "ws"}}, status=ready_status()))
    ep = endpoint("llama", spec=WITH_SUB)
    adapter = _InsideItsSubscription()
    verdict = await loop.reconcile(adapter, h.obj(ep), h.context(ep), 0)
    assert verdict.reason is Reason.CREATING
    [connect] = [c for c in h.journal if c.who == "azure"]
    assert connect.args[0].workspace_name == "ws-team-a"  # the subscription's Workspace, not the default
    target = connect.args[0]
    assert [c.args[0] for c in h.azure.endpoints(target).calls if c.method == "begin_put"] == [
        "llama-sub-llama"
    ]


class _SeesItsDependents(FakeApiSubscription):
    """Records what the runtime tells it of the objects that name it (as an endpoint its deployments)."""

    seen: list[Any] = []

    def desired(self, obj: Any, spec: Any, refs: Any) -> Any:
        self.seen.append(sorted(e.name for e in refs.dependents))
        return super().desired(obj, spec, refs)


async def test_an_object_is_told_which_objects_name_it_by_their_declared_dependency() -> None:
    h = Harness()
    sub = subscription()
    h.add(sub, endpoint("llama", spec=WITH_SUB), endpoint("other", spec={"subscriptionRef": {"name": "x"}}))
    h.add(endpoint("elsewhere", spec=WITH_SUB, namespace="team-b"))
    adapter = _SeesItsDependents()
    await loop.reconcile(adapter, h.obj(sub), h.context(sub), 0)
    assert adapter.seen == [["llama"]]  # not one naming another subscription, nor another namespace's
