"""The standard library's pickle (the C pickler), as a :class:`~picklecheck.backends.base.Backend`."""

from __future__ import annotations

import pickle
from typing import Any

from picklecheck.backends import standin
from picklecheck.backends.base import Backend, contained_find_class, guarded_find_class

__all__ = ["PICKLE", "PickleBackend"]


class PickleBackend(Backend):
    name = "pickle"
    loads_as_pickle = True

    def __init__(self) -> None:
        self._unpickler_class = type(
            "GuardedUnpickler", (standin.StandIns, pickle.Unpickler),
            {"find_class": guarded_find_class(pickle.Unpickler)},
        )
        self._contained_class = type(
            "ContainedUnpickler", (standin.StandIns, pickle.Unpickler),
            {"find_class": contained_find_class(pickle.Unpickler)},
        )

    def pickler(self, file: Any, protocol: int) -> Any:
        return pickle.Pickler(file, protocol)

    def unpickler(self, file: Any) -> Any:
        return self._unpickler_class(file)

    def contained_unpickler(self, file: Any) -> Any:
        return self._contained_class(file)

    def dumps(self, obj: Any, protocol: int) -> bytes:
        return pickle.dumps(obj, protocol)


PICKLE = PickleBackend()
