"""One reconcile pass of the runtime, in process against fakes: a creation is recorded before Azure is
asked, what exists is adopted only when asked and only when nobody else holds it, and a status that
names a stranger's resource does not make it ours."""

from __future__ import annotations

from dataclasses import replace

from runtime_fakes import (
    DEFAULT_TARGET,
    LLAMA,
    MISTRAL,
    NAMESPACE,
    PHI,
    Call,
    FakeSecret,
    Harness,
    adopt,
    endpoint,
    event_reasons,
    owner_tags,
    subscription,
    uid_of,
    workspace,
)

from azureml_operator.azure.client import OWNER_TAG, OWNER_UID_TAG, DesiredServerless
from azureml_operator.conditions import Reason
from azureml_operator.errors import Terminal
from azureml_operator.reconcilers.common import Finality

ENDPOINT_ID = DEFAULT_TARGET.child_id("serverlessEndpoints", "llama")
SUBSCRIPTION_ID = DEFAULT_TARGET.child_id("marketplaceSubscriptions", "llama-sub")


# -- creating -------------------------------------------------------------------------------------


async def test_the_expected_id_is_recorded_for_this_uid_before_azure_is_asked_to_create() -> None:
    h = Harness()
    ep = endpoint("llama")
    verdict = await h.reconcile(ep)

    writes = [c for c in h.journal if c.method in ("patch_status", "begin_put")]
    assert [c.method for c in writes] == ["patch_status", "begin_put"]
    (record,) = h.kube.patches
    assert (record.fields["azureResourceId"], record.uid) == (ENDPOINT_ID, uid_of(ep))
    # The same write reports the creation: the pass's own status write then has nothing to add.
    assert [(c["reason"], c["message"]) for c in record.fields["conditions"]] == [
        ("Creating", verdict.message)
    ]
    assert verdict.written is not None and verdict.written.status == record.fields
    assert writes[1:] == [
        Call(
            "serverlessEndpoints",
            "begin_put",
            (
                "llama",
                DesiredServerless(model_id=LLAMA, auth_mode="Key", content_safety=None, tags=owner_tags(ep)),
            ),
        ),
    ]
    assert (verdict.status, verdict.reason) == ("False", Reason.CREATING)
    assert verdict.fields["azureResourceId"] == ENDPOINT_ID
    assert verdict.finality is Finality.REQUEUE and verdict.requeue_after is not None
    assert event_reasons(verdict) == ["Creating"]


async def test_the_create_goes_to_the_default_workspace_with_the_operators_dev_identity() -> None:
    h = Harness()
    await h.reconcile(endpoint("llama"))
    (connect,) = [c for c in h.journal if c.who == "azure"]
    target, credential = connect.args
    assert target == DEFAULT_TARGET
    assert credential.kind == "static"


async def test_a_subscription_is_recorded_before_it_is_created() -> None:
    h = Harness()
    sub = subscription("llama-sub")
    verdict = await h.reconcile(sub)
    assert [(c.who, c.method) for c in h.journal] == [
        ("azure", "get"),
        ("marketplaceSubscriptions", "get"),
        ("kube", "patch_status"),
        ("marketplaceSubscriptions", "begin_create"),
    ]
    (patch,) = h.kube.patches
    assert (patch.fields["azureResourceId"], patch.uid) == (SUBSCRIPTION_ID, uid_of(sub))
    assert patch.fields["conditions"][0]["reason"] == "Creating"
    assert h.subscriptions.calls[-1] == Call("marketplaceSubscriptions", "begin_create", ("llama-sub", LLAMA))
    assert verdict.reason is Reason.CREATING


async def test_a_terminal_create_failure_takes_the_record_back_and_reports_its_reason() -> None:
    h = Harness()
    h.endpoints.fail("begin_put", Terminal("the name is taken in the region", reason=Reason.NAME_TAKEN))
    ep = endpoint("llama")
    verdict = await h.reconcile(ep)

    record, back = h.kube.patches
    assert record.fields["azureResourceId"] == ENDPOINT_ID
    # Taken back to the status before the pass (none): the failure is reported over that.
    assert back.fields == {k: None for k in record.fields}
    assert all(p.uid == uid_of(ep) for p in h.kube.patches)
    order = [c.method for c in h.journal if c.method in ("patch_status", "begin_put")]
    assert order == ["patch_status", "begin_put", "patch_status"]
    assert (verdict.status, verdict.reason) == ("False", Reason.NAME_TAKEN)
    assert "the name is taken in the region" in verdict.message
    assert "azureResourceId" not in verdict.fields
    assert verdict.finality is Finality.FINAL and verdict.requeue_after is None


async def test_an_endpoint_made_by_this_object_is_published_and_ready() -> None:
    h = Harness()
    ep = endpoint("llama", status={"azureResourceId": ENDPOINT_ID})
    h.endpoints.add("llama", LLAMA, tags=owner_tags(ep))
    verdict = await h.reconcile(ep)

    assert (verdict.status, verdict.reason) == ("True", Reason.SUCCEEDED)
    assert verdict.fields["azureResourceId"] == ENDPOINT_ID
    assert verdict.fields["keysSecretName"] == "llama-keys"
    secret = h.kube.secrets[(NAMESPACE, "llama-keys")]
    assert secret.data == {
        "primaryKey": "llama-key-1",
        "secondaryKey": "llama-key-2",
        "endpoint": "https://llama.eastus2.models.ai.azure.com",
    }
    assert [r["uid"] for r in secret.owner_references] == [uid_of(ep)]
    assert event_reasons(verdict) == ["KeysPublished"]
    assert h.endpoints.writes() == []
    assert verdict.finality is Finality.FINAL


async def test_a_microsoft_model_needs_no_subscription_and_no_azure_call() -> None:
    h = Harness()
    verdict = await h.reconcile(subscription("phi-sub", PHI))
    assert (verdict.status, verdict.reason) == ("True", Reason.NOT_REQUIRED)
    assert "Microsoft model" in verdict.message
    assert h.journal == []
    assert verdict.finality is Finality.FINAL


async def test_a_workspace_is_read_with_its_credential_secret_which_gets_a_finalizer() -> None:
    h = Harness()
    h.kube.secrets[(NAMESPACE, "sp")] = FakeSecret({"clientId": "c", "clientSecret": "s", "tenantId": "t"})
    ws = workspace("ws", spec={"credential": {"secretRef": {"name": "sp"}}})
    verdict = await h.reconcile(ws)

    assert (verdict.status, verdict.reason) == ("True", Reason.SUCCEEDED)
    assert verdict.fields == {"location": "eastus2", "workspaceId": "11111111-2222-3333-4444-555555555555"}
    (connect,) = [c for c in h.journal if c.who == "azure"]
    assert connect.args[0].workspace_name == "ws-team-a"
    assert connect.args[1].kind == "service-principal" and connect.args[1].client_id == "c"
    assert h.kube.secrets[(NAMESPACE, "sp")].finalizers == ["azureml.dev/credential-in-use"]
    assert "the service principal in Secret sp" in verdict.message


# -- adopting -------------------------------------------------------------------------------------


async def test_an_untagged_endpoint_is_adopted_when_asked_and_tagged_by_an_update() -> None:
    h = Harness()
    h.endpoints.add("llama", LLAMA, tags={"team": "ml"})
    ep = endpoint("llama", annotations=adopt())
    verdict = await h.reconcile(ep)

    (put,) = [c for c in h.endpoints.calls if c.method == "begin_put"]
    desired = put.args[1]
    assert desired.tags == {"team": "ml", **owner_tags(ep)}  # someone else's tags are kept
    assert h.kube.patches == []  # nothing is created: nothing to record first
    assert verdict.reason is Reason.UPDATING
    assert verdict.fields["azureResourceId"] == ENDPOINT_ID
    assert event_reasons(verdict) == ["Updating", "Adopted"]
    assert "azureml.dev/adopt" in verdict.events[-1].message


async def test_adopting_asks_the_whole_cluster_whether_another_object_claims_the_resource() -> None:
    h = Harness()
    h.endpoints.add("llama", LLAMA)
    h.kube.cluster_claims[ENDPOINT_ID.lower()] = [("team-b", "llama", "uid-elsewhere")]
    verdict = await h.reconcile(endpoint("llama", annotations=adopt()))
    assert verdict.reason is Reason.CONFLICT
    assert h.kube_calls("claims") == [Call("kube", "claims", ("serverlessendpoints", ENDPOINT_ID))]
    assert h.endpoints.writes() == []


async def test_when_the_cluster_cannot_be_asked_nothing_is_adopted() -> None:
    h = Harness()
    h.endpoints.add("llama", LLAMA)
    h.kube.claims_error = PermissionError("cannot list serverlessendpoints at the cluster scope")
    verdict = await h.reconcile(endpoint("llama", annotations=adopt()))
    assert verdict.reason is Reason.CONFLICT
    assert h.endpoints.writes() == []


async def test_scoped_to_its_namespaces_it_adopts_nothing_and_never_asks_the_cluster() -> None:
    h = Harness(settings=replace(Harness().settings, cluster_wide_claims=False))
    h.endpoints.add("llama", LLAMA)
    verdict = await h.reconcile(endpoint("llama", annotations=adopt()))
    assert verdict.reason is Reason.CONFLICT and "--cluster-wide-claims" in verdict.message
    assert h.kube_calls("claims") == [] and h.endpoints.writes() == []


async def test_an_untagged_endpoint_without_the_annotation_is_a_conflict_and_nothing_is_written() -> None:
    h = Harness()
    h.endpoints.add("llama", LLAMA)
    verdict = await h.reconcile(endpoint("llama"))
    assert (verdict.status, verdict.reason) == ("False", Reason.CONFLICT)
    assert 'azureml.dev/adopt: "true"' in verdict.message
    assert h.endpoints.methods() == ["get"]
    assert h.kube_calls() == []
    assert verdict.fields == {}
    assert verdict.finality is Finality.FINAL


async def test_an_existing_subscription_is_adopted_when_asked() -> None:
    h = Harness()
    h.subscriptions.add("llama-sub", LLAMA)
    verdict = await h.reconcile(subscription("llama-sub", annotations=adopt()))
    assert (verdict.status, verdict.reason) == ("True", Reason.SUCCEEDED)
    assert verdict.fields["azureResourceId"] == SUBSCRIPTION_ID
    assert verdict.fields["subscriptionStatus"] == "Subscribed"
    assert event_reasons(verdict) == ["Adopted"]
    assert h.subscriptions.writes() == []


async def test_an_existing_subscription_without_the_annotation_is_a_conflict() -> None:
    h = Harness()
    h.subscriptions.add("llama-sub", LLAMA)
    verdict = await h.reconcile(subscription("llama-sub"))
    assert verdict.reason is Reason.CONFLICT
    assert "azureResourceId" not in verdict.fields
    assert h.subscriptions.writes() == [] and h.kube.patches == []


# -- tenancy --------------------------------------------------------------------------------------


async def test_an_endpoint_tagged_by_another_live_object_in_another_namespace_is_never_adopted() -> None:
    h = Harness()
    theirs = endpoint("llama", namespace="team-b")
    h.add(theirs)
    h.endpoints.add("llama", LLAMA, tags=owner_tags(theirs))
    verdict = await h.reconcile(endpoint("llama", annotations=adopt()))

    assert verdict.reason is Reason.CONFLICT
    assert "azureResourceId" not in verdict.fields
    assert "Adopted" not in event_reasons(verdict)
    assert h.endpoints.writes() == []
    assert h.kube_calls() == []  # the index already says the owner is alive


async def test_an_endpoint_tagged_by_a_live_object_the_index_does_not_hold_is_not_adopted() -> None:
    h = Harness()
    h.endpoints.add("llama", LLAMA, tags={OWNER_TAG: "team-b/llama", OWNER_UID_TAG: "uid-b"})
    h.kube.uids[("serverlessendpoints", "team-b", "llama")] = "uid-b"
    verdict = await h.reconcile(endpoint("llama", annotations=adopt()))
    assert verdict.reason is Reason.CONFLICT
    assert h.kube_calls("object_uid") == [
        Call("kube", "object_uid", ("serverlessendpoints", "team-b", "llama"))
    ]
    assert h.endpoints.writes() == []


async def test_an_endpoint_tagged_by_an_object_that_no_longer_exists_may_be_adopted() -> None:
    h = Harness()
    h.endpoints.add("llama", LLAMA, tags={OWNER_TAG: "team-b/llama", OWNER_UID_TAG: "uid-gone"})
    ep = endpoint("llama", annotations=adopt())
    verdict = await h.reconcile(ep)

    assert verdict.reason is Reason.UPDATING
    assert verdict.fields["azureResourceId"] == ENDPOINT_ID
    assert "Adopted" in event_reasons(verdict)
    (put,) = [c for c in h.endpoints.calls if c.method == "begin_put"]
    assert put.args[1].tags == owner_tags(ep)


async def test_an_endpoint_tagged_by_an_earlier_object_of_the_same_name_may_be_adopted() -> None:
    h = Harness()
    ep = endpoint("llama", annotations=adopt())
    h.endpoints.add("llama", LLAMA, tags={OWNER_TAG: f"{NAMESPACE}/llama", OWNER_UID_TAG: "uid-earlier"})
    h.kube.uids[("serverlessendpoints", NAMESPACE, "llama")] = uid_of(ep)  # the name is ours now
    verdict = await h.reconcile(ep)
    assert verdict.reason is Reason.UPDATING
    assert "Adopted" in event_reasons(verdict)
    assert [c.method for c in h.endpoints.writes()] == ["begin_put"]


async def test_when_the_tagged_owner_cannot_be_looked_up_it_counts_as_alive() -> None:
    h = Harness()
    h.endpoints.add("llama", LLAMA, tags={OWNER_TAG: "team-b/llama", OWNER_UID_TAG: "uid-b"})
    h.kube.object_uid_error = PermissionError("forbidden")
    verdict = await h.reconcile(endpoint("llama", annotations=adopt()))
    assert verdict.reason is Reason.CONFLICT
    assert h.endpoints.writes() == []


async def test_an_untagged_subscription_claimed_in_another_objects_status_is_a_conflict_even_with_adopt() -> (
    None
):
    h = Harness()
    theirs = subscription(
        "llama-sub", namespace="team-b", status={"azureResourceId": SUBSCRIPTION_ID.upper()}
    )
    h.add(theirs)
    h.subscriptions.add("llama-sub", LLAMA)
    mine = subscription("llama-sub", annotations=adopt())
    verdict = await h.reconcile(mine)

    assert verdict.reason is Reason.CONFLICT
    assert "azureResourceId" not in verdict.fields
    assert h.subscriptions.writes() == [] and h.kube_calls() == []


async def test_a_subscription_claimed_by_two_objects_is_ours_for_neither() -> None:
    """Both record the id (one of them forged or copied it): neither may delete it."""
    h = Harness()
    theirs = subscription("llama-sub", namespace="team-b", status={"azureResourceId": SUBSCRIPTION_ID})
    mine = subscription("llama-sub", status={"azureResourceId": SUBSCRIPTION_ID})
    h.add(theirs, mine)
    h.subscriptions.add("llama-sub", LLAMA)
    verdict = await h.reconcile(mine)
    assert verdict.reason is Reason.CONFLICT


async def test_a_forged_status_id_does_not_make_a_tagged_strangers_endpoint_ours() -> None:
    h = Harness()
    stranger_id = DEFAULT_TARGET.child_id("serverlessEndpoints", "theirs")
    stranger = endpoint("theirs", namespace="team-b", status={"azureResourceId": stranger_id})
    h.add(stranger)
    h.endpoints.add("theirs", LLAMA, tags=owner_tags(stranger))
    forged = endpoint("mine", spec={"endpointName": "theirs"}, status={"azureResourceId": stranger_id})
    verdict = await h.reconcile(forged)

    assert verdict.reason is Reason.CONFLICT
    assert h.kube.secrets == {}
    assert h.endpoints.methods() == ["get"]
    assert "azureResourceId" not in verdict.fields


async def test_a_forged_status_id_does_not_make_a_dead_strangers_endpoint_ours() -> None:
    """Even when the tagged owner is gone: without the adopt annotation, a foreign tag wins."""
    h = Harness()
    stranger_id = DEFAULT_TARGET.child_id("serverlessEndpoints", "theirs")
    h.endpoints.add("theirs", LLAMA, tags={OWNER_TAG: "team-b/theirs", OWNER_UID_TAG: "uid-gone"})
    forged = endpoint("mine", spec={"endpointName": "theirs"}, status={"azureResourceId": stranger_id})
    verdict = await h.reconcile(forged)
    assert verdict.reason is Reason.CONFLICT
    assert h.kube.secrets == {}


async def test_an_endpoint_of_another_model_under_our_name_is_a_conflict_even_when_ours() -> None:
    h = Harness()
    ep = endpoint("llama", status={"azureResourceId": ENDPOINT_ID})
    h.endpoints.add("llama", MISTRAL, tags=owner_tags(ep))
    verdict = await h.reconcile(ep)
    assert verdict.reason is Reason.CONFLICT
    assert "cannot change" in verdict.message
    assert h.endpoints.writes() == []


async def test_an_adoption_is_announced_only_once_the_owner_tags_are_on() -> None:
    h = Harness()
    h.endpoints.add("llama", LLAMA, provisioning_state="Updating")
    ep = endpoint("llama", annotations=adopt())
    waiting = await h.reconcile(ep)
    # In flight: nothing was written, so nothing is ours yet, and no one is told otherwise.
    assert "Adopted" not in event_reasons(waiting)
    assert "azureResourceId" not in waiting.fields
    assert h.endpoints.writes() == []

    h.endpoints.add("llama", LLAMA)  # its operation finished meanwhile, still untagged
    adopted = await h.reconcile(ep)
    assert "Adopted" in event_reasons(adopted)
    assert [c.method for c in h.endpoints.writes()] == ["begin_put"]  # the owner tags go on


# -- across passes --------------------------------------------------------------------------------


async def test_a_created_endpoint_becomes_ready_on_the_next_pass_with_its_recorded_id() -> None:
    h = Harness()
    h.endpoints.state_after_put = "Creating"
    ep = endpoint("llama")
    first = await h.reconcile(ep)
    assert first.reason is Reason.CREATING

    after = endpoint("llama", status={"azureResourceId": ENDPOINT_ID})
    second = await h.reconcile(after, attempt=1)
    assert second.reason is Reason.CREATING  # Azure's provisioningState
    assert second.requeue_after is not None
    assert [c.method for c in h.endpoints.writes()] == ["begin_put"]  # no second PUT while it is in flight

    h.endpoints.add("llama", LLAMA, tags=owner_tags(ep))  # the operation finished
    third = await h.reconcile(after, attempt=2)
    assert (third.status, third.reason) == ("True", Reason.SUCCEEDED)
    assert "Adopted" not in event_reasons(third)


async def test_a_subscription_created_before_a_restart_is_recognised_by_its_recorded_id() -> None:
    """The id was recorded, the PUT went through, the operator restarted before it wrote more."""
    h = Harness()
    h.subscriptions.add("llama-sub", LLAMA)
    sub = subscription("llama-sub", status={"azureResourceId": SUBSCRIPTION_ID})
    h.add(sub)
    verdict = await h.reconcile(sub)
    assert (verdict.status, verdict.reason) == ("True", Reason.SUCCEEDED)
    assert verdict.fields["azureResourceId"] == SUBSCRIPTION_ID
    assert event_reasons(verdict) == []
    assert h.subscriptions.writes() == [] and h.kube_calls() == []


async def test_an_endpoint_recorded_before_a_restart_but_never_created_is_created() -> None:
    h = Harness()
    ep = endpoint("llama", status={"azureResourceId": ENDPOINT_ID})
    verdict = await h.reconcile(ep)
    assert verdict.reason is Reason.CREATING
    assert [c.method for c in h.journal if c.method in ("patch_status", "begin_put")] == [
        "patch_status",
        "begin_put",
    ]


async def test_a_setting_changed_in_azure_is_put_back_keeping_others_tags() -> None:
    h = Harness()
    ep = endpoint("llama", spec={"contentSafety": "Enabled"}, status={"azureResourceId": ENDPOINT_ID})
    h.endpoints.add("llama", LLAMA, tags={**owner_tags(ep), "cost-center": "42"}, content_safety="Disabled")
    verdict = await h.reconcile(ep)
    assert verdict.reason is Reason.UPDATING
    assert "contentSafety: Disabled -> Enabled" in verdict.message
    (put,) = h.endpoints.writes()
    assert put.args[1].content_safety == "Enabled"
    assert put.args[1].tags == {**owner_tags(ep), "cost-center": "42"}
    assert h.kube.patches == []


async def test_adopting_what_is_a_conflict_takes_nothing_over() -> None:
    h = Harness()
    h.subscriptions.add("llama-sub", MISTRAL)  # a subscription for another model, no object's
    sub = subscription("llama-sub", annotations=adopt())
    verdict = await h.reconcile(sub)
    assert verdict.reason is Reason.CONFLICT
    assert "azureResourceId" not in verdict.fields and "Adopted" not in event_reasons(verdict)
    # So deleting the object leaves the stranger's subscription alone.
    deletion = await h.finalize(
        subscription("llama-sub", annotations=adopt(), status=verdict.fields, deleting=True)
    )
    assert deletion.released and "begin_delete" not in h.subscriptions.methods()
