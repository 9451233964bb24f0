"""OnlineDeployment through the runtime, in process against fakes: it waits
for its endpoint to exist in Azure (not to be Ready: that endpoint may be waiting for it), lives
in its endpoint's workspace and path, reports its share of traffic, is updated in place, and its
deletion is held while live traffic goes to it and released at once when its endpoint goes."""

from __future__ import annotations

from typing import Any

from runtime_fakes import (
    DEFAULT_TARGET,
    PHI_VERSIONED,
    Harness,
    event_reasons,
    not_ready_status,
    online_deployment,
    online_endpoint,
    owner_tags,
    workspace,
)

from azureml_operator.conditions import Reason
from azureml_operator.errors import Recoverable
from azureml_operator.reconcilers.status import next_status

ENDPOINT_ID = DEFAULT_TARGET.child_id("onlineEndpoints", "chat-prod")


def provisioned(**fields: Any) -> dict[str, Any]:
    """An endpoint in Azure whose maps wait (not Ready), as its status says."""
    return not_ready_status(
        "TrafficPending",
        "waiting for blue",
        azureResourceId=ENDPOINT_ID,
        provisioningState="Succeeded",
        **fields,
    )


def endpoint(**kwargs: Any) -> dict[str, Any]:
    return online_endpoint("chat", spec={"endpointName": "chat-prod", **kwargs.pop("spec", {})}, **kwargs)


async def test_nothing_happens_in_azure_before_its_endpoint_exists_there() -> None:
    h = Harness()
    h.add(endpoint(status=not_ready_status("Creating", "creating")))
    verdict = await h.reconcile(online_deployment("blue"))
    assert verdict.reason is Reason.WAITING_FOR_ENDPOINT
    assert verdict.message == "waiting for OnlineEndpoint chat to exist in Azure"
    assert h.azure_calls() == []
    missing = await Harness().reconcile(online_deployment("blue"))
    assert missing.reason is Reason.WAITING_FOR_ENDPOINT and "does not exist" in missing.message


async def test_it_is_created_in_its_endpoints_path_and_workspace_even_while_the_endpoint_waits_for_it() -> (
    None
):
    h = Harness()
    h.add(workspace("ws"), endpoint(spec={"workspaceRef": {"name": "ws"}}, status=provisioned()))
    verdict = await h.reconcile(online_deployment("blue"))
    assert verdict.reason is Reason.CREATING
    [connect] = [c for c in h.journal if c.who == "azure"]
    target = connect.args[0]
    assert target.workspace_name == "ws-team-a"
    [put] = [c for c in h.azure.deployments(target).calls if c.method == "begin_put"]
    assert put.args[:2] == ("chat-prod", "blue") and put.args[2].model == PHI_VERSIONED
    assert verdict.fields["azureResourceId"] == target.child_id(
        "onlineEndpoints", "chat-prod/deployments/blue"
    )


async def test_it_reports_its_share_and_is_updated_in_place() -> None:
    h = Harness()
    dep = online_deployment("green", spec={"instanceCount": 3})
    h.add(endpoint(status=provisioned(traffic={"blue": 90, "green": 10}, mirrorTraffic={})))
    h.deployments.add("chat-prod", "green", model=PHI_VERSIONED, instance_count=1, tags=owner_tags(dep))
    verdict = await h.reconcile(dep)
    assert verdict.reason is Reason.UPDATING and "instanceCount: 1 -> 3" in verdict.message
    again = await h.reconcile(dep)
    assert again.status == "True"
    assert (again.fields["traffic"], again.fields["mirrorTraffic"], again.fields["instanceCount"]) == (
        10,
        0,
        3,
    )


async def test_one_that_cannot_change_in_place_is_never_put() -> None:
    h = Harness()
    dep = online_deployment("blue", spec={"instanceType": "Standard_DS3_v2"})
    h.add(endpoint(status=provisioned()))
    h.deployments.add("chat-prod", "blue", model=PHI_VERSIONED, tags=owner_tags(dep))
    verdict = await h.reconcile(dep)
    assert verdict.reason is Reason.CONFLICT and "create a new deployment" in verdict.message
    assert "begin_put" not in h.deployments.methods()


async def test_a_failed_deployment_carries_azures_reason() -> None:
    h = Harness()
    dep = online_deployment("blue")
    h.add(endpoint(status=provisioned()))
    h.deployments.add(
        "chat-prod",
        "blue",
        model=PHI_VERSIONED,
        provisioning_state="Failed",
        failure="OutOfQuota: no cores",
        tags=owner_tags(dep),
    )
    obj = {**dep, "status": {"observedGeneration": 1}}
    verdict = await h.reconcile(obj)
    assert verdict.reason is Reason.PROVISIONING_FAILED and "OutOfQuota: no cores" in verdict.message


async def test_a_503_on_the_retry_a_spec_change_asked_for_does_not_use_the_change_up() -> None:
    """A failed provisioning is retried only after a spec change; when that retry meets a 503, the
    status keeps the old observedGeneration, so the next pass still retries instead of reporting
    ProvisioningFailed for good (found by the fault storm)."""
    h = Harness()
    failed = not_ready_status("ProvisioningFailed", "change the spec or delete the object to retry")
    dep = online_deployment("blue", spec={"instanceCount": 2}, generation=2, status=failed)
    h.add(endpoint(status=provisioned()))
    h.deployments.add(
        "chat-prod", "blue", model=PHI_VERSIONED, provisioning_state="Failed", tags=owner_tags(dep)
    )
    h.deployments.fail("begin_put", Recoverable("503 Service Unavailable"))

    interrupted = await h.reconcile(dep)

    assert interrupted.reason is Reason.AZURE_UNAVAILABLE
    patch, _ = next_status(dep["status"], interrupted, 2)
    assert "observedGeneration" not in patch and patch["conditions"][0]["observedGeneration"] == 1
    retried = await h.reconcile({**dep, "status": {**dep["status"], **patch}}, attempt=1)
    assert retried.reason is Reason.UPDATING
    assert [c.method for c in h.deployments.calls].count("begin_put") == 2


# -- deletion -------------------------------------------------------------------------------------


def going(**status: Any) -> dict[str, Any]:
    return online_deployment(
        "green", status={"azureResourceId": f"{ENDPOINT_ID}/deployments/green", **status}, deleting=True
    )


async def test_deleting_one_with_live_traffic_is_held_until_the_traffic_moves() -> None:
    h = Harness()
    dep = going()
    h.add(endpoint(status=provisioned(traffic={"blue": 90, "green": 10})))
    h.deployments.add("chat-prod", "green", tags=owner_tags(dep))
    held = await h.finalize(dep)
    assert held.reason is Reason.DELETION_BLOCKED and not held.released
    assert "still sends 10 % of its live traffic" in held.message and h.azure_calls() == []
    h.cluster = [endpoint(status=provisioned(traffic={"blue": 100, "green": 0}, mirrorTraffic={"green": 10}))]
    mirrored = await h.finalize(dep)
    assert mirrored.reason is Reason.DELETING and "stop mirroring" in mirrored.message
    h.cluster = [endpoint(status=provisioned(traffic={"blue": 100}))]
    deleting = await h.finalize(dep)
    assert deleting.reason is Reason.DELETING and "Deleting" in event_reasons(deleting)
    assert [c.args for c in h.deployments.calls if c.method == "begin_delete"] == [("chat-prod", "green")]


async def test_deleting_one_whose_endpoint_is_gone_or_going_asks_azure_nothing() -> None:
    h = Harness()
    assert (await h.finalize(going())).released  # no endpoint object at all
    h.add(endpoint(status=provisioned(traffic={"green": 100}), deleting=True))
    released = await h.finalize(going())
    assert released.released and "gone or going" in released.message and h.azure_calls() == []
