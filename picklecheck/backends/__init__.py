"""The serializers picklecheck checks with, behind one interface.

:mod:`~picklecheck.backends.base` defines :class:`Backend`. Each adapter module is
the only place that imports its library, on first use, so ``import picklecheck``
stays cheap:

* the serializers: :mod:`~picklecheck.backends.stdlib` (``pickle``),
  :mod:`~picklecheck.backends.dill`, :mod:`~picklecheck.backends.cloudpickle`;
* the frameworks, each judged with the serializer its tasks really go through:
  :mod:`~picklecheck.backends.multiprocessing` (also ``concurrent.futures``),
  :mod:`~picklecheck.backends.joblib`, :mod:`~picklecheck.backends.dask`,
  :mod:`~picklecheck.backends.ray`, :mod:`~picklecheck.backends.spark`.

``multiprocessing`` takes a start method after a colon (``"multiprocessing:fork"``).
"""

from __future__ import annotations

from picklecheck.backends.base import GLOBAL, OPAQUE_CHILDREN, Backend, Sink
from picklecheck.backends.cloudpickle import CloudpickleBackend
from picklecheck.backends.dask import DaskBackend
from picklecheck.backends.dill import DillBackend
from picklecheck.backends.joblib import JoblibBackend
from picklecheck.backends.multiprocessing import START_METHODS, MultiprocessingBackend
from picklecheck.backends.ray import RayBackend
from picklecheck.backends.spark import SparkBackend
from picklecheck.backends.stdlib import PICKLE
from picklecheck.errors import UnknownBackendError

__all__ = [
    "ALL_BACKEND_NAMES", "BACKEND_NAMES", "FRAMEWORK_NAMES", "GLOBAL", "OPAQUE_CHILDREN",
    "VARIANT_NAMES",
    "Backend", "Sink", "get_backend",
]

#: The serializers checked when none are named.
BACKEND_NAMES = ("pickle", "dill", "cloudpickle")
#: The frameworks, checked when named (or all at once by the compare view).
FRAMEWORK_NAMES = ("multiprocessing", "joblib", "dask", "ray", "spark")
ALL_BACKEND_NAMES = BACKEND_NAMES + FRAMEWORK_NAMES
#: Every name get_backend accepts, for option parsers and settings.
VARIANT_NAMES = tuple(f"multiprocessing:{method}" for method in START_METHODS)

_BACKENDS: dict[str, Backend] = {
    "pickle": PICKLE,
    "dill": DillBackend(),
    "cloudpickle": CloudpickleBackend(),
    "multiprocessing": MultiprocessingBackend(),
    "joblib": JoblibBackend(),
    "dask": DaskBackend(),
    "ray": RayBackend(),
    "spark": SparkBackend(),
}
_BACKENDS.update({f"multiprocessing:{m}": MultiprocessingBackend(m) for m in START_METHODS})
# A Process as it starts (spawn and forkserver pickle it; fork copies it): for diagnoses.
_BACKENDS.update({backend.name: backend for backend in (
    MultiprocessingBackend(None, starting=True),
    *(MultiprocessingBackend(m, starting=True) for m in ("spawn", "forkserver")))})


def get_backend(name: str) -> Backend:
    """The backend called ``name``; a clear :class:`UnknownBackendError` otherwise."""
    try:
        return _BACKENDS[name]
    except (KeyError, TypeError):
        known = ", ".join(repr(n) for n in ALL_BACKEND_NAMES)
        msg = f"unknown backend {name!r}: choose among {known}"
        if isinstance(name, str) and name.startswith("multiprocessing:"):
            msg += " (start methods: " + ", ".join(START_METHODS) + ")"
        raise UnknownBackendError(msg) from None
