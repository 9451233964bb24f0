"""coordination.k8s.io/v1 Leases on the stand-in, as kube-apiserver 1.32 serves them, and the
operator's elector (azureml_operator.leader) on top: a stale resourceVersion is a 409 (what makes
election safe), an update without one is refused, a PUT of a missing Lease creates it (authorized
as a create), the spec is validated and decoded as Go would, RBAC's resourceNames narrow get and
update; two electors never both lead, and a standby takes over only after the lease duration."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from kube_helpers import Http
from kubernetes import client

from azureml_operator.election import Timings
from azureml_operator.leader import Elector
from azureml_standins.kube.process import KubeProcess

BASE = "/apis/coordination.k8s.io/v1"
NOW = "2026-01-01T00:00:00.000000Z"


def lease(name: str = "op", **spec: Any) -> dict[str, Any]:
    body = {"holderIdentity": "a", "leaseDurationSeconds": 15, "renewTime": NOW, "acquireTime": NOW}
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name},
        "spec": body | spec,
    }


def path(ns: str, name: str | None = None) -> str:
    return f"{BASE}/namespaces/{ns}/leases" + (f"/{name}" if name else "")


def test_a_write_at_a_stale_resource_version_conflicts(http: Http, ns: str) -> None:
    status, created, _ = http("POST", path(ns), lease())
    assert status == 201, created
    first = dict(created, spec=created["spec"] | {"holderIdentity": "b"})
    second = dict(created, spec=created["spec"] | {"holderIdentity": "c"})
    status, won, _ = http("PUT", path(ns, "op"), first)
    assert status == 200 and won["spec"]["holderIdentity"] == "b"
    assert int(won["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    status, lost, _ = http("PUT", path(ns, "op"), second)  # read at the same version: too late
    assert (status, lost["reason"]) == (409, "Conflict"), lost
    status, now, _ = http("GET", path(ns, "op"))
    assert now["spec"]["holderIdentity"] == "b"


def test_an_update_must_name_a_resource_version(http: Http, ns: str) -> None:
    http("POST", path(ns), lease())
    status, body, _ = http("PUT", path(ns, "op"), lease(holderIdentity="b"))
    assert status == 422, body
    assert (
        "metadata.resourceVersion" in body["message"] and "must be specified for an update" in body["message"]
    )


def test_a_put_of_a_missing_lease_creates_it(http: Http, ns: str) -> None:
    status, body, _ = http("PUT", path(ns, "fresh"), lease("fresh"))
    assert status == 201, body
    assert body["metadata"]["uid"] and body["spec"]["holderIdentity"] == "a"
    status, body, _ = http("PUT", path(ns, "other"), lease("another-name"))
    assert status == 400 and "does not match the name on the URL" in body["message"], body


@pytest.mark.parametrize(
    ("spec", "status", "message"),
    [
        (
            {"leaseDurationSeconds": 0},
            422,
            "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        ),
        ({"leaseTransitions": -1}, 422, "must be greater than or equal to 0"),
        ({"leaseDurationSeconds": "15"}, 400, "of type int32"),
        ({"holderIdentity": 7}, 400, "of type string"),
        # metav1.MicroTime: exactly six fraction digits (what Python's isoformat drops at 0 µs).
        ({"renewTime": "2026-01-01T00:00:00Z"}, 400, "parsing time"),
        ({"acquireTime": "yesterday"}, 400, "parsing time"),
    ],
)
def test_the_spec_is_decoded_and_validated(
    http: Http, ns: str, spec: dict[str, Any], status: int, message: str
) -> None:
    got, body, _ = http("POST", path(ns), lease(**spec))
    assert got == status and message in body["message"], body


def test_alpha_fields_are_dropped_and_nulls_not_stored(http: Http, ns: str) -> None:
    status, body, _ = http(
        "POST", path(ns), lease(strategy="OldestEmulationVersion", preferredHolder="x", leaseTransitions=None)
    )
    assert status == 201, body
    assert not {"strategy", "preferredHolder", "leaseTransitions"} & set(body["spec"]), body["spec"]
    assert body["spec"]["renewTime"] == NOW


def test_resource_names_narrow_get_and_update_but_not_create(kube: KubeProcess, ns: str) -> None:
    admin = kube.client()
    client.RbacAuthorizationV1Api(admin).create_namespaced_role(
        ns,
        {
            "metadata": {"name": "leader-election"},
            "rules": [
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
                {
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    "resourceNames": ["op"],
                    "verbs": ["get", "update"],
                },
            ],
        },
    )
    client.CoreV1Api(admin).create_namespaced_service_account(ns, {"metadata": {"name": "op"}})
    client.RbacAuthorizationV1Api(admin).create_namespaced_role_binding(
        ns,
        {
            "metadata": {"name": "leader-election"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "leader-election"},
            "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": ns}],
        },
    )
    http = Http(kube.url, kube.service_account_token(ns, "op"), ca=kube.ca)
    assert http("POST", path(ns), lease("op"))[0] == 201
    status, got, _ = http("GET", path(ns, "op"))
    assert status == 200
    assert http("PUT", path(ns, "op"), dict(got, spec=got["spec"] | {"holderIdentity": "b"}))[0] == 200
    assert http("GET", path(ns, "another"))[0] == 403
    assert http("GET", path(ns))[0] == 403  # no list
    assert http("DELETE", path(ns, "op"))[0] == 403
    # A PUT that would create another Lease is a create *and* an update of that name: refused.
    status, body, _ = http("PUT", path(ns, "another"), lease("another"))
    assert status == 403 and 'cannot update resource "leases"' in body["message"], body


# -- the operator's elector on the stand-in ---------------------------------------------------

FAST = Timings(lease_duration=4.0, renew_deadline=2.0, retry_period=0.25)


def elector(kube: KubeProcess, ns: str, me: str, lost: list[str] | None = None) -> Elector:
    return Elector(kube.client(), ns, "op", me, FAST, on_lost=(lost if lost is not None else []).append)


def holder(kube: KubeProcess, ns: str) -> str | None:
    spec = client.CoordinationV1Api(kube.client()).read_namespaced_lease("op", ns).spec
    return spec.holder_identity


async def test_two_candidates_never_both_lead_and_the_standby_waits_out_the_lease(
    kube: KubeProcess, ns: str
) -> None:
    a, b = elector(kube, ns, "a"), elector(kube, ns, "b")
    try:
        await asyncio.wait_for(a.acquire(), timeout=10)
        holding = asyncio.create_task(a.hold())
        standby = asyncio.create_task(b.acquire())
        await asyncio.sleep(FAST.lease_duration * 1.5)  # a renews all along: b never gets it
        assert not standby.done() and holder(kube, ns) == "a"

        holding.cancel()  # a dies without a word: its renewals stop
        died = time.monotonic()
        await asyncio.wait_for(standby, timeout=FAST.lease_duration * 4)
        took = time.monotonic() - died
        assert holder(kube, ns) == "b"
        assert took >= FAST.lease_duration - FAST.retry_period, took  # never before the lease ran out
        lease = client.CoordinationV1Api(kube.client()).read_namespaced_lease("op", ns)
        assert lease.spec.lease_transitions == 1
    finally:
        for e in (a, b):
            e.leading.clear()
            e.close()


async def test_a_released_lease_is_taken_at_once(kube: KubeProcess, ns: str) -> None:
    a, b = elector(kube, ns, "a"), elector(kube, ns, "b")
    try:
        await asyncio.wait_for(a.acquire(), timeout=10)
        standby = asyncio.create_task(b.acquire())
        await asyncio.sleep(FAST.retry_period * 2)
        released = time.monotonic()
        await a.release()
        await asyncio.wait_for(standby, timeout=FAST.lease_duration)
        assert holder(kube, ns) == "b"
        # Bounded by the standby's next look (and the released record's 1 s), not the lease duration.
        assert time.monotonic() - released < FAST.lease_duration
    finally:
        for e in (a, b):
            e.leading.clear()
            e.close()


async def test_a_leader_that_cannot_renew_gives_up_before_anyone_may_take_over(
    kube: KubeProcess, ns: str
) -> None:
    lost: list[str] = []
    a = elector(kube, ns, "a", lost)
    try:
        await asyncio.wait_for(a.acquire(), timeout=10)
        # Another writer takes the Lease from under it: a's next renewal finds someone else there.
        api = client.CoordinationV1Api(kube.client())
        current = api.read_namespaced_lease("op", ns)
        current.spec.holder_identity = "intruder"
        api.replace_namespaced_lease("op", ns, current)
        await asyncio.wait_for(a.hold(), timeout=10)  # returns once leadership is gone
        assert lost and "held by intruder" in lost[0], lost
        assert not a.leading.is_set()
    finally:
        a.leading.clear()
        a.close()


async def test_the_watchdog_ends_leadership_at_the_renew_deadline(kube: KubeProcess, ns: str) -> None:
    lost: list[str] = []
    a = elector(kube, ns, "a", lost)
    try:
        await asyncio.wait_for(a.acquire(), timeout=10)
        started = time.monotonic()
        # No renewal at all (a blocked event loop would look the same): the watchdog thread acts.
        while not lost and time.monotonic() - started < 10:
            time.sleep(0.1)  # noqa: ASYNC251 - blocking on purpose
        assert lost and "not renewed" in lost[0], lost
        assert FAST.renew_deadline <= time.monotonic() - started < FAST.lease_duration
    finally:
        a.leading.clear()
        a.close()
