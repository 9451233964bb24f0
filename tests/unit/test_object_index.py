"""The operator's own index: what it files each object under, how a new event replaces the entry,
two objects of one name, and the body it keeps for passes (without managedFields)."""

from __future__ import annotations

from typing import Any

from runtime_fakes import ADAPTERS, endpoint, subscription, uid_of

from azureml_operator.reconcilers.lookups import ObjectIndex, indexed
from azureml_operator.runtime.registry import references

ARM_ID = "/subscriptions/S/resourceGroups/rg/providers/Microsoft.MachineLearningServices/x"


def put(index: ObjectIndex, body: dict[str, Any]) -> None:
    index.put(indexed(body["kind"], body, references(ADAPTERS[body["kind"]])))


def with_uid(body: dict[str, Any], uid: str) -> dict[str, Any]:
    return {**body, "metadata": {**body["metadata"], "uid": uid}}


def test_an_object_is_found_by_name_uid_kind_claim_and_what_it_names() -> None:
    index = ObjectIndex()
    sub = subscription("llama-sub")
    ep = endpoint(
        "llama", spec={"subscriptionRef": {"name": "llama-sub"}}, status={"azureResourceId": ARM_ID}
    )
    put(index, sub)
    put(index, ep)
    assert index.get("ServerlessEndpoint", "team-a", "llama").uid == uid_of(ep)  # type: ignore[union-attr]
    assert index.by_uid(uid_of(sub)).name == "llama-sub"  # type: ignore[union-attr]
    assert [e.name for e in index.all("ServerlessEndpoint", "team-a")] == ["llama"]
    assert [e.name for e in index.claims(ARM_ID.lower())] == ["llama"]  # ARM ids match in any case
    assert [e.name for e in index.referencing("ModelSubscription", "team-a", "llama-sub")] == ["llama"]
    assert index.get("ServerlessEndpoint", "team-b", "llama") is None  # other namespaces stay apart


def test_a_new_event_replaces_the_entry_and_what_it_no_longer_claims_or_names() -> None:
    index = ObjectIndex()
    ep = endpoint("llama", spec={"subscriptionRef": {"name": "old-sub"}}, status={"azureResourceId": ARM_ID})
    put(index, ep)
    put(index, {**ep, "spec": {**ep["spec"], "subscriptionRef": {"name": "new-sub"}}, "status": {}})
    assert index.claims(ARM_ID) == []
    assert index.referencing("ModelSubscription", "team-a", "old-sub") == []
    assert [e.name for e in index.referencing("ModelSubscription", "team-a", "new-sub")] == ["llama"]
    assert len(index) == 1 and len(index.all("ServerlessEndpoint", "team-a")) == 1


def test_two_objects_of_one_name_the_first_filed_is_found_until_it_is_dropped() -> None:
    """A deletion may be told after the next creation of the same name: the older object stays
    first, so a pass of the newer one is held until the older one is gone (callers compare uids)."""
    index = ObjectIndex()
    old, new = with_uid(endpoint("llama"), "uid-old"), with_uid(endpoint("llama"), "uid-new")
    put(index, old)
    put(index, new)
    put(index, old)  # the older object's next event keeps its place
    assert index.get("ServerlessEndpoint", "team-a", "llama").uid == "uid-old"  # type: ignore[union-attr]
    index.drop("uid-old")
    assert index.get("ServerlessEndpoint", "team-a", "llama").uid == "uid-new"  # type: ignore[union-attr]
    index.drop("uid-new")
    index.drop("uid-new")  # twice is harmless
    assert len(index) == 0 and index.all("ServerlessEndpoint", "team-a") == []


def test_the_kept_body_is_the_object_without_managed_fields_decoded_afresh_each_time() -> None:
    index = ObjectIndex()
    ep = endpoint("llama", status={"provisioningState": "Succeeded"})
    ep["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
    put(index, ep)
    doc = index.document(uid_of(ep))
    assert "managedFields" not in doc["metadata"]
    assert doc["spec"] == ep["spec"] and doc["status"] == ep["status"]
    doc["spec"]["changed"] = True  # a pass's own copy
    assert "changed" not in index.document(uid_of(ep))["spec"]
    assert index.by_uid(uid_of(ep)).status == {"provisioningState": "Succeeded"}  # type: ignore[union-attr]
    assert index.document("no-such-uid") == {}


def test_an_arm_id_two_objects_claim_lists_both_until_one_goes() -> None:
    """Two objects recording one ARM id is the conflict passes must see (neither may adopt it)."""
    index = ObjectIndex()
    mine = with_uid(endpoint("a", status={"azureResourceId": ARM_ID}), "uid-a")
    theirs = with_uid(endpoint("b", status={"azureResourceId": ARM_ID}), "uid-b")
    put(index, mine)
    put(index, theirs)
    assert [e.uid for e in index.claims(ARM_ID)] == ["uid-a", "uid-b"]
    index.drop("uid-a")
    assert [e.uid for e in index.claims(ARM_ID)] == ["uid-b"]
