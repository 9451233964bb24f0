"""Point the real azure-ai-ml SDK at an ARM endpoint other than public Azure (the simulator), for the
contract tests, the benchmark's sequential script and anyone reproducing a call by hand. The
operator itself speaks plain ARM and never builds an SDK client.

The SDK keeps its clouds in a process-global table where the first registration of a name wins
(azure-ml-arm-contract.md §1.1), so every distinct ARM endpoint gets its own cloud name. All six
metadata keys are required: a missing one silently falls back to public Azure.
"""

from __future__ import annotations

import hashlib
from typing import Any

from azureml_operator.azure.cloud import PUBLIC_ARM, normalise_base


def cloud_name_for(base: str) -> str:
    digest = hashlib.sha256(normalise_base(base).encode()).hexdigest()[:10]
    return f"AzureCustom{digest}"


def mlclient_cloud_kwargs(arm_endpoint: str) -> dict[str, Any]:
    """Keyword arguments for `MLClient(...)` that keep every SDK call on `arm_endpoint`; public
    Azure needs none."""
    base = normalise_base(arm_endpoint)
    if base == PUBLIC_ARM:
        return {}
    return {
        "cloud": cloud_name_for(base),
        "cloud_metadata": {
            "resource_manager": base,
            "active_directory": f"{base}login/",
            "aml_resource_id": base,
            # Keeps registry-model deployments from contacting eastus.api.azureml.ms.
            "registry_discovery_endpoint": base,
            "azure_portal": "https://portal.azure.com/",
            "storage_endpoint": "core.windows.net",
        },
        "show_progress": False,
    }
