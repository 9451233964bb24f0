"""OnlineEndpoint through the runtime, in process against fakes: the maps reach Azure whole once
their deployments are Ready and not before, a mirror to a
deployment being deleted goes first, a map changed outside Kubernetes is put back, and an AMLToken
endpoint's Secret holds a token replaced before Azure's refresh time."""

from __future__ import annotations

import time
from typing import Any

from runtime_fakes import (
    Harness,
    event_reasons,
    not_ready_status,
    online_deployment,
    online_endpoint,
    owner_tags,
    ready_status,
)

from azureml_operator.conditions import Reason
from azureml_operator.kinds.online_endpoint import TOKEN_MARGIN, renewal_time

BLUE_GREEN = {"traffic": {"blue": 90, "green": 10}}


def puts(h: Harness) -> list[Any]:
    return [c.args[1] for c in h.online.calls if c.method == "begin_put"]


def ours(h: Harness, ep: dict[str, Any], **kwargs: Any) -> None:
    """The endpoint exists in Azure, made by this object."""
    h.online.add("chat", **{"tags": owner_tags(ep), **kwargs})


async def test_a_new_endpoint_is_created_without_traffic_while_its_deployments_do_not_exist() -> None:
    h = Harness()
    ep = online_endpoint(spec={"traffic": {"blue": 100}})
    verdict = await h.reconcile(ep)
    assert verdict.reason is Reason.CREATING
    [sent] = puts(h)
    assert (sent.traffic, sent.mirror_traffic) == ({}, {})
    assert verdict.fields["azureResourceId"].endswith("/onlineEndpoints/chat")


async def test_the_maps_wait_for_a_deployment_that_is_not_ready_and_nothing_is_written() -> None:
    h = Harness()
    ep = online_endpoint(spec=BLUE_GREEN)
    ours(h, ep, traffic={"blue": 100})
    h.add(
        online_deployment("blue", status=ready_status()),
        online_deployment("green", status=not_ready_status("Creating")),
    )
    verdict = await h.reconcile(ep)
    assert (verdict.status, verdict.reason) == ("False", Reason.TRAFFIC_PENDING)
    assert verdict.fields["waitingFor"] == ["green"] and "until green is Ready" in verdict.message
    assert puts(h) == [] and verdict.requeue_after is not None
    assert h.kube.secrets[("team-a", "chat-keys")].data["primaryKey"] == "chat-key-1"  # usable meanwhile


async def test_once_every_deployment_is_ready_the_maps_go_in_one_put() -> None:
    h = Harness()
    ep = online_endpoint(spec={**BLUE_GREEN, "mirrorTraffic": {"shadow": 10}})
    ours(h, ep, traffic={"blue": 100})
    h.add(*(online_deployment(d, status=ready_status()) for d in ("blue", "green", "shadow")))
    verdict = await h.reconcile(ep)
    assert verdict.reason is Reason.UPDATING
    [sent] = puts(h)
    assert (sent.traffic, sent.mirror_traffic) == ({"blue": 90, "green": 10}, {"shadow": 10})
    again = await h.reconcile(ep)
    assert again.status == "True" and again.fields["traffic"] == {"blue": 90, "green": 10}
    assert len(puts(h)) == 1  # nothing more to write


async def test_a_deployment_of_another_endpoint_or_namespace_does_not_count() -> None:
    h = Harness()
    ep = online_endpoint(spec={"traffic": {"blue": 100}})
    ours(h, ep)
    h.add(online_deployment("blue", endpoint="other", status=ready_status()))
    h.add(online_deployment("blue", namespace="team-b", status=ready_status()))
    verdict = await h.reconcile(ep)
    assert verdict.reason is Reason.TRAFFIC_PENDING and verdict.fields["waitingFor"] == ["blue"]


async def test_a_mirror_to_a_deployment_being_deleted_is_dropped_with_an_event() -> None:
    h = Harness()
    ep = online_endpoint(spec={"traffic": {"blue": 100}, "mirrorTraffic": {"green": 10}})
    ours(h, ep, traffic={"blue": 100}, mirror_traffic={"green": 10})
    h.add(
        online_deployment("blue", status=ready_status()),
        online_deployment("green", status=ready_status(), deleting=True),
    )
    verdict = await h.reconcile(ep)
    [sent] = puts(h)
    assert (sent.traffic, sent.mirror_traffic) == ({"blue": 100}, {})
    assert "MirrorDropped" in event_reasons(verdict)


async def test_weights_and_a_mirror_changed_outside_kubernetes_are_put_back() -> None:
    h = Harness()
    ep = online_endpoint(spec={**BLUE_GREEN, "mirrorTraffic": {"shadow": 10}})
    ours(h, ep, traffic={"blue": 50, "green": 50}, mirror_traffic={}, tags={**owner_tags(ep), "team": "x"})
    h.add(*(online_deployment(d, status=ready_status()) for d in ("blue", "green", "shadow")))
    verdict = await h.reconcile(ep)
    assert verdict.reason is Reason.UPDATING and "mirrorTraffic: {} -> {shadow: 10}" in verdict.message
    [sent] = puts(h)
    assert sent.traffic == {"blue": 90, "green": 10} and sent.tags["team"] == "x"
    assert "Updating" in event_reasons(verdict)


async def test_an_amltoken_endpoint_keeps_a_fresh_token_without_asking_for_one_every_pass() -> None:
    h = Harness()
    ep = online_endpoint(spec={"authMode": "AMLToken"})
    ours(h, ep, auth_mode="AMLToken", traffic={})
    first = await h.reconcile(ep)
    secret = h.kube.secrets[("team-a", "chat-keys")].data
    assert secret["accessToken"] == "chat-token-1" and int(secret["expiresAt"]) > time.time()
    assert "primaryKey" not in secret
    refresh = int(secret["refreshAfter"])
    assert first.requeue_after is not None and first.requeue_after <= refresh - TOKEN_MARGIN - time.time() + 1
    await h.reconcile(ep)
    assert h.online.tokens_issued == 1  # the token in the Secret is still good
    h.online.token_lifetime = 2 * int(TOKEN_MARGIN)  # refresh time within the margin: replaced
    h.kube.secrets[("team-a", "chat-keys")].data["refreshAfter"] = str(int(time.time()) + 10)
    await h.reconcile(ep)
    assert h.online.tokens_issued == 2
    assert h.kube.secrets[("team-a", "chat-keys")].data["accessToken"] == "chat-token-2"


async def test_a_short_lived_token_is_replaced_half_way_to_its_expiry_not_at_every_pass() -> None:
    h = Harness()
    h.online.token_lifetime = 40  # Azure's refresh time 20 s before expiry: inside TOKEN_MARGIN
    ep = online_endpoint(spec={"authMode": "AMLToken"})
    ours(h, ep, auth_mode="AMLToken", traffic={})
    first = await h.reconcile(ep)
    assert first.requeue_after is not None and 8 <= first.requeue_after <= 10
    await h.reconcile(ep)
    assert h.online.tokens_issued == 1


def test_renewal_time_keeps_a_margin_before_the_refresh_time_and_never_passes_the_expiry() -> None:
    assert renewal_time({"expiresAt": "5000", "refreshAfter": "3200"}) == 3200 - TOKEN_MARGIN
    assert renewal_time({"expiresAt": "1040", "refreshAfter": "1020"}) == 1010
    assert renewal_time({"expiresAt": "1040", "refreshAfter": "9999"}) == 1040
    assert renewal_time({}) == 0  # nothing to keep: replaced now
