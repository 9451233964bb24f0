"""Run `azureml-operator run` as a child process: for end-to-end tests and users' CI.

    with OperatorProcess(kubeconfig=kube.kubeconfig, arm_endpoint=sim.base_url, ca=sim.ca,
                         namespaces=["team-a"]) as op:
        ...   # op.log_text() holds its log

The operator prints no ready line; it counts as started once kopf has logged in and begun watching.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from azureml_standins.child import terminate
from azureml_standins.simulator.config import DEFAULT_WORKSPACE

STARTED = "Initial authentication has finished"
DEFAULT_WORKSPACE_PATH = (
    f"{DEFAULT_WORKSPACE.subscription}/{DEFAULT_WORKSPACE.resource_group}/{DEFAULT_WORKSPACE.name}"
)


class OperatorProcess:
    def __init__(
        self,
        *,
        kubeconfig: Path,
        arm_endpoint: str,
        ca: Path,
        namespaces: list[str],
        drift_interval: float = 600.0,
        keys_check_interval: float | None = None,
        default_workspace: str | None = DEFAULT_WORKSPACE_PATH,
        metrics_port: int = 0,
        cluster_wide_claims: bool = True,
        extra_args: list[str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="azureml-operator-")
        self.tmp = Path(self._tmp.name)
        self.log_path = self.tmp / "operator.log"
        self.startup_timeout = startup_timeout
        self.args = [sys.executable, "-m", "azureml_operator", "run", "--arm-endpoint", arm_endpoint]
        self.args += ["--ca-bundle", str(ca), "--dev-credential", "--drift-interval", str(drift_interval)]
        # Tests and the demo read keys at every drift check, as they regenerate keys behind the
        # operator's back and watch them arrive; the operator's own default is an hour.
        self.args += ["--keys-check-interval", str(keys_check_interval or drift_interval)]
        self.args += ["--metrics-port", str(metrics_port), "--health-port", "0"]
        for ns in namespaces:
            self.args += ["--namespace", ns]
        if default_workspace:
            self.args += ["--default-workspace", default_workspace]
        if cluster_wide_claims:  # what tests and the demo use; the chart grants it only when asked
            self.args.append("--cluster-wide-claims")
        self.args += extra_args or []
        self.env = {k: v for k, v in os.environ.items() if k != "AZUREML_CURRENT_CLOUD"}
        self.env["KUBECONFIG"] = str(kubeconfig)
        # The operator's own temporary files (its combined CA bundle) go where close() removes
        # them, even when the test SIGKILLed it and it could not remove them itself.
        self.env["TMPDIR"] = str(self.tmp)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if STARTED in self.log_text():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the operator did not start; log:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """Die at once, as a crashed pod would: no cleanup, no finalizer work."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, timeout=15)

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
