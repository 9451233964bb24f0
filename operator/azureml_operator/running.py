"""`azureml-operator run`: configure the process (trust, logging, metrics, health) and run kopf
with the operator's handlers until a signal stops it."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from azureml_operator import logs
from azureml_operator import settings as settings_mod

log = logging.getLogger("azureml_operator")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "run",
        help="run the operator against the cluster in KUBECONFIG (or in-cluster)",
        description="Run the operator. Every flag has an AZUREML_OPERATOR_<FLAG> environment variable; "
        "a port of 0 turns that endpoint off.",
    )
    settings_mod.add_arguments(parser)
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging (--log-level DEBUG)")
    parser.set_defaults(func=main)


class RequeueIsNotAnError(logging.Filter):
    """kopf logs a deletion that polls Azure (a kopf.TemporaryError) as an ERROR, and every watch
    event handled as INFO. Both are routine; the operator logs real failures itself (wiring.post),
    so these become DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        routine = (record.levelno == logging.ERROR and "failed temporarily" in message) or (
            record.levelno == logging.INFO and message.startswith("Handler 'wake")
        )
        if routine:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def trust_extra_ca(bundle: str) -> Path:
    """REQUESTS_CA_BUNDLE *replaces* the trust store (azure-ml-arm-contract.md §1.4), so the extra
    CA is appended to certifi's (or the already-configured) bundle rather than set alone."""
    import certifi

    base = os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where()
    combined = Path(tempfile.mkdtemp(prefix="azureml-operator-ca-")) / "ca-bundle.pem"
    combined.write_text(Path(base).read_text() + "\n" + Path(bundle).read_text())
    os.environ["REQUESTS_CA_BUNDLE"] = str(combined)
    return combined


def main(args: argparse.Namespace) -> int:
    try:
        settings = settings_mod.from_arguments(args)
    except settings_mod.SettingsError as err:
        print(f"azureml-operator run: {err}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    for noisy in ("azure", "urllib3", "kubernetes", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("kopf.objects").addFilter(RequeueIsNotAnError())
    if settings.ca_bundle:
        trust_extra_ca(settings.ca_bundle)
    asyncio.run(operate(settings))
    # kopf has stopped every loop and written nothing since the signal. An Azure call still in a
    # worker thread is abandoned: waiting for it (as the interpreter would, joining its threads)
    # only delays a rollout, and the next operator reads everything afresh.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


async def operate(settings: settings_mod.Settings) -> None:
    import kopf

    from azureml_operator import metrics, wiring

    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    wiring.register(registry, settings)
    log.info(
        "watching %s; ARM %s; default workspace %s",
        "all namespaces" if settings.all_namespaces else ", ".join(settings.namespaces),
        settings.arm_endpoint,
        settings.default_workspace or "(none)",
    )
    await kopf.operator(
        registry=registry,
        memo=kopf.Memo(state=wiring.OperatorState(settings)),
        clusterwide=settings.all_namespaces,
        namespaces=list(settings.namespaces),
        standalone=True,
        liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None,
    )
