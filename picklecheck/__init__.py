"""picklecheck: find out why an object does not pickle, where, and what to do about it.

>>> import picklecheck
>>> report = picklecheck.check({"ok": [1, 2, 3]})
>>> report.ok
True

Everything but :func:`check` is imported on first use, and nothing imports dill,
cloudpickle, rich, click or Streamlit until it is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from picklecheck._version import __version__

# Eager on purpose: the submodule `picklecheck.check` shares its name with the function,
# and binding the function here, after the submodule loads, keeps `picklecheck.check`
# the function however the submodule is imported later.
from picklecheck.engine.check import assert_picklable, check

if TYPE_CHECKING:
    from picklecheck.errors import (
        SerializationWarning,
        UnknownBackendError,
        UnpicklableError,
        UnserializableSessionStateError,
    )
    from picklecheck.integrations.diagnosis import Diagnosis
    from picklecheck.integrations.explain import ExplainWarning, explain
    from picklecheck.integrations.hook import install, uninstall
    from picklecheck.integrations.session import SessionState
    from picklecheck.model import BackendResult, Culprit, PathStep, Report
    from picklecheck.tools.sizes import SizeProfile, profile

__all__ = [
    "BackendResult",
    "Culprit",
    "Diagnosis",
    "ExplainWarning",
    "PathStep",
    "Report",
    "SerializationWarning",
    "SessionState",
    "SizeProfile",
    "UnknownBackendError",
    "UnpicklableError",
    "UnserializableSessionStateError",
    "__version__",
    "assert_picklable",
    "check",
    "explain",
    "install",
    "profile",
    "uninstall",
]

_WHERE = {
    "SerializationWarning": "picklecheck.errors",
    "UnknownBackendError": "picklecheck.errors",
    "UnpicklableError": "picklecheck.errors",
    "UnserializableSessionStateError": "picklecheck.errors",
    "BackendResult": "picklecheck.model",
    "Culprit": "picklecheck.model",
    "PathStep": "picklecheck.model",
    "Report": "picklecheck.model",
    "SessionState": "picklecheck.integrations.session",
    "Diagnosis": "picklecheck.integrations.diagnosis",
    "ExplainWarning": "picklecheck.integrations.explain",
    "explain": "picklecheck.integrations.explain",
    "install": "picklecheck.integrations.hook",
    "uninstall": "picklecheck.integrations.hook",
    "SizeProfile": "picklecheck.tools.sizes",
    "profile": "picklecheck.tools.sizes",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        msg = f"module 'picklecheck' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext picklecheck`` (IPython, Jupyter): diagnose pickling failures of cells,
    and the ``%picklecheck EXPR`` magic. Imported only when IPython asks for it."""
    from picklecheck.integrations.ipython import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from picklecheck.integrations.ipython import unload_ipython_extension as unload

    unload(ipython)


def _install_from_environment() -> None:
    """``PICKLECHECK=1``: install the failure hook as soon as picklecheck is imported."""
    import os

    if os.environ.get("PICKLECHECK", "").strip().lower() in ("1", "true", "yes", "on"):
        from picklecheck.integrations.hook import install

        install()


_install_from_environment()
