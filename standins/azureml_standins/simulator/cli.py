"""`azureml-standins simulator`: serve the Azure ML ARM simulator until interrupted.

Prints exactly one line, `ready https://HOST:PORT ca=PATH`, once it accepts connections, so that
scripts and tests can wait for it and read the port (use `--port 0` for any free one).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from azureml_standins.serving import port_arg, positive_arg, run_until_signalled, url_host
from azureml_standins.simulator.config import (
    DEFAULT_WORKSPACE,
    Bucket,
    Limits,
    SimulatorConfig,
    ThrottleConfig,
    WorkspaceSeed,
)


def _bucket(text: str) -> Bucket:
    try:
        capacity, rate = text.split("/")
        return Bucket(float(capacity), float(rate))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected CAPACITY/REFILL_PER_SECOND, e.g. 250/25, got {text!r}"
        ) from None


def _workspace(text: str) -> WorkspaceSeed:
    try:
        return WorkspaceSeed.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "simulator", help="serve a local Azure ML ARM simulator over HTTPS", description=__doc__
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=port_arg, default=8443, help="port to listen on; 0 picks a free one (default 8443)"
    )
    p.add_argument(
        "--cert-dir",
        type=Path,
        help="where the CA and server certificate live (created if absent); default: a temporary directory",
    )
    p.add_argument(
        "--workspace",
        action="append",
        type=_workspace,
        default=[],
        metavar="SUB/RG/NAME@LOCATION",
        help="seed another workspace (repeatable); ws-sim in rg-sim is always there",
    )
    p.add_argument(
        "--latency-scale",
        type=positive_arg,
        default=1.0,
        help="multiply realistic provisioning times by this (tests use e.g. 0.01)",
    )
    p.add_argument("--state-file", type=Path, help="persist state here, so a restart loses nothing")
    p.add_argument("--no-throttle", action="store_true", help="disable ARM throttling")
    p.add_argument("--throttle-reads", type=_bucket, default=Bucket(250, 25), metavar="CAP/RATE")
    p.add_argument("--throttle-writes", type=_bucket, default=Bucket(200, 10), metavar="CAP/RATE")
    p.add_argument("--throttle-deletes", type=_bucket, default=Bucket(200, 10), metavar="CAP/RATE")
    p.add_argument(
        "--instance-quota",
        type=int,
        default=Limits.instance_quota,
        help="instances (with the 20%% upgrade reserve) a subscription may run per region",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for fault-rate randomness")
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.set_defaults(func=run)


def _add_missing_workspaces(sim: Any, seeds: tuple[WorkspaceSeed, ...]) -> None:
    """Seed `--workspace`s that a loaded `--state-file` does not know yet.

    A loaded state replaces the seeded one wholesale, so a workspace added to the command line
    between two runs on the same state file used to be silently missing (every call 404).
    """
    from azureml_standins.simulator.state import State

    used = {w.workspace_id for w in sim.state.workspaces.values()}
    fresh = State.seeded(seeds).workspaces
    n = len(fresh)
    added = False
    for key, ws in fresh.items():
        if key in sim.state.workspaces:
            continue
        while ws.workspace_id in used:  # keep properties.workspaceId unique
            ws.workspace_id = f"00000000-0000-0000-0000-{0xABCD + n:012x}"
            n += 1
        used.add(ws.workspace_id)
        sim.state.workspaces[key] = ws
        added = True
    if added:
        sim.persist()


def run(args: argparse.Namespace) -> int:
    from azureml_standins.simulator.core import Simulator
    from azureml_standins.simulator.server import serve, server_ssl_context
    from azureml_standins.simulator.tls import ensure_certificates

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    seeds = tuple(dict.fromkeys([DEFAULT_WORKSPACE, *args.workspace]))
    config = SimulatorConfig(
        workspaces=seeds,
        latency_scale=args.latency_scale,
        limits=Limits(instance_quota=args.instance_quota),
        throttle=ThrottleConfig(
            enabled=not args.no_throttle,
            reads=args.throttle_reads,
            writes=args.throttle_writes,
            deletes=args.throttle_deletes,
        ),
        seed=args.seed,
    )
    tmp = None
    cert_dir = args.cert_dir
    if cert_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="azureml-sim-")
        cert_dir = Path(tmp.name)
    try:
        certs = ensure_certificates(cert_dir, args.host)
        sim = Simulator(config, state_file=args.state_file)
        _add_missing_workspaces(sim, seeds)
        ssl_context = server_ssl_context(str(certs.cert), str(certs.key))

        def ready(port: int) -> None:
            print(f"ready https://{url_host(args.host)}:{port} ca={certs.ca.resolve()}", flush=True)

        run_until_signalled(
            lambda stop: serve(
                sim, args.host, args.port, ssl_context, on_ready=ready, stop=stop, access_log=args.verbose
            )
        )
    except (OSError, ValueError) as e:
        # ValueError: an unreadable --state-file (state.load says which and why).
        print(f"azureml-standins simulator: {e}", file=sys.stderr)
        return 1
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0
