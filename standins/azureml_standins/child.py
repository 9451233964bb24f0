"""A stand-in run as a child process that announces itself with one `ready ...` line on stdout.

Shared by `simulator.process.SimulatorProcess` and `kube.process.KubeProcess`: start the child,
wait (bounded) for the ready line, keep its stderr in a log for failure messages, stop it with
SIGTERM (then SIGKILL), and clean up its temporary directory.
"""

from __future__ import annotations

import re
import select
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self


def terminate(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the child has not exited within `timeout`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class ReadyLineProcess:
    ready_pattern: re.Pattern[str]
    what = "child process"

    def __init__(self, args: list[str], *, tmp_prefix: str, startup_timeout: float = 60.0) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix=tmp_prefix)
        self.tmp_dir = Path(self._tmp.name)
        self.args = args
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.log_path = self.tmp_dir / "stderr.log"

    def on_ready(self, match: re.Match[str]) -> None:
        """Take what the ready line says (URL, CA, kubeconfig, ...)."""

    def start(self) -> Self:
        with self.log_path.open("a") as log:
            self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                m = self.ready_pattern.match(line.strip())
                if m:
                    self.on_ready(m)
                    return self
                if not line and self.proc.poll() is not None:
                    break
        self.stop()
        raise RuntimeError(f"{self.what} did not become ready; log:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
