"""Drift repairs, in process: a write to a resource that was Ready for this very spec puts back what
changed in Azure outside Kubernetes. It says so in a DriftRepaired Event and is counted
(`Verdict.drift_repaired`, the metric's source); a write for a new spec, for a map that was waiting,
or for a deployment being deleted is none."""

from __future__ import annotations

from typing import Any

from runtime_fakes import (
    DEFAULT_TARGET,
    LLAMA,
    Harness,
    endpoint,
    event_reasons,
    not_ready_status,
    online_deployment,
    online_endpoint,
    owner_tags,
    ready_status,
)

from azureml_operator.conditions import Reason

ENDPOINT_ID = DEFAULT_TARGET.child_id("serverlessEndpoints", "llama")


def ready_for(generation: int = 1, **fields: Any) -> dict[str, Any]:
    status = ready_status(azureResourceId=ENDPOINT_ID, **fields)
    status["observedGeneration"] = generation
    return status


async def test_a_setting_changed_in_azure_is_repaired_with_its_own_event() -> None:
    h = Harness()
    ep = endpoint("llama", spec={"contentSafety": "Enabled"}, status=ready_for())
    h.endpoints.add("llama", LLAMA, tags=owner_tags(ep), content_safety="Disabled")
    verdict = await h.reconcile(ep)
    assert verdict.reason is Reason.UPDATING and verdict.drift_repaired == "update"
    [event] = [e for e in verdict.events if e.reason == "DriftRepaired"]
    assert event.message.startswith("changed in Azure outside Kubernetes: ")
    assert "contentSafety: Disabled -> Enabled" in event.message
    assert "Updating" not in event_reasons(verdict)


async def test_an_edit_of_the_spec_is_an_update_not_a_repair() -> None:
    h = Harness()
    ep = endpoint("llama", spec={"contentSafety": "Enabled"}, status=ready_for(), generation=2)
    h.endpoints.add("llama", LLAMA, tags=owner_tags(ep), content_safety="Disabled")
    verdict = await h.reconcile(ep)
    assert verdict.reason is Reason.UPDATING and verdict.drift_repaired is None
    assert "Updating" in event_reasons(verdict) and "DriftRepaired" not in event_reasons(verdict)


async def test_a_resource_deleted_in_azure_is_created_again_and_counted() -> None:
    h = Harness()
    ep = endpoint("llama", status=ready_for())
    verdict = await h.reconcile(ep)
    assert verdict.reason is Reason.CREATING and verdict.drift_repaired == "recreate"
    [event] = [e for e in verdict.events if e.reason == "DriftRepaired"]
    assert event.message.startswith("deleted in Azure outside Kubernetes: ")


async def test_nothing_drifted_nothing_written_nothing_counted() -> None:
    h = Harness()
    ep = endpoint("llama", spec={"contentSafety": "Enabled"}, status=ready_for())
    h.endpoints.add("llama", LLAMA, tags=owner_tags(ep), content_safety="Enabled")
    verdict = await h.reconcile(ep)
    assert verdict.status == "True" and verdict.drift_repaired is None
    assert not [c for c in h.endpoints.calls if c.method.startswith("begin_")]


async def test_a_pending_map_applied_once_its_deployment_is_ready_is_no_repair() -> None:
    h = Harness()
    ep = online_endpoint(spec={"traffic": {"blue": 100}}, status=not_ready_status("TrafficPending"))
    h.online.add("chat", tags=owner_tags(ep), traffic={})
    h.add(online_deployment("blue", status=ready_status()))
    verdict = await h.reconcile(ep)
    assert verdict.reason is Reason.UPDATING and verdict.drift_repaired is None


async def test_a_map_changed_in_azure_is_repaired_but_a_mirror_dropped_for_a_deletion_is_not() -> None:
    h = Harness()
    spec = {"traffic": {"blue": 100}, "mirrorTraffic": {"green": 10}}
    ep = online_endpoint(spec=spec, status=ready_status())
    h.online.add("chat", tags=owner_tags(ep), traffic={"blue": 100}, mirror_traffic={})
    h.add(online_deployment("blue", status=ready_status()), online_deployment("green", status=ready_status()))
    drifted = await h.reconcile(ep)
    assert drifted.drift_repaired == "update" and "DriftRepaired" in event_reasons(drifted)

    h = Harness()
    h.online.add("chat", tags=owner_tags(ep), traffic={"blue": 100}, mirror_traffic={"green": 10})
    h.add(
        online_deployment("blue", status=ready_status()),
        online_deployment("green", status=ready_status(), deleting=True),
    )
    dropped = await h.reconcile(ep)
    assert dropped.reason is Reason.UPDATING and dropped.drift_repaired is None
    assert "MirrorDropped" in event_reasons(dropped) and "DriftRepaired" not in event_reasons(dropped)
