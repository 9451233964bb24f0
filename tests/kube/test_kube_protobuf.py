"""The protobuf bodies kubectl's typed commands send (captured from kubectl 1.32)."""

from __future__ import annotations

import pytest

from azureml_standins.kube.errors import ApiError
from azureml_standins.kube.protobuf import decode

# kubectl create secret generic s1 --from-literal=a=b --from-literal=c=d
SECRET = bytes.fromhex(
    "6b3873000a0c0a027631120653656372657412260a120a02733112001a0022002a0032003800420012060a01611201"
    "6212060a01631201641a001a002200"
)
# kubectl create namespace n1
NAMESPACE = bytes.fromhex(
    "6b3873000a0f0a02763112094e616d657370616365121a0a120a026e3112001a0022002a0032003800420012001a02"
    "0a001a002200"
)


def test_decodes_kubectl_bodies() -> None:
    assert decode(SECRET) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s1"},
        "data": {"a": "Yg==", "c": "ZA=="},
    }
    assert decode(NAMESPACE) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "n1"},
        "spec": {},
    }


def test_other_kinds_and_garbage_are_refused() -> None:
    other_kind = SECRET.replace(b"\x12\x06Secret", b"\x12\x06Widget")
    with pytest.raises(ApiError) as e:
        decode(other_kind)
    assert e.value.code == 415
    with pytest.raises(ApiError) as e:
        decode(b"not protobuf")
    assert e.value.code == 400
