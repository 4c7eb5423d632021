"""Globals that do something to the world when a pickle is loaded: one table for the
load guard and for ``picklecheck inspect``.

* The guarded in-process load (:mod:`picklecheck.backends.guard`, used where the
  kernel sandbox is not available) swaps every *blocking* global for a stand-in
  that refuses, and checks what ``getattr``-like globals return against this table;
* ``picklecheck inspect FILE.pkl`` warns about every global listed here.

A hazard is *blocking* when it deletes, truncates or writes files, runs commands,
evaluates code, signals processes or changes the loading process (exit handlers,
signal handlers, threads, the environment). ``builtins.getattr`` and friends are
listed (they reach anything) but do not block: every bound method pickles as
``getattr(obj, name)``; instead their results are checked.

The table is immutable (a frozenset inside a mapping proxy, built once), and values
are matched by identity as well as by name, so an alias (``posixpath.os.system``),
a dotted name (``subprocess.Popen.__init__``) or a method of a blocked class is
still the hazard it names.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from typing import Any

__all__ = ["Hazard", "HazardBlockedError", "find_hazard", "hazard_of"]

EXECUTES = "executes code"
FILES = "changes files"
OPENS = "opens files"
REACHES = "reaches arbitrary attributes"
PROCESS = "starts or signals processes"
STATE = "changes the loading process"
NETWORK = "connects to the network"


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
    "ftruncate", "chmod", "fchmod", "lchmod", "chown", "fchown", "lchown", "link", "symlink",
    "mkdir", "makedirs", "mkfifo", "mknod", "utime", "write", "pwrite", "writev", "pwritev",
    "sendfile", "posix_fallocate", "chroot", "dup2",
)
_OS_PROCESS = (
    "system", "popen", "kill", "killpg", "fork", "forkpty", "abort", "_exit",
    "posix_spawn", "posix_spawnp", "startfile", "setsid", "setpgid", "setuid", "setgid",
    "register_at_fork",
)
_OS_STATE = ("chdir", "fchdir", "putenv", "unsetenv", "_Environ.__setitem__",
             "_Environ.__delitem__")
_OS_EXEC_PREFIXES = ("exec", "spawn")
_SIGNAL_STATE = ("signal", "alarm", "setitimer", "raise_signal", "pthread_kill",
                 "pthread_sigmask", "siginterrupt", "set_wakeup_fd", "pause", "sigwait")

_ENTRIES: list[tuple[str, str, str, bool]] = []


def _add(module: str, names: tuple[str, ...], category: str, blocks: bool = True) -> None:
    _ENTRIES.extend((module, name, category, blocks) for name in names)


for _m in _OS_MODULES:
    _add(_m, _OS_FILES, FILES)
    _add(_m, _OS_PROCESS, PROCESS)
    _add(_m, _OS_STATE, STATE)
    _add(_m, ("open",), OPENS, blocks=False)  # guarded by its flags
for _m in ("signal", "_signal"):
    _add(_m, _SIGNAL_STATE, STATE)
_add("builtins", ("eval", "exec", "compile", "__import__", "breakpoint", "input"), EXECUTES)
_add("builtins", ("getattr", "setattr", "delattr", "vars", "object.__getattribute__",
                  "type.__getattribute__"), REACHES, blocks=False)
_add("socket", ("socket", "create_connection", "create_server", "socketpair", "fromfd"), NETWORK)
_add("_socket", ("socket",), NETWORK)
_add("builtins", ("open",), OPENS, blocks=False)
_add("io", ("open", "open_code", "FileIO"), OPENS, blocks=False)
_add("_io", ("open", "FileIO"), OPENS, blocks=False)
_add("codecs", ("open",), OPENS, blocks=False)
_add("pathlib", ("Path.write_text", "Path.write_bytes", "Path.unlink", "Path.rmdir",
                 "Path.rename", "Path.replace", "Path.touch", "Path.mkdir", "Path.chmod",
                 "Path.symlink_to", "Path.hardlink_to", "Path.lchmod"), FILES)
_add("shutil", ("rmtree", "move", "copy", "copy2", "copyfile", "copytree", "chown",
                "copymode", "copystat", "make_archive", "unpack_archive"), FILES)
_add("subprocess", ("Popen", "call", "check_call", "check_output", "run", "getoutput",
                    "getstatusoutput"), PROCESS)
_add("_posixsubprocess", ("fork_exec",), PROCESS)
_add("pty", ("spawn", "fork"), PROCESS)
_add("runpy", ("run_path", "run_module", "_run_code", "_run_module_code"), EXECUTES)
_add("code", ("interact",), EXECUTES)
_add("code", ("InteractiveInterpreter", "InteractiveConsole"), EXECUTES, blocks=False)
_add("pickle", ("loads", "load", "_loads", "_load"), EXECUTES)
_add("_pickle", ("loads", "load"), EXECUTES)
_add("dill", ("loads", "load"), EXECUTES)
_add("dill._dill", ("loads", "load"), EXECUTES)
_add("cloudpickle", ("loads", "load"), EXECUTES)
_add("marshal", ("loads", "load"), EXECUTES)
_add("importlib", ("import_module", "__import__", "reload"), EXECUTES, blocks=False)
_add("operator", ("attrgetter", "methodcaller"), REACHES, blocks=False)
_add("webbrowser", ("open", "open_new", "open_new_tab"), PROCESS)
_add("tempfile", ("TemporaryDirectory", "_TemporaryFileCloser", "_TemporaryFileWrapper"), FILES)
_add("weakref", ("finalize",), EXECUTES)
_add("atexit", ("register",), STATE)
_add("threading", ("Thread", "Timer"), STATE)
_add("_thread", ("start_new_thread", "start_new", "start_joinable_thread"), STATE)
_add("sys", ("exit", "settrace", "setprofile", "addaudithook", "setrecursionlimit"), STATE)
_add("ctypes", ("CDLL", "PyDLL", "cdll", "pydll", "pythonapi", "memmove", "memset",
                "CFUNCTYPE", "PYFUNCTYPE"), EXECUTES)
_add("ctypes", ("LibraryLoader",), EXECUTES, blocks=False)
_add("_ctypes", ("dlopen",), EXECUTES)
_add("dill._dill", ("_create_filehandle",), OPENS, blocks=False)
# dill's and cloudpickle's own ways to reach a type or an attribute by name
_add("dill._dill", ("_load_type", "_get_attr", "_getattr"), REACHES, blocks=False)
_add("cloudpickle.cloudpickle", ("_builtin_type",), REACHES, blocks=False)

#: (module, name) -> (category, blocks): read-only, built once.
_TABLE = types.MappingProxyType({(m, n): (c, b) for m, n, c, b in frozenset(_ENTRIES)})
del _m


def find_hazard(module: str, name: str) -> Hazard | None:
    """The hazard a global ``module.name`` poses, or None. A dotted name inside a
    blocked class (``subprocess.Popen.__init__``) is that class's hazard (named so)."""
    entry = _TABLE.get((module, name))
    if entry is None and module in _OS_MODULES and name.startswith(_OS_EXEC_PREFIXES):
        entry = (PROCESS, True)
    if entry is None and "." in name:
        owner = name.split(".", 1)[0]
        found = _TABLE.get((module, owner))
        if found is not None and found[1]:
            return Hazard(module, owner, found[0], found[1])  # the class it belongs to
    if entry is None:
        return None
    return Hazard(module, name, entry[0], entry[1])


_BY_ID: dict[int, tuple[Any, Hazard]] = {}
_RESOLVED: set[str] = set()


def _resolve_loaded() -> None:
    """Map the identity of every listed object of an imported module to its hazard
    (a module imported later is resolved on a later call)."""
    for (module, name), (category, blocks) in _TABLE.items():
        if module in _RESOLVED or module not in sys.modules:
            continue
        value: Any = sys.modules[module]
        for part in name.split("."):
            value = getattr(value, part, None)
        if value is None:
            continue
        hazard = Hazard(module, name, category, blocks)
        _BY_ID.setdefault(id(value), (value, hazard))
        if isinstance(value, type) and blocks:
            for member in vars(value).values():
                if callable(member):
                    _BY_ID.setdefault(id(member), (member, hazard))
    _RESOLVED.update(m for m, _ in _TABLE if m in sys.modules)


def hazard_of(value: Any) -> Hazard | None:
    """The hazard of an object already in hand: by identity (aliases, methods of
    blocked classes, bound methods), then by its module and name."""
    _resolve_loaded()
    try:
        candidates = (value, getattr(value, "__func__", None))
    except Exception:  # noqa: BLE001 - hostile objects
        candidates = (value, None)
    for candidate in candidates:
        if candidate is None:
            continue
        found = _BY_ID.get(id(candidate))
        if found is not None and found[0] is candidate:
            return found[1]
    try:
        module = getattr(value, "__module__", None)
        name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    except Exception:  # noqa: BLE001 - hostile objects
        return None
    if not isinstance(module, str) or not isinstance(name, str):
        return None
    return find_hazard(module, name) or find_hazard(module.split(".")[0], name)
