"""Token failures classified by cause: a token endpoint that cannot be reached is Azure being
unavailable (retried by itself), an answer from Entra ID that refuses the credential is not.

The exceptions are made by really calling `ClientSecretCredential`, so they have exactly the shape
azure-identity gives them (a `ClientAuthenticationError` raised from the transport's error). Every
request goes to loopback: instance discovery is off (it would ask login.microsoftonline.com), and
proxies are bypassed.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.identity import ClientSecretCredential, CredentialUnavailableError

from azureml_operator.azure.classify import classify
from azureml_operator.conditions import Reason
from azureml_operator.errors import Recoverable, Terminal
from azureml_standins.simulator.tls import ensure_certificates

TENANT = "00000000-0000-0000-0000-0000000000aa"
CLIENT = "00000000-0000-0000-0000-0000000000bb"
SCOPE = "https://management.azure.com/.default"
# Entra ID's answer to a wrong client secret: error_description carries CRLF-separated trace lines.
INVALID_SECRET = {
    "error": "invalid_client",
    "error_description": (
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is "
        "the client secret value, not the client secret ID, for a secret added to app "
        f"'{CLIENT}'.\r\nTrace ID: 0f1e2d3c-0000-0000-0000-000000000000\r\n"
        "Correlation ID: 1a2b3c4d-0000-0000-0000-000000000000\r\nTimestamp: 2025-01-01 00:00:00Z"
    ),
    "error_codes": [7000215],
}


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.delenv("AZURE_REGIONAL_AUTHORITY_NAME", raising=False)


def _token_error(authority: str, **kwargs: object) -> ClientAuthenticationError:
    credential = ClientSecretCredential(
        TENANT, CLIENT, "wrong", authority=authority, disable_instance_discovery=True, **kwargs
    )
    with pytest.raises(ClientAuthenticationError) as info:
        credential.get_token(SCOPE)
    return info.value


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def fake_entra(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS token endpoint on loopback that refuses every client secret, as Entra ID does."""
    certs = ensure_certificates(tmp_path / "tls", "127.0.0.1")

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: object) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:  # the OpenID configuration MSAL reads first
            base = f"https://127.0.0.1:{self.server.server_port}/{TENANT}"
            self._send(
                200,
                {
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "issuer": f"{base}/v2.0",
                },
            )

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._send(401, INVALID_SECRET)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(certs.cert), str(certs.key))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_port}", certs.ca
    server.shutdown()
    server.server_close()


def test_a_token_endpoint_that_refuses_connections_is_azure_unavailable() -> None:
    err = _token_error(f"https://127.0.0.1:{_closed_port()}")
    assert isinstance(err.__cause__, ServiceRequestError)  # the shape azure-identity gives it
    failure = classify(err)
    assert type(failure) is Recoverable
    assert failure.reason is Reason.AZURE_UNAVAILABLE
    assert "127.0.0.1" in failure.message


def test_a_secret_refused_by_entra_id_stays_credential_rejected(fake_entra: tuple[str, Path]) -> None:
    authority, ca = fake_entra
    err = _token_error(authority, connection_verify=str(ca))
    assert "AADSTS7000215" in str(err)
    failure = classify(err)
    assert type(failure) is Terminal
    assert failure.reason is Reason.CREDENTIAL_REJECTED
    assert "AADSTS7000215" in failure.message
    assert "\n" not in failure.message and "\r" not in failure.message


def test_a_credential_unavailable_here_stays_credential_rejected() -> None:
    try:
        try:
            raise ServiceRequestError("Failed to establish a new connection: [Errno 111] Connection refused")
        except ServiceRequestError as probe:
            raise CredentialUnavailableError("ManagedIdentityCredential: no response from IMDS") from probe
    except CredentialUnavailableError as err:
        failure = classify(err)
    assert failure.reason is Reason.CREDENTIAL_REJECTED
