"""What an unpickler may use for each global it resolves.

Two policies, one per place a load runs:

* :func:`guard_global`, for loads in this process (the fallback where the kernel
  sandbox is not available): every blocking global of
  :mod:`~picklecheck.backends.hazards` becomes a stand-in that refuses when called
  (a function for a function, a subclass that refuses to be built for a class, so
  ``NEWOBJ`` still gets a type); ``getattr``-like globals have their results checked;
  ``open``-like globals refuse modes that create or empty files; nested ``loads``
  go through the same guard. It is a list, not a guarantee: the sandbox is.
* :func:`contained_global`, inside the sandboxed child, where the kernel refuses
  and the watch names what was tried: dill's file handles that would be re-opened for appending or updating, which
  change nothing, are opened on ``/dev/null`` under their own name (the sandbox
  cannot grant "open for append but write nothing").

Each refusal is recorded in the running load's :func:`refusals` list, so a load that
failed *because* something was refused is reported as refused (``skipped``, a
``load_hazard``), never as "does not load", and one that caught the refusal and went
on is still not ok.
"""

from __future__ import annotations

import contextvars
import io
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from picklecheck.backends.hazards import (
    REACHES,
    Hazard,
    HazardBlockedError,
    find_hazard,
    hazard_of,
)

__all__ = ["contained_global", "guard_global", "recording"]

_WRITE_MODES = frozenset("wax+")
_OWN_DATA = ("picklecheck.model", "picklecheck.errors")


class _Context:
    # A class attribute, not a module global: see picklecheck.isolation.deadline._Context.
    refusals: contextvars.ContextVar[list[HazardBlockedError] | None] = contextvars.ContextVar(
        "picklecheck_refusals", default=None)


@contextmanager
def recording() -> Iterator[list[HazardBlockedError]]:
    """Collect what the guard refuses (or substitutes) during the block."""
    found: list[HazardBlockedError] = []
    token = _Context.refusals.set(found)
    try:
        yield found
    finally:
        _Context.refusals.reset(token)


def _refuse(what: str, why: str) -> HazardBlockedError:
    error = HazardBlockedError(what, why)
    found = _Context.refusals.get()
    if found is not None:
        found.append(error)
    return error


def _is_own_internal(module: str, value: Any) -> bool:
    names = [module]
    try:
        names.append(str(getattr(value, "__module__", "") or ""))
        if isinstance(value, type(os)):
            names.append(value.__name__)
    except Exception:  # noqa: BLE001
        return False
    return any((n == "picklecheck" or n.startswith("picklecheck."))
               and not n.startswith(_OWN_DATA) for n in names)


# -- in this process ------------------------------------------------------------

def guard_global(module: str, name: str, value: Any) -> Any:
    """What a guarded unpickler uses for ``module.name`` (already resolved to ``value``)."""
    if _is_own_internal(module, value):
        raise _refuse(f"{module}.{name}", "picklecheck does not load its own internals")
    return _apply(find_hazard(module, name) or hazard_of(value), value)


def _apply(hazard: Hazard | None, value: Any) -> Any:
    """``value`` guarded as its hazard says: special-cased, checked, or a stand-in."""
    if hazard is None:
        return value
    special = _SPECIAL.get(hazard.qualified.split(".", 1)[-1] if hazard.module in (
        "builtins", "io", "_io", "codecs") else hazard.qualified)
    if special is not None:
        return special(hazard, value)
    if hazard.category == REACHES:
        return _reaching(hazard, value)
    if hazard.blocks:
        return _stand_in(hazard, value)
    return value


def _stand_in(hazard: Hazard, value: Any) -> Any:
    why = f"it {hazard.category}"
    if isinstance(value, type):
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise _refuse(hazard.qualified, why)

        try:  # a type, so NEWOBJ and isinstance still work; building one refuses
            return type(value.__name__, (value,), {"__new__": refuse, "__init__": refuse,
                                                   "__module__": value.__module__})
        except TypeError:
            pass

    def stand_in(*args: Any, **kwargs: Any) -> Any:
        raise _refuse(hazard.qualified, why)

    return stand_in


def _process_state() -> dict[int, str]:
    """Objects that are the loading process's own state, by identity."""
    import builtins

    state = {"sys.modules": sys.modules, "sys.path": sys.path, "sys.meta_path": sys.meta_path,
             "sys.path_hooks": sys.path_hooks, "os.environ": os.environ,
             "sys.path_importer_cache": sys.path_importer_cache}
    found = {id(v): k for k, v in state.items()}
    found.update((id(vars(m)), f"the namespace of module {name}")
                 for name, m in list(sys.modules.items()) if isinstance(m, type(os)))
    found[id(vars(builtins))] = "the builtins namespace"
    return found


def _checked(value: Any) -> Any:
    """A value reached through getattr-like calls: refused if it is a hazard, or the
    loading process's own state (``sys.modules``, ``os.environ``, a module's namespace)."""
    if _is_own_internal("", value):
        raise _refuse(repr(value)[:80], "picklecheck does not load its own internals")
    state = _process_state().get(id(value)) if isinstance(value, (dict, list)) or \
        value is os.environ else None
    if state is not None:
        raise _refuse(state, "a pickle that reaches the loading process's own state can "
                             "change it")
    return _apply(hazard_of(value), value)


def _reaching(hazard: Hazard, value: Any) -> Any:
    name = hazard.name
    if name == "attrgetter":
        def attrgetter(*names: str) -> Callable[[Any], Any]:
            getter = value(*names)
            return lambda obj: _checked_tuple(getter(obj), len(names))

        return attrgetter
    if name == "methodcaller":
        def methodcaller(method: str, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
            return lambda obj: _checked(getattr(obj, method))(*args, **kwargs)

        return methodcaller
    if name in ("setattr", "delattr"):
        def guarded_set(obj: Any, *args: Any) -> Any:
            if isinstance(obj, type(os)) or _is_own_internal("", obj):
                raise _refuse(f"builtins.{name}", f"it would change {obj!r:.80}")
            return value(obj, *args)

        return guarded_set

    def guarded_getattr(obj: Any, *args: Any) -> Any:
        if _is_own_internal("", obj):
            raise _refuse(hazard.qualified, "picklecheck does not load its own internals")
        return _checked(value(obj, *args))

    return guarded_getattr


def _checked_tuple(result: Any, count: int) -> Any:
    return tuple(_checked(r) for r in result) if count > 1 else _checked(result)


def _guard_open(hazard: Hazard, target: Any) -> Any:
    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        mode = kwargs.pop("mode", mode)
        if isinstance(mode, str) and not set(mode) & _WRITE_MODES:
            return target(file, mode, *args, **kwargs)
        raise _refuse(hazard.qualified,
                      f"it would open {file!r} with mode {mode!r}, which can create or empty it")

    if isinstance(target, type):  # io.FileIO: keep a type
        def new(cls: type, file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if isinstance(mode, str) and not set(mode) & _WRITE_MODES:
                return target(file, mode, *args, **kwargs)
            raise _refuse(hazard.qualified, f"it would open {file!r} with mode {mode!r}")

        return type(target.__name__, (target,), {"__new__": new})
    return guarded_open


def _guard_os_open(hazard: Hazard, target: Any) -> Any:
    changing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def guarded(path: Any, flags: int, *args: Any, **kwargs: Any) -> Any:
        if isinstance(flags, int) and not flags & changing:
            return target(path, flags, *args, **kwargs)
        raise _refuse(hazard.qualified, f"it would open {path!r} for writing")

    return guarded


def _guard_nested_loads(hazard: Hazard, target: Any) -> Any:
    """A pickle that loads another pickle: load that one through the guard too."""
    from picklecheck.backends import get_backend

    backend = get_backend("dill" if hazard.module.startswith("dill") else "pickle")

    def nested(data: Any, *args: Any, **kwargs: Any) -> Any:
        if hazard.name.endswith("load"):
            data = data.read()
        return backend.unpickler(io.BytesIO(bytes(data))).load()

    return nested


def _guard_dill_filehandle(hazard: Hazard, target: Any) -> Any:
    def guarded(name: Any, mode: Any, position: Any, closed: Any, open: Any,  # noqa: A002
                strictio: Any, fmode: Any, fdata: Any) -> Any:
        if _harmless_handle(name, mode, fmode):
            # dill opens with its ``open`` argument, the guarded one here: give it the
            # real one for what is harmless (reading, or appending to an existing file).
            return target(name, mode, position, closed, io.open, strictio, fmode, fdata)
        raise _refuse("dill._dill._create_filehandle",
                      f"dill would re-open {name!r} with mode {mode!r} on load, which "
                      + ("empties it" if "w" in str(mode) else "can create or change it"))

    return guarded


def _harmless_handle(name: Any, mode: Any, fmode: Any) -> bool:
    """Read, append or update (``r+``) an existing file by handle only: nothing changes."""
    from dill import HANDLE_FMODE  # only reached while loading a dill pickle

    if name in ("<stdin>", "<stdout>", "<stderr>", "<fdopen>"):
        return True
    if not isinstance(mode, str) or fmode != HANDLE_FMODE or set(mode) & set("wx"):
        return False
    return "r" in mode and "+" not in mode or os.path.isfile(str(name))


_SPECIAL: dict[str, Callable[[Hazard, Any], Any]] = {
    "open": _guard_open, "open_code": _guard_open, "FileIO": _guard_open,
    "os.open": _guard_os_open, "posix.open": _guard_os_open, "nt.open": _guard_os_open,
    "pickle.loads": _guard_nested_loads, "pickle.load": _guard_nested_loads,
    "_pickle.loads": _guard_nested_loads, "_pickle.load": _guard_nested_loads,
    "pickle._loads": _guard_nested_loads, "pickle._load": _guard_nested_loads,
    "dill.loads": _guard_nested_loads, "dill.load": _guard_nested_loads,
    "dill._dill.loads": _guard_nested_loads, "dill._dill.load": _guard_nested_loads,
    "cloudpickle.loads": _guard_nested_loads, "cloudpickle.load": _guard_nested_loads,
    "dill._dill._create_filehandle": _guard_dill_filehandle,
}


# -- in the sandboxed child ---------------------------------------------------------

def contained_global(module: str, name: str, value: Any) -> Any:
    """What the sandboxed child's unpickler uses for ``module.name`` (see the module
    docstring): the kernel does the refusing there."""
    if (module, name) == ("dill._dill", "_create_filehandle"):
        return _handle_on_devnull(value)
    return value


def _handle_on_devnull(target: Any) -> Any:
    def create(name: Any, mode: Any, position: Any, closed: Any, open: Any,  # noqa: A002
               strictio: Any, fmode: Any, fdata: Any) -> Any:
        if (isinstance(mode, str) and set(mode) & set("a+") and not set(mode) & set("wx")
                and _harmless_handle(name, mode, fmode)):
            handle = target(os.devnull, mode, position, closed, open, strictio, fmode, fdata)
            raw = getattr(getattr(handle, "buffer", handle), "raw", handle)
            try:
                raw.name = name  # the copy looks like what the real load re-opens
            except (AttributeError, TypeError):
                pass
            return handle
        return target(name, mode, position, closed, open, strictio, fmode, fdata)

    return create
