"""The two model id forms a serverless endpoint takes, parsed and resolved in-process (no SDK, no sockets)."""

from __future__ import annotations

import pytest

from azureml_standins.simulator import catalog

WS = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-sim"
    "/providers/Microsoft.MachineLearningServices/workspaces/ws-sim"
)
GUID = "00000000-0000-0000-0000-00000000abcd"  # ws-sim's properties.workspaceId
FT_ID = f"azureml://locations/eastus2/workspaces/{GUID}/models/phi4-ft/versions/1"


def test_the_documented_workspace_model_id_is_parsed() -> None:
    assert catalog.parse_workspace_model_id(FT_ID) == catalog.WorkspaceModelId(
        "eastus2", GUID, "phi4-ft", "1"
    )


def test_literal_parts_are_case_insensitive_and_names_keep_their_case() -> None:
    parsed = catalog.parse_workspace_model_id(
        f"AzureML://Locations/EastUS2/Workspaces/{GUID.upper()}/Models/Phi4-FT/Versions/V2"
    )
    assert parsed == catalog.WorkspaceModelId("EastUS2", GUID.upper(), "Phi4-FT", "V2")


@pytest.mark.parametrize(
    "model_id",
    [
        "",
        "phi4-ft",
        "azureml:phi4-ft:1",
        f"azureml://workspaces/{GUID}/models/phi4-ft/versions/1",  # no location segment
        f"azureml://locations/eastus2/workspaces/{GUID}/models/phi4-ft",  # no version
        f"azureml://locations/eastus2/workspaces/{GUID}/models/phi4-ft/versions/",
        f"azureml://locations/eastus2/workspaces/{GUID}/models/phi4-ft/versions/1/extra",
        f"azureml://locations/eastus2/workspaces/{GUID}/models/phi4-ft/labels/latest",
        f"{WS}/models/phi4-ft/versions/1",  # the ARM id is not the documented form
        "azureml://registries/azureml/models/Phi-4-mini-instruct",
        "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1",
    ],
)
def test_other_forms_are_not_workspace_model_ids(model_id: str) -> None:
    assert catalog.parse_workspace_model_id(model_id) is None


def test_registry_ids_are_told_apart() -> None:
    assert catalog.is_registry_model_id("azureml://registries/azureml/models/Phi-4-mini-instruct")
    assert catalog.is_registry_model_id("azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1")
    assert not catalog.is_registry_model_id(FT_ID)
    assert not catalog.is_registry_model_id("Phi-4-mini-instruct")
