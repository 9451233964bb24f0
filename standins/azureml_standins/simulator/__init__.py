"""A local HTTPS simulator of the Azure Machine Learning ARM API that the unmodified azure-ai-ml SDK accepts.

`Simulator` holds the state and rules; `server` serves it over TLS; `cli` is `azureml-standins simulator`.
"""

from azureml_standins.simulator.config import SimulatorConfig, WorkspaceSeed
from azureml_standins.simulator.core import Simulator

__all__ = ["Simulator", "SimulatorConfig", "WorkspaceSeed"]
