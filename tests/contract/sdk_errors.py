"""Assertions on the errors the SDK raises for Azure's error envelope."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError


def expect_arm_error(call: Callable[[], Any], status: int, code: str, match: str = "") -> HttpResponseError:
    """Run `call`, require an HttpResponseError with this status and error code, and a message matching `match`."""
    with pytest.raises(HttpResponseError) as info:
        call()
    err = info.value
    assert err.status_code == status, f"expected HTTP {status}, got {err.status_code}: {err.message}"
    assert err.error is not None and err.error.code == code, (
        f"expected code {code}, got {err.error and err.error.code}"
    )
    if match:
        assert re.search(match, err.error.message or ""), f"{match!r} not in {err.error.message!r}"
    return err
