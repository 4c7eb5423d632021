"""Helpers shared by test modules (not fixtures: plain functions)."""

from __future__ import annotations

import sys
from pathlib import Path


def forget_modules_in(folder: Path, before: set[str]) -> None:
    """Drop the modules loaded from ``folder`` (not dill or others imported on the way)."""
    for name in set(sys.modules) - before:
        filename = getattr(sys.modules[name], "__file__", None) or ""
        if filename.startswith(str(folder)):
            del sys.modules[name]
