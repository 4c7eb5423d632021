"""dill: a pure-Python pickler with save functions of its own, as a
:class:`~picklecheck.backends.base.Backend`.

dill writes many types with its own save functions instead of a reduction; the
expander below runs one of them for one object and records what it would save,
which is how the walker sees dill's children.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import pickle
import sys
import types
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from picklecheck.backends import plaintree, standin
from picklecheck.backends.base import (
    GLOBAL,
    OPAQUE_CHILDREN,
    Backend,
    Sink,
    contained_find_class,
    guarded_find_class,
    reduce_ordered_dict,
    stack_depth,
)

__all__ = ["DillBackend", "saved_as_main"]

#: The module that stands for ``__main__`` while a file target is checked (see
#: :func:`saved_as_main`).
_MAIN: contextvars.ContextVar[types.ModuleType | None] = contextvars.ContextVar(
    "picklecheck_dill_main", default=None)


def _take_main(pickler: Any) -> None:
    """Make a new dill pickler save the module :func:`saved_as_main` names as dill saves
    ``__main__`` (dill's own way, for a module saved as a session)."""
    main = _MAIN.get()
    if main is not None:
        pickler._main, pickler._session, pickler._first_pass = main, True, False


@contextlib.contextmanager
def saved_as_main(module: types.ModuleType) -> Iterator[None]:
    """While it lasts, dill saves ``module`` as it saves ``__main__``: its functions and
    classes by value, their globals as the loading process's ``__main__``. The module
    stands for a script ``python`` runs (``picklecheck job.py:work``), whose functions
    dill saves by value (it finds no module to import them from), bytecode and all."""
    token = _MAIN.set(module)
    try:
        yield
    finally:
        _MAIN.reset(token)


class _Captured(Exception):  # noqa: N818 - control flow, not an error
    """Stops the dill expander once it has the reduction it came for."""


class DillBackend(Backend):
    name = "dill"
    #: Its unpickler differs from pickle's in names of dill's own (``dill._dill``, the
    #: main module's dict, ``NoneType``), which a pure load refuses, and in pointing a
    #: top-level instance of a ``__main__`` class at ``__main__``'s class of that name
    #: (the same class, in this process).
    loads_as_pickle = True

    def __init__(self) -> None:
        self._classes: dict[tuple[int, str], Any] = {}

    def default_protocol(self) -> int:
        protocol = self.module.settings.get("protocol")
        return pickle.DEFAULT_PROTOCOL if protocol is None else int(protocol)

    def pickler(self, file: Any, protocol: int) -> Any:
        return self._class("pickler", _make_dill_pickler)(file, protocol)

    def passing_pickler(self, file: Any, protocol: int, trees: plaintree.Trees | None = None
                        ) -> tuple[Any, Callable[[], int]]:
        """dill's pickler as ``QuickPickler``: it passes over each big tree of plain data
        (an exact dict, list or ``OrderedDict`` of strings, numbers and such) once a walk
        at C speed has shown it is one (see ``QuickPickler._skip_plain_tree``); the rest
        raises what dill raises, in the same order, and the memo (from which the search
        starts) holds what those trees held. ``trees`` is not asked: a tree's containers
        must join the memo, so dill walks each tree it passes over itself."""
        pickler = self._class("pickler", _make_dill_pickler).Quick(file, protocol)
        return pickler, lambda: pickler.skipped_trees

    reads_ahead = False

    def scan_pickler(self, protocol: int) -> Any:
        """dill's pickler as ``QuickPickler`` (see :meth:`passing_pickler`): a scan's
        bytes are thrown away, and nothing in a tree of plain data can fail, so each big
        one is passed over once a walk at C speed has shown it is one, its containers
        memoized as saved (a boto3 paginator's scans met its client's service model
        again and again, each a Python call per ``OrderedDict``)."""
        pickler = self._class("pickler", _make_dill_pickler).Quick(Sink(), protocol)
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
            return type("GuardedDillUnpickler", (standin.StandIns, base),
                        {"find_class": guarded_find_class(base)})

        return self._class("unpickler", make)(file)

    def contained_unpickler(self, file: Any) -> Any:
        def make(module: Any) -> Any:
            base = module.Unpickler
            return type("ContainedDillUnpickler", (standin.StandIns, base),
                        {"find_class": contained_find_class(base)})

        return self._class("contained", make)(file)

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


_ATOMS = (str, bytes, int, float, bool, type(None))


#: The plain types dill saves with pickle's own save functions (by their names in
#: pickle's pure-Python pickler): as pickle saves them, so a tree of them cannot fail.
_STOCK_SAVES = {list: "save_list", tuple: "save_tuple", str: "save_str", int: "save_long",
                float: "save_float", bool: "save_bool", type(None): "save_none",
                bytes: "save_bytes", bytearray: "save_bytearray", set: "save_set",
                frozenset: "save_frozenset"}
#: Containers a tree of plain data passed over starts at.
_PLAIN_TREES = frozenset({dict, list, OrderedDict})
#: Fewest items of a dict or list worth a walk (an OrderedDict always is: parsed JSON
#: nests them, and the top one of a service model has five keys).
_PLAIN_MIN = 8
#: Python frames dill's pickler may need per level of nesting (dict: save,
#: save_module_dict, save_dict, _batch_setitems), with one to spare.
_FRAMES_PER_LEVEL = 5
_FRAMES_SPARE = 50


def _make_dill_pickler(module: Any) -> type:
    """dill's Pickler, saving exactly what dill saves, faster where dill repeats work:

    * a weak proxy's referent is found from the proxy itself: dill searches
      ``gc.get_objects()`` for it, which in a large process costs tens of milliseconds
      per proxy, and a search pickles the same proxy many times (dill's own search
      wherever the quick one does not confirm it);
    * dill's ``save`` asks three questions of every object whose type it has no save
      function for (is it a numpy ufunc, dtype, ndarray subclass? each a walk of the
      class's MRO) and hands it to pickle's ``save`` when all say no: the answer
      depends only on the type, so it is worked out once per type (a boto3 client is
      170,000 objects of a few hundred types);
    * an exact ``OrderedDict`` is reduced the way it reduces itself, without its
      ``__reduce__`` asking ``copyreg._slotnames`` (uncached for a builtin type) every
      time (see :func:`picklecheck.backends.base.quick_dispatch`).

    dill's dispatch table is read as it is when each pickler starts (a type registered
    with ``dill.register`` later still counts), and live while dill's own ``save`` runs
    (its numpy hook registers types as it meets them).

    ``Pickler.Quick`` is the same pickler for a dump whose bytes are thrown away if it
    does not fail (:meth:`DillBackend.passing_pickler`): it passes over trees of plain
    data."""
    import copyreg
    import weakref

    from picklecheck.backends.base import quick_dispatch

    dill_module = sys.modules[module.Pickler.__module__]
    base = module.Pickler
    live = base.dispatch
    stock = dill_module.StockPickler
    save_module_dict = getattr(dill_module, "save_module_dict", _MISSING)
    helper, create = dill_module._proxy_helper, dill_module._create_weakproxy

    def save_weakproxy(pickler: Any, obj: Any) -> None:
        address = helper(obj)
        referent = _referent(obj, address)
        if referent is _MISSING:
            referent = dill_module._locate_object(address)
        pickler.save_reduce(create, (referent, callable(obj)), obj=obj)

    ours: dict[Any, Any] = {weakref.ProxyType: save_weakproxy,
                            weakref.CallableProxyType: save_weakproxy}
    live_view = _LiveDispatch(live, ours)
    # Types dill's save hands straight to pickle's: id -> (weak reference, MRO then).
    plain: dict[int, tuple[Any, Any]] = {}

    def hands_over(t: type) -> bool:
        """What dill's ``save`` decides for every object of type ``t``: nothing of its own."""
        if dill_module.GENERATOR_FAIL and t is types.GeneratorType:
            return False
        if not dill_module.NumpyArrayType or t is type or t in live:
            return True
        return not (dill_module.numpyufunc(t) or dill_module.numpydtype(t)
                    or dill_module.ndarraysubclassinstance(t))

    def make_save(quick: bool) -> Callable[..., None]:
        """dill's save, as ``Pickler.save``; ``quick``, with trees of plain data passed
        over (QuickPickler). One function for both: a quick pickler recurses through the
        same frames per level, so it runs out of stack where the usual one does, and the
        usual one pays nothing for the question."""

        def save(self, obj: Any, save_persistent_id: bool = True) -> None:
            t = type(obj)
            if (quick and t in _PLAIN_TREES and self.skip_plain
                    and (t is OrderedDict or len(obj) >= _PLAIN_MIN)  # a record's dicts: no call
                    and self._skip_plain_tree(obj, t)):
                return
            save_function = self._direct.get(t)
            if save_function is not None:  # dill's save would hand it straight over
                self.framer.commit_frame()
                seen = self.memo.get(id(obj))
                if seen is not None:
                    self.write(self.get(seen[0]))
                else:
                    save_function(self, obj)
                return
            if t is OrderedDict and self._od_quick:
                self._save_od(obj)
                return
            known = plain.get(id(t))
            if known is not None and known[0]() is t and known[1] is t.__mro__:
                stock.save(self, obj, save_persistent_id)
                return
            if hands_over(t):
                if len(plain) > _PLAIN_TYPES_MAX:
                    plain.clear()
                plain[id(t)] = (weakref.ref(t), t.__mro__)
                stock.save(self, obj, save_persistent_id)
                return
            mine, self.dispatch = self.dispatch, live_view
            try:
                base.save(self, obj, save_persistent_id)
            finally:
                self.dispatch = mine
                self._refresh()

        return save

    class Pickler(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            _take_main(self)
            self.dispatch = type(live)()  # filled by _refresh
            self._direct: dict[Any, Any] = {}
            # pickle's save, for a type with a save function, does four things before
            # calling it: ends a full frame, asks persistent_id, looks in the memo, asks
            # reducer_override. Where persistent_id is pickle's own (None) and there is
            # no reducer_override (a subclass may add one), save does them directly.
            cls = type(self)
            self._direct_ok = (getattr(cls, "persistent_id", None) is stock.persistent_id
                               and getattr(cls, "reducer_override", None) is None)
            self._refresh()
            self.dispatch_table = quick_dispatch(copyreg.dispatch_table, self.proto)
            # An exact OrderedDict reduced by reduce_ordered_dict is saved by _save_od.
            self._od_quick = (self._direct_ok and self.bin and _BATCH_ITEMS_ONLY
                              and self.dispatch_table.get(OrderedDict) is reduce_ordered_dict
                              and hands_over(OrderedDict))

        def _refresh(self) -> None:
            """Our table: dill's as it is now, with ours over it."""
            self.dispatch.update(live)
            self.dispatch.update(ours)
            if self._direct_ok:
                self._direct = dict(self.dispatch)  # read at C speed
                if dill_module.GENERATOR_FAIL:  # the one type there hands_over refuses
                    self._direct.pop(types.GeneratorType, None)

        save = make_save(quick=False)

        def _save_od(self, obj: Any) -> None:
            """What pickle's save and save_reduce write for an exact OrderedDict (reduced
            as :func:`reduce_ordered_dict` does), without their general steps."""
            self.framer.commit_frame()
            seen = self.memo.get(id(obj))
            if seen is not None:
                self.write(self.get(seen[0]))
                return
            if vars(obj):  # saved after its items: the general way
                stock.save(self, obj)
                return
            self.save(OrderedDict)
            self.save(())
            self.write(pickle.REDUCE)
            seen = self.memo.get(id(obj))
            if seen is not None:  # its class or arguments led back to it
                self.write(pickle.POP + self.get(seen[0]))
            else:
                self.memoize(obj)
            self._batch_setitems(iter(obj.items()))

        def _batch_setitems(self, items: Any, *more: Any, **options: Any) -> None:
            """pickle's, with each str key and value saved here as save would save it
            (a parsed JSON document is mostly strings: one call less per string)."""
            save_str = self._direct.get(str) if self._direct_ok and self.bin else None
            if save_str is None or more or options:
                base._batch_setitems(self, items, *more, **options)
                return
            save, write, get = self.save, self.write, self.get
            memo_get, commit = self.memo.get, self.framer.commit_frame
            size = self._BATCHSIZE
            it = iter(items)
            while True:
                batch = list(itertools.islice(it, size))
                n = len(batch)
                if n > 1:
                    write(pickle.MARK)
                for key, value in batch:
                    for part in (key, value):
                        if type(part) is str:
                            commit()
                            seen = memo_get(id(part))
                            if seen is not None:
                                write(get(seen[0]))
                            else:
                                save_str(self, part)
                        else:
                            save(part)
                if n > 1:
                    write(pickle.SETITEMS)
                elif n:
                    write(pickle.SETITEM)
                if n < size:
                    return

    # What dill's table holds for the plain types when it saves them pickle's way.
    stock_saves = {t: getattr(stock, name, _MISSING) for t, name in _STOCK_SAVES.items()}
    stock_saves[dict] = save_module_dict

    class QuickPickler(Pickler):
        """For a dump whose bytes are thrown away if it does not fail (see
        DillBackend.passing_pickler, DillBackend.scan_pickler): trees of plain data are
        passed over."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            #: Whether trees are still passed over: dill saves every plain type pickle's
            #: way (no save function registered for one), and none was too deep yet.
            self.skip_plain = self._od_quick and stock_saves.items() <= self._direct.items()
            self.skipped_trees = 0  # how many trees were passed over

        save = make_save(quick=True)

        def _skip_plain_tree(self, obj: Any, t: type) -> bool:
            """Whether ``obj`` is a tree of plain data, passed over: found so at C speed
            (:func:`picklecheck.backends.plaintree.containers`), its containers added to
            the memo as saved, no bytes written. dill saves such a tree as pickle does (its dict saver writes a
            module's dict by reference: a dict whose ``__name__`` may name one stays
            here, and one further down would be saved whole, which cannot fail either),
            so it would not fail there -- unless too deep for the Python stack: a tree
            dill's pickler could not recurse through is left to it, with everything
            after it."""
            if id(obj) in self.memo or (t is dict and "__name__" in obj):
                return False
            bound = (sys.getrecursionlimit() - stack_depth() - _FRAMES_SPARE) // _FRAMES_PER_LEVEL
            memo = self.memo
            try:
                saved = plaintree.containers(obj, bound, memo)
            except plaintree.NotPlain:
                return False
            if saved is None:
                self.skip_plain = False
                return False
            first = len(memo)  # memoized as saved (strings and such are cheap to save again)
            memo.update(zip(map(id, saved), zip(itertools.count(first), saved), strict=True))
            self.skipped_trees += 1
            return True

    Pickler.__qualname__ = Pickler.__name__ = "Pickler"
    QuickPickler.__qualname__ = QuickPickler.__name__ = "QuickPickler"
    Pickler.Quick = QuickPickler
    return Pickler


#: pickle's _batch_setitems takes only the items (3.14 adds the dict being saved).
_BATCH_ITEMS_ONLY = sys.version_info < (3, 14)
#: How many types a dill pickler remembers dill's decision for (then it starts over).
_PLAIN_TYPES_MAX = 4096


class _LiveDispatch:
    """dill's dispatch table as it is at each lookup, with ``ours`` over it."""

    __slots__ = ("live", "ours")

    def __init__(self, live: Any, ours: dict[Any, Any]) -> None:
        self.live, self.ours = live, ours

    def get(self, key: Any, default: Any = None) -> Any:
        found = self.ours.get(key)
        return found if found is not None else self.live.get(key, default)


_MISSING = object()


def _referent(proxy: Any, address: int) -> Any:
    """The object ``proxy`` refers to if its id is ``address`` (else ``_MISSING``): a
    bound method looked up through a live proxy is bound to the referent itself."""
    for special in (None, True, False):
        if address == id(special):
            return special
    try:
        candidate = proxy.__reduce_ex__.__self__
    except Exception:  # noqa: BLE001 - dead, or a lookup that raises: dill's own search
        return _MISSING
    return candidate if id(candidate) == address else _MISSING


def _make_dill_expander(base: type) -> type:
    class DillExpander(base):  # type: ignore[misc, valid-type]
        """dill's own save logic for one object, with its children recorded, not saved."""

        def __init__(self, file: Any, protocol: int) -> None:
            super().__init__(file, protocol)
            _take_main(self)
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
