"""The serializers picklecheck checks with, behind one interface.

:mod:`~picklecheck.backends.base` defines :class:`Backend`; each adapter module
(:mod:`~picklecheck.backends.stdlib`, :mod:`~picklecheck.backends.dill`,
:mod:`~picklecheck.backends.cloudpickle`) is the only place that imports its
library, on first use, so ``import picklecheck`` stays cheap.
"""

from __future__ import annotations

from picklecheck.backends.base import GLOBAL, OPAQUE_CHILDREN, Backend, Sink
from picklecheck.backends.cloudpickle import CloudpickleBackend
from picklecheck.backends.dill import DillBackend
from picklecheck.backends.stdlib import PICKLE
from picklecheck.errors import UnknownBackendError

__all__ = ["BACKEND_NAMES", "GLOBAL", "OPAQUE_CHILDREN", "Backend", "Sink", "get_backend"]

BACKEND_NAMES = ("pickle", "dill", "cloudpickle")

_BACKENDS: dict[str, Backend] = {
    "pickle": PICKLE,
    "dill": DillBackend(),
    "cloudpickle": CloudpickleBackend(),
}


def get_backend(name: str) -> Backend:
    """The backend called ``name``; a clear :class:`UnknownBackendError` otherwise."""
    try:
        return _BACKENDS[name]
    except (KeyError, TypeError):
        known = ", ".join(repr(n) for n in BACKEND_NAMES)
        msg = f"unknown backend {name!r}: choose among {known}"
        raise UnknownBackendError(msg) from None
