"""Run `azureml-standins kube` as a child process and talk to it: for tests, the demo and users' CI.

    with KubeProcess() as kube:
        api = kubernetes.client.CustomObjectsApi(kube.client())
        os.environ["KUBECONFIG"] = str(kube.kubeconfig)   # for kopf or kubectl (admin)
        as_sa = kube.service_account_kubeconfig("ns", "operator", create=True)   # RBAC applies
        assert kube.denied()["count"] == 0

The child prints `ready http://HOST:PORT kubeconfig=PATH`; the URL and kubeconfig come from that line.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from azureml_standins.child import ReadyLineProcess
from azureml_standins.kube.auth import ADMIN_TOKEN

_READY = re.compile(r"^ready (?P<url>https://\S+) kubeconfig=(?P<kubeconfig>.+)$")


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
        self.cert_dir = self.tmp_dir / "certs"
        self.ca = self.cert_dir / "ca.pem"  # the stand-in serves HTTPS with a CA of its own
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
            "--cert-dir",
            str(self.cert_dir),
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

    def configuration(self, token: str | None = None) -> Any:
        """A `kubernetes.client.Configuration` for the stand-in: what the kubeconfig says (the
        admin token), or another bearer token (a ServiceAccount's)."""
        from kubernetes import client

        config = client.Configuration()
        config.host = self.url
        config.ssl_ca_cert = str(self.ca)
        config.api_key = {"authorization": token or ADMIN_TOKEN}
        config.api_key_prefix = {"authorization": "Bearer"}
        return config

    def client(self, token: str | None = None) -> Any:
        """A `kubernetes.client.ApiClient` talking to the stand-in (as admin, or with `token`)."""
        from kubernetes import client

        return client.ApiClient(self.configuration(token))

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        import requests

        resp = requests.request(
            method,
            self.url + path,
            json=body,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            verify=str(self.ca),
            timeout=30,
        )
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text}")
        return resp.json()

    def denied(self) -> dict[str, Any]:
        """The stand-in's record of refusals (`GET /_standin/denied`): `count` (403s since the
        start or the last reset), `unauthorized` (401s), and `denied`, the last 100 403s oldest
        first, each with `user`, `groups`, `verb`, `apiGroup`, `resource`, `subresource`,
        `namespace`, `name`, `path` and the `message` the client got."""
        result: dict[str, Any] = self._admin("GET", "/_standin/denied")
        return result

    def reset_denied(self) -> None:
        """Forget the refusals recorded so far (`POST /_standin/denied/reset`)."""
        self._admin("POST", "/_standin/denied/reset")

    def watch_faults(self, **faults: bool) -> dict[str, Any]:
        """Break the watches (`POST /_standin/faults`): `compact=True` forgets the history so that
        resumptions get 410, `drop_watches=True` ends every open stream, `expire_watches=True` ends
        every one with an ERROR 410 event. Returns what was done."""
        names = {"compact": "compact", "drop_watches": "dropWatches", "expire_watches": "expireWatches"}
        result: dict[str, Any] = self._admin(
            "POST", "/_standin/faults", {names[k]: v for k, v in faults.items()}
        )
        return result

    def expired_resumptions(self) -> int:
        """How many watch resumptions the stand-in refused with 410 since it started."""
        return int(self._admin("GET", "/_standin/faults")["expiredResumptions"])

    def service_account_token(
        self, namespace: str, name: str, *, expiration_seconds: int = 3600, create: bool = False
    ) -> str:
        """A token for ServiceAccount `namespace/name` through the TokenRequest API (`kubectl
        create token`); `create` makes the ServiceAccount first if it does not exist."""
        if create:
            import requests

            resp = requests.post(
                f"{self.url}/api/v1/namespaces/{namespace}/serviceaccounts",
                json={"metadata": {"name": name}},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                verify=str(self.ca),
                timeout=30,
            )
            if resp.status_code not in (201, 409):
                raise RuntimeError(
                    f"creating serviceaccount {namespace}/{name}: {resp.status_code} {resp.text}"
                )
        answer = self._admin(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": expiration_seconds},
            },
        )
        token: str = answer["status"]["token"]
        return token

    def service_account_kubeconfig(
        self,
        namespace: str,
        name: str,
        *,
        path: Path | None = None,
        expiration_seconds: int = 3600,
        create: bool = False,
    ) -> Path:
        """Write a kubeconfig that authenticates as ServiceAccount `namespace/name` (default
        namespace `namespace`), e.g. to run the operator as the ServiceAccount its manifests
        bind; returns its path (by default in this process's temporary directory)."""
        from azureml_standins.kube.cli import write_kubeconfig

        token = self.service_account_token(
            namespace, name, expiration_seconds=expiration_seconds, create=create
        )
        path = path or self.tmp_dir / f"kubeconfig-{namespace}-{name}"
        return write_kubeconfig(
            path,
            self.url,
            namespace,
            token=token,
            user=f"system:serviceaccount:{namespace}:{name}",
            ca=self.ca,
        )
