"""`azureml-operator run`: configure the process (trust, logging, metrics, health) and run kopf
with the operator's handlers until a signal stops it. With --leader-election, kopf starts only
once this replica holds the Lease (leader.py), and the process ends as soon as it no longer does."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import shutil
import ssl
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azureml_operator import allocator, leader, logs
from azureml_operator import settings as settings_mod

if TYPE_CHECKING:
    import kopf

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


@contextlib.contextmanager
def trusting_extra_ca(bundle: str | None) -> Iterator[Path | None]:
    """REQUESTS_CA_BUNDLE *replaces* the trust store (azure-ml-arm-contract.md §1.4), so the extra
    CA is appended to certifi's (or the already-configured) bundle rather than set alone. The
    combined file lives only as long as the operator: every start used to leave one in /tmp."""
    if not bundle:
        yield None
        return
    import certifi

    before = os.environ.get("REQUESTS_CA_BUNDLE")
    home = Path(tempfile.mkdtemp(prefix="azureml-operator-ca-"))
    combined = home / "ca-bundle.pem"
    combined.write_text(Path(before or certifi.where()).read_text() + "\n" + Path(bundle).read_text())
    os.environ["REQUESTS_CA_BUNDLE"] = str(combined)
    try:
        yield combined
    finally:
        if before is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = before
        shutil.rmtree(home, ignore_errors=True)


def main(args: argparse.Namespace) -> int:
    try:
        settings = settings_mod.from_arguments(args)
    except settings_mod.SettingsError as err:
        print(f"azureml-operator run: {err}", file=sys.stderr)
        return 2
    allocator.limit_arenas()  # before kopf and the clients start their threads
    logs.configure(settings.log_level, settings.log_format)
    for noisy in ("azure", "urllib3", "kubernetes", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("kopf.objects").addFilter(RequeueIsNotAnError())
    with trusting_extra_ca(settings.ca_bundle):
        asyncio.run(operate(settings))
    # kopf has stopped every loop and written nothing since the signal. An Azure call still in a
    # worker thread is abandoned: waiting for it (as the interpreter would, joining its threads)
    # only delays a rollout, and the next operator reads everything afresh.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


async def operate(settings: settings_mod.Settings) -> None:
    from azureml_operator import metrics

    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
    if not settings.leader_election:
        await run_kopf(settings)
        return
    elector = await lead(settings)
    holding = asyncio.create_task(elector.hold())
    try:
        await run_kopf(settings)
    finally:
        # kopf has stopped every loop: nothing writes any more, so the next leader may start now.
        holding.cancel()
        await elector.release()
        elector.close()


async def lead(settings: settings_mod.Settings) -> leader.Elector:
    """Stand by until this replica holds the Lease. Meanwhile /healthz answers (a standby is
    healthy, and ready: it is ready to take over), and what the operator's start imports is
    imported first, so that a failover costs the lease expiry and kopf's first listing only."""
    from azureml_operator import wiring

    elector = await asyncio.to_thread(
        lambda: leader.Elector(
            wiring.kube_api_client(),
            settings.lease_namespace or "",
            settings.lease_name,
            leader.identity(),
            settings.lease_timings,
            on_lost=lost,
        )
    )
    health = await serve_standby_health(settings.health_port, elector.identity)
    try:
        # Before standing as a candidate: the imports are seconds of CPU, and a leader that spent
        # them competing with its own renewals for the interpreter could miss its renew deadline.
        await asyncio.to_thread(warm_up)
        await elector.acquire()
    finally:
        if health is not None:
            await health.cleanup()  # kopf serves /healthz on the same port from now on
    return elector


# What the leader's startup would otherwise import first: the kubernetes client's API classes (each
# builds thousands of validators on import). Not azure-ai-ml: the operator never imports it.
WARM_UP = ("kubernetes.client.api.core_v1_api", "kubernetes.client.api.custom_objects_api")


def warm_up() -> None:
    for module in WARM_UP:
        importlib.import_module(module)


def lost(why: str) -> None:
    """Leadership is gone (or can no longer be proven): stop at once, whatever runs. Another replica
    may be leading within moments; the Deployment restarts this one, as a candidate again."""
    log.error("leader election lost, exiting: %s", why)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


async def serve_standby_health(port: int, identity: str) -> Any:
    """/healthz for a standby, whose kopf (and its liveness endpoint) has not started."""
    if not port:
        return None
    from aiohttp import web

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"leader": False, "identity": identity})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner


def bounded_session(info: kopf.ConnectionInfo, ssl_context: ssl.SSLContext) -> kopf.AiohttpSession:
    """kopf's session for this login, with its requests bounded (see kubehttp); kopf calls the
    login handler again on a 401, and closes the session it replaces. `ssl_context` is the info's
    own, built off the loop (it reads the CA and may write the client key to a temporary file)."""
    import kopf

    from azureml_operator import kubehttp

    return kopf.AiohttpSession(
        aiohttp_session=kubehttp.session(
            ssl_context=ssl_context,
            headers=info.as_http_headers(),
            proxy=info.proxy_url,
            trust_env=info.trust_env,
        ),
        server=info.server,
        default_namespace=info.default_namespace,
        priority=info.priority,
        expiration=info.expiration,
    )


async def run_kopf(settings: settings_mod.Settings) -> None:
    import kopf

    from azureml_operator import wiring

    registry = kopf.OperatorRegistry()

    def read_login(**kwargs: Any) -> tuple[kopf.ConnectionInfo, ssl.SSLContext] | None:
        info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
        return None if info is None else (info, info.as_ssl_context())

    # Async: aiohttp builds a session only inside the running loop. The files are read in a thread.
    @kopf.on.login(registry=registry)
    async def login(**kwargs: Any) -> kopf.AiohttpSession | None:
        read = await asyncio.to_thread(read_login, **kwargs)
        return None if read is None else bounded_session(*read)

    wiring.register(registry, settings)
    log.info(
        "%swatching %s; ARM %s; default workspace %s",
        "leading; " if settings.leader_election else "",
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
