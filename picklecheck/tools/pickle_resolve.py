"""Can this environment provide a global a pickle names, and does it act on the system?

:class:`Resolver` answers for one ``module.qualname`` at a time. By default nothing is
imported: a module already in ``sys.modules`` is checked for the attribute; any other
module is only looked for on disk, package by package, without running any
``__init__``. With ``import_modules`` each module is imported (running its code) and
every attribute checked.

:func:`global_hazard` follows a dotted name to what it names before it looks the
hazard up: ``posixpath`` + ``os.system`` is ``os.system``, ``subprocess`` +
``Popen.__init__`` reaches ``subprocess.Popen``. It follows live objects only in
modules already imported, and otherwise reads the name itself.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.machinery
import importlib.util
import inspect
import os
import sys
from typing import Any

from picklecheck.backends.hazards import Hazard, find_hazard, hazard_of

__all__ = ["FOUND", "IMPORT_ERROR", "MISSING_ATTRIBUTE", "MISSING_MODULE", "OK",
           "Resolver", "global_hazard"]

OK, FOUND, MISSING_MODULE, MISSING_ATTRIBUTE, IMPORT_ERROR = (
    "ok", "found", "missing module", "missing attribute", "import error")

#: Missing modules that get "did you mean" suggestions (each compares against every
#: installed top-level name); the rest of a long list only says what is missing.
SUGGESTIONS = 20


def _is_module_name(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))


class Resolver:
    """Where each global of one file comes from (caches what every lookup shares)."""

    def __init__(self, import_modules: bool = False) -> None:
        self.import_modules = import_modules
        self._top_level: list[str] | None = None
        self._on_path: set[str] | None = None
        self._suggested = 0

    def resolve(self, module_name: str, name: str, dotted: bool = True) -> tuple[str, str]:
        """``(status, detail)`` for ``module_name.name``; without ``dotted`` (a loader
        below protocol 4) the name is one attribute, dots and all."""
        module = sys.modules.get(module_name)
        if module is None and not _is_module_name(module_name):
            return MISSING_MODULE, (f"{module_name!r} is not a module name (no module can "
                                    "be imported under it)")
        if module is None and self.import_modules:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                return MISSING_MODULE, self.missing_module(module_name, exc.name)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - the module's own code failed
                return IMPORT_ERROR, f"importing {module_name} raised {type(exc).__name__}: {exc}"
        if module is None:
            return self._find_on_disk(module_name)
        return _check_attribute(module_name, name, module, dotted)

    def _find_on_disk(self, module_name: str) -> tuple[str, str]:
        """Look for the module file without running any package's ``__init__``."""
        parts = module_name.split(".")
        spec = None
        for i in range(len(parts)):
            prefix = ".".join(parts[: i + 1])
            if prefix in sys.modules:
                spec = getattr(sys.modules[prefix], "__spec__", None)
                continue
            try:
                if i == 0 and not self._may_exist(prefix):
                    spec = None
                elif spec is None:
                    spec = importlib.util.find_spec(prefix)
                else:
                    spec = _in_package(prefix, spec.submodule_search_locations)
            except Exception:  # noqa: BLE001 - any finder on sys.meta_path may raise
                spec = None
            if spec is None:
                detail = self.missing_module(module_name, prefix)
                if i:  # a package can create submodules in its __init__, which was not run
                    detail += f" (not on disk under {'.'.join(parts[:i])}; --import to be sure)"
                return MISSING_MODULE, detail
        return FOUND, f"module {module_name} found, not imported; attribute not checked (--import)"

    def _may_exist(self, name: str) -> bool:
        """False when no finder can have top-level module ``name``: not on any folder of
        sys.path (listed once per file), not built in or frozen, and no other finder on
        sys.meta_path knows it. Asking importlib instead rescans sys.path per name."""
        if self._on_path is None:
            self._on_path = _names_on_path()
        if self._on_path is _INCOMPLETE or name in self._on_path:
            return True
        if name in sys.builtin_module_names or importlib.machinery.FrozenImporter.find_spec(name):
            return True
        standard = (importlib.machinery.PathFinder, importlib.machinery.BuiltinImporter,
                    importlib.machinery.FrozenImporter)
        for finder in sys.meta_path:
            if finder in standard or isinstance(finder, standard):
                continue
            try:
                if finder.find_spec(name, None) is not None:
                    return True
            except Exception:  # noqa: BLE001 - a broken finder does not know it
                continue
        return False

    def missing_module(self, module: str, missing: str | None) -> str:
        missing = missing or module
        text = f"No module named {missing!r}"
        if "." not in missing and self._suggested < SUGGESTIONS:
            self._suggested += 1
            close = difflib.get_close_matches(missing, self.top_level_names(), n=3, cutoff=0.75)
            if close:
                text += f" (did you mean {', '.join(close)}?)"
        if module != missing:
            text += f", needed for {module}"
        return text + "; install it, or add the directory that holds it to sys.path"

    def top_level_names(self) -> list[str]:
        """Every importable top-level name, listed once per file (a scan of sys.path)."""
        if self._top_level is None:
            import pkgutil

            names = {m.name for m in pkgutil.iter_modules()} | set(sys.builtin_module_names)
            self._top_level = sorted(names)
        return self._top_level


_INCOMPLETE: set[str] = set()  # sys.path has entries that are not folders: ask importlib


def _names_on_path() -> set[str]:
    """Every top-level name the folders on sys.path offer: modules (any importable
    suffix), packages and namespace packages (any folder)."""
    suffixes = tuple(importlib.machinery.all_suffixes())
    names: set[str] = set()
    for entry in sys.path:
        folder = entry or "."
        if not os.path.isdir(folder):
            if os.path.exists(folder) or sys.path_importer_cache.get(entry) is not None:
                return _INCOMPLETE  # a zip file or a custom path hook
            continue
        try:
            listing = os.listdir(folder)
        except OSError:
            return _INCOMPLETE
        for item in listing:
            if item.endswith(suffixes):
                names.add(item.split(".", 1)[0])
            elif "." not in item:
                names.add(item)
    return names


def _check_attribute(module_name: str, name: str, module: Any,
                     dotted: bool) -> tuple[str, str]:
    value: Any = module
    for part in name.split(".") if dotted else [name]:
        try:
            value = inspect.getattr_static(value, part)
        except AttributeError:
            return MISSING_ATTRIBUTE, _missing_attribute(module_name, name, module, part)
    return OK, ""


def _missing_attribute(module_name: str, name: str, module: Any, part: str) -> str:
    text = f"Can't get attribute {name!r} on <module {module_name!r}>"
    try:
        names = [n for n in vars(module) if isinstance(n, str) and not n.startswith("__")]
    except TypeError:
        names = []
    close = difflib.get_close_matches(part, names, n=3, cutoff=0.75)
    if close:
        text += f" (did you mean {', '.join(close)}?)"
    if "." in name and part == name:
        text += "; below protocol 4, pickle.load does not follow dotted names"
    elif module_name == "__main__":
        text += ("; it was defined in the script that wrote the file: load it from that "
                 "script, or move the class into a module both sides import")
    else:
        text += "; it was renamed or removed since the file was written"
    return text


# -- hazards -------------------------------------------------------------------------

def global_hazard(module: str, name: str, dotted: bool = True) -> Hazard | None:
    """The hazard of ``module.name`` once its dotted name is followed, or None.
    Without ``dotted`` (a loader below protocol 4) the name is taken as it is."""
    hazard = find_hazard(module, name)
    if hazard is not None or not dotted:
        return hazard
    return _live_hazard(module, name) or _named_hazard(module, name)


def _live_hazard(module: str, name: str) -> Hazard | None:
    """Follow the attributes of a module already imported (never importing one)."""
    value: Any = sys.modules.get(module)
    if value is None:
        return None
    for part in name.split("."):
        try:
            value = inspect.getattr_static(value, part)
        except Exception:  # noqa: BLE001 - a missing or hostile attribute ends the walk
            return None
        value = getattr(value, "__func__", value)  # staticmethod and classmethod
        hazard = hazard_of(value)
        if hazard is not None:
            return hazard
    return None


def _named_hazard(module: str, name: str) -> Hazard | None:
    """Read the name: a hazard that is a prefix of the attribute chain, or one reached
    through a module name inside it (``x.os.system``), for modules not imported here."""
    parts = name.split(".")
    for end in range(1, len(parts)):
        hazard = find_hazard(module, ".".join(parts[:end]))
        if hazard is not None:
            return hazard
    for start in range(len(parts) - 1):
        for end in range(start + 2, len(parts) + 1):
            hazard = find_hazard(parts[start], ".".join(parts[start + 1:end]))
            if hazard is not None:
                return hazard
    return None


def _in_package(name: str, locations: Any) -> Any:
    """The spec of submodule ``name`` in a package's folders ``locations``, its package not
    imported: a file or a package folder, or a folder without ``__init__.py`` (a namespace
    portion, as ``flask/sansio``: the path finder, asked without the parent imported,
    raises there)."""
    if not locations:
        return None
    folders = list(locations)
    try:
        spec = importlib.machinery.PathFinder.find_spec(name, folders)
    except Exception:  # noqa: BLE001 - a namespace portion of a package not imported
        spec = None
    if spec is not None:
        return spec
    last = name.rpartition(".")[2]
    portions = [os.path.join(f, last) for f in folders if os.path.isdir(os.path.join(f, last))]
    if not portions:
        return None
    found = importlib.machinery.ModuleSpec(name, None, is_package=True)
    found.submodule_search_locations = portions
    return found
