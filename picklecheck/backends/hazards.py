"""Globals that do something to the world when a pickle is loaded.

Two uses share this table:

* the round trip (:mod:`picklecheck.backends`) must never harm the user's world,
  so loading goes through :func:`guard_global`, which swaps a *blocking* global for
  a stand-in that raises :class:`HazardBlockedError` instead of running it;
* ``picklecheck inspect FILE.pkl`` warns about every global that can run code.

A hazard is *blocking* when it deletes, truncates or writes files, runs commands or
evaluates code. ``builtins.getattr`` is listed (it can reach anything) but does not
block: every bound method pickles as ``getattr(obj, name)``; instead its result is
checked against this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Hazard", "HazardBlockedError", "find_hazard", "guard_global"]

EXECUTES = "executes code"
FILES = "changes files"
OPENS = "opens files"
REACHES = "reaches arbitrary attributes"
PROCESS = "starts or signals processes"


@dataclass(frozen=True)
class Hazard:
    module: str
    name: str
    category: str
    blocks: bool

    @property
    def qualified(self) -> str:
        return f"{self.module}.{self.name}"


class HazardBlockedError(Exception):
    """Raised in place of a hazardous global while picklecheck loads a pickle."""

    def __init__(self, what: str, why: str):
        self.what = what
        self.why = why
        super().__init__(f"picklecheck did not run {what} while loading: {why}")


_OS_MODULES = ("os", "posix", "nt")
_OS_FILES = (
    "remove", "unlink", "rmdir", "removedirs", "rename", "renames", "replace", "truncate",
    "ftruncate", "chmod", "chown", "lchown", "link", "symlink", "mkdir", "makedirs",
    "mkfifo", "mknod", "utime", "write", "pwrite",
)
_OS_PROCESS = (
    "system", "popen", "kill", "killpg", "fork", "forkpty", "abort", "_exit",
    "posix_spawn", "posix_spawnp", "startfile",
)
_OS_EXEC_PREFIXES = ("exec", "spawn")

_TABLE: dict[tuple[str, str], tuple[str, bool]] = {}


def _add(module: str, names: tuple[str, ...] | list[str], category: str, blocks: bool = True) -> None:
    for name in names:
        _TABLE[(module, name)] = (category, blocks)


for _m in _OS_MODULES:
    _add(_m, _OS_FILES, FILES)
    _add(_m, _OS_PROCESS, PROCESS)
_add("builtins", ("eval", "exec", "compile", "__import__", "breakpoint", "input"), EXECUTES)
_add("builtins", ("getattr",), REACHES, blocks=False)
_add("builtins", ("open",), OPENS, blocks=False)
_add("io", ("open", "open_code"), OPENS, blocks=False)
_add("_io", ("open",), OPENS, blocks=False)
_add("codecs", ("open",), OPENS, blocks=False)
_add("shutil", ("rmtree", "move", "copy", "copy2", "copyfile", "copytree", "chown",
                "make_archive", "unpack_archive"), FILES)
_add("subprocess", ("Popen", "call", "check_call", "check_output", "run", "getoutput",
                    "getstatusoutput"), PROCESS)
_add("pty", ("spawn", "fork"), PROCESS)
_add("runpy", ("run_path", "run_module", "_run_code", "_run_module_code"), EXECUTES)
_add("code", ("interact", "InteractiveInterpreter", "InteractiveConsole"), EXECUTES)
_add("pickle", ("loads", "load", "_loads", "_load"), EXECUTES)
_add("_pickle", ("loads", "load"), EXECUTES)
_add("marshal", ("loads", "load"), EXECUTES)
_add("importlib", ("import_module", "__import__", "reload"), EXECUTES, blocks=False)
_add("operator", ("attrgetter", "methodcaller"), REACHES, blocks=False)
_add("webbrowser", ("open", "open_new", "open_new_tab"), PROCESS)
_add("tempfile", ("TemporaryDirectory", "_TemporaryFileCloser", "_TemporaryFileWrapper"), FILES)
_add("weakref", ("finalize",), EXECUTES)
_add("ctypes", ("CDLL", "PyDLL", "cdll", "pydll", "LibraryLoader"), EXECUTES)
_add("sys", ("exit",), PROCESS)
_add("dill._dill", ("_create_filehandle",), OPENS, blocks=False)


def find_hazard(module: str, name: str) -> Hazard | None:
    """The hazard a global ``module.name`` poses, or None."""
    entry = _TABLE.get((module, name))
    if entry is None and module in _OS_MODULES and name.startswith(_OS_EXEC_PREFIXES):
        entry = (PROCESS, True)
    if entry is None:
        return None
    return Hazard(module, name, entry[0], entry[1])


def _blocked(hazard: Hazard) -> Callable[..., Any]:
    def stand_in(*args: Any, **kwargs: Any) -> Any:
        raise HazardBlockedError(hazard.qualified, f"it {hazard.category}")

    return stand_in


def _guard_open(qualified: str, target: Callable[..., Any]) -> Callable[..., Any]:
    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        mode = kwargs.pop("mode", mode)
        if isinstance(mode, str) and not set(mode) & set("wax+"):
            return target(file, mode, *args, **kwargs)
        raise HazardBlockedError(
            qualified, f"it would open {file!r} with mode {mode!r}, which can create or empty it"
        )

    return guarded_open


def _guard_dill_filehandle(target: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(name: Any, mode: Any, position: Any, closed: Any, open: Any,  # noqa: A002
                strictio: Any, fmode: Any, fdata: Any) -> Any:
        from dill import HANDLE_FMODE  # only reached while loading a dill pickle

        safe_mode = isinstance(mode, str) and not set(mode) & set("wax+")
        special = name in ("<stdin>", "<stdout>", "<stderr>", "<fdopen>")
        if special or (safe_mode and fmode == HANDLE_FMODE):
            return target(name, mode, position, closed, open, strictio, fmode, fdata)
        raise HazardBlockedError(
            "dill._dill._create_filehandle",
            f"dill would re-open {name!r} with mode {mode!r} on load, which "
            + ("empties it" if "w" in str(mode) else "can create or change it"),
        )

    return guarded


def _guard_getattr(target: Callable[..., Any]) -> Callable[..., Any]:
    def guarded_getattr(obj: Any, name: str, *default: Any) -> Any:
        value = target(obj, name, *default)
        hazard = hazard_of(value)
        if hazard is not None and hazard.blocks:
            return _blocked(hazard)
        return value

    return guarded_getattr


def hazard_of(value: Any) -> Hazard | None:
    """The hazard of a callable already in hand (looked up by its module and name)."""
    try:
        module = getattr(value, "__module__", None)
        name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    except Exception:  # noqa: BLE001 - hostile objects
        return None
    if not isinstance(module, str) or not isinstance(name, str):
        return None
    return find_hazard(module, name)


def guard_global(module: str, name: str, value: Any) -> Any:
    """What an unpickler should use for ``module.name`` (already resolved to ``value``)."""
    hazard = find_hazard(module, name)
    if hazard is None:
        return value
    if (module, name) == ("dill._dill", "_create_filehandle"):
        return _guard_dill_filehandle(value)
    if name == "getattr":
        return _guard_getattr(value)
    if hazard.category == OPENS and name in ("open",):
        return _guard_open(hazard.qualified, value)
    if hazard.blocks:
        return _blocked(hazard)
    return value
