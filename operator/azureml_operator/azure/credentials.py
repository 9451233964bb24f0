"""Credentials that are not in azure-identity.

`StaticTokenCredential` exists for the local simulator only (it accepts any bearer token); the
operator refuses it unless the ARM endpoint is on loopback.
"""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken


class StaticTokenCredential:
    """Hands out one fixed token, valid for an hour from each request."""

    def __init__(self, token: str = "simulator-token") -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)

    def close(self) -> None:
        """Present for parity with azure-identity credentials."""
