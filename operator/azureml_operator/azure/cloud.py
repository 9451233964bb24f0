"""The ARM endpoint the operator talks to: public Azure, or another cloud (or the simulator)."""

from __future__ import annotations

from urllib.parse import urlsplit

PUBLIC_ARM = "https://management.azure.com/"


def normalise_base(url: str) -> str:
    """`https://host:port` with exactly one trailing slash, as the SDK's metadata expects."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError(f"ARM endpoint must be an https:// URL, got {url!r}")
    return f"https://{parts.netloc}/"
