"""What the command line points at: ``app.py:state.cache`` or ``package.module:thing``.

A target is a source (a ``.py`` file or an importable module) and, optionally, a
dotted name inside it. :func:`parse_target` only reads the text; :func:`resolve`
imports the source and finds the values to check.

A file is loaded under its stem (``examples/session_app.py`` becomes module
``session_app`` in ``sys.modules``), not as ``__main__``: its
``if __name__ == "__main__":`` block does not run, and objects defined in it
pickle by reference in this process (cloudpickle's copies save them by value while the
command checks them, as they save ``__main__``'s: see ``command._as_the_script``). Its folder is on ``sys.path`` only while it
loads (and while ``--call`` runs), so a fresh interpreter cannot import it:
that is what another process sees of a class defined in a script.

Everything the user's code prints while it loads goes to stderr, so that
``--json`` output stays clean.
"""

from __future__ import annotations
import __future__

import contextlib
import difflib
import importlib
import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "NameNotFoundError",
    "NoValuesError",
    "Resolved",
    "Target",
    "TargetCodeError",
    "TargetError",
    "TargetNotFoundError",
    "TargetSyntaxError",
    "parse_target",
    "public_names",
    "resolve",
]

_PACKAGE_DIR = str(Path(__file__).resolve().parent)
_FATAL = (KeyboardInterrupt,)


# -- errors: each carries its fields and formats its text on demand ------------

class TargetError(Exception):
    """A target the command line cannot check: a usage error (exit code 2)."""

    exit_code = 2


class TargetSyntaxError(TargetError, ValueError):
    """The target text is neither ``file.py[:name]`` nor ``module[:name]``."""

    def __init__(self, spec: str, problem: str) -> None:
        self.spec = spec
        self.problem = problem
        super().__init__(spec, problem)

    def __str__(self) -> str:
        return (f"bad target {self.spec!r}: {self.problem}\n"
                "  expected path/to/file.py[:name] or package.module[:name], "
                "e.g. app.py:state.cache")


class TargetNotFoundError(TargetError, LookupError):
    """The file does not exist, or the module cannot be found; with close matches."""

    def __init__(self, spec: str, what: str, suggestions: list[str] | None = None) -> None:
        self.spec = spec
        self.what = what
        self.suggestions = suggestions or []
        super().__init__(spec, what)

    def __str__(self) -> str:
        text = f"cannot find {self.what} (target {self.spec!r})"
        if self.suggestions:
            text += "\n  did you mean " + " or ".join(self.suggestions) + "?"
        return text


class _SourceError(TargetError):
    """A target whose source (a file or module) cannot be checked as a whole."""

    def __init__(self, spec: str, source: str) -> None:
        self.spec = spec
        self.source = source
        super().__init__(spec, source)


class PickleFileTargetError(_SourceError):
    """A pickle file given as a target: ``picklecheck inspect`` reads those."""

    def __str__(self) -> str:
        return (f"{self.source} is a pickle file, not Python code: read it with "
                f"`picklecheck inspect {self.source}` (which never runs what it holds)")


#: What pickle files are named with (one that is not is known by its first two bytes).
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".pck", ".pcl", ".p", ".dill", ".joblib", ".cloudpickle")


def _is_pickle_file(path: Path) -> bool:
    """Whether ``path`` is named like a pickle file or starts as one (protocol 2 and up)."""
    if path.suffix.lower() in _PICKLE_SUFFIXES:
        return True
    try:
        with path.open("rb") as f:
            head = f.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


class NoValuesError(_SourceError):
    """A file or module with nothing public to check."""

    def __str__(self) -> str:
        return (f"{self.source} has no public values to check "
                "(--all-names includes functions, classes and modules)")


class NameNotFoundError(TargetError, AttributeError):
    """The dotted name does not exist in the module, with close matches."""

    def __init__(self, spec: str, owner: str, missing: str, suggestions: list[str]) -> None:
        self.spec = spec
        self.owner = owner
        self.missing = missing
        self.suggestions = suggestions
        super().__init__(spec, owner, missing)

    def __str__(self) -> str:
        text = f"{self.owner} has no name {self.missing!r} (target {self.spec!r})"
        if self.suggestions:
            text += "\n  did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        return text


class TargetCodeError(TargetError):
    """The user's own code raised: importing the module, reading a name, or ``--call``.

    ``traceback`` holds only the user's frames (none from picklecheck or importlib).
    """

    def __init__(self, action: str, exc: BaseException) -> None:
        self.action = action
        self.exc = exc
        self.traceback = user_traceback(exc)
        super().__init__(action, exc)

    def __str__(self) -> str:
        return f"{self.action} raised an exception:\n\n{self.traceback.rstrip()}"


def user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` without picklecheck's or importlib's frames."""
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    seen: set[int] = set()
    pending = [te]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.stack = traceback.StackSummary.from_list(
            [frame for frame in current.stack if _is_user_frame(frame.filename)])
        pending += [t for t in (current.__cause__, current.__context__) if t is not None]
    return "".join(te.format())


def _is_user_frame(filename: str) -> bool:
    if filename.startswith("<frozen "):
        return False
    path = str(Path(filename).resolve()) if not filename.startswith("<") else filename
    return not (path.startswith(_PACKAGE_DIR + os.sep) or f"{os.sep}importlib{os.sep}" in path
                or f"{os.sep}click{os.sep}" in path)


# -- parsing ------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """A parsed target: ``source`` is a file path (``is_file``) or a module name."""

    spec: str
    source: str
    attr: str | None
    is_file: bool
    is_dir: bool = False

    @property
    def label(self) -> str:
        """How the source is named in messages: the path, or the module name."""
        return self.source


def _is_dotted(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))


def parse_target(spec: str) -> Target:
    """Split ``path/to/file.py:thing.attr`` or ``package.module:thing`` (no import)."""
    source, sep, attr = spec.rpartition(":")
    if not sep or "/" in attr or "\\" in attr:  # no name, or a Windows drive letter
        source, attr = spec, ""
    elif not attr:
        raise TargetSyntaxError(spec, "nothing after ':' (name a value, or drop the ':')")
    elif not _is_dotted(attr):
        raise TargetSyntaxError(spec, f"{attr!r} is not a Python name (dotted names are fine)")
    if not source:
        raise TargetSyntaxError(spec, "nothing before ':' (name a .py file or a module)")
    if os.path.isdir(source):  # `pkg`, `pkg/` and `./pkg` are one folder
        folder = source.rstrip("/" + os.sep) or source
        return Target(spec=spec, source=folder, attr=attr or None, is_file=False, is_dir=True)
    is_file = source.endswith(".py") or "/" in source or os.sep in source \
        or os.path.isfile(source)
    if not is_file and not _is_dotted(source):
        raise TargetSyntaxError(spec, f"{source!r} is neither a .py file nor a module name")
    return Target(spec=spec, source=source, attr=attr or None, is_file=is_file)


# -- loading ------------------------------------------------------------------

@contextlib.contextmanager
def _importable(folder: str) -> Iterator[None]:
    """``folder`` first on sys.path, and the user's prints on stderr, for a while."""
    sys.path.insert(0, folder)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def _module_name(path: Path) -> str:
    """The stem, unless another module already uses it (then a private name)."""
    name = path.stem
    existing = sys.modules.get(name)
    if existing is None or _same_file(getattr(existing, "__file__", None), path):
        return name
    return f"__picklecheck_script_{name}__"


def _same_file(filename: str | None, path: Path) -> bool:
    return filename is not None and Path(filename).resolve() == path


def load_module(target: Target) -> ModuleType:
    """Import the target's source; a file already loaded is not run twice."""
    if target.is_dir:
        return _import_package(target)
    if target.is_file:
        return _load_file(target)
    return _import_module(target)


def _import_package(target: Target) -> ModuleType:
    """A folder: the package it is (imported from the folder above its top package),
    or a usage error naming the Python files in it."""
    folder = Path(target.source).resolve()
    if not (folder / "__init__.py").is_file():
        files = sorted(p.name for p in folder.glob("*.py"))[:5]
        hint = (f"; name a file in it, e.g. {_join(target.source, files[0])}:NAME (it holds "
                f"{', '.join(files)})" if files else "; it holds no .py file")
        raise TargetNotFoundError(target.spec, f"a package in folder {target.source} (it has "
                                  f"no __init__.py){hint}")
    parts = [folder.name]
    root = folder.parent
    while (root / "__init__.py").is_file():
        parts.insert(0, root.name)
        root = root.parent
    name = ".".join(parts)
    if not _is_dotted(name):
        raise TargetNotFoundError(target.spec, f"an importable package: {name!r} is not a "
                                  "module name")
    return _import_module(Target(target.spec, name, target.attr, False), str(root))


def _join(folder: str, name: str) -> str:
    return os.path.join(folder, name)


def _load_file(target: Target) -> ModuleType:
    path = Path(target.source).resolve()
    if not path.is_file():
        raise TargetNotFoundError(target.spec, f"file {target.source}",
                                  close_paths(target.source))
    name = _module_name(path)
    existing = sys.modules.get(name)
    if existing is not None:
        return existing
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        if _is_pickle_file(path):
            raise PickleFileTargetError(target.spec, target.source)
        raise TargetNotFoundError(target.spec, f"a loader for {target.source}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with _importable(str(path.parent)):
            spec.loader.exec_module(module)
    except _FATAL:
        raise
    except BaseException as exc:  # noqa: BLE001 - the user's module may raise anything
        sys.modules.pop(name, None)
        raise TargetCodeError(f"importing {target.source}", exc) from None
    return module


def _import_module(target: Target, folder: str | None = None) -> ModuleType:
    try:
        with _importable(folder or os.getcwd()):
            return importlib.import_module(target.source)
    except ModuleNotFoundError as exc:
        if exc.name is not None and target.source.startswith(exc.name):
            raise TargetNotFoundError(target.spec, f"module {exc.name!r}",
                                      close_modules(exc.name) + close_paths(target.source)
                                      ) from None
        raise TargetCodeError(f"importing {target.source}", exc) from None
    except _FATAL:
        raise
    except BaseException as exc:  # noqa: BLE001
        raise TargetCodeError(f"importing {target.source}", exc) from None


# -- finding the values -------------------------------------------------------

@dataclass
class Resolved:
    """One value to check: ``name`` is the root of every culprit path."""

    target: Target
    name: str
    obj: Any
    module: ModuleType


def lookup(target: Target, module: ModuleType, dotted: str) -> Any:
    """``module.a.b.c``, with "did you mean" for a missing part."""
    value: Any = module
    owner = f"module {target.label}"
    done: list[str] = []
    for part in dotted.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise NameNotFoundError(target.spec, owner, part,
                                    _close_matches(part, value)) from None
        except _FATAL:
            raise
        except BaseException as exc:  # noqa: BLE001 - a hostile property is the user's
            raise TargetCodeError(f"reading {'.'.join([*done, part])}", exc) from None
        done.append(part)
        owner = ".".join(done)
    return value


def close_paths(path: str) -> list[str]:
    """Existing files close to a mistyped path, fixed part by part
    (``exampels/sesion_app.py`` becomes ``examples/session_app.py``)."""
    given = Path(path)
    if given.is_absolute():
        bases, parts = [Path(given.parts[0])], given.parts[1:]
    else:
        bases, parts = [Path(".")], given.parts
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        found: list[Path] = []
        for base in bases:
            exact = base / part
            if exact.is_file() if last else exact.is_dir():
                found.append(exact)
                continue
            try:
                names = [e.name for e in base.iterdir() if (e.is_file() if last else e.is_dir())]
            except OSError:
                continue
            found += [base / m for m in difflib.get_close_matches(part, names, n=3, cutoff=0.6)]
        bases = found[:3]
        if not bases:
            return []
    return [str(p) for p in bases]


def close_modules(name: str) -> list[str]:
    """Importable top-level names close to a mistyped one (the current folder first)."""
    import pkgutil

    if "." in name:
        return []
    try:
        names = {m.name for m in pkgutil.iter_modules([os.getcwd()])}
        names |= {m.name for m in pkgutil.iter_modules()} | set(sys.builtin_module_names)
    except Exception:  # noqa: BLE001 - a broken sys.path entry: no suggestion
        return []
    return [repr(m) for m in difflib.get_close_matches(name, sorted(names), n=3, cutoff=0.75)]


def _close_matches(word: str, owner: Any) -> list[str]:
    try:
        names = [n for n in dir(owner) if not n.startswith("__")]
    except Exception:  # noqa: BLE001 - a hostile __dir__
        return []
    return difflib.get_close_matches(word, names, n=3, cutoff=0.6)


def _call(target: Target, name: str, func: Any) -> Any:
    if not callable(func):
        raise TargetSyntaxError(target.spec, f"--call: {name} is not callable "
                                             f"({type(func).__name__})")
    folder = str(Path(target.source).resolve().parent) if target.is_file else os.getcwd()
    try:
        with _importable(folder):
            return func()
    except _FATAL:
        raise
    except BaseException as exc:  # noqa: BLE001
        raise TargetCodeError(f"calling {name}()", exc) from None


def resolve(target: Target, *, call: bool = False, all_names: bool = False) -> list[Resolved]:
    """The values a target names: one, or every public value of the module."""
    module = load_module(target)
    if target.attr is not None:
        value = lookup(target, module, target.attr)
        if call:
            return [Resolved(target, f"{target.attr}()", _call(target, target.attr, value),
                             module)]
        return [Resolved(target, target.attr, value, module)]
    if call:
        raise TargetSyntaxError(target.spec, "--call needs a name to call (file.py:factory)")
    return [Resolved(target, n, getattr(module, n), module)
            for n in public_names(module, all_names=all_names)]


def public_names(module: ModuleType, *, all_names: bool = False) -> list[str]:
    """The module's public values, in definition order.

    Unless ``all_names``, modules, classes and functions that pickle by reference
    (found again under their own module and qualified name), ``from __future__``
    flags and typing constructs are left out: they pickle fine wherever their
    module imports. A module-level lambda is kept.
    """
    namespace = vars(module)
    declared = namespace.get("__all__")
    if isinstance(declared, (list, tuple)) and all(isinstance(n, str) for n in declared):
        names = [n for n in declared if n in namespace]
    else:
        names = [n for n in namespace if not n.startswith("_")]
    if all_names:
        return names
    return [n for n in names if not _by_reference(namespace[n])]


def _by_reference(value: Any) -> bool:
    if isinstance(value, (ModuleType, __future__._Feature)):
        return True
    if getattr(type(value), "__module__", None) in ("typing", "typing_extensions"):
        return True  # Callable, Optional[int], ...: pickled as references to typing
    if not (inspect.isclass(value) or inspect.isroutine(value)):
        return False
    try:
        found: Any = sys.modules.get(value.__module__)
        for part in value.__qualname__.split("."):
            found = getattr(found, part)
    except Exception:  # noqa: BLE001 - no such name, or a hostile attribute
        return False
    return found is value
