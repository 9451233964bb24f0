"""High availability in the chart: `replicas` > 1 (or leaderElection.enabled) turns leader election
on — the operator's flags (read back by its own parser), the pod's namespace and name from the
downward API, a rolling update that keeps a standby, and a Role that grants exactly what the elector
does with its Lease (create it, get and update that one by name) and nothing else, which the
stand-in's RBAC then enforces. One replica stays as before: no Lease, no Role, Recreate."""

from __future__ import annotations

import argparse
import os
from typing import Any
from unittest import mock

import pytest
from chart_helpers import Helm, Release
from kubernetes import client

from azureml_operator import running, settings
from azureml_operator.election import Timings
from azureml_standins.kube.process import KubeProcess

LEASES = {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"]}


def operator_settings(release: Release) -> settings.Settings:
    """What the operator makes of the rendered arguments, in a pod of the release's namespace
    (POD_NAMESPACE, which the downward API sets)."""
    with mock.patch.dict(os.environ, {"POD_NAMESPACE": release.namespace}):
        parser = argparse.ArgumentParser(prog="azureml-operator")
        running.add_parser(parser.add_subparsers(dest="command", required=True))
        return settings.from_arguments(parser.parse_args(release.container["args"]))


def election_roles(release: Release) -> list[dict[str, Any]]:
    return [r for r in release.of("Role") if r["metadata"]["name"].endswith("-leader-election")]


def downward(release: Release) -> dict[str, str]:
    return {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
        for e in release.container.get("env", [])
        if "valueFrom" in e
    }


def test_one_replica_runs_without_election_and_recreates(helm: Helm) -> None:
    release = helm.install()
    assert release.deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert not election_roles(release) and not release.of("RoleBinding")
    assert not any(a.startswith(("--leader-election", "--lease-")) for a in release.container["args"])
    assert not operator_settings(release).leader_election


def test_two_replicas_elect_a_leader_on_the_releases_lease(helm: Helm) -> None:
    release = helm.install({"replicas": 2, "extraEnv": [{"name": "EXTRA", "value": "1"}]})
    deployment = release.deployment
    assert deployment["spec"]["replicas"] == 2
    # Old and new pods may overlap (only the Lease holder acts): a standby is always there.
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    parsed = operator_settings(release)
    fullname = deployment["metadata"]["name"]
    assert parsed.leader_election and (parsed.lease_namespace, parsed.lease_name) == (
        release.namespace,
        fullname,
    )
    assert parsed.lease_timings == Timings()  # client-go's 15 / 10 / 2
    assert downward(release) == {"POD_NAMESPACE": "metadata.namespace", "POD_NAME": "metadata.name"}
    assert {"name": "EXTRA", "value": "1"} in release.container["env"]  # extraEnv still comes along

    [role] = election_roles(release)
    assert role["metadata"]["namespace"] == release.namespace
    client.V1Role.model_validate(role)
    assert role["rules"] == [
        {**LEASES, "verbs": ["create"]},
        {**LEASES, "resourceNames": [fullname], "verbs": ["get", "update"]},
    ]
    [binding] = [b for b in release.of("RoleBinding") if b["metadata"]["name"] == role["metadata"]["name"]]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    sa = release.one("ServiceAccount")["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": release.namespace}]


def test_the_election_role_grants_that_lease_and_nothing_more(helm: Helm, kube: KubeProcess) -> None:
    release = helm.install({"replicas": 3}, namespace="azureml-system")
    fullname = release.deployment["metadata"]["name"]
    sa = release.one("ServiceAccount")["metadata"]["name"]
    leases = client.CoordinationV1Api(kube.client(kube.service_account_token(release.namespace, sa)))
    body = {"metadata": {"name": fullname}, "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15}}
    created = leases.create_namespaced_lease(release.namespace, body)
    got = leases.read_namespaced_lease(fullname, release.namespace)
    got.spec.holder_identity = "pod-b"
    leases.replace_namespaced_lease(fullname, release.namespace, got)
    assert created.metadata.uid == got.metadata.uid

    def refused(call: Any, *args: Any) -> None:
        with pytest.raises(client.ApiException) as err:
            call(*args)
        assert err.value.status == 403, err.value

    refused(leases.list_namespaced_lease, release.namespace)
    refused(leases.delete_namespaced_lease, fullname, release.namespace)
    refused(leases.read_namespaced_lease, "someone-elses", release.namespace)
    client.CoreV1Api(kube.client()).create_namespace({"metadata": {"name": "elsewhere"}})
    refused(leases.create_namespaced_lease, "elsewhere", body)


def test_election_with_one_replica_and_its_timings_on_request(helm: Helm) -> None:
    timings = {"leaseDurationSeconds": 30, "renewDeadlineSeconds": 20, "retryPeriodSeconds": 4}
    release = helm.install({"leaderElection": {"enabled": True, **timings}})
    assert release.deployment["spec"]["replicas"] == 1
    assert release.deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert operator_settings(release).lease_timings == Timings(30.0, 20.0, 4.0)
    assert election_roles(release)


def test_election_beside_a_watched_release_namespace_and_without_chart_rbac(helm: Helm) -> None:
    # The watch Role and the election Role share the release namespace: two names, no clash.
    release = helm.install({"replicas": 2, "watchNamespaces": ["azureml-system"]}, namespace="azureml-system")
    names = sorted(r["metadata"]["name"] for r in release.of("Role"))
    assert len(names) == 2 and names[1] == names[0] + "-leader-election", names
    own = helm.install(
        {"replicas": 2, "rbac": {"create": False}, "watchNamespaces": ["team-a"], "crds": {"install": False}},
        release="own-rbac",
        namespace="team-ops",
    )
    assert not own.of("Role") and "--leader-election" in own.container["args"]


@pytest.mark.parametrize(
    ("timings", "message"),
    [
        (
            {"renewDeadlineSeconds": 15},
            "renewDeadlineSeconds must be less than leaderElection.leaseDurationSeconds",
        ),
        (
            {"retryPeriodSeconds": 10},
            "retryPeriodSeconds must be less than leaderElection.renewDeadlineSeconds",
        ),
        ({"leaseDurationSeconds": 0}, "at '/leaderElection/leaseDurationSeconds': minimum: got 0, want 1"),
    ],
)
def test_unsafe_timings_are_refused(helm: Helm, timings: dict[str, int], message: str) -> None:
    assert message in helm.refusal({"replicas": 2, "leaderElection": timings})
