"""azureml-operator: Azure Machine Learning / AI Foundry model serving as Kubernetes resources."""

__version__ = "0.1.0"
