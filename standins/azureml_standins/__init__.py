"""Local stand-ins for the operator's world: an Azure ML ARM simulator, a Kubernetes API stand-in, an
admission checker, helpers that run them (and the operator) as child processes, and the demo.

A distribution of its own (`azureml-standins`, `pip install ./standins`) so that the operator and its
image carry none of this. It may import the product; the product never imports it (an import-linter
contract in the repository's pyproject.toml). Tests, the demo and users' own CI pipelines use it.
"""
