"""The model catalog: which registry models exist, which need a Marketplace subscription, where
serverless deployment is offered, and which can be fine-tuned; and the two forms of model id.

Microsoft models live in the `azureml` registry and need no subscription; partner models
(`azureml-meta`, `azureml-mistral`, `azureml-cohere`) are billed through Azure Marketplace.
A model registered in a workspace (a fine-tuning job's output) has the id the Foundry documentation
deploys it with, `azureml://locations/{location}/workspaces/{workspace GUID}/models/{name}/versions/{v}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from azureml_standins.simulator.errors import user_error


@dataclass(frozen=True)
class Offer:
    publisher_id: str
    offer_id: str
    plan_id: str
    term_id: str = "gmz7xq9ge3py"

    def plan(self) -> dict[str, str]:
        return {
            "publisherId": self.publisher_id,
            "offerId": self.offer_id,
            "planId": self.plan_id,
            "termId": self.term_id,
        }


@dataclass(frozen=True)
class CatalogModel:
    registry: str
    name: str
    latest_version: int
    offer: Offer | None
    serverless_regions: frozenset[str]
    fine_tunable: bool = False

    @property
    def model_id(self) -> str:
        return f"azureml://registries/{self.registry}/models/{self.name}"

    @property
    def needs_subscription(self) -> bool:
        return self.offer is not None


_COMMON_REGIONS = frozenset(
    {"eastus", "eastus2", "northcentralus", "southcentralus", "westus", "westus3", "swedencentral"}
)

MODELS: tuple[CatalogModel, ...] = (
    CatalogModel(
        "azureml-meta",
        "Meta-Llama-3-8B-Instruct",
        9,
        Offer("metagenai", "meta-llama-3-8b-chat-offer", "meta-llama-3-8b-chat-plan"),
        _COMMON_REGIONS,
    ),
    CatalogModel(
        "azureml-meta",
        "Meta-Llama-3.1-8B-Instruct",
        5,
        Offer("metagenai", "metagenai-meta-llama-3-1-8b-instruct-offer", "meta-llama-3-1-8b-instruct-plan"),
        _COMMON_REGIONS,
        fine_tunable=True,
    ),
    # Deliberately narrow, so that region availability can be exercised.
    CatalogModel(
        "azureml-meta",
        "Meta-Llama-3.1-405B-Instruct",
        1,
        Offer(
            "metagenai", "metagenai-meta-llama-3-1-405b-instruct-offer", "meta-llama-3-1-405b-instruct-plan"
        ),
        frozenset({"eastus2", "westus3"}),
    ),
    CatalogModel(
        "azureml-mistral",
        "Mistral-large-2407",
        1,
        Offer("000-000", "mistral-ai-large-2407-offer", "mistral-large-2407-plan"),
        _COMMON_REGIONS | {"francecentral"},
    ),
    CatalogModel(
        "azureml-cohere",
        "Cohere-command-r-08-2024",
        1,
        Offer("cohere", "cohere-command-r-08-2024-offer", "cohere-command-r-08-2024-plan"),
        _COMMON_REGIONS,
    ),
    CatalogModel("azureml", "Phi-4-mini-instruct", 1, None, _COMMON_REGIONS, fine_tunable=True),
    CatalogModel("azureml", "Phi-3-mini-4k-instruct", 15, None, _COMMON_REGIONS, fine_tunable=True),
    CatalogModel("azureml", "Phi-3.5-mini-instruct", 6, None, _COMMON_REGIONS, fine_tunable=True),
)

_BY_KEY = {(m.registry.lower(), m.name.lower()): m for m in MODELS}

_REGISTRY_MODEL = re.compile(
    r"^azureml://registries/(?P<registry>[^/]+)/models/(?P<name>[^/]+)"
    r"(?:/versions/(?P<version>[^/]+)|/labels/(?P<label>[^/]+))?$"
)


# The Foundry fine-tune-serverless article builds this from `workspace.location` and
# `workspace._workspace_id` (properties.workspaceId). The literal parts compare case-insensitively, as
# the rest of an azureml:// URI does; the captured names keep their case.
_WORKSPACE_MODEL = re.compile(
    r"^azureml://locations/(?P<location>[^/]+)/workspaces/(?P<workspace_id>[^/]+)"
    r"/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$",
    re.IGNORECASE,
)
REGISTRY_FORM = "azureml://registries/<registry>/models/<model>"
WORKSPACE_FORM = "azureml://locations/<location>/workspaces/<workspace id>/models/<model>/versions/<version>"


@dataclass(frozen=True)
class WorkspaceModelId:
    """A model version registered in a workspace, named by location and workspace GUID."""

    location: str
    workspace_id: str
    name: str
    version: str


def parse_workspace_model_id(model_id: str) -> WorkspaceModelId | None:
    """The parts of a workspace model id; None when `model_id` has another form."""
    m = _WORKSPACE_MODEL.match(model_id or "")
    if m is None:
        return None
    return WorkspaceModelId(m["location"], m["workspace_id"], m["name"], m["version"])


def is_registry_model_id(model_id: str) -> bool:
    """Whether `model_id` has the registry form (with or without a version or label)."""
    return _REGISTRY_MODEL.match(model_id or "") is not None


@dataclass(frozen=True)
class ModelRef:
    model: CatalogModel
    version: int | None  # None: unversioned (serverless and marketplace ids)


def lookup(model_id: str, *, target: str, versioned: bool | None) -> ModelRef:
    """Resolve a registry model id; `versioned` True/False requires/forbids a version, None allows both."""
    m = _REGISTRY_MODEL.match(model_id or "")
    if not m:
        raise user_error(
            f"Model id '{model_id}' is not a registry model id of the form "
            "azureml://registries/<registry>/models/<model>" + ("/versions/<version>." if versioned else "."),
            target=target,
        )
    has_version = m["version"] is not None or m["label"] is not None
    if versioned is False and has_version:
        raise user_error(
            f"Model id '{model_id}' must not contain a version: serverless endpoints and Marketplace "
            "subscriptions always use the latest version. Use "
            f"azureml://registries/{m['registry']}/models/{m['name']}.",
            target=target,
        )
    if versioned is True and not has_version:
        raise user_error(
            f"Model id '{model_id}' must name a version (.../versions/<version>).", target=target
        )
    model = _BY_KEY.get((m["registry"].lower(), m["name"].lower()))
    if model is None:
        raise user_error(
            f"Model '{m['name']}' was not found in registry '{m['registry']}'.", target=target, status=404
        )
    version: int | None = None
    if m["version"] is not None:
        if not m["version"].isdigit() or not 1 <= int(m["version"]) <= model.latest_version:
            raise user_error(
                f"Version '{m['version']}' of model '{model.name}' was not found in registry "
                f"'{model.registry}' (latest is {model.latest_version}).",
                target=target,
                status=404,
            )
        version = int(m["version"])
    elif m["label"] is not None:
        if m["label"] != "latest":
            raise user_error(
                f"Label '{m['label']}' of model '{model.name}' was not found.", target=target, status=404
            )
        version = model.latest_version
    return ModelRef(model, version)
