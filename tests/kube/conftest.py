"""Fixtures for the Kubernetes API stand-in: one child process per session (bookmarks every 0.2 s),
the project's CRDs installed through the API, a fresh namespace per test, the official kubernetes
client, and a plain-HTTP helper for what the client hides (status codes, headers, watch lines)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kube_helpers import CRD_FILES, Http
from kubernetes import client

from azureml_standins.kube.process import KubeProcess


@pytest.fixture(scope="session")
def kube() -> Iterator[KubeProcess]:
    with KubeProcess(bookmark_interval=0.2) as process:
        yield process


@pytest.fixture(scope="session")
def api_client(kube: KubeProcess) -> client.ApiClient:
    return kube.client()


@pytest.fixture(scope="session")
def http(kube: KubeProcess) -> Http:
    return Http(kube.url, ca=kube.ca)


@pytest.fixture(scope="session")
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture(scope="session")
def apiext(api_client: client.ApiClient) -> client.ApiextensionsV1Api:
    return client.ApiextensionsV1Api(api_client)


@pytest.fixture(scope="session")
def project_crds(http: Http) -> dict[str, dict[str, Any]]:
    """The project's CRDs (crds/*.yaml), installed once through the API."""
    installed = {}
    for path in CRD_FILES:
        crd = yaml.safe_load(path.read_text())
        status, body, _ = http("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        assert status in (201, 409), body
        installed[crd["spec"]["names"]["kind"]] = crd
    return installed


@pytest.fixture
def ns(core: client.CoreV1Api) -> str:
    """A fresh namespace for this test."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    return name
