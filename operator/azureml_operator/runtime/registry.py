"""Every kind the operator runs: each module of `azureml_operator.kinds` that defines an `ADAPTER`.
Wiring registers handlers for each, so adding a kind edits no table."""

from __future__ import annotations

import importlib
import pkgutil

from azureml_operator import kinds
from azureml_operator.reconcilers.adapters import Adapter


def _discover() -> dict[str, Adapter]:
    found: dict[str, Adapter] = {}
    for module in pkgutil.iter_modules(kinds.__path__):
        adapter = getattr(importlib.import_module(f"{kinds.__name__}.{module.name}"), "ADAPTER", None)
        if isinstance(adapter, Adapter):
            found[adapter.info.kind] = adapter
    return dict(sorted(found.items()))


ADAPTERS: dict[str, Adapter] = _discover()


def references(adapter: Adapter) -> list[tuple[str, str]]:
    """(kind, spec field) pairs the index files an object of this kind under."""
    refs = [("Workspace", "workspaceRef")] if adapter.uses_workspace else []
    return refs + [(d.kind, d.field) for d in adapter.dependencies]
