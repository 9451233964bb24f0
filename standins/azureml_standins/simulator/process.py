"""Run `azureml-standins simulator` as a child process and talk to it: for tests, the demo and users' CI.

    with SimulatorProcess(latency_scale=0.01) as sim:
        ml = sim.ml_client()          # a real azure-ai-ml MLClient pointed at the simulator
        sim.admin("POST", "faults", {"status": 503, "count": 2})

The child prints `ready https://HOST:PORT ca=PATH`; the port and CA come from that line.
`REQUESTS_CA_BUNDLE` must name the CA before the SDK makes requests: `trust()` sets it for this process.
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.request
from pathlib import Path
from typing import Any

from azureml_standins.child import ReadyLineProcess
from azureml_standins.simulator.config import DEFAULT_WORKSPACE

_READY = re.compile(r"^ready (?P<url>https://\S+) ca=(?P<ca>.+)$")


class SimulatorProcess(ReadyLineProcess):
    ready_pattern = _READY
    what = "simulator"

    def __init__(
        self,
        *,
        latency_scale: float = 0.01,
        cert_dir: Path | None = None,
        state_file: Path | None = None,
        port: int = 0,
        extra_args: list[str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        super().__init__([], tmp_prefix="azureml-sim-", startup_timeout=startup_timeout)
        self.cert_dir = cert_dir or self.tmp_dir / "certs"
        self.state_file = state_file
        self.port = port
        self.args = [
            sys.executable,
            "-m",
            "azureml_standins",
            "simulator",
            "--port",
            str(port),
            "--cert-dir",
            str(self.cert_dir),
            "--latency-scale",
            str(latency_scale),
            *(extra_args or []),
        ]
        if state_file is not None:
            self.args += ["--state-file", str(state_file)]
        self.base_url = ""
        self.ca = Path()
        self._previous_bundle: str | None = None
        self._trusted = False

    def on_ready(self, m: re.Match[str]) -> None:
        self.base_url, self.ca = m["url"], Path(m["ca"])
        self.port = int(self.base_url.rsplit(":", 1)[1])

    def close(self) -> None:
        self.stop()
        # The CA is about to disappear: give the process back the trust store it had before.
        if self._trusted and os.environ.get("REQUESTS_CA_BUNDLE") == str(self.ca):
            if self._previous_bundle is None:
                os.environ.pop("REQUESTS_CA_BUNDLE", None)
            else:
                os.environ["REQUESTS_CA_BUNDLE"] = self._previous_bundle
        self._trusted = False
        super().close()

    def __enter__(self) -> SimulatorProcess:
        self.start()
        self.trust()
        return self

    def trust(self) -> None:
        """Make `requests` (and so the SDK) in this process trust the simulator's CA, until `close()`."""
        if not self._trusted:
            self._previous_bundle = os.environ.get("REQUESTS_CA_BUNDLE")
            self._trusted = True
        os.environ["REQUESTS_CA_BUNDLE"] = str(self.ca)

    def ml_client(
        self,
        subscription: str = DEFAULT_WORKSPACE.subscription,
        resource_group: str = DEFAULT_WORKSPACE.resource_group,
        workspace: str = DEFAULT_WORKSPACE.name,
        **kwargs: Any,
    ) -> Any:
        from azure.ai.ml import MLClient

        from azureml_operator.azure.credentials import StaticTokenCredential
        from azureml_standins.sdk import mlclient_cloud_kwargs

        return MLClient(
            StaticTokenCredential(),
            subscription,
            resource_group,
            workspace,
            **mlclient_cloud_kwargs(self.base_url),
            **kwargs,
        )

    def admin(self, method: str, route: str, body: Any = None) -> Any:
        """Call `/_sim/<route>`; returns the parsed JSON reply."""
        import ssl

        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.base_url}/_sim/{route}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        ctx = ssl.create_default_context(cafile=str(self.ca))
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return json.loads(resp.read() or b"null")
