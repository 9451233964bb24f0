"""The one reconcile runtime every kind runs on: `adapters` is what a kind supplies, `loop` the
algorithm (policy, typed spec, workspace and dependencies, observe, ownership, plan, act, verdict;
deletion the same way), `lookups` what one object may know of others, `workspaces` how an object
reaches Azure. Nothing here imports kopf: `wiring` does that."""
