"""cloudpickle: the C pickler with a ``reducer_override`` that saves functions and
classes by value, as a :class:`~picklecheck.backends.base.Backend`."""

from __future__ import annotations

import pickle
from typing import Any

from picklecheck.backends.base import Backend, Sink, reduce_by_pickler
from picklecheck.backends.stdlib import PICKLE

__all__ = ["CloudpickleBackend", "is_cloudpickle_depth_error"]


class CloudpickleBackend(Backend):
    """cloudpickle itself; frameworks that ship or wrap it (Ray, Spark, Dask) subclass
    this with their own copy of cloudpickle (:meth:`cloudpickle`)."""

    name = "cloudpickle"
    loads_as_pickle = True  # Dask, Ray and Spark inherit it: their bytes are cloudpickle's

    def __init__(self) -> None:
        self._reducing_pickler: Any = None

    def cloudpickle(self) -> Any:
        """The cloudpickle module this backend pickles with."""
        return self.module

    def default_protocol(self) -> int:
        return int(self.cloudpickle().DEFAULT_PROTOCOL)

    def pickler(self, file: Any, protocol: int) -> Any:
        return self.cloudpickle().Pickler(file, protocol=protocol)

    def unpickler(self, file: Any) -> Any:
        return PICKLE.unpickler(file)

    def contained_unpickler(self, file: Any) -> Any:
        return PICKLE.contained_unpickler(file)

    def reduce(self, obj: Any, protocol: int) -> Any:
        pickler = self._reducing_pickler
        if (pickler is None or pickler.proto != protocol
                or not isinstance(pickler, self.cloudpickle().Pickler)):
            pickler = self._reducing_pickler = self.pickler(Sink(), protocol)
        return reduce_by_pickler(pickler, obj, protocol)

    def is_depth_error(self, exc: BaseException) -> bool:
        return is_cloudpickle_depth_error(exc)


def is_cloudpickle_depth_error(exc: BaseException) -> bool:
    """cloudpickle turns a RecursionError into a PicklingError of its own. (type(), not
    isinstance: a culprit's exception may have a hostile ``__class__`` or ``__str__``.)"""
    if issubclass(type(exc), RecursionError):
        return True
    if not issubclass(type(exc), pickle.PicklingError):
        return False
    try:
        return "excessively deep recursion" in str(exc)
    except Exception:  # noqa: BLE001 - a hostile __str__: not cloudpickle's own error
        return False
