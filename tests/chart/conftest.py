"""Fixtures for the chart's tests: a fresh Kubernetes stand-in per test (the chart's CRDs and
ClusterRoles are cluster-scoped, and a second release may not take over the first one's), with
`BuiltinsProxy` in front of it and Helm (helm-sdkpy) pointed at the proxy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from builtins_proxy import BuiltinsProxy
from chart_helpers import Helm
from kubernetes import client

from azureml_standins.kube.process import KubeProcess


@pytest.fixture
def kube() -> Iterator[KubeProcess]:
    with KubeProcess() as process:
        yield process


@pytest.fixture
def proxy(kube: KubeProcess) -> Iterator[BuiltinsProxy]:
    with BuiltinsProxy(kube.url, kube.tmp_dir, ca=kube.ca) as running:
        yield running


@pytest.fixture
def helm(proxy: BuiltinsProxy) -> Helm:
    return Helm(proxy.kubeconfig)


@pytest.fixture
def stand_in(kube: KubeProcess) -> client.ApiClient:
    """The stand-in itself, not the proxy: what was really applied."""
    return kube.client()
