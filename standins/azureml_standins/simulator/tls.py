"""A private CA and a server certificate for the simulator.

The SDK needs HTTPS (azure-core refuses bearer tokens over http) and verifies through `requests`,
so clients trust `ca.pem` via `REQUESTS_CA_BUNDLE`. The server certificate carries IP SANs for
loopback (URLs use 127.0.0.1) plus the served host; it is re-issued when a SAN is missing, it is
about to expire, or the CA changed. Keys are written 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class CertPaths:
    ca: Path
    cert: Path
    key: Path


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _load_ca(d: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    ca_pem, key_pem = d / "ca.pem", d / "ca-key.pem"
    if not (ca_pem.exists() and key_pem.exists()):
        return None
    cert = x509.load_pem_x509_certificate(ca_pem.read_bytes())
    key = serialization.load_pem_private_key(key_pem.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.not_valid_after_utc < _now() + dt.timedelta(
        days=1
    ):
        return None
    return cert, key


def _new_ca(d: Path, ca_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(
        d / "ca-key.pem",
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        private=True,
    )
    _write(d / "ca.pem", cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _server_ok(d: Path, ca: x509.Certificate, hosts: list[str]) -> bool:
    cert_pem, key_pem = d / "server.pem", d / "server-key.pem"
    if not (cert_pem.exists() and key_pem.exists()):
        return False
    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    if cert.issuer != ca.subject or cert.not_valid_after_utc < _now() + dt.timedelta(days=1):
        return False
    try:
        ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg,union-attr]
    except Exception:
        return False
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    present = {str(v) for v in sans.get_values_for_type(x509.IPAddress)} | set(
        sans.get_values_for_type(x509.DNSName)
    )
    return all(str(ipaddress.ip_address(h)) in present if _is_ip(h) else h in present for h in hosts)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def ensure_certificates(
    cert_dir: Path, host: str, *, ca_name: str = "azureml-standins simulator CA"
) -> CertPaths:
    """Create (or reuse) `ca.pem`, `server.pem` and `server-key.pem` in `cert_dir` for `host`
    (the Kubernetes stand-in uses them too, with a CA of its own name)."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    hosts = list(dict.fromkeys([*DEFAULT_HOSTS, *([host] if host not in ("0.0.0.0", "::") else [])]))
    loaded = _load_ca(cert_dir)
    ca_cert, ca_key = loaded if loaded else _new_ca(cert_dir, ca_name)
    if not _server_ok(cert_dir, ca_cert, hosts):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write(
            cert_dir / "server-key.pem",
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            private=True,
        )
        _write(cert_dir / "server.pem", cert.public_bytes(serialization.Encoding.PEM))
    return CertPaths(cert_dir / "ca.pem", cert_dir / "server.pem", cert_dir / "server-key.pem")
