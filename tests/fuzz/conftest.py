"""The fuzz tests drive the runtime with the unit tests' fakes (tests/unit/runtime_fakes.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "unit"))
