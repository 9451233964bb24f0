"""Helm, through its own Go library (helm-sdkpy), against the Kubernetes stand-in: lint the chart,
install it with given values and read back what Helm rendered and applied. (A uniquely named
module: the test directories are not packages.)

helm-sdkpy 0.1.32 offers no `helm template` and no dry run, so rendering is an install: into a
fresh stand-in behind `BuiltinsProxy`, which takes the built-in kinds the stand-in does not serve.
Its lint result carries each finding's severity and file but not its text (the Go error values
serialise as `{}`), so findings are told apart by severity and path."""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[2]
CHART = ROOT / "charts" / "azureml-operator"

# Helm's client keeps a cache, a repository list and registry logins under the user's home; the
# tests use none of them, so they get a directory of their own instead of creating ~/.cache/helm.
# Set before the library is first loaded (the Go runtime reads the environment once).
_HELM_HOME = Path(tempfile.mkdtemp(prefix="azureml-chart-helm-"))
atexit.register(shutil.rmtree, _HELM_HOME, True)
for _var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
    os.environ.setdefault(_var, str(_HELM_HOME / _var.lower()))

import helm_sdkpy  # noqa: E402  (after the environment above)

# helm.sh/helm/v4/pkg/lint/support: UnknownSev, InfoSev, WarningSev, ErrorSev.
INFO, WARNING, ERROR = 1, 2, 3


def run[T](coro: Any) -> T:
    """helm-sdkpy is async only; the tests are plain functions."""
    result: T = asyncio.run(coro)
    return result


def lint(chart: Path = CHART) -> list[tuple[int, str]]:
    """(severity, path) of every finding `helm lint` makes."""
    config = helm_sdkpy.Configuration(namespace="default", kubeconfig=str(chart / "no-cluster"))
    result = run(helm_sdkpy.Lint(config).run(str(chart)))
    return [(m["Severity"], m["Path"]) for m in result.get("Messages") or []]


@dataclass
class Release:
    name: str
    namespace: str
    docs: list[dict[str, Any]]
    notes: str
    raw: dict[str, Any] = field(repr=False)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [d for d in self.of(kind) if name is None or d["metadata"]["name"] == name]
        assert len(found) == 1, f"{len(found)} {kind} {name or ''} in {[d['kind'] for d in self.docs]}"
        return found[0]

    def kinds(self) -> list[str]:
        return sorted(d["kind"] for d in self.docs)

    @property
    def deployment(self) -> dict[str, Any]:
        return self.one("Deployment")

    @property
    def container(self) -> dict[str, Any]:
        [container] = self.deployment["spec"]["template"]["spec"]["containers"]
        return dict(container)


def parse_manifest(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


class Helm:
    """One cluster (a stand-in behind its proxy), as Helm sees it through a kubeconfig."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    def config(self, namespace: str) -> Any:
        return helm_sdkpy.Configuration(namespace=namespace, kubeconfig=str(self.kubeconfig))

    def ensure_namespace(self, name: str) -> None:
        from kubernetes import client, config
        from kubernetes.client.exceptions import ApiException

        api = config.new_client_from_config(str(self.kubeconfig))
        try:
            client.CoreV1Api(api).create_namespace(
                client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
            )
        except ApiException as err:
            if err.status not in (409, 422):  # there already, or a name the schema will refuse
                raise
        finally:
            api.close()

    def install(
        self,
        values: dict[str, Any] | None = None,
        *,
        release: str = "aml",
        namespace: str = "azureml-system",
        chart: Path = CHART,
    ) -> Release:
        # The namespaces a release watches exist before it is installed, as in any cluster: its
        # Roles and RoleBindings go there, and the API server refuses objects in missing namespaces.
        watched = (values or {}).get("watchNamespaces")
        for name in watched if isinstance(watched, list) else []:
            self.ensure_namespace(name)
        result = run(
            helm_sdkpy.Install(self.config(namespace)).run(
                release, str(chart), values=values, wait=False, create_namespace=True
            )
        )
        return Release(
            release, namespace, parse_manifest(result["manifest"]), result["info"].get("notes", ""), result
        )

    def upgrade(
        self,
        values: dict[str, Any] | None = None,
        *,
        release: str = "aml",
        namespace: str = "azureml-system",
        chart: Path = CHART,
    ) -> Release:
        result = run(
            helm_sdkpy.Upgrade(self.config(namespace)).run(release, str(chart), values=values, wait=False)
        )
        return Release(
            release, namespace, parse_manifest(result["manifest"]), result["info"].get("notes", ""), result
        )

    def uninstall(self, *, release: str = "aml", namespace: str = "azureml-system") -> dict[str, Any]:
        result: dict[str, Any] = run(helm_sdkpy.Uninstall(self.config(namespace)).run(release, wait=False))
        return result

    def refusal(self, values: dict[str, Any]) -> str:
        """The message an install with these values fails with (it must fail)."""
        try:
            self.install(values, release="refused")
        except helm_sdkpy.HelmError as err:
            return str(err)
        raise AssertionError(f"installed with {values}")
