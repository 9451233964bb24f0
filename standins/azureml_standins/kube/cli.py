"""`azureml-standins kube`: serve the Kubernetes API stand-in until interrupted.

Prints exactly one line, `ready https://HOST:PORT kubeconfig=PATH`, once it accepts connections,
so that scripts and tests can wait for it; PATH is a kubeconfig for kopf, kubectl and the
kubernetes client, with the stand-in's CA and the admin token (user `admin`, group
`system:masters`: allowed anything). Other clients authenticate with ServiceAccount tokens
(`kubectl create token`) and are authorized by RBAC. Use `--port 0` for any free port.

It serves HTTPS only, as API servers do: kubectl (client-go) sends no credentials at all to a
plain-HTTP server, so over HTTP nobody could be told from anonymous.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from azureml_standins.serving import port_arg, positive_arg, run_until_signalled, url_host


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "kube",
        help="serve a local Kubernetes API stand-in over HTTP (for tests and the demo)",
        description=__doc__,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=port_arg, default=8001, help="port to listen on; 0 picks a free one (default 8001)"
    )
    p.add_argument(
        "--kubeconfig-out",
        type=Path,
        help="write the kubeconfig here (default: a file in a temporary directory removed on exit)",
    )
    p.add_argument(
        "--crd",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="install the CustomResourceDefinitions in this YAML file (or directory of them) at start; repeatable",
    )
    p.add_argument(
        "--bookmark-interval",
        type=positive_arg,
        default=5.0,
        help="seconds between BOOKMARK events on watches that allow them (default 5)",
    )
    p.add_argument(
        "--history-limit",
        type=int,
        default=10_000,
        help="watch events kept for resuming watches; older resourceVersions get 410 Gone (default 10000)",
    )
    p.add_argument(
        "--strict-fields",
        action="store_true",
        help="reject fields a CRD does not declare on every request, as with fieldValidation=Strict "
        "(by default they are pruned with a warning, as a real API server does)",
    )
    p.add_argument(
        "--cert-dir",
        type=Path,
        help="keep the CA (ca.pem) and serving certificate here, reused when still valid "
        "(default: a temporary directory removed on exit)",
    )
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.set_defaults(func=run)


def write_kubeconfig(
    path: Path,
    server: str,
    namespace: str = "default",
    *,
    token: str | None = None,
    user: str = "azureml-kube",
    ca: Path | None = None,
) -> Path:
    """A kubeconfig for `server` (trusting the CA in file `ca`) with a bearer `token` (the admin
    token by default) as `user`."""
    import base64

    import yaml

    from azureml_standins.kube.auth import ADMIN_TOKEN

    cluster: dict[str, str] = {"server": server}
    if ca is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "azureml-kube", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token or ADMIN_TOKEN}}],
        "contexts": [
            {
                "name": "azureml-kube",
                "context": {"cluster": "azureml-kube", "user": user, "namespace": namespace},
            }
        ],
        "current-context": "azureml-kube",
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _install_crds(store: Any, files: list[Path]) -> None:
    import yaml

    info = store.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    paths = [p for f in files for p in (sorted(f.glob("*.yaml")) if f.is_dir() else [f])]
    for file in paths:
        for doc in yaml.safe_load_all(file.read_text()):
            if doc:
                store.create(info, None, doc)


def run(args: argparse.Namespace) -> int:
    import ssl

    from azureml_standins.kube.errors import ApiError
    from azureml_standins.kube.server import serve
    from azureml_standins.kube.store import Store
    from azureml_standins.simulator.tls import ensure_certificates

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    store = Store(history_limit=args.history_limit, strict_fields=args.strict_fields)
    try:
        _install_crds(store, args.crd)
    except (OSError, ApiError) as e:
        print(f"azureml-standins kube: {e}", file=sys.stderr)
        return 1
    tmp = None
    kubeconfig, cert_dir = args.kubeconfig_out, args.cert_dir
    if kubeconfig is None or cert_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="azureml-kube-")
        kubeconfig = kubeconfig or Path(tmp.name) / "kubeconfig"
        cert_dir = cert_dir or Path(tmp.name) / "certs"
    try:
        certs = ensure_certificates(cert_dir, args.host, ca_name="azureml-standins kube CA")
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(str(certs.cert), str(certs.key))

        def ready(port: int) -> None:
            url = f"https://{url_host(args.host)}:{port}"
            path = write_kubeconfig(kubeconfig, url, ca=certs.ca).resolve()
            print(f"ready {url} kubeconfig={path}", flush=True)

        run_until_signalled(
            lambda stop: serve(
                store,
                args.host,
                args.port,
                ssl_context=ssl_context,
                on_ready=ready,
                stop=stop,
                bookmark_interval=args.bookmark_interval,
                access_log=args.verbose,
            )
        )
    except OSError as e:
        print(f"azureml-standins kube: {e}", file=sys.stderr)
        return 1
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0
