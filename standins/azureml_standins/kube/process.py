"""Run `azureml-standins kube` as a child process and talk to it: for tests, the demo and users' CI.

    with KubeProcess() as kube:
        api = kubernetes.client.CustomObjectsApi(kube.client())
        os.environ["KUBECONFIG"] = str(kube.kubeconfig)   # for kopf or kubectl

The child prints `ready http://HOST:PORT kubeconfig=PATH`; the URL and kubeconfig come from that line.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from azureml_standins.child import ReadyLineProcess

_READY = re.compile(r"^ready (?P<url>http://\S+) kubeconfig=(?P<kubeconfig>.+)$")


class KubeProcess(ReadyLineProcess):
    ready_pattern = _READY
    what = "kube stand-in"

    def __init__(
        self,
        *,
        port: int = 0,
        kubeconfig: Path | None = None,
        crds: list[Path] | None = None,
        bookmark_interval: float | None = None,
        history_limit: int | None = None,
        strict_fields: bool = False,
        extra_args: list[str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        super().__init__([], tmp_prefix="azureml-kube-", startup_timeout=startup_timeout)
        self.kubeconfig = kubeconfig or self.tmp_dir / "kubeconfig"
        self.port = port
        args = [
            sys.executable,
            "-m",
            "azureml_standins",
            "kube",
            "--port",
            str(port),
            "--kubeconfig-out",
            str(self.kubeconfig),
        ]
        for crd in crds or []:
            args += ["--crd", str(crd)]
        if bookmark_interval is not None:
            args += ["--bookmark-interval", str(bookmark_interval)]
        if history_limit is not None:
            args += ["--history-limit", str(history_limit)]
        if strict_fields:
            args.append("--strict-fields")
        self.args = [*args, *(extra_args or [])]
        self.url = ""

    def on_ready(self, m: re.Match[str]) -> None:
        self.url, self.kubeconfig = m["url"], Path(m["kubeconfig"])
        self.port = int(self.url.rsplit(":", 1)[1])

    def activate(self) -> None:
        """Point this process's kubeconfig lookups (kopf's default login, `kubernetes.config.
        load_kube_config()`, child processes) at the stand-in. The kubernetes client reads
        `KUBECONFIG` once, when `kubernetes.config` is first imported, so that copy is set too."""
        os.environ["KUBECONFIG"] = str(self.kubeconfig)
        kube_config = sys.modules.get("kubernetes.config.kube_config")
        if kube_config is not None:
            kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(self.kubeconfig)  # type: ignore[attr-defined]

    def configuration(self) -> Any:
        """A `kubernetes.client.Configuration` for the stand-in (what the kubeconfig says)."""
        from kubernetes import client

        config = client.Configuration()
        config.host = self.url
        config.api_key = {"authorization": "azureml-kube-dummy-token"}
        config.api_key_prefix = {"authorization": "Bearer"}
        return config

    def client(self) -> Any:
        """A `kubernetes.client.ApiClient` talking to the stand-in."""
        from kubernetes import client

        return client.ApiClient(self.configuration())
