"""`azureml-standins kube`: the ready line, the kubeconfig it writes, --crd, clean shutdown; and
the KubeProcess helper."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import kubernetes
import pytest
import yaml
from kube_helpers import CRD_FILES
from kubernetes import client

from azureml_standins.cli import main
from azureml_standins.kube.process import KubeProcess


def test_cli_prints_one_ready_line_and_writes_a_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "nested" / "kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "azureml_standins",
            "kube",
            "--port",
            "0",
            "--kubeconfig-out",
            str(kubeconfig),
            "--crd",
            str(CRD_FILES[0]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.fullmatch(r"ready (https://127\.0\.0\.1:(\d+)) kubeconfig=(.+)\n", line)
        assert m, line
        url, path = m[1], Path(m[3])
        assert path == kubeconfig.resolve() and int(m[2]) > 0
        config = yaml.safe_load(path.read_text())
        assert config["clusters"][0]["cluster"]["server"] == url
        assert config["users"][0]["user"]["token"]
        (context,) = config["contexts"]
        assert context["context"]["namespace"] == "default" and config["current-context"] == context["name"]
        api = kubernetes.config.new_client_from_config(config_file=str(path))
        crds = client.ApiextensionsV1Api(api).list_custom_resource_definition().items
        assert [c.metadata.name for c in crds] == [
            yaml.safe_load(CRD_FILES[0].read_text())["metadata"]["name"]
        ]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out == ""


def test_cli_help_lists_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["kube", "--help"])
    assert "--kubeconfig-out" in capsys.readouterr().out


def test_cli_reports_a_bad_crd_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x}\nspec: {}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "azureml_standins", "kube", "--port", "0", "--crd", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1 and result.stdout == "" and "is invalid" in result.stderr


def test_kube_process_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", "~/.kube/config")
    with KubeProcess() as kube:
        assert kube.url.startswith("https://127.0.0.1:") and kube.port > 0 and kube.kubeconfig.exists()
        assert client.CoreV1Api(kube.client()).read_namespace("kube-system").status.phase == "Active"
        kube.activate()
        assert os.environ["KUBECONFIG"] == str(kube.kubeconfig)
        kubernetes.config.load_kube_config()
        assert client.Configuration.get_default_copy().host == kube.url
        proc = kube.proc
    assert proc is not None and proc.poll() is not None
