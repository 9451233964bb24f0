"""A reference may name only its own object's namespace: `foreign_reference` finds any that does
not, wherever in the spec it sits."""

from __future__ import annotations

from azureml_operator.reconcilers.lookups import foreign_reference


def test_references_without_a_namespace_or_with_their_own_are_fine() -> None:
    spec = {"workspaceRef": {"name": "ws"}, "endpointRef": {"name": "e", "namespace": "team-a"}}
    assert foreign_reference(spec, "team-a") is None


def test_a_nested_reference_to_another_namespace_is_named_with_its_path() -> None:
    spec = {"credential": {"secretRef": {"name": "sp", "namespace": "team-b"}}}
    assert foreign_reference(spec, "team-a") == "spec.credential.secretRef names namespace team-b"
    data = {"trainingData": [{"dataAssetRef": {"name": "d", "namespace": "x"}}]}
    assert foreign_reference(data, "team-a") == "spec.trainingData[0].dataAssetRef names namespace x"


def test_a_namespace_key_outside_a_reference_is_no_reference() -> None:
    assert foreign_reference({"environmentVariables": {"namespace": "team-b"}}, "team-a") is None
