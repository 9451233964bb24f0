"""Carry out the reconcilers' decisions: observe Azure through `WorkspaceApi`, act, and return a
`Verdict`. One module per kind; `common` resolves workspaces and credentials and turns classified
Azure failures into verdicts. Nothing here imports kopf: `wiring` does that."""
