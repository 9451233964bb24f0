"""The operator's own Kubernetes calls (`azureml_operator.kubeapi`) against the stand-in: whatever
bytes a Secret holds are an answer or a clear error, never a crash; the keys Secret ends up holding
exactly the published keys; a refusal by the API server is one line, not the HTTP exchange."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from kubernetes import client

from azureml_operator import kubeapi

NOT_UTF8 = b"\xff\xfe\xfa"  # no UTF-8 text starts with 0xff
KEYS = {"primaryKey": "pk-1", "secondaryKey": "sk-1", "endpoint": "https://phi.eastus2.models.ai.azure.com"}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _owner(core: client.CoreV1Api, ns: str) -> dict[str, Any]:
    """Any object will do as the owner: a ConfigMap, for its uid."""
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "owner"}})
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": cm.metadata.uid,
        "controller": True,
    }


def _raw(core: client.CoreV1Api, ns: str, name: str) -> dict[str, bytes]:
    secret = core.read_namespaced_secret(name, ns)
    return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}


def test_a_secret_value_that_is_not_text_is_an_error_naming_the_keys(
    api_client: client.ApiClient, core: client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_secret(
        ns,
        {
            "metadata": {"name": "sp"},
            "data": {"clientId": _b64(b"id"), "clientSecret": _b64(NOT_UTF8), "tenantId": _b64(b"\xc3")},
        },
    )
    with pytest.raises(ValueError) as info:
        asyncio.run(kubeapi.KubeApi(api_client).read_secret(ns, "sp"))
    err = info.value
    assert isinstance(err, kubeapi.SecretNotText)
    assert err.keys == ["clientSecret", "tenantId"]
    text = str(err)
    assert "sp" in text and "clientSecret" in text and "tenantId" in text and "clientId" not in text
    assert "\\xff" not in text and "xff" not in text, "a value must never be shown"


def test_a_keys_secret_holding_bytes_that_are_not_text_is_restored(
    api_client: client.ApiClient, core: client.CoreV1Api, ns: str
) -> None:
    kube = kubeapi.KubeApi(api_client)
    owner = _owner(core, ns)
    assert asyncio.run(kube.apply_owned_secret(ns, "keys", owner, KEYS)) == "created"
    core.patch_namespaced_secret("keys", ns, {"data": {"primaryKey": _b64(NOT_UTF8)}})

    assert asyncio.run(kube.apply_owned_secret(ns, "keys", owner, KEYS)) == "updated"
    assert _raw(core, ns, "keys") == {k: v.encode() for k, v in KEYS.items()}


def test_the_keys_secret_holds_exactly_the_published_keys_and_is_written_only_when_it_differs(
    api_client: client.ApiClient, core: client.CoreV1Api, ns: str
) -> None:
    kube = kubeapi.KubeApi(api_client)
    owner = _owner(core, ns)
    asyncio.run(kube.apply_owned_secret(ns, "keys", owner, KEYS))
    core.patch_namespaced_secret(
        "keys",
        ns,
        {
            "metadata": {"annotations": {"someone.else/note": "kept"}},
            "data": {"extra": _b64(b"added by hand")},
        },
    )

    assert asyncio.run(kube.apply_owned_secret(ns, "keys", owner, KEYS)) == "updated"
    assert _raw(core, ns, "keys") == {k: v.encode() for k, v in KEYS.items()}
    repaired = core.read_namespaced_secret("keys", ns)
    assert (repaired.metadata.annotations or {}).get("someone.else/note") == "kept"
    assert [ref.uid for ref in repaired.metadata.owner_references] == [owner["uid"]]

    assert asyncio.run(kube.apply_owned_secret(ns, "keys", owner, KEYS)) == "unchanged"
    assert (
        core.read_namespaced_secret("keys", ns).metadata.resource_version
        == repaired.metadata.resource_version
    )


def test_a_refusal_by_the_api_server_is_one_line_without_the_http_exchange(
    api_client: client.ApiClient, core: client.CoreV1Api, ns: str
) -> None:
    with pytest.raises(Exception) as info:
        asyncio.run(kubeapi.KubeApi(api_client).apply_owned_secret(ns, "x" * 254, _owner(core, ns), KEYS))
    text = str(info.value)
    assert "\n" not in text and len(text) <= 512, text
    assert "HTTP response headers" not in text and "Content-Type" not in text, text
    assert "422" in text and "Secret" in text


# -- owned child objects --------------------------------------------------------------------------


def test_a_child_object_is_created_owned_kept_to_its_spec_and_never_taken_from_another_owner(
    api_client: client.ApiClient, core: client.CoreV1Api, ns: str, project_crds: dict[str, Any]
) -> None:
    from azureml_operator.api.serverless_endpoint import KIND as ENDPOINT

    api = kubeapi.KubeApi(api_client)
    custom = client.CustomObjectsApi(api_client)
    owner = _owner(core, ns)
    # As FineTuneJob hands it over: with the CRD's defaults, as the server stores it.
    spec = {"modelRef": {"fineTuneJob": "ft"}, "authMode": "Key", "deletionPolicy": "Delete"}

    def apply(name: str, wanted: dict[str, Any]) -> str:
        return asyncio.run(api.apply_owned_object(ENDPOINT, ns, name, owner, wanted))

    assert apply("ft-chat", spec) == "created"
    made = custom.get_namespaced_custom_object("azureml.dev", "v1alpha1", ns, ENDPOINT.plural, "ft-chat")
    assert made["metadata"]["ownerReferences"] == [owner]
    assert made["metadata"]["labels"] == kubeapi.MANAGED_BY and made["spec"] == spec
    assert apply("ft-chat", spec) == "unchanged"
    # Edited by hand: put back.
    custom.patch_namespaced_custom_object(
        "azureml.dev", "v1alpha1", ns, ENDPOINT.plural, "ft-chat", {"spec": {"deletionPolicy": "Retain"}}
    )
    assert apply("ft-chat", spec) == "updated"
    again = custom.get_namespaced_custom_object("azureml.dev", "v1alpha1", ns, ENDPOINT.plural, "ft-chat")
    assert again["spec"] == spec

    theirs = {
        "apiVersion": "azureml.dev/v1alpha1",
        "kind": "ServerlessEndpoint",
        "metadata": {"name": "mine"},
    }
    custom.create_namespaced_custom_object(
        "azureml.dev", "v1alpha1", ns, ENDPOINT.plural, {**theirs, "spec": {"modelRef": {"fineTuneJob": "x"}}}
    )
    with pytest.raises(kubeapi.ObjectNotOwned, match=r"ServerlessEndpoint .*/mine already exists"):
        apply("mine", spec)
    mine = custom.get_namespaced_custom_object("azureml.dev", "v1alpha1", ns, ENDPOINT.plural, "mine")
    assert mine["spec"] == {"modelRef": {"fineTuneJob": "x"}, "deletionPolicy": "Delete", "authMode": "Key"}
