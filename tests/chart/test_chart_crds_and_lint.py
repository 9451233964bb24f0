"""`helm lint` finds nothing to complain about; the chart's CRDs are the generated ones, templated
(so an upgrade updates them) and kept on uninstall (so users' objects survive it)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_helpers import CHART, INFO, ROOT, WARNING, Helm, lint
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from azureml_operator import crdgen

CHART_CRDS = CHART / "files" / "crds"
KEEP = {"helm.sh/resource-policy": "keep"}


def test_lint_is_clean() -> None:
    findings = lint()
    # Nothing at warning level or above (what `helm lint --strict` would fail on) ...
    assert [f for f in findings if f[0] >= WARNING] == [], findings
    # ... and the one INFO is Chart.yaml's "icon is recommended": a copy with an icon has none.
    assert findings == [(INFO, "Chart.yaml")]


def test_lint_finds_a_broken_template(tmp_path: Path) -> None:
    """The lint test can fail: a template error and a schema violation are both reported."""
    broken = tmp_path / "azureml-operator"
    shutil.copytree(CHART, broken)
    (broken / "templates" / "broken.yaml").write_text("{{ .Values.nothing.here }}\n")
    values = (broken / "values.yaml").read_text().replace("replicas: 1", "replicas: -1")
    (broken / "values.yaml").write_text(values)
    chart = (broken / "Chart.yaml").read_text() + "icon: https://example.com/icon.png\n"
    (broken / "Chart.yaml").write_text(chart)
    findings = lint(broken)
    assert sorted(findings) == [(3, "templates/"), (3, "values.yaml")]


def test_the_charts_crds_are_the_generated_ones() -> None:
    generated = crdgen.render_all()
    assert sorted(p.name for p in CHART_CRDS.glob("*.yaml")) == sorted(generated), "run `make crds`"
    for name, text in generated.items():
        assert (CHART_CRDS / name).read_text() == text, f"files/crds/{name} is stale: run `make crds`"
        assert (CHART_CRDS / name).read_bytes() == (ROOT / "crds" / name).read_bytes(), name


def committed(kind: str) -> dict[str, Any]:
    for path in (ROOT / "crds").glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] == kind:
            return dict(crd)
    raise AssertionError(kind)


def test_rendered_crds_are_the_committed_ones_kept(helm: Helm) -> None:
    release = helm.install()
    crds = release.of("CustomResourceDefinition")
    assert len(crds) == len(list((ROOT / "crds").glob("*.yaml")))
    for crd in crds:
        want = committed(crd["spec"]["names"]["kind"])
        # fromYaml/toYaml round-trip the schema unchanged (numbers, quoting, CEL rules).
        assert crd["spec"] == want["spec"]
        assert crd["metadata"]["name"] == want["metadata"]["name"]
        assert crd["metadata"]["annotations"] == KEEP
        assert want["metadata"]["labels"].items() <= crd["metadata"]["labels"].items()
        assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"


def test_crds_install_false_renders_none(helm: Helm) -> None:
    release = helm.install({"crds": {"install": False}})
    assert "CustomResourceDefinition" not in release.kinds()
    assert "apply the CRDs yourself" in release.notes


def test_crds_keep_false_drops_the_annotation(helm: Helm) -> None:
    release = helm.install({"crds": {"keep": False}})
    for crd in release.of("CustomResourceDefinition"):
        assert "annotations" not in crd["metadata"], crd["metadata"]


def workspace(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "azureml.dev/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": "team", "namespace": namespace},
        "spec": {
            "subscriptionId": "00000000-0000-0000-0000-000000000000",
            "resourceGroup": "rg",
            "workspaceName": "ws-sim",
        },
    }


def crd_names(stand_in: client.ApiClient) -> set[str]:
    listed = client.ApiextensionsV1Api(stand_in).list_custom_resource_definition()
    return {c.metadata.name for c in listed.items}


@pytest.mark.parametrize("keep", [True, False], ids=["keep", "no-keep"])
def test_uninstall_keeps_the_crds_and_the_users_objects(
    helm: Helm, stand_in: client.ApiClient, keep: bool
) -> None:
    release = helm.install({"crds": {"keep": keep}})
    names = {c["metadata"]["name"] for c in release.of("CustomResourceDefinition")}
    assert names <= crd_names(stand_in)  # really applied, and served: an object of a kind is admitted
    custom = client.CustomObjectsApi(stand_in)
    custom.create_namespaced_custom_object(
        "azureml.dev", "v1alpha1", "default", "workspaces", workspace("default")
    )
    helm.uninstall()
    core = client.CoreV1Api(stand_in)
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_service_account(
            release.one("ServiceAccount")["metadata"]["name"], release.namespace
        )
    assert gone.value.status == 404  # the uninstall did run
    if keep:
        assert names <= crd_names(stand_in)
        assert custom.get_namespaced_custom_object("azureml.dev", "v1alpha1", "default", "workspaces", "team")
    else:
        assert not names & crd_names(stand_in)


def test_an_upgrade_updates_the_crds(helm: Helm, stand_in: client.ApiClient, tmp_path: Path) -> None:
    """Unlike crds/ in a chart, which Helm installs once and never upgrades."""
    helm.install()
    newer = tmp_path / "azureml-operator"
    shutil.copytree(CHART, newer)
    path = newer / "files" / "crds" / "azureml.dev_workspaces.yaml"
    crd = yaml.safe_load(path.read_text())
    crd["spec"]["versions"][0]["additionalPrinterColumns"].append(
        {"name": "Added", "type": "string", "jsonPath": ".spec.workspaceName"}
    )
    path.write_text(yaml.safe_dump(crd))
    helm.upgrade(chart=newer)
    served = client.ApiextensionsV1Api(stand_in).read_custom_resource_definition("workspaces.azureml.dev")
    assert "Added" in [c.name for c in served.spec.versions[0].additional_printer_columns]
    assert KEEP.items() <= served.metadata.annotations.items()


def test_every_value_is_in_the_readme_table() -> None:
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    free_form = {"resources", "podSecurityContext", "securityContext", "podAnnotations", "podLabels"}
    free_form |= {"nodeSelector", "affinity"}
    for key, value in values.items():
        assert f"`{key}" in readme, key
        if isinstance(value, dict) and key not in free_form:
            for sub in value:
                assert f"`{key}.{sub}" in readme or f"`.{sub}" in readme, f"{key}.{sub}"
