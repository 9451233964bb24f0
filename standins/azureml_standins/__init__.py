"""Local stand-ins shipped with the operator: an Azure ML ARM simulator (and, later, a Kubernetes API).

Nothing in the product imports this package; tests, the demo and users' own CI pipelines do.
"""
