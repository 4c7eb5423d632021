"""cloudpickle: the C pickler with a ``reducer_override`` that saves functions and
classes by value, as a :class:`~picklecheck.backends.base.Backend`."""

from __future__ import annotations

import pickle
from typing import Any

from picklecheck.backends.base import GLOBAL, Backend, Sink, reduce_with
from picklecheck.backends.stdlib import PICKLE

__all__ = ["CloudpickleBackend"]


class CloudpickleBackend(Backend):
    name = "cloudpickle"

    def __init__(self) -> None:
        self._reducing_pickler: Any = None

    def default_protocol(self) -> int:
        return int(self.module.DEFAULT_PROTOCOL)

    def pickler(self, file: Any, protocol: int) -> Any:
        return self.module.Pickler(file, protocol=protocol)

    def unpickler(self, file: Any) -> Any:
        return PICKLE.unpickler(file)

    def contained_unpickler(self, file: Any) -> Any:
        return PICKLE.contained_unpickler(file)

    def reduce(self, obj: Any, protocol: int) -> Any:
        pickler = self._reducing_pickler
        if pickler is None or pickler.proto != protocol or not isinstance(pickler, self.module.Pickler):
            pickler = self._reducing_pickler = self.pickler(Sink(), protocol)
        rv = pickler.reducer_override(obj)
        if rv is not NotImplemented:
            return GLOBAL if isinstance(rv, str) else rv
        return reduce_with(obj, protocol, pickler.dispatch_table.get(type(obj)))

    def is_depth_error(self, exc: BaseException) -> bool:
        return isinstance(exc, RecursionError) or (
            isinstance(exc, pickle.PicklingError) and "excessively deep recursion" in str(exc)
        )
