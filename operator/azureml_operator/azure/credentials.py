"""Which Azure credential an object's workspace uses, built once per distinct credential.

A Workspace names one of: the operator's own identity (DefaultAzureCredential: AKS workload
identity, managed identity, environment), a workload-identity client id, or a service principal
from a Secret in its own namespace. `StaticTokenCredential` exists for the local simulator only
(it accepts any bearer token): the operator refuses it unless the ARM endpoint is on loopback.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken, TokenCredential


class StaticTokenCredential:
    """Hands out one fixed token, valid for an hour from each request."""

    def __init__(self, token: str = "simulator-token") -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)

    def close(self) -> None:
        """Present for parity with azure-identity credentials."""


@dataclass(frozen=True)
class CredentialSpec:
    """A resolved credential choice. `key` identifies it for client sharing without holding the
    secret itself (a hash of it, so a rotated secret gets a fresh client)."""

    kind: str  # "operator" | "workload-identity" | "service-principal" | "static"
    client_id: str | None = None
    tenant_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[str, ...]:
        digest = hashlib.sha256((self.client_secret or "").encode()).hexdigest()[:16]
        return (self.kind, self.client_id or "", self.tenant_id or "", digest)

    def describe(self) -> str:
        if self.kind == "workload-identity":
            return f"workload identity {self.client_id}"
        if self.kind == "service-principal":
            return f"service principal {self.client_id} (tenant {self.tenant_id})"
        return {"operator": "the operator's own identity", "static": "the development token"}[self.kind]


class CredentialRefused(Exception):
    """This credential may not be used with this ARM endpoint."""


def is_loopback(url: str) -> bool:
    """True when `url` points at this machine: the only place a static development token may go."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build(spec: CredentialSpec, arm_endpoint: str) -> TokenCredential:
    if spec.kind == "static":
        if not is_loopback(arm_endpoint):
            raise CredentialRefused(
                f"the development (static token) credential only works with a loopback ARM endpoint, "
                f"not {arm_endpoint}"
            )
        return StaticTokenCredential()
    from azure import identity

    if spec.kind == "workload-identity":
        return identity.WorkloadIdentityCredential(client_id=spec.client_id)
    if spec.kind == "service-principal":
        assert spec.tenant_id and spec.client_id and spec.client_secret
        return identity.ClientSecretCredential(spec.tenant_id, spec.client_id, spec.client_secret)
    return identity.DefaultAzureCredential()
