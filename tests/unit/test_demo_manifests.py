"""The demo's packaged manifests (azureml_standins/demo_manifests/, so that the demo runs from an
installed wheel) are exact copies of examples/, which stays the source of truth."""

from __future__ import annotations

from pathlib import Path

from azureml_standins.demo import DEMO_MANIFESTS, manifests

EXAMPLES = Path(__file__).parents[2] / "examples"
SYNC = (
    "edit examples/ and copy it over: cd examples && "
    "find . -name '*.yaml' -exec cp --parents {} ../standins/azureml_standins/demo_manifests/ \\;"
)


def yaml_files(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*.yaml"))}


def test_packaged_demo_manifests_are_the_examples() -> None:
    packaged, examples = yaml_files(DEMO_MANIFESTS), yaml_files(EXAMPLES)
    assert examples, f"no manifests under {EXAMPLES}"
    assert sorted(packaged) == sorted(examples), f"demo_manifests/ and examples/ list different files: {SYNC}"
    stale = [name for name in examples if packaged[name] != examples[name]]
    assert not stale, f"demo_manifests/ differs from examples/ in {stale}: {SYNC}"


def test_the_demo_applies_the_packaged_manifests_by_default() -> None:
    kinds = sorted(doc["kind"] for doc in manifests(DEMO_MANIFESTS))
    assert kinds == [
        "DataAsset",
        "FineTuneJob",
        "ModelSubscription",
        "OnlineDeployment",
        "OnlineEndpoint",
        "ServerlessEndpoint",
        "ServerlessEndpoint",
        "Workspace",
    ]
