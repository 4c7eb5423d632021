"""The three serializers behind one small interface.

This is the only module that imports dill and cloudpickle, and it imports them on
first use, so ``import picklecheck`` stays cheap. Each :class:`Backend` knows how to

* dump an object into a sink that counts bytes and keeps none (the verdict),
* dump to bytes and load them back through a guarded unpickler (the round trip;
  see :mod:`picklecheck.hazards`),
* say how its pickler reduces one object (:meth:`Backend.reduce`), which is what
  :mod:`picklecheck.walker` builds the pickler's-eye view of the graph from.
"""

from __future__ import annotations

import copyreg
import importlib
import io
import pickle
import sys
import types
import warnings
from collections.abc import Callable
from typing import Any

from picklecheck.errors import UnknownBackendError
from picklecheck.hazards import guard_global

__all__ = ["BACKEND_NAMES", "GLOBAL", "OPAQUE_CHILDREN", "Backend", "Sink", "get_backend"]

BACKEND_NAMES = ("pickle", "dill", "cloudpickle")

#: Returned by :meth:`Backend.reduce` for objects the pickler writes by reference
#: (or as a single opcode): they have no children.
GLOBAL = object()


class Sink:
    """A write-only file that counts bytes and keeps none of them."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: Any) -> int:
        # Protocol 5 hands large buffers over as PickleBuffer, which has no len().
        n = len(data) if isinstance(data, bytes) else memoryview(data).nbytes
        self.size += n
        return n


class Backend:
    """One serializer. Subclasses fill in the pickler and unpickler classes."""

    name = ""
    install_name = ""

    # -- the library itself -------------------------------------------------

    @property
    def module(self) -> Any:
        # Looked up every time: a test runner may drop and re-import the library, and
        # a stale copy would make every dill/cloudpickle object look foreign.
        name = self.install_name or self.name
        return sys.modules.get(name) or importlib.import_module(name)

    @property
    def available(self) -> bool:
        try:
            self.module  # noqa: B018 - importing it is the test
        except ImportError:
            return False
        return True

    def default_protocol(self) -> int:
        return pickle.DEFAULT_PROTOCOL

    def pickler(self, file: Any, protocol: int) -> Any:
        raise NotImplementedError

    def unpickler(self, file: Any) -> Any:
        raise NotImplementedError

    # -- dumping and loading ------------------------------------------------

    def dump(self, obj: Any, file: Any, protocol: int) -> None:
        """Pickle ``obj`` into ``file``."""
        self.run(self.pickler(file, protocol), obj)

    def scan_pickler(self, protocol: int) -> Any:
        """A pickler into a :class:`Sink` for :func:`picklecheck.locate.scan`, which calls
        :meth:`run` on it several times (one memo across the calls)."""
        return self.pickler(Sink(), protocol)

    def run(self, pickler: Any, obj: Any) -> None:
        """``pickler.dump(obj)``, with whatever this backend needs around it."""
        pickler.dump(obj)

    #: Whether the pickler reads one item ahead at the start of each batch of
    #: iterator items (the C pickler does; see picklecheck.locate.scan).
    reads_ahead = True

    def dumps(self, obj: Any, protocol: int) -> bytes:
        buffer = io.BytesIO()
        self.dump(obj, buffer, protocol)
        return buffer.getvalue()

    def loads(self, data: bytes) -> Any:
        """Load ``data`` with hazardous globals replaced (see :mod:`picklecheck.hazards`)."""
        return self.unpickler(io.BytesIO(data)).load()

    # -- the pickler's view of one object ----------------------------------

    def reduce(self, obj: Any, protocol: int) -> Any:
        """How this backend's pickler reduces ``obj``: :data:`GLOBAL`, or the reduce tuple.

        Exact dicts, lists, tuples, sets and atoms never get here (the walker handles
        them the way every pickler does). Raises whatever the reduction raises.
        """
        reducer = copyreg.dispatch_table.get(type(obj))
        return _reduce_with(obj, protocol, reducer)

    def is_depth_error(self, exc: BaseException) -> bool:
        return isinstance(exc, RecursionError)


def _reduce_with(obj: Any, protocol: int, reducer: Callable[[Any], Any] | None) -> Any:
    # The order is the C pickler's save(): dispatch table, then classes by
    # reference, then __reduce_ex__ (which falls back to __reduce__ on its own).
    if reducer is not None:
        rv = reducer(obj)
    elif isinstance(obj, type) or type(obj) is types.FunctionType:
        return GLOBAL
    else:
        rv = getattr(obj, "__reduce_ex__")(protocol)  # noqa: B009 - as the pickler does
    if isinstance(rv, str):
        return GLOBAL
    return rv


def _guarded_find_class(base: type) -> Callable[..., Any]:
    def find_class(self: Any, module: str, name: str) -> Any:
        return guard_global(module, name, base.find_class(self, module, name))  # type: ignore[attr-defined]

    return find_class


class PickleBackend(Backend):
    name = "pickle"

    def __init__(self) -> None:
        self._unpickler_class = type(
            "GuardedUnpickler", (pickle.Unpickler,),
            {"find_class": _guarded_find_class(pickle.Unpickler)},
        )

    def pickler(self, file: Any, protocol: int) -> Any:
        return pickle.Pickler(file, protocol)

    def unpickler(self, file: Any) -> Any:
        return self._unpickler_class(file)

    def dumps(self, obj: Any, protocol: int) -> bytes:
        return pickle.dumps(obj, protocol)


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

    def reduce(self, obj: Any, protocol: int) -> Any:
        pickler = self._reducing_pickler
        if pickler is None or pickler.proto != protocol or not isinstance(pickler, self.module.Pickler):
            pickler = self._reducing_pickler = self.pickler(Sink(), protocol)
        rv = pickler.reducer_override(obj)
        if rv is not NotImplemented:
            return GLOBAL if isinstance(rv, str) else rv
        return _reduce_with(obj, protocol, pickler.dispatch_table.get(type(obj)))

    def is_depth_error(self, exc: BaseException) -> bool:
        return isinstance(exc, RecursionError) or (
            isinstance(exc, pickle.PicklingError) and "excessively deep recursion" in str(exc)
        )


class _Captured(Exception):  # noqa: N818 - control flow, not an error
    """Stops the dill expander once it has the reduction it came for."""


class DillBackend(Backend):
    name = "dill"

    def __init__(self) -> None:
        self._classes: dict[tuple[int, str], Any] = {}

    def default_protocol(self) -> int:
        protocol = self.module.settings.get("protocol")
        return pickle.DEFAULT_PROTOCOL if protocol is None else int(protocol)

    def pickler(self, file: Any, protocol: int) -> Any:
        return self.module.Pickler(file, protocol)

    reads_ahead = False

    def scan_pickler(self, protocol: int) -> Any:
        pickler = super().scan_pickler(protocol)
        # One item per batch: each iterator item is saved right after it is taken.
        pickler._BATCHSIZE = 1
        return pickler

    def run(self, pickler: Any, obj: Any) -> None:
        with warnings.catch_warnings():
            # dill warns on its way to a failure; the failure itself is the finding.
            warnings.simplefilter("ignore", self.module.PicklingWarning)
            pickler.dump(obj)

    def _class(self, role: str, make: Callable[[Any], Any]) -> Any:
        module = self.module
        key = (id(module), role)
        if key not in self._classes:
            self._classes[key] = make(module)
        return self._classes[key]

    def unpickler(self, file: Any) -> Any:
        def make(module: Any) -> Any:
            base = module.Unpickler
            return type("GuardedDillUnpickler", (base,), {"find_class": _guarded_find_class(base)})

        return self._class("unpickler", make)(file)

    def reduce(self, obj: Any, protocol: int) -> Any:
        if type(obj) is dict:  # only module dicts get here: see walker.expand
            return GLOBAL
        expander = self._expander(protocol)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", self.module.PicklingWarning)
                expander.save(obj)
        except _Captured:
            return expander.captured
        finally:
            expander.top = None
        children = [c for c in expander.children if type(c) not in _ATOMS]
        expander.children = []
        if children:
            # Written by dill's own code without a reduction: its children in order.
            return (OPAQUE_CHILDREN, tuple(children))
        return GLOBAL  # a reference (save_global saves only the two name strings)

    def _expander(self, protocol: int) -> Any:
        expander_class = self._class("expander", lambda module: _make_dill_expander(module.Pickler))
        return expander_class(Sink(), protocol)

    def is_module_dict(self, obj: dict[Any, Any]) -> bool:
        name = obj.get("__name__") if "__name__" in obj else None
        if not isinstance(name, str):
            return False
        module = sys.modules.get(name)
        main = sys.modules.get("__main__")
        return (module is not None and getattr(module, "__dict__", None) is obj) or (
            main is not None and getattr(main, "__dict__", None) is obj
        )


def OPAQUE_CHILDREN(*children: Any) -> None:  # noqa: N802 - a marker, named like a constant
    """Stands for a dill save function that wrote its children without a reduction."""


_ATOMS = (str, bytes, int, float, bool, type(None))


def _make_dill_expander(base: type) -> type:
    class DillExpander(base):  # type: ignore[misc, valid-type]
        """dill's own save logic for one object, with its children recorded, not saved."""

        def __init__(self, file: Any, protocol: int) -> None:
            super().__init__(file, protocol)
            self.top: Any = None
            self.captured: Any = None
            self.children: list[Any] = []

        def save(self, obj: Any, save_persistent_id: bool = True) -> None:
            if self.top is None:
                self.top = obj
                self.children = []
                super().save(obj, save_persistent_id)
            else:
                self.children.append(obj)

        def save_reduce(self, func: Any, args: Any, state: Any = None, listitems: Any = None,
                        dictitems: Any = None, state_setter: Any = None, *extra: Any,
                        obj: Any = None, **kwargs: Any) -> None:
            # Only the top object's save function runs (children are recorded, not
            # saved), so every reduction seen here is the top object's.
            self.captured = (func, args, state, listitems, dictitems, state_setter)
            raise _Captured

    return DillExpander


PICKLE = PickleBackend()
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
