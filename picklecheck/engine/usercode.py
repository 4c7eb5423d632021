"""Whose code is this: the user's, or a library's?

Reports collapse culprits that sit inside a library object to the outermost such
object the user's own data holds, and a fix always names code the user owns. Both
need one answer, per module, to "did the user write this?":

* ``__main__`` and ``__mp_main__`` (a script, a notebook, a Streamlit app): yes.
* picklecheck itself: no.
* a module of the standard library (by its top-level name, ``sys.stdlib_module_names``)
  or built into the interpreter: no.
* a module loaded from a file under a ``site-packages`` or ``dist-packages`` folder, or
  under the interpreter's own library folders: no (third-party or standard library).
* any other module with a file (the app's own package, a file checked with
  ``picklecheck app.py``, tests, an editable install): yes.
* a module that is not loaded: by where its package would be imported from; when it is
  nowhere to be found (a class whose module is gone): yes. Only library code is ever
  hidden, so the doubt goes to showing it.
* the packages a caller names (the command line names the target's package): yes, even
  when installed into site-packages.

An object is the user's when it is a function or class defined in a user module, or an
instance of such a class.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
import types
from collections.abc import Iterable
from functools import lru_cache
from importlib.machinery import PathFinder
from typing import Any

__all__ = ["MAIN_MODULES", "UserCode"]

#: The names a program run as a script goes by (a multiprocessing child's is __mp_main__).
MAIN_MODULES = ("__main__", "__mp_main__")
_OWN = "picklecheck"
_PACKAGE_DIRS = ("site-packages", "dist-packages")


@lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    """Folders whose modules are library code: site-packages and the standard library."""
    roots: set[str] = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    try:
        roots.update(site.getsitepackages())
        roots.add(site.getusersitepackages())
    except AttributeError:  # an old virtualenv's site module
        pass
    for entry in sys.path:
        if os.path.basename(entry.rstrip(os.sep)) in _PACKAGE_DIRS:
            roots.add(entry)
    real = {os.path.realpath(p) for p in roots if p}
    return tuple(sorted(r.rstrip(os.sep) + os.sep for r in real))


def _find(top: str) -> str | None:
    """Where a package that is not loaded would be imported from (nothing is imported)."""
    try:
        spec = PathFinder.find_spec(top)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None and isinstance(spec.origin, str) else None


#: The classes of functions Cython compiles: named after Cython's own shared module
#: (``_cython_3_0_11``), which defines none of them; each function's ``__module__`` does.
_CYTHON_FUNCTIONS = ("cython_function_or_method", "fused_cython_function")


def is_function(obj: Any) -> bool:
    """Whether ``obj`` is a function written in Python, or compiled by Cython from
    Python: one whose own ``__module__`` says where it was defined."""
    kind = type(obj)
    return kind is types.FunctionType or (
        getattr(kind, "__name__", None) in _CYTHON_FUNCTIONS
        and str(getattr(kind, "__module__", "")).startswith("_cython_"))


class UserCode:
    """Answers "is this the user's code?" for modules and objects (cached per module)."""

    def __init__(self, packages: Iterable[str] = ()) -> None:
        self.packages = tuple(p for p in packages if p)
        self._cache: dict[str, bool] = {}

    def module(self, name: Any) -> bool:
        """Whether the module called ``name`` is the user's (see the module docstring)."""
        if not isinstance(name, str) or not name:
            return False
        known = self._cache.get(name)
        if known is None:
            known = self._cache[name] = self._decide(name)
        return known

    def _decide(self, name: str) -> bool:
        top = name.split(".", 1)[0]
        if name in MAIN_MODULES or any(name == p or name.startswith(p + ".") for p in self.packages):
            return True
        if top == _OWN or top in sys.stdlib_module_names or top in sys.builtin_module_names:
            return False
        module = sys.modules.get(name)
        filename = getattr(module, "__file__", None) if module is not None else _find(top)
        if not isinstance(filename, str) and top != name:
            # A submodule an extension makes as it loads (duckdb's _duckdb._sqltypes) has
            # no file of its own: its package's says whose it is.
            package = sys.modules.get(top)
            filename = getattr(package, "__file__", None) if package is not None else _find(top)
        if not isinstance(filename, str):
            return True  # nowhere to be found, a namespace package, or made at run time
        path = os.path.realpath(filename)
        return not any(path.startswith(root) for root in _library_roots()) and not any(
            part in _PACKAGE_DIRS for part in path.split(os.sep))

    def defines(self, obj: Any) -> bool:
        """Whether ``obj`` is a function or class the user wrote, or an instance of one."""
        kind = type(obj)
        try:
            if is_function(obj) or issubclass(kind, type):
                return self.module(obj.__module__)
            if kind is types.MethodType:
                return False  # a bound method is a pair: its parts are judged on their own
            return self.module(kind.__module__)
        except Exception:  # noqa: BLE001 - a hostile __class__ or __module__
            return False
