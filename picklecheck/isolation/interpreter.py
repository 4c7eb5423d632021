"""Another Python: the interpreter of a deployment, a cluster's workers or a later run.

Bytes that load in a fresh copy of this interpreter may still fail where they are really
loaded: a production virtualenv without a package the data names, a NumPy 1 reading
NumPy 2's module names, a worker on another Python version, where a function cloudpickle
saved by value (its bytecode) fails to load or crashes the interpreter. A check given
``python=`` loads the bytes in that interpreter instead (:mod:`.fresh`), confined the
same way.

That interpreter imports what *it* has installed, not this one's site-packages (their
compiled modules are built for this version). It also gets the folders of this process's
``sys.path`` that are not installed packages (the project's own folders, where the
user's modules are), and picklecheck itself through a folder that holds only a link to
this package: picklecheck's loading child is pure Python and runs on 3.10 and newer.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from dataclasses import dataclass
from typing import Any

__all__ = ["LIBRARY_MISSING", "Interpreter", "InterpreterError", "OtherBytecodeError",
           "resolve"]

#: The exception a fresh interpreter reports when it lacks the backend's library.
LIBRARY_MISSING = "LibraryMissingError"

#: The oldest Python picklecheck's loading child runs on.
OLDEST = (3, 10)
#: Seconds the other interpreter may take to say what it is.
_ASK_SECONDS = 20.0
#: What the interpreter is asked; its answer follows a marker line (a sitecustomize may
#: print a banner of its own first).
_MARK = "--picklecheck-answer--"
_ASK = (f"import sys; print({_MARK!r}); print('%d.%d.%d' % sys.version_info[:3]);"
        " print(sys.implementation.name); print(sys.prefix)")
_known: dict[tuple[str, float], Interpreter] = {}
#: Where a virtualenv (or an installation's prefix) keeps its interpreter.
_IN_A_VENV = (("bin", "python"), ("bin", "python3"), ("Scripts", "python.exe"))
#: This interpreter's minor version, as "3.11".
THIS_MINOR = f"{sys.version_info.major}.{sys.version_info.minor}"


class InterpreterError(ValueError):
    """The interpreter named to load in cannot be used (a message a person can act on)."""


class OtherBytecodeError(Exception):
    """A function saved by value, as bytecode of this Python, for another version: the
    code object may load there, but running it fails or crashes the interpreter."""

    def __init__(self, here: str, there: str) -> None:
        super().__init__(f"its bytecode is Python {here}'s, and Python {there} cannot run it "
                         "(it may load, then fail or crash when called)")
        self.here, self.there = here, there


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str
    implementation: str
    prefix: str

    def describe(self) -> str:
        return f"{self.path} (Python {self.version})"

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def runs_this_bytecode(self) -> bool:
        """Whether it runs this interpreter's bytecode (the same implementation and
        minor version: the bytecode changes with every one)."""
        return (self.implementation == sys.implementation.name
                and self.minor == THIS_MINOR)

    @property
    def is_this_one(self) -> bool:
        """Whether it is this very interpreter, with this environment's packages."""
        try:
            same = os.path.samefile(self.path, sys.executable)
        except OSError:
            same = False
        return same and os.path.realpath(self.prefix) == os.path.realpath(sys.prefix)

    def config(self, cfg: dict[str, Any], shim: str) -> dict[str, Any]:
        """A fresh child's config (see :mod:`.workers`) for this interpreter: ``shim`` (a
        folder holding picklecheck), the project's folders, then its own ``sys.path``."""
        changed = {**cfg, "own_path": True, "boot": [shim],
                   "path": [shim] + [p for p in cfg.get("path", []) if not installed_folder(p)]}
        if "installed" in cfg:  # a framework's worker: its own folders, then its packages
            changed["installed"] = [shim] + [p for p in cfg["installed"] if not installed_folder(p)]
        return changed


def resolve(python: str | os.PathLike[str]) -> Interpreter:
    """The interpreter ``python`` names (a path, a virtualenv's folder, or a command on
    ``PATH`` such as ``python3.13``), once it has said which Python it is; :class:`InterpreterError`
    when it is not one picklecheck can load in."""
    import shutil
    import subprocess

    given = os.fspath(python)
    if not isinstance(given, str) or not given:
        msg = f"python must name a Python interpreter, not {python!r}"
        raise InterpreterError(msg)
    # A relative path (".venv", "env/bin/python") first, then a command on PATH.
    path = given if os.sep in given or os.path.exists(given) else shutil.which(given)
    if path is None or not os.path.exists(path):
        msg = f"no Python interpreter at {given!r}: give the path of its executable (bin/python)"
        raise InterpreterError(msg)
    path = os.path.abspath(path)
    if os.path.isdir(path):  # a virtualenv's folder: its interpreter
        inside = [os.path.join(path, *parts) for parts in _IN_A_VENV]
        found_inside = next((p for p in inside if os.path.isfile(p)), None)
        if found_inside is None:
            msg = (f"{given!r} is a folder with no Python interpreter in it (looked for "
                   f"{', '.join(os.path.join(given, *parts) for parts in _IN_A_VENV)})")
            raise InterpreterError(msg)
        path = found_inside
    if not os.access(path, os.X_OK):
        msg = f"{given!r} is not executable"
        raise InterpreterError(msg)
    key = (path, os.stat(path).st_mtime)
    if key in _known:
        return _known[key]
    try:
        returncode, out, err = _ask(path, ["-I", "-c", _ASK])
    except (OSError, subprocess.SubprocessError) as exc:
        msg = f"could not run {given!r} as Python: {exc}"
        raise InterpreterError(msg) from None
    said = out.split("\n")
    lines = said[len(said) - said[::-1].index(_MARK):] if _MARK in said else []
    if returncode != 0 or len(lines) < 3 or lines[0].count(".") != 2:
        old = _old_version(path)  # Python 2 knows no -I
        if old is not None:
            raise _too_old(f"{path} (Python {old})")
        told = (err or out).strip()[-300:]
        msg = f"{given!r} did not run as a Python interpreter" + (f": {told}" if told else "")
        raise InterpreterError(msg)
    version = tuple(int(n) for n in lines[0].split("."))
    found = Interpreter(path, lines[0], lines[1], lines[2])
    if version[:2] < OLDEST:
        raise _too_old(found.describe())
    _known[key] = found
    return found


def _too_old(described: str) -> InterpreterError:
    return InterpreterError(f"{described} is older than picklecheck's loader supports "
                            f"(Python {OLDEST[0]}.{OLDEST[1]} and newer)")


def _ask(path: str, args: list[str]) -> tuple[int, str, str]:
    """Run the interpreter with ``args`` in a process group of its own, killed whole when
    it does not answer in time (a wrapper script's interpreter must not outlive it)."""
    import signal
    import subprocess

    proc = subprocess.Popen([path, *args], stdin=subprocess.DEVNULL,  # noqa: S603
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=_ASK_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return (proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def _old_version(path: str) -> str | None:
    """The version of an interpreter too old to be asked the usual way, or None."""
    import subprocess

    try:
        returncode, out, _ = _ask(path, ["-c", "import sys; sys.stdout.write("
                                         "'%d.%d.%d' % tuple(sys.version_info[:3]))"])
    except (OSError, subprocess.SubprocessError):
        return None
    parts = out.strip().split(".")
    return out.strip() if returncode == 0 and len(parts) == 3 and all(
        p.isdigit() for p in parts) else None


def make_shim(folder: str) -> str:
    """A folder inside ``folder`` whose only entry is this picklecheck package (a link,
    or a copy where links cannot be made): what the other interpreter imports it from."""
    import shutil

    import picklecheck

    shim = os.path.join(folder, "picklecheck-shim")
    os.makedirs(shim, exist_ok=True)
    package = os.path.dirname(os.path.abspath(picklecheck.__file__))
    target = os.path.join(shim, "picklecheck")
    try:
        os.symlink(package, target, target_is_directory=True)
    except OSError:
        shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__"))
    return shim


def installed_folder(folder: str) -> bool:
    """Whether ``folder`` belongs to this interpreter's installation (the standard library,
    site-packages), or is any environment's site-packages: not a project's folder."""
    real = os.path.realpath(folder)
    if {"site-packages", "dist-packages"} & set(real.split(os.sep)):
        return True  # another environment's packages, put on this sys.path
    return any(real == root or real.startswith(root + os.sep) for root in _roots())


@functools.lru_cache(maxsize=1)
def _roots() -> tuple[str, ...]:
    import sysconfig

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            roots.add(sysconfig.get_path(name))
        except KeyError:
            continue
    try:
        import site

        roots.add(site.getusersitepackages())
    except Exception:  # noqa: BLE001, S110 - no user site here
        pass
    return tuple(os.path.realpath(r) for r in roots if r)
