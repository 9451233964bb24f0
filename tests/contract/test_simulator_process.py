"""`azureml-standins simulator` as a process: its ready line, certificate directory, state file,
seeded workspaces, command-line errors and listening address.

These tests start their own simulators (not the session's) and talk to them with `requests` and the
SDK. `SimulatorProcess.start()` is used without `__enter__`, which would repoint the process-wide
`REQUESTS_CA_BUNDLE` away from the session simulator's CA; where the SDK needs a simulator's CA the
variable is set through `monkeypatch`, which restores it.
"""

from __future__ import annotations

import json
import re
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest
import requests

from azureml_standins.simulator.process import SimulatorProcess

CLI = Path(sys.executable).with_name("azureml-standins")
SUB = "00000000-0000-0000-0000-000000000000"
PHI = "azureml://registries/azureml/models/Phi-4-mini-instruct"
BEARER = {"Authorization": "Bearer process-test"}
READY = re.compile(r"^ready https://127\.0\.0\.1:(?P<port>\d+) ca=(?P<ca>\S+)$")


def ws_url(base: str, sub: str = SUB, rg: str = "rg-sim", ws: str = "ws-sim") -> str:
    return f"{base}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}"


def call(
    proc: SimulatorProcess, method: str, url: str, json_body: Any = None, api: str = "2024-10-01-preview"
) -> requests.Response:
    params = {} if "api-version=" in url else {"api-version": api}
    return requests.request(
        method, url, params=params, json=json_body, headers=BEARER, verify=str(proc.ca), timeout=30
    )


def job_body() -> dict[str, Any]:
    return {
        "properties": {
            "jobType": "FineTuning",
            "experimentName": "restart",
            "properties": {},
            "fineTuningDetails": {
                "modelProvider": "Custom",
                "taskType": "ChatCompletion",
                "model": {"jobInputType": "mlflow_model", "uri": f"{PHI}/versions/1"},
                "trainingData": {
                    "jobInputType": "uri_file",
                    "uri": "azureml://datastores/workspaceblobstore/paths/ft/train.jsonl",
                },
            },
            "outputs": {"registered_model": {"jobOutputType": "mlflow_model", "assetName": "restart-ft"}},
        }
    }


SERVERLESS_BODY = {
    "location": "eastus2",
    "sku": {"name": "Consumption"},
    "properties": {"modelSettings": {"modelId": PHI}},
}


@pytest.fixture
def processes() -> Iterator[list[SimulatorProcess]]:
    """Simulators started by a test; all are stopped (and their temporary directories removed) after it."""
    started: list[SimulatorProcess] = []
    yield started
    for proc in started:
        proc.close()


def start(processes: list[SimulatorProcess], **kwargs: Any) -> SimulatorProcess:
    proc = SimulatorProcess(**kwargs)
    processes.append(proc)
    return proc.start()


def stop_with(proc: SimulatorProcess, sig: int) -> int:
    assert proc.proc is not None
    proc.proc.send_signal(sig)
    return proc.proc.wait(timeout=15)


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "simulator", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


# -- the ready line and the certificate directory ---------------------------------------------------


def test_ready_line_is_the_only_stdout_and_sigterm_stops_cleanly(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    proc = subprocess.Popen(
        [str(CLI), "simulator", "--port", "0", "--cert-dir", str(certs), "--latency-scale", "0.01"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "no ready line within 60 s"
        line = proc.stdout.readline()
        m = READY.match(line.rstrip("\n"))
        assert m, f"unexpected first stdout line {line!r}"
        assert Path(m["ca"]) == (certs / "ca.pem").resolve()
        base = f"https://127.0.0.1:{m['port']}"

        # It is serving over TLS that the printed CA verifies, and requests (good and bad) print nothing.
        ok = requests.get(
            ws_url(base),
            params={"api-version": "2024-10-01-preview"},
            headers=BEARER,
            verify=m["ca"],
            timeout=30,
        )
        assert ok.status_code == 200
        assert requests.get(ws_url(base), verify=m["ca"], timeout=30).status_code == 401
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(ws_url(base), verify=certifi.where(), timeout=30)  # not trusted without the CA

        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out == "", f"stdout after the ready line: {out!r}"
    assert "Traceback" not in err


def test_cert_dir_is_created_and_reused_on_restart(tmp_path: Path, processes) -> None:
    certs = tmp_path / "certs"
    first = start(processes, cert_dir=certs)
    assert {p.name for p in certs.iterdir()} >= {"ca.pem", "ca-key.pem", "server.pem", "server-key.pem"}
    assert (certs / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    assert (certs / "server-key.pem").stat().st_mode & 0o777 == 0o600
    ca_bytes = (certs / "ca.pem").read_bytes()
    server_bytes = (certs / "server.pem").read_bytes()
    trusted = tmp_path / "trusted-ca.pem"
    trusted.write_bytes(ca_bytes)
    assert stop_with(first, signal.SIGINT) == 0  # Ctrl-C stops it cleanly too

    second = start(processes, cert_dir=certs)
    assert (certs / "ca.pem").read_bytes() == ca_bytes
    assert (certs / "server.pem").read_bytes() == server_bytes  # still valid: not re-issued
    # A client that kept the first run's CA still trusts the restarted simulator.
    resp = requests.get(
        ws_url(second.base_url),
        params={"api-version": "2024-10-01-preview"},
        headers=BEARER,
        verify=str(trusted),
        timeout=30,
    )
    assert resp.status_code == 200


def test_unusable_server_certificate_is_reissued_under_the_same_ca(tmp_path: Path, processes) -> None:
    certs = tmp_path / "certs"
    stop_with(start(processes, cert_dir=certs), signal.SIGTERM)
    ca_bytes = (certs / "ca.pem").read_bytes()
    (certs / "server.pem").unlink()
    proc = start(processes, cert_dir=certs)
    assert (certs / "ca.pem").read_bytes() == ca_bytes
    assert call(proc, "GET", ws_url(proc.base_url)).status_code == 200


def test_new_ca_reissues_the_server_certificate(tmp_path: Path, processes) -> None:
    certs = tmp_path / "certs"
    stop_with(start(processes, cert_dir=certs), signal.SIGTERM)
    old_ca, old_server = (certs / "ca.pem").read_bytes(), (certs / "server.pem").read_bytes()
    (certs / "ca.pem").unlink()
    (certs / "ca-key.pem").unlink()
    proc = start(processes, cert_dir=certs)
    assert (certs / "ca.pem").read_bytes() != old_ca
    assert (certs / "server.pem").read_bytes() != old_server  # signed by the new CA
    assert call(proc, "GET", ws_url(proc.base_url)).status_code == 200


def _can_bind(host: str) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _can_bind("127.0.0.2"), reason="127.0.0.2 is not a loopback address here")
def test_other_host_gets_a_certificate_with_its_san(tmp_path: Path, processes) -> None:
    certs = tmp_path / "certs"
    stop_with(start(processes, cert_dir=certs), signal.SIGTERM)
    ca_bytes, server_bytes = (certs / "ca.pem").read_bytes(), (certs / "server.pem").read_bytes()
    proc = start(processes, cert_dir=certs, extra_args=["--host", "127.0.0.2"])
    assert proc.base_url.startswith("https://127.0.0.2:")
    assert (certs / "ca.pem").read_bytes() == ca_bytes
    assert (certs / "server.pem").read_bytes() != server_bytes  # re-issued with the new SAN
    resp = call(proc, "GET", ws_url(proc.base_url))  # hostname verification passes
    assert resp.status_code == 200


# -- the state file --------------------------------------------------------------------------------


def test_state_file_survives_a_restart_with_an_operation_in_flight(tmp_path: Path, processes) -> None:
    certs, state_file = tmp_path / "certs", tmp_path / "state" / "sim.json"
    first = start(processes, cert_dir=certs, state_file=state_file, latency_scale=0.01)
    ws = ws_url(first.base_url)
    ca_bytes = (certs / "ca.pem").read_bytes()

    # A finished serverless endpoint, a fine-tuning job, and a serverless endpoint still creating.
    first.admin("POST", "latency", {"scale": 0.0001})
    assert call(first, "PUT", f"{ws}/serverlessEndpoints/done-sls", SERVERLESS_BODY).status_code == 201
    first.admin("POST", "clock", {"advanceSeconds": 5})
    keys = call(first, "POST", f"{ws}/serverlessEndpoints/done-sls/listKeys").json()
    assert call(first, "PUT", f"{ws}/jobs/kept-job", job_body()).status_code == 201
    first.admin("POST", "latency", {"scale": 1})
    body = {**SERVERLESS_BODY, "properties": {"modelSettings": {"modelId": PHI.replace("Phi-4", "Phi-3.5")}}}
    creating = call(first, "PUT", f"{ws}/serverlessEndpoints/slow-sls", body)
    assert creating.status_code == 201
    assert creating.json()["properties"]["provisioningState"] == "Creating"
    status_path = creating.headers["Azure-AsyncOperation"].removeprefix(first.base_url)

    assert stop_with(first, signal.SIGTERM) == 0
    saved = json.loads(state_file.read_text())
    assert {r["name"] for r in saved["resources"]} >= {"done-sls", "kept-job", "slow-sls"}

    second = start(processes, cert_dir=certs, state_file=state_file, latency_scale=0.01)
    ws = ws_url(second.base_url)
    assert (certs / "ca.pem").read_bytes() == ca_bytes

    assert (
        call(second, "GET", f"{ws}/serverlessEndpoints/done-sls").json()["properties"]["provisioningState"]
        == "Succeeded"
    )
    assert call(second, "POST", f"{ws}/serverlessEndpoints/done-sls/listKeys").json() == keys
    assert call(second, "GET", f"{ws}/jobs/kept-job").status_code == 200

    # The in-flight operation is still in flight, and still pollable at its old path ...
    slow = call(second, "GET", f"{ws}/serverlessEndpoints/slow-sls").json()
    assert slow["properties"]["provisioningState"] == "Creating"
    assert call(second, "GET", second.base_url + status_path).json()["status"] == "InProgress"
    # ... and completes on the restarted simulator's clock.
    second.admin("POST", "clock", {"advanceSeconds": 600})
    assert call(second, "GET", second.base_url + status_path).json()["status"] == "Succeeded"
    slow = call(second, "GET", f"{ws}/serverlessEndpoints/slow-sls").json()
    assert slow["properties"]["provisioningState"] == "Succeeded"
    assert slow["properties"]["endpointState"] == "Online"
    # The job carried on too: the clock moved past its end, so it completed and registered its model.
    job = call(second, "GET", f"{ws}/jobs/kept-job").json()
    assert job["properties"]["status"] == "Completed"
    assert job["properties"]["outputs"]["registered_model"]["assetVersion"] == "1"


def test_state_file_keeps_changes_made_after_the_restart(tmp_path: Path, processes) -> None:
    certs, state_file = tmp_path / "certs", tmp_path / "sim.json"
    first = start(processes, cert_dir=certs, state_file=state_file)
    assert call(first, "PUT", f"{ws_url(first.base_url)}/jobs/one", job_body()).status_code == 201
    stop_with(first, signal.SIGTERM)
    second = start(processes, cert_dir=certs, state_file=state_file)
    assert call(second, "PUT", f"{ws_url(second.base_url)}/jobs/two", job_body()).status_code == 201
    second.admin("POST", "latency", {"scale": 0.0001})
    delete = call(second, "DELETE", f"{ws_url(second.base_url)}/jobs/one", api="2023-04-01-preview")
    assert delete.status_code == 202
    second.admin("POST", "clock", {"advanceSeconds": 60})
    stop_with(second, signal.SIGTERM)
    third = start(processes, cert_dir=certs, state_file=state_file)
    names = [j["name"] for j in call(third, "GET", f"{ws_url(third.base_url)}/jobs").json()["value"]]
    assert names == ["two"]


def test_reset_with_a_state_file_forgets_everything(tmp_path: Path, processes) -> None:
    certs, state_file = tmp_path / "certs", tmp_path / "sim.json"
    first = start(processes, cert_dir=certs, state_file=state_file)
    call(first, "PUT", f"{ws_url(first.base_url)}/jobs/gone", job_body())
    first.admin("POST", "reset")
    stop_with(first, signal.SIGTERM)
    second = start(processes, cert_dir=certs, state_file=state_file)
    assert call(second, "GET", f"{ws_url(second.base_url)}/jobs").json()["value"] == []


# -- command-line options -------------------------------------------------------------------------


def test_workspace_option_seeds_a_second_workspace(tmp_path: Path, processes, monkeypatch) -> None:
    other_sub = "11111111-2222-3333-4444-555555555555"
    proc = start(processes, extra_args=["--workspace", f"{other_sub}/rg-two/ws-two@westus3"])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(proc.ca))  # restored after the test

    ml_two = proc.ml_client(other_sub, "rg-two", "ws-two", retry_total=0)
    ws_two = ml_two.workspaces.get("ws-two")
    assert (ws_two.name, ws_two.location) == ("ws-two", "westus3")
    ws_sim = proc.ml_client(retry_total=0).workspaces.get("ws-sim")
    assert ws_sim.location == "eastus2"  # the default workspace is always there

    # The workspaces are separate: a job in one is not in the other.
    assert (
        call(
            proc, "PUT", f"{ws_url(proc.base_url, other_sub, 'rg-two', 'ws-two')}/jobs/j2", job_body()
        ).status_code
        == 201
    )
    assert [j.name for j in ml_two.jobs.list()] == ["j2"]
    assert list(proc.ml_client(retry_total=0).jobs.list()) == []
    # Serverless endpoints get the seeded workspace's region.
    proc.admin("POST", "latency", {"scale": 0.0001})
    body = {**SERVERLESS_BODY, "location": "westus3"}
    created = call(
        proc,
        "PUT",
        f"{ws_url(proc.base_url, other_sub, 'rg-two', 'ws-two')}/serverlessEndpoints/west-sls",
        body,
    )
    assert created.status_code == 201 and created.json()["location"] == "westus3"


def test_workspace_added_on_restart_with_a_state_file(tmp_path: Path, processes) -> None:
    certs, state_file = tmp_path / "certs", tmp_path / "sim.json"
    first = start(processes, cert_dir=certs, state_file=state_file)
    assert call(first, "PUT", f"{ws_url(first.base_url)}/jobs/kept", job_body()).status_code == 201
    stop_with(first, signal.SIGTERM)

    second = start(
        processes,
        cert_dir=certs,
        state_file=state_file,
        extra_args=["--workspace", f"{SUB}/rg-sim/ws-new@westus"],
    )
    new = call(second, "GET", ws_url(second.base_url, ws="ws-new"))
    assert new.status_code == 200, new.text
    assert new.json()["location"] == "westus"
    old = call(second, "GET", ws_url(second.base_url)).json()
    assert new.json()["properties"]["workspaceId"] != old["properties"]["workspaceId"]
    assert call(second, "GET", f"{ws_url(second.base_url)}/jobs/kept").status_code == 200


def test_throttle_options(processes) -> None:
    proc = start(processes, extra_args=["--throttle-reads", "2/0.01", "--throttle-writes", "1/0.01"])
    ws = ws_url(proc.base_url)
    assert [call(proc, "GET", ws).status_code for _ in range(3)] == [200, 200, 429]
    assert call(proc, "PUT", f"{ws}/jobs/a", job_body()).status_code == 201
    assert call(proc, "PUT", f"{ws}/jobs/b", job_body()).status_code == 429


def test_no_throttle_option(processes) -> None:
    proc = start(processes, extra_args=["--no-throttle", "--throttle-reads", "1/0.01"])
    assert {call(proc, "GET", ws_url(proc.base_url)).status_code for _ in range(5)} == {200}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workspace", "not-a-workspace"], "SUB/RG/NAME@LOCATION"),
        (["--workspace", "sub/rg/ws"], "SUB/RG/NAME@LOCATION"),
        (["--latency-scale", "0"], "greater than 0"),
        (["--latency-scale", "-1"], "greater than 0"),
        (["--latency-scale", "fast"], "expected a number"),
        (["--throttle-reads", "5"], "CAPACITY/REFILL_PER_SECOND"),
        (["--throttle-writes", "a/b"], "CAPACITY/REFILL_PER_SECOND"),
        (["--port", "99999"], "between 0 and 65535"),
        (["--port", "http"], "expected a port number"),
        (["--seed", "x"], "--seed"),
        (["--no-such-option"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_exit_non_zero_with_a_message(args: list[str], message: str) -> None:
    result = run_cli("--port", "0", *args) if "--port" not in args else run_cli(*args)
    assert result.returncode != 0
    assert result.stdout == ""
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_exits_with_a_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("--port", str(port), "--cert-dir", str(tmp_path / "certs"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "address already in use" in result.stderr.lower()
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("content", ["not json", '{"version": 99}', '{"version": 1}', "[]"])
def test_unreadable_state_file_exits_with_a_message(tmp_path: Path, content: str) -> None:
    state_file = tmp_path / "sim.json"
    state_file.write_text(content)
    result = run_cli("--port", "0", "--cert-dir", str(tmp_path / "certs"), "--state-file", str(state_file))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "state file" in result.stderr and str(state_file) in result.stderr
    assert "Traceback" not in result.stderr
    assert state_file.read_text() == content  # not overwritten


@pytest.mark.skipif(not (socket.has_ipv6 and _can_bind("::1")), reason="no IPv6 loopback on this machine")
def test_ipv6_loopback_host(processes) -> None:
    proc = start(processes, extra_args=["--host", "::1"])
    assert proc.base_url.startswith("https://[::1]:")
    resp = call(proc, "GET", ws_url(proc.base_url))
    assert resp.status_code == 200, resp.text
    # URLs the simulator hands out point back at the address the client used.
    assert resp.json()["properties"]["discoveryUrl"] == f"{proc.base_url}/discovery"
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"https://127.0.0.1:{proc.port}/", verify=str(proc.ca), timeout=5)
