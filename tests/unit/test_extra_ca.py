"""The operator's extra CA is added to the trust store, not put in its place, and the combined
bundle goes away with the operator."""

from __future__ import annotations

import os
from pathlib import Path

import certifi
import pytest

from azureml_operator.running import trusting_extra_ca

CA = "-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n"


def test_the_extra_ca_is_appended_to_the_default_trust_store_and_removed_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    extra = tmp_path / "ca.pem"
    extra.write_text(CA)
    with trusting_extra_ca(str(extra)) as combined:
        assert combined is not None

        assert os.environ["REQUESTS_CA_BUNDLE"] == str(combined)
        text = combined.read_text()
        assert text.startswith(Path(certifi.where()).read_text())
        assert text.endswith(CA)
    assert not combined.parent.exists()
    assert "REQUESTS_CA_BUNDLE" not in os.environ


def test_an_already_configured_bundle_is_extended_and_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corporate = tmp_path / "corporate.pem"
    corporate.write_text("corporate roots\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(corporate))
    extra = tmp_path / "ca.pem"
    extra.write_text(CA)
    with pytest.raises(RuntimeError), trusting_extra_ca(str(extra)) as combined:
        assert combined is not None
        assert combined.read_text() == "corporate roots\n\n" + CA
        raise RuntimeError("the operator stopped")
    assert not combined.parent.exists()

    assert os.environ["REQUESTS_CA_BUNDLE"] == str(corporate)


def test_without_an_extra_ca_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/roots.pem")
    with trusting_extra_ca(None) as combined:
        assert combined is None

    assert os.environ["REQUESTS_CA_BUNDLE"] == "/etc/ssl/roots.pem"
