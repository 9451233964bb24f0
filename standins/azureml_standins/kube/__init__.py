"""A small, stateful stand-in for the Kubernetes API server, for end-to-end tests and `make demo`.

It runs the real kopf operator without a cluster: discovery, CustomResourceDefinitions that
register their resources, admission against the CRDs' schemas and CEL rules, one global
resourceVersion with optimistic concurrency, list/watch with an event history, merge and JSON
patches, the status subresource, finalizers, ownerReference garbage collection, namespaces, and
authentication with RBAC authorization (ServiceAccount tokens, Roles, bindings, aggregation).
`server.py` lists what differs from a real API server.

    with KubeProcess() as kube:            # azureml_standins.kube.process
        api = kubernetes.client.CustomObjectsApi(kube.client())

Nothing in the product imports this package. Modules are imported lazily by their users.
"""
