"""picklecheck: find out why an object does not pickle, where, and what to do about it.

>>> import picklecheck
>>> report = picklecheck.check({"ok": [1, 2, 3]})
>>> report.ok
True
"""

from __future__ import annotations

from typing import Any

from picklecheck._version import __version__
from picklecheck.check import assert_picklable, check
from picklecheck.errors import (
    SerializationWarning,
    UnknownBackendError,
    UnpicklableError,
    UnserializableSessionStateError,
)
from picklecheck.model import BackendResult, Culprit, PathStep, Report

__all__ = [
    "BackendResult",
    "Culprit",
    "PathStep",
    "Report",
    "SerializationWarning",
    "SessionState",
    "UnknownBackendError",
    "UnpicklableError",
    "UnserializableSessionStateError",
    "__version__",
    "assert_picklable",
    "check",
]


def __getattr__(name: str) -> Any:
    # Imported on first use so that `import picklecheck` stays light.
    if name == "SessionState":
        from picklecheck.session import SessionState

        return SessionState
    if name == "profile":
        from picklecheck.profile import profile

        return profile
    msg = f"module 'picklecheck' has no attribute {name!r}"
    raise AttributeError(msg)
