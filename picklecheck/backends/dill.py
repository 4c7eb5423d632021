"""dill: a pure-Python pickler with save functions of its own, as a
:class:`~picklecheck.backends.base.Backend`.

dill writes many types with its own save functions instead of a reduction; the
expander below runs one of them for one object and records what it would save,
which is how the walker sees dill's children.
"""

from __future__ import annotations

import pickle
import sys
import warnings
from collections.abc import Callable
from typing import Any

from picklecheck.backends.base import (
    GLOBAL,
    OPAQUE_CHILDREN,
    Backend,
    Sink,
    contained_find_class,
    guarded_find_class,
)

__all__ = ["DillBackend"]


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
        return self._class("pickler", _make_dill_pickler)(file, protocol)

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
            return type("GuardedDillUnpickler", (base,), {"find_class": guarded_find_class(base)})

        return self._class("unpickler", make)(file)

    def contained_unpickler(self, file: Any) -> Any:
        def make(module: Any) -> Any:
            base = module.Unpickler
            return type("ContainedDillUnpickler", (base,),
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


def _make_dill_pickler(module: Any) -> type:
    """dill's Pickler, but a weak proxy's referent is found from the proxy itself: dill
    searches ``gc.get_objects()`` for it, which in a large process costs tens of
    milliseconds per proxy, and a search pickles the same proxy many times. What is
    saved is exactly what dill saves (the same referent; dill's own search wherever
    the quick one does not confirm it)."""
    import weakref

    dill_module = sys.modules[module.Pickler.__module__]
    base = module.Pickler
    dispatch = type(base.dispatch)(base.dispatch)
    helper, create = dill_module._proxy_helper, dill_module._create_weakproxy

    def save_weakproxy(pickler: Any, obj: Any) -> None:
        address = helper(obj)
        referent = _referent(obj, address)
        if referent is _MISSING:
            referent = dill_module._locate_object(address)
        pickler.save_reduce(create, (referent, callable(obj)), obj=obj)

    dispatch[weakref.ProxyType] = save_weakproxy
    dispatch[weakref.CallableProxyType] = save_weakproxy
    return type("Pickler", (base,), {"dispatch": dispatch})


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
