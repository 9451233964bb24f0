"""The custom resources: pydantic models that are the single source of truth for the CRDs.

Every module in this package that defines a `KIND` is a kind: `KINDS` collects them (in kind-name
order), so adding a kind is adding its module.
"""

from __future__ import annotations

import importlib
import pkgutil

from azureml_operator.api.common import API_VERSION, GROUP, VERSION
from azureml_operator.api.kinds import KindInfo

CATEGORY = "azureml"


def _discover() -> tuple[KindInfo, ...]:
    found = []
    for module in pkgutil.iter_modules(__path__):
        kind = getattr(importlib.import_module(f"{__name__}.{module.name}"), "KIND", None)
        if isinstance(kind, KindInfo):
            found.append(kind)
    return tuple(sorted(found, key=lambda k: k.kind))


KINDS: tuple[KindInfo, ...] = _discover()
BY_KIND: dict[str, KindInfo] = {k.kind: k for k in KINDS}

__all__ = ["API_VERSION", "BY_KIND", "CATEGORY", "GROUP", "KINDS", "VERSION", "KindInfo"]
