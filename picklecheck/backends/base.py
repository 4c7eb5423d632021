"""What every serializer adapter offers: the :class:`Backend` interface.

This is the only module that imports dill and cloudpickle, and it imports them on
first use, so ``import picklecheck`` stays cheap. Each :class:`Backend` knows how to

* dump an object into a sink that counts bytes and keeps none (the verdict),
* dump to bytes and load them back through a guarded unpickler (the round trip;
  see :mod:`picklecheck.hazards`),
* say how its pickler reduces one object (:meth:`Backend.reduce`), which is what
  :mod:`picklecheck.walker` builds the pickler's-eye view of the graph from.
"""

from __future__ import annotations

import collections
import copyreg
import importlib
import io
import operator
import pickle
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

from picklecheck.backends import plaintree, standin
from picklecheck.backends.guard import contained_global, guard_global
from picklecheck.backends.remains import Swapped, disarmed

__all__ = ["GLOBAL", "OPAQUE_CHILDREN", "Backend", "Reducers", "Scratch", "Sink",
           "contained_find_class", "dispatch_table_of", "guarded_find_class", "quick_dispatch",
           "reduce_by_pickler", "reduce_ordered_dict", "reduce_with", "stack_depth"]

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


class TooLargeError(pickle.PicklingError):
    """The framework refuses what was pickled for its size, though it pickles: Ray's
    limit on a remote function or actor class it exports."""


def written(file: Any) -> int | None:
    """How many bytes a check's file (a :class:`Sink` or a BytesIO) holds."""
    if type(file) is Sink:
        return file.size
    tell = getattr(file, "tell", None)
    return tell() if callable(tell) else None


class Scratch(io.BytesIO):
    """Bytes kept to be read (which modules they name), never loaded: a backend whose
    dump hands resources to the loader (:attr:`Backend.single_use`) gives them back."""


def _rewinder(file: Any) -> Callable[[], None] | None:
    """How to empty ``file`` (one of the check's: a :class:`Sink` or a BytesIO) for a
    dump to start over, or None."""
    if type(file) is Sink:
        def rewind() -> None:
            file.size = 0
        return rewind
    if isinstance(file, io.BytesIO):
        def rewind_bytes() -> None:
            file.seek(0)
            file.truncate()
        return rewind_bytes
    return None


class Backend:
    """One serializer. Subclasses fill in the pickler and unpickler classes."""

    name = ""
    install_name = ""
    #: How a person gets it: what "not installed" says.
    install_hint = ""
    #: The framework whose tasks this backend judges ("" for the plain serializers).
    framework = ""
    #: Which worker loads the bytes (see picklecheck.isolation.workers): "interpreter"
    #: is a new interpreter with this process's sys.path.
    worker = "interpreter"
    #: Whether loading the bytes consumes something this process holds for them (a
    #: socket handed over by multiprocessing's resource sharer): each load needs its
    #: own dump.
    single_use = False
    #: Fixes in the framework's own words, by culprit kind (see engine.kinds): what
    #: to do instead of sending such an object with this framework.
    hints: dict[str, str] = {}

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

    @property
    def not_installed(self) -> str:
        """What a check says of this backend where it is not installed."""
        return f"{self.name} is not installed ({self.install_hint or f'pip install {self.name}'})"

    def default_protocol(self) -> int:
        return pickle.DEFAULT_PROTOCOL

    def pickler(self, file: Any, protocol: int) -> Any:
        raise NotImplementedError

    def unpickler(self, file: Any) -> Any:
        """An unpickler through the hazard guard (loads in this process)."""
        raise NotImplementedError

    def contained_unpickler(self, file: Any) -> Any:
        """An unpickler for a sandboxed child, where the kernel refuses what the guard
        would (see :func:`picklecheck.backends.guard.contained_global`). Adapters
        without one keep the guard."""
        return self.unpickler(file)

    # -- dumping and loading ------------------------------------------------

    def dump(self, obj: Any, file: Any, protocol: int) -> None:
        """Pickle ``obj`` into ``file`` (a C pickler whose own dispatch table is not a
        dict reads it at C speed: see :func:`quick_dispatch`)."""
        pickler = self.pickler(file, protocol)
        table = getattr(pickler, "dispatch_table", None)
        if table is not None and type(table) is not dict:
            # pickle's own global table is read faster than any table of a pickler's
            # (a miss there raises no KeyError), so a plain pickler is left as it is.
            pickler = _quickened(pickler, protocol)
        self.run(pickler, obj)

    def verdict_dump(self, obj: Any, file: Any, protocol: int, others_failed: bool,
                     trees: plaintree.Trees | None = None) -> None:
        """The check's own dump of ``obj``: :meth:`dump`. ``others_failed`` says another
        backend's dump of ``obj`` has just failed, so a failure is likely: a first dump
        passes over trees of plain data (:meth:`passing_pickler`: nothing in one can
        fail), so it raises what :meth:`dump` raises; one that passed over a tree and did
        not fail is done again the usual way (its bytes lack them). Not for a backend with
        a :meth:`dump` of its own (dask's goes through its own ``dumps``), nor one whose
        dumps hand something over (:attr:`single_use`). ``trees``: what the check knows
        of trees of plain data already (see :class:`~.plaintree.Trees`)."""
        quick = others_failed and type(self).dump is Backend.dump and not self.single_use
        rewind = _rewinder(file) if quick else None
        if rewind is not None and (passing := self.passing_pickler(file, protocol, trees)) is not None:
            pickler, passed = passing
            self.run(pickler, obj)
            if not passed():
                return
            rewind()
        self.dump(obj, file, protocol)

    def passing_pickler(self, file: Any, protocol: int, trees: plaintree.Trees | None = None
                        ) -> tuple[Any, Callable[[], int]] | None:
        """A pickler for :meth:`verdict_dump`'s first dump, which passes over trees of
        plain data, and how many it has passed over so far; None if there is none. A C
        pickler's: :class:`~.plaintree.PassOver` for exact ``OrderedDict`` s in its
        dispatch table (unless the table has a reducer of its own for them), knowing what
        ``trees`` knows."""
        pickler = _quickened(self.pickler(file, protocol), protocol)
        table = dispatch_table_of(pickler)
        if table is None or table.get(collections.OrderedDict) is not reduce_ordered_dict:
            return None
        passing = table[collections.OrderedDict] = plaintree.PassOver(reduce_ordered_dict, trees)
        return pickler, lambda: passing.passed

    def pickler_leaving_out(self, file: Any, protocol: int, objs: Mapping[int, Any]) -> Any:
        """A pickler that writes a persistent reference for each object in ``objs`` (by
        id), which :meth:`loads` loads as a stand-in (its unpicklers are
        :class:`~.standin.StandIns`); None for a backend with a :meth:`dump` of its own,
        or a pickler with a ``persistent_id`` of its own."""
        if type(self).dump is not Backend.dump:
            return None
        leaving = standin.leaving_out(type(self.pickler(Sink(), protocol)))
        if leaving is None:
            return None
        pickler = leaving(file, protocol)
        pickler.left_out = objs
        return pickler

    def scan_pickler(self, protocol: int) -> Any:
        """A pickler into a :class:`Sink` for :func:`picklecheck.locate.scan`, which calls
        :meth:`run` on it several times (one memo across the calls): :meth:`scan_base`'s,
        its dispatch table read at C speed."""
        return _quickened(self.scan_base(Sink(), protocol), protocol)

    def scan_base(self, file: Any, protocol: int) -> Any:
        """The pickler :meth:`scan_pickler` starts from: this backend's own."""
        return self.pickler(file, protocol)

    def run(self, pickler: Any, obj: Any) -> None:
        """``pickler.dump(obj)``, with whatever this backend needs around it."""
        pickler.dump(obj)

    #: Whether the pickler reads one item ahead at the start of each batch of
    #: iterator items (the C pickler does; see picklecheck.locate.scan).
    reads_ahead = True

    #: Whether the bytes load as ``pickle.loads`` loads them, its unpickler differing only
    #: for globals a pure load refuses (a framework's placeholders for sockets and refs,
    #: dill's names of its own): then a load proven to run no code is done in this
    #: process, as fast as ``pickle.loads`` (see :mod:`picklecheck.isolation.pure`).
    loads_as_pickle = False

    def dumps(self, obj: Any, protocol: int) -> bytes:
        buffer = io.BytesIO()
        self.dump(obj, buffer, protocol)
        return buffer.getvalue()

    def loads(self, data: bytes, guarded: bool = True, swapped: Swapped | None = None) -> Any:
        """Load ``data`` with hazardous globals replaced (see :mod:`picklecheck.hazards`);
        ``guarded=False`` only inside a sandboxed child. The finalizers of what it
        builds never run (see :mod:`.remains`) unless it is given back its classes,
        which it puts in ``swapped``."""
        file = io.BytesIO(data)
        unpickler = self.unpickler(file) if guarded else self.contained_unpickler(file)
        with disarmed(unpickler, swapped):
            return unpickler.load()

    # -- the pickler's view of one object ----------------------------------

    def code_saved(self, obj: Any, protocol: int) -> list[types.CodeType]:
        """The code objects a dump of ``obj`` writes: the bytecode of every function and
        class this backend saves by value, which only the same Python version can run
        (none for pickle, which saves functions by name). A dump that fails part way
        gives what it wrote until then."""
        saved: dict[int, types.CodeType] = {}
        base = type(self.pickler(Sink(), protocol))

        class Recording(base):  # type: ignore[valid-type, misc]
            def reducer_override(self, obj: Any) -> Any:
                if type(obj) is types.CodeType:
                    saved[id(obj)] = obj
                override = getattr(super(), "reducer_override", None)
                return NotImplemented if override is None else override(obj)

        # Of the base's module: dill asks a pickler's module whether it is dill's own.
        Recording.__module__ = base.__module__
        try:
            Recording(Sink(), protocol).dump(obj)
        except Exception:  # noqa: BLE001, S110 - what it wrote before failing is known
            pass
        return list(saved.values())

    def reduce(self, obj: Any, protocol: int) -> Any:
        """How this backend's pickler reduces ``obj``: :data:`GLOBAL`, or the reduce tuple.

        Exact dicts, lists, tuples, sets and atoms never get here (the walker handles
        them the way every pickler does). Raises whatever the reduction raises.
        """
        reducer = copyreg.dispatch_table.get(type(obj))
        return reduce_with(obj, protocol, reducer)

    def is_depth_error(self, exc: BaseException) -> bool:
        return issubclass(type(exc), RecursionError)  # type(): isinstance reads __class__


_C_DISPATCH = vars(pickle.Pickler).get("dispatch_table")


def _quickened(pickler: Any, protocol: int) -> Any:
    """``pickler``, a C pickler's dispatch table replaced by :func:`quick_dispatch`'s."""
    if isinstance(pickler, pickle.Pickler) and _C_DISPATCH is not None:
        # Through the C pickler's own field: a subclass's class attribute (as
        # cloudpickle's) would take a plain assignment into the instance's dict.
        _C_DISPATCH.__set__(pickler, quick_dispatch(
            getattr(pickler, "dispatch_table", None) or copyreg.dispatch_table, protocol))
    return pickler


def stack_depth() -> int:
    """How many Python frames the calling thread's stack holds, the caller's included."""
    frame, depth = sys._getframe(1), 1
    while frame.f_back is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def dispatch_table_of(pickler: Any) -> Reducers | None:
    """A C pickler's own dispatch table where :func:`_quickened` gave it one (None for
    any other pickler)."""
    if not isinstance(pickler, pickle.Pickler) or _C_DISPATCH is None:
        return None
    table = _C_DISPATCH.__get__(pickler, type(pickler))
    return table if isinstance(table, Reducers) else None


def quick_dispatch(table: Any, protocol: int) -> Reducers:
    """``table`` (a pickler's dispatch table) as a :class:`Reducers`, which the C pickler
    reads at C speed (cloudpickle's is a ChainMap, read in Python for every object),
    with exact ``OrderedDict`` reduced in Python the way it reduces itself (unless the
    table has its own reducer for it): its own ``__reduce__`` asks
    ``copyreg._slotnames`` (Python, not cached for a builtin type) every time, and a
    library's parsed JSON holds tens of thousands of them (botocore's service models).
    The bytes are the same (a table registered with ``copyreg`` while one dump runs
    would be missed by it: the table is read when its pickler starts). A pure-Python
    pickler (dill's) reads it with ``get``, which never adds a type."""
    quick = Reducers(table, protocol)
    quick.setdefault(collections.OrderedDict, reduce_ordered_dict)
    return quick


class Reducers(dict):  # type: ignore[type-arg]
    """A C pickler's own dispatch table, where a type it is asked about for the first
    time is added with what the pickler does for that type without one: call the
    object's ``__reduce_ex__`` with the pickler's protocol (at C speed, through
    :func:`operator.methodcaller`). Without that, every object of a type with no entry
    cost a ``KeyError`` raised and cleared (the C pickler reads a table of its own with
    ``PyObject_GetItem``; only pickle's global one is read without): 10,000 instances
    took half as long again to pickle. A metaclass is never added (its instances, the
    classes, are saved by reference when the table has nothing for them)."""

    def __init__(self, table: Any, protocol: int) -> None:
        super().__init__(table)
        self.protocol = pickle.HIGHEST_PROTOCOL if protocol < 0 else protocol

    def __missing__(self, cls: Any) -> Any:
        if not isinstance(cls, type) or issubclass(cls, type):
            raise KeyError(cls)
        reduce = self[cls] = operator.methodcaller("__reduce_ex__", self.protocol)
        return reduce


def reduce_ordered_dict(od: collections.OrderedDict[Any, Any]) -> tuple[Any, ...]:
    """What an exact ``OrderedDict``'s own ``__reduce__`` returns (its instance dict as the
    state when it has one), without asking ``copyreg._slotnames`` for its slots: the
    type has none, and being builtin it cannot cache the answer."""
    return (type(od), (), vars(od) or None, None, iter(od.items()))


def reduce_with(obj: Any, protocol: int, reducer: Callable[[Any], Any] | None) -> Any:
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


def reduce_by_pickler(pickler: Any, obj: Any, protocol: int) -> Any:
    """How ``pickler`` (an instance of a framework's pickler class) reduces ``obj``: its
    ``reducer_override`` first, then its own dispatch table, as the C pickler's save()
    does. A framework's reducers are entries of that table, so they are walked the
    way copyreg's are."""
    override = getattr(pickler, "reducer_override", None)
    if override is not None:
        rv = override(obj)
        if rv is not NotImplemented:
            return GLOBAL if isinstance(rv, str) else rv
    table = getattr(pickler, "dispatch_table", None)
    if table is None:
        table = copyreg.dispatch_table
    return reduce_with(obj, protocol, table.get(type(obj)))


def guarded_find_class(base: type, policy: Callable[[str, str, Any], Any] = guard_global
                       ) -> Callable[..., Any]:
    """A ``find_class`` that resolves with ``base`` and then asks ``policy`` (bound
    here, so replacing the module's name later changes nothing)."""
    resolve = base.find_class  # type: ignore[attr-defined]

    def find_class(self: Any, module: str, name: str) -> Any:
        return policy(module, name, resolve(self, module, name))

    return find_class


def contained_find_class(base: type) -> Callable[..., Any]:
    return guarded_find_class(base, contained_global)


def OPAQUE_CHILDREN(*children: Any) -> None:  # noqa: N802 - a marker, named like a constant
    """Stands for a dill save function that wrote its children without a reduction."""
