"""The resource kinds the simulator serves, keyed by `ArmPath.resource_type`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from azureml_standins.simulator.kinds import Kind
from azureml_standins.simulator.resources.data import DataContainers, DataVersions
from azureml_standins.simulator.resources.jobs import Jobs, Models, ModelVersions
from azureml_standins.simulator.resources.marketplace import MarketplaceSubscriptions
from azureml_standins.simulator.resources.online import OnlineDeployments, OnlineEndpoints
from azureml_standins.simulator.resources.serverless import ServerlessEndpoints

if TYPE_CHECKING:
    from azureml_standins.simulator.core import Simulator

KINDS: tuple[type[Kind], ...] = (
    MarketplaceSubscriptions,
    ServerlessEndpoints,
    OnlineEndpoints,
    OnlineDeployments,
    Jobs,
    Models,
    ModelVersions,
    DataContainers,
    DataVersions,
)


def build(sim: Simulator) -> dict[str, Kind]:
    return {k.type_name: k(sim) for k in KINDS}
