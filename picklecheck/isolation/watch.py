"""Naming what a load tried: a separate job from refusing it.

The kernel refuses (see :mod:`~picklecheck.isolation.confine`) but says nothing of
what was attempted, and some attempts are harmless in a child that is about to end
(changing the directory, registering an exit handler, scheduling an alarm) although
they would change the process that really loads the bytes. :class:`Watch`, installed
in the child only, records both kinds as sentences ("opened '/home/me/notes.txt' for
writing, which empties it", "sent SIGTERM to process 4121 (the process that ran the
check)"):

* an audit hook (:func:`sys.addaudithook`) for writes, removals, renames, commands,
  processes, signals, connections, the working directory and the environment; it
  reports each attempt the moment it is made (the next call may kill the child);
* ``atexit.register`` wrapped (outside imports), and a comparison before and after
  each load of threads, signal handlers, timers, ``sys.modules``, what the whole process
  shares (``sys.path``, the standard streams, the exception hooks, ``builtins``, the root
  logger, the warnings filters: see :data:`_SHARED`) and the environment
  (a variable that a load sets and removes again, as importing numpy does with
  ``OPENBLAS_MAIN_FREE``, changes nothing: only what differs after the load counts; one
  that a module sets as it is imported, as polars does, is the module's doing, as its
  exit handlers are: every process that imports it does so).

A loaded copy is then dropped with its finalizers armed again (see
:mod:`picklecheck.backends.remains`), the watch still on: what they try is named the same
way, after :data:`DROPPING` (:func:`dropping`).

An audit hook cannot be removed, which is why it lives in the child only.
"""

from __future__ import annotations

import _signal
import _thread
import atexit
import contextlib
import functools
import gc
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["DROPPING", "WROTE_DATABASE", "Watch", "dropping", "refused_write"]

#: What each sentence about a dropped copy starts with (see :func:`dropping`).
DROPPING = "dropping the loaded copy "
#: Seconds a dropped copy's finalizers may take before they are stopped (and named).
_DROP_SECONDS = 1.0

_MAX_PER_LOAD = 20
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {
    "os.remove": "removed {0}", "os.rmdir": "removed the folder {0}",
    "os.mkdir": "created the folder {0}", "os.rename": "renamed {0} to {1}",
    "os.truncate": "truncated {0} to {1} bytes", "os.chmod": "changed the mode of {0}",
    "os.chown": "changed the owner of {0}", "os.utime": "changed the times of {0}",
    "os.link": "linked {0} to {1}", "os.symlink": "made a symbolic link {1} to {0}",
    "os.mkfifo": "made a named pipe {0}", "os.mknod": "made a device node {0}",
    "shutil.rmtree": "removed the tree {0}", "shutil.move": "moved {0} to {1}",
    "shutil.copyfile": "copied {0} over {1}", "shutil.copytree": "copied {0} to {1}",
    "shutil.unpack_archive": "unpacked {0} into {1}",
}
_PROCESS_EVENTS = {
    "os.system": "ran the command {0}", "subprocess.Popen": "started the process {1}",
    "os.exec": "replaced the process with {1}", "os.posix_spawn": "started the process {1}",
    "os.spawn": "started the process {2}", "os.fork": "forked the process",
    "os.forkpty": "forked the process", "pty.spawn": "started the process {0}",
    "os.startfile": "opened {0} with its application",
    "webbrowser.open": "opened {0} in a web browser",
    "socket.connect": "connected to {1}", "socket.bind": "bound a socket to {1}",
    "socket.sendto": "sent data to {1}", "os.chdir": "changed the working directory to {0}",
    "sys.settrace": "installed a trace function", "sys.setprofile": "installed a profile function",
    "sys.addaudithook": "installed an audit hook",
}

#: The words for a socket the sandbox refuses (see :func:`.seccomp.refuses_socket`), by
#: family, else by type (an inet one: a TCP socket is allowed, and named when it connects).
_SOCKET_FAMILIES = {1: "a unix socket (which reaches the processes of this machine)",
                    16: "a netlink socket", 17: "a packet socket"}
_SOCKET_TYPES = {2: "a UDP socket", 3: "a raw socket"}

_WATCHED = frozenset({"os.putenv", "os.unsetenv", "open", "os.kill", "os.killpg",
                      "signal.pthread_kill", "socket.__new__", "sqlite3.connect",
                      *_PATH_EVENTS, *_PROCESS_EVENTS})
#: What SQLite says when it writes to a database it could open only for reading (the
#: sandbox refused it for writing: see refused_write), or, in WAL mode, when it cannot
#: open the ``-shm`` file beside it for writing ("disk I/O error", SQLITE_IOERR), or the
#: database itself ("unable to open database file").
_READ_ONLY = ("attempt to write a readonly database", "disk I/O error",
              "unable to open database file")
#: How each sentence of refused_write begins.
WROTE_DATABASE = "wrote to the SQLite database "


class Watch:
    """Records what loads in this (child) process try; see the module docstring.

    ``emit`` receives each sentence as it happens; ``allowed`` are paths (the
    scratch folder, ``/dev/null``) whose changes are no one's business.
    """

    def __init__(self, emit: Callable[[str], None], allowed: tuple[str, ...],
                 parent_pid: int) -> None:
        self._emit = emit
        self._phase = ""
        self._allowed = tuple(os.path.realpath(p) for p in allowed)
        self._parent = parent_pid
        self._count = 0
        self._state: dict[str, Any] = {}
        self._env: dict[str, str | None] = {}  # variables the load set (None: removed)
        self._env_before: dict[str, str | None] = {}  # their values when first set
        self._databases: list[str] = []  # SQLite database files the load connected to

    def install(self) -> None:
        """Start watching, for good (audit hooks cannot be removed)."""
        global _installed  # noqa: PLW0603 - one watch per child, for good
        _installed = self
        sys.addaudithook(self._hook)
        real_register = atexit.register

        @functools.wraps(real_register)  # type: ignore[arg-type]  # still atexit.register
        def register(func: Any, *args: Any, **kwargs: Any) -> Any:
            if not _importing():
                self._record(f"registered the exit handler {_name(func)}")
            return real_register(func, *args, **kwargs)

        atexit.register = register  # type: ignore[assignment]
        self._watch_shared_memory()

    def _watch_shared_memory(self) -> None:
        """Name what opens POSIX shared memory (``multiprocessing.shared_memory``): no
        audit event does, and the kernel's refusal reads as "Permission denied". A
        ``SharedMemory`` loads by attaching to its segment by name, and registers it with
        the loading program's resource tracker, which unlinks it when that program ends."""
        try:
            import _posixshmem
        except ImportError:
            return
        real_open = _posixshmem.shm_open

        @functools.wraps(real_open)
        def shm_open(path: Any, flags: int, mode: int = 0o777) -> int:
            what = ("created the shared memory segment" if flags & os.O_CREAT else
                    "attached to the shared memory segment")
            self._record(f"{what} {_short(path)}, which other processes share")
            return real_open(path, flags, mode)

        _posixshmem.shm_open = shm_open

    def before(self) -> None:
        """Remember the process state a load could change."""
        self._count = 0
        self._state = {
            "threads": {t.ident for t in threading.enumerate()},
            "thread_count": _thread._count(),
            "signals": _handlers(),
            "modules": dict(sys.modules),
            "recursion": sys.getrecursionlimit(),
            "umask": _umask(),
            "globals": _shared_settings(),
            "descriptors": _standard_descriptors(),
        }
        self._env, self._env_before = {}, {}
        self._databases = []

    def after(self) -> None:
        """Record what the last load changed in this process, and undo the timers, the
        signal handlers, the environment, the recursion limit and the umask it changed."""
        state, self._state = self._state, {}
        if not state:
            return
        for name in _timers():
            self._record(f"scheduled {name}")
        if _thread._count() > state["thread_count"]:
            started = [t.name for t in threading.enumerate() if t.ident not in state["threads"]]
            self._record("started the thread " + (", ".join(started) or "(already ended)"))
        for sig, handler in _handlers().items():
            if state["signals"].get(sig) is not handler:
                self._record(f"installed a handler for {signal.Signals(sig).name}")
                _put_back(sig, state["signals"].get(sig))  # the next load starts afresh
        self._environment()
        self._descriptors(state["descriptors"])
        # A module imported by the load may have changed them as it loaded (no audit
        # event says who did): then they are put back, and not named.
        named = len(sys.modules) <= len(state["modules"])
        limit = sys.getrecursionlimit()
        if limit != state["recursion"]:
            if named:
                self._record(f"changed the recursion limit from {state['recursion']} to {limit}")
            sys.setrecursionlimit(state["recursion"])
        mask = _umask()
        if mask != state["umask"]:
            if named:
                self._record(f"changed the umask from {state['umask']:03o} to {mask:03o}, "
                             "which sets the permissions of every file the process creates")
            os.umask(state["umask"])
        for text in _put_back_settings(state["globals"], imported=not named):
            if named:
                self._record(text)
        from picklecheck.isolation.confine import shared_changes

        for name in shared_changes():
            self._record(f"wrote to the shared memory of {_short(name)}, which the process "
                         "that loads it shares with others")
        old = state["modules"]
        changed = [k for k, v in old.items() if sys.modules.get(k) is not v]
        if changed:
            self._record(f"removed or replaced sys.modules[{changed[0]!r}]"
                         + (f" and {len(changed) - 1} more" if len(changed) > 1 else ""))

    def _descriptors(self, before: dict[int, tuple[Any, int | None]]) -> None:
        """Record a standard descriptor (stdin, stdout, stderr) the load closed or pointed
        elsewhere (no audit event says so), and put it back from the copy kept: the next
        load in this child starts with the same ones (a closed stdout failed the next
        backend's load with "Bad file descriptor")."""
        for fd, (identity, copy) in before.items():
            now = _identity_of(fd)
            if now != identity:
                what = _STANDARD[fd]
                self._record(f"closed descriptor {fd} ({what}) of the process that loads it"
                             if now is None else
                             f"pointed descriptor {fd} ({what}) of the process that loads it "
                             "at another file")
                if copy is not None:
                    with contextlib.suppress(OSError):
                        os.dup2(copy, fd)
            if copy is not None:
                with contextlib.suppress(OSError):
                    os.close(copy)

    def _environment(self) -> None:
        """Record the variables whose value differs after the load (os.putenv without
        os.environ counts as the value it set), then put them back: the next load in this
        child starts from the same environment (one that set a variable again would
        otherwise change nothing)."""
        touched = self._env
        before = self._env_before
        for key, value in touched.items():
            now = os.environ.get(key)
            if value is not None and now != value:  # os.putenv alone: os.environ never knew
                now = value
            if now == before.get(key):
                continue
            self._record(f"removed the environment variable {key!r}" if now is None
                         else f"set the environment variable {key!r}")
        for key in touched:
            was = before.get(key)
            try:
                if was is None:
                    os.environ.pop(key, None)
                    os.unsetenv(key)
                else:
                    os.environ[key] = was
            except (ValueError, OSError):  # a name the platform refuses to unset
                continue
        self._env, self._env_before = {}, {}  # what putting them back noted

    # -- the audit hook ------------------------------------------------------

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event not in _WATCHED:  # most events (builtins.id, ...) are none of ours
            return
        try:
            text = self._describe(event, args)
        except Exception:  # noqa: BLE001 - a hook must never fail the audited call
            text = f"{event} (arguments not shown)"
        if text:
            self._record(text)

    def _describe(self, event: str, args: tuple[Any, ...]) -> str | None:
        if event in ("os.putenv", "os.unsetenv"):  # judged by what differs after the load
            if _importing():
                return None  # a module configuring itself as it loads (polars, jemalloc's)
            key = os.fsdecode(args[0])
            if key not in self._env_before:  # os.environ sets it after this hook returns
                self._env_before[key] = os.environ.get(key)
            self._env[key] = os.fsdecode(args[1]) if event == "os.putenv" else None
            return None
        if event == "open":
            return self._open(*args[:3])
        if event in _PATH_EVENTS:
            paths = [a for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
            if paths and all(self._is_allowed(p) for p in paths):
                return None
            if event == "os.mkdir" and paths and os.path.lexists(paths[0]):
                return None  # it exists (makedirs(..., exist_ok=True)): nothing is created
            return _PATH_EVENTS[event].format(*(_short(a) for a in args))
        if event == "socket.bind" and _probes_loopback(args[1]) and _importing():
            return None  # a module asking the machine what it supports (urllib3's IPv6)
        if event in ("os.kill", "os.killpg", "signal.pthread_kill"):
            return self._signal(event, args[0], args[1])
        if event in _PROCESS_EVENTS:
            return _PROCESS_EVENTS[event].format(*(_short(a) for a in args))
        if event == "socket.__new__":
            return _socket(args[1], args[2])
        if event == "sqlite3.connect":
            self._connected(args[0])
        return None

    def _connected(self, database: Any) -> None:
        """Note a SQLite database file a load connects to: SQLite opens one it may not
        write read-only, and says so only at the first write (see refused_write)."""
        if not isinstance(database, (str, bytes, os.PathLike)):
            return
        name = os.fsdecode(database)
        if name in ("", ":memory:") or name.startswith("file:") or self._is_allowed(name):
            return  # private to the connection (a URI's mode is its own business)
        self._databases.append(name)

    def _open(self, path: Any, mode: Any, flags: Any) -> str | None:
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags > 0 and flags & _WRITE_FLAGS)
        if not writing or isinstance(path, int) or self._is_allowed(path):
            return None
        empties = (isinstance(mode, str) and "w" in mode) or (
            isinstance(flags, int) and flags > 0 and flags & os.O_TRUNC)
        return f"opened {_short(path)} for writing" + (", which empties it" if empties else "")

    def _signal(self, event: str, target: Any, sig: Any) -> str:
        try:
            name = signal.Signals(sig).name
        except (ValueError, TypeError):
            name = f"signal {sig}"
        if event == "signal.pthread_kill":
            return f"sent {name} to a thread"
        whom = {0: "its own process group", -1: "every process it may signal",
                os.getpid(): "itself", self._parent: f"process {target} (the process that ran the check)"}
        group = "process group" if event == "os.killpg" else "process"
        return f"sent {name} to " + whom.get(target, f"{group} {target}")

    def _is_allowed(self, path: Any) -> bool:
        try:
            real = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return any(real == a or real.startswith(a + os.sep) for a in self._allowed)

    def _record(self, text: str) -> None:
        self._count += 1
        if self._count <= _MAX_PER_LOAD:
            module = _import_under_way()
            if module and _installed_module(module):
                return  # an installed library's doing as it is imported (numpy 1.26's
                # numpy.testing runs lscpu): every process that imports it does so
            if module:  # a module of the project's, as it is imported
                text = f"{IMPORTED}{module}, which {text}"
            self._emit(self._phase + text)

    def drop(self, release: Callable[[], None]) -> None:
        """Drop a loaded copy (see :func:`dropping`) and collect: what the finalizers try
        is named after :data:`DROPPING`; one still running after a second is stopped and
        named too. The errors they raise (the kernel refusing a write) are theirs: never
        shown."""
        stuck: list[str] = []

        def unraisable(info: Any) -> None:
            if type(info.exc_value) is _Stuck:
                stuck.append(getattr(info.object, "__qualname__", "") or "a finalizer")

        armed = [True]  # off once the drop is over: a late alarm raises nothing

        def alarm(signum: int, frame: Any) -> None:
            if armed[0]:
                raise _Stuck

        old_hook, sys.unraisablehook = sys.unraisablehook, unraisable
        old_alarm = signal.signal(signal.SIGALRM, alarm)
        # A timer the load scheduled is put back afterwards: after() names it.
        old_timer = signal.setitimer(signal.ITIMER_REAL, _DROP_SECONDS)
        self._phase = DROPPING
        try:
            try:
                release()
                gc.collect()
            except _Stuck:
                stuck.append("collecting it")
            finally:
                armed[0] = False
        except _Stuck:  # the second ran out just as the drop ended
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, *old_timer)
            signal.signal(signal.SIGALRM, old_alarm)
            sys.unraisablehook = old_hook
            self._phase = ""
        if stuck:
            self._record(f"{DROPPING}did not finish within {_DROP_SECONDS:g} s "
                         f"({stuck[0]} was still running): the process that drops it hangs")


_installed: Watch | None = None


class _Stuck(Exception):  # noqa: N818 - raised in a finalizer that took too long
    pass


def dropping(release: Callable[[], None]) -> None:
    """Drop a loaded copy (``release`` lets go of the last references the caller
    holds; :func:`~picklecheck.backends.remains.rearm` its objects first) and collect,
    watched by this child's watch (:meth:`Watch.drop`); with none installed, just drop."""
    if _installed is None:
        release()
    else:
        _installed.drop(release)


def refused_write(exc: BaseException) -> list[str]:
    """What a load that raised ``exc`` tried, when that is a write the sandbox refused
    and the load read as another failure: SQLite, refused a database file for writing,
    opens it for reading, and a write then raises "attempt to write a readonly database"
    (a diskcache ``Cache`` loads by opening its folder's database, and writes to it)."""
    watch = _installed
    if watch is None or not watch._databases or not any(
            text in str(exc) for text in _READ_ONLY):
        return []
    return [f"{WROTE_DATABASE}{_short(name)}, which every process that opens it shares"
            for name in dict.fromkeys(watch._databases)]


#: How an effect of a module's import (its top level) starts: "imported spool, which
#: wrote /var/spool/jobs".
IMPORTED = "imported "


def _installed_module(name: str) -> bool:
    """Whether module ``name`` comes from the interpreter's installation (the standard
    library, site-packages), not from the project's folders."""
    from picklecheck.isolation.interpreter import installed_folder

    path = getattr(sys.modules.get(name), "__file__", None)
    return not isinstance(path, str) or installed_folder(os.path.dirname(path))


def _import_under_way() -> str | None:
    """None when the caller does not run inside an import; else the module whose top
    level runs in its stack (a module the pickle names, imported by the load), or ""."""
    frame: Any = sys._getframe(1)
    module = ""
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith("<frozen importlib"):
            return module
        if code.co_name == "<module>" and not module:
            module = str(frame.f_globals.get("__name__") or "")
        frame = frame.f_back
    return None


def _importing() -> bool:
    """Whether the caller runs inside an import (modules register exit handlers as
    they load; that is the module's doing, not the pickle's)."""
    return _import_under_way() is not None


_STANDARD = {0: "stdin", 1: "stdout", 2: "stderr"}


def _standard_descriptors() -> dict[int, tuple[Any, int | None]]:
    """Each standard descriptor's file (device, inode, or None when closed), and a copy
    of it to put it back from."""
    kept: dict[int, tuple[Any, int | None]] = {}
    for fd in _STANDARD:
        identity = _identity_of(fd)
        copy = None
        if identity is not None:
            with contextlib.suppress(OSError):
                copy = os.dup(fd)
        kept[fd] = (identity, copy)
    return kept


def _identity_of(fd: int) -> tuple[int, int] | None:
    try:
        info = os.fstat(fd)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _handlers() -> dict[int, Any]:
    """Each signal's handler, as ``_signal`` holds it (``signal.getsignal`` turns every
    answer into an enum member, trying and failing for each handler function: 200 us
    a call, twice per load)."""
    handlers = {}
    for sig in _SIGNALS:
        try:
            handlers[sig] = _signal.getsignal(sig)
        except (ValueError, OSError):
            continue
    return handlers


_SIGNALS = sorted(map(int, _signal.valid_signals()))


def _umask() -> int:
    """The process's umask (reading it means setting it: put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _sys_list(name: str) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    """Read a list of :mod:`sys` as the list and its items (a load may replace the list or
    change it in place), and put both back."""
    def read() -> tuple[Any, ...]:
        items = getattr(sys, name)
        return (items, *items)

    def write(before: tuple[Any, ...]) -> None:
        before[0][:] = before[1:]
        setattr(sys, name, before[0])
    return read, write


def _sys_attribute(name: str) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    return (lambda: getattr(sys, name, None)), (lambda value: setattr(sys, name, value))


def _builtins() -> dict[str, Any]:
    import builtins

    return dict(vars(builtins))


def _put_back_builtins(before: dict[str, Any]) -> None:
    import builtins

    space = vars(builtins)
    for key in [k for k in space if k not in before]:
        del space[key]
    space.update(before)


def _root_logger() -> tuple[Any, ...]:
    import logging

    root = logging.getLogger()
    return (root.level, *root.handlers)


def _put_back_root_logger(before: tuple[Any, ...]) -> None:
    import logging

    root = logging.getLogger()
    root.setLevel(before[0])
    root.handlers[:] = before[1:]


def _warning_filters() -> tuple[Any, ...]:
    import warnings

    return tuple(warnings.filters)


def _put_back_warning_filters(before: tuple[Any, ...]) -> None:
    import warnings

    warnings.filters[:] = before  # type: ignore[index]  # a list at run time
    warnings._filters_mutated()  # type: ignore[attr-defined]  # its caches are stale


#: What a load can change that every part of the loading process shares: each with how
#: to read it, how to put it back and how to say what changed.
_SHARED: tuple[tuple[str, Callable[[], Any], Callable[[Any], None]], ...] = (
    ("sys.path", *_sys_list("path")),
    ("sys.meta_path", *_sys_list("meta_path")),
    ("sys.path_hooks", *_sys_list("path_hooks")),
    *((f"sys.{name}", *_sys_attribute(name)) for name in (
        "stdin", "stdout", "stderr", "excepthook", "displayhook", "unraisablehook",
        "breakpointhook")),
    ("threading.excepthook", lambda: threading.excepthook,
     lambda hook: setattr(threading, "excepthook", hook)),
    ("builtins", _builtins, _put_back_builtins),
    ("the root logger", _root_logger, _put_back_root_logger),
    ("the warnings filters", _warning_filters, _put_back_warning_filters),
)


def _shared_settings() -> dict[str, Any]:
    """What :data:`_SHARED` reads now (a setting that cannot be read is left out)."""
    found = {}
    for name, read, _ in _SHARED:
        try:
            found[name] = read()
        except Exception:  # noqa: BLE001, S112 - a load replaced what reads it: compared as gone
            continue
    return found


def _put_back_settings(before: dict[str, Any], imported: bool) -> list[str]:
    """What each shared setting a load changed, in words; each put back, unless the load
    ``imported`` a module: then the module may have made the change as it loaded (a path
    it imports from later, a builtin it installs), and the process keeps it, as every
    process that imports the module would."""
    changed = []
    for name, read, write in _SHARED:
        if name not in before:
            continue
        try:
            now = read()
        except Exception:  # noqa: BLE001 - it was readable before the load
            now = None
        if _same(now, before[name]):
            continue
        changed.append(_changed(name, before[name], now))
        if imported:
            continue
        try:
            write(before[name])
        except Exception:  # noqa: BLE001, S112 - put back what can be
            continue
    return changed


def _same(now: Any, before: Any) -> bool:
    if type(now) is not type(before) or not isinstance(now, (tuple, dict)):
        return now is before
    if len(now) != len(before):
        return False
    if isinstance(now, dict):
        return all(key in before and before[key] is value for key, value in now.items())
    return all(a is b or (type(a) is str and a == b) for a, b in zip(now, before, strict=True))


def _changed(name: str, before: Any, now: Any) -> str:
    """What changed in setting ``name``, as a load's effect."""
    if name == "builtins":
        added = sorted(k for k in now if k not in before)
        replaced = sorted(k for k in now if k in before and now[k] is not before[k])
        removed = sorted(k for k in before if k not in now)
        what = (f"added builtins.{added[0]}" if added else
                f"replaced builtins.{replaced[0]}" if replaced else
                f"removed builtins.{removed[0]}")
        return what + ", which every module of the process sees"
    if name == "sys.path" and isinstance(now, tuple):
        added = [p for p in now[1:] if p not in before[1:]]
        if added:
            return f"added {_short(added[0])} to sys.path, where every later import looks"
    if name == "the root logger":
        return ("changed the root logger (its handlers or level), which every logger of "
                "the process writes through")
    if name == "the warnings filters":
        return "changed the warnings filters, which decide every warning of the process"
    if name in ("sys.meta_path", "sys.path_hooks", "sys.path"):
        return f"changed {name}, which every later import goes through"
    return f"replaced {name}, which the whole process shares"


def _put_back(sig: int, handler: Any) -> None:
    """Give signal ``sig`` its handler from before the load (one installed from C, None
    here, stays as the load left it)."""
    if handler is None:
        return
    try:
        _signal.signal(sig, handler)
    except (ValueError, OSError, TypeError):
        pass


def _timers() -> list[str]:
    """Pending interval timers, cancelled, each named by the signal it would send."""
    found = []
    for which, sig in ((signal.ITIMER_REAL, "SIGALRM"), (signal.ITIMER_VIRTUAL, "SIGVTALRM"),
                       (signal.ITIMER_PROF, "SIGPROF")):
        delay, _ = signal.getitimer(which)
        if delay:
            signal.setitimer(which, 0)
            found.append(f"{sig} in {delay:.2g} s")  # the time left when the load ended
    return found


def _probes_loopback(address: Any) -> bool:
    """Whether a socket bound to ``address`` only asks what the machine supports: a
    loopback address, any free port (nothing can reach it)."""
    if not isinstance(address, tuple) or len(address) < 2 or address[1] != 0:
        return False
    return address[0] in ("::1", "127.0.0.1", "localhost")


def _socket(family: Any, kind: Any) -> str | None:
    """What making a socket of ``family`` and ``kind`` tried, when the sandbox refuses it (a
    multiprocessing manager's proxy connects to its manager as it loads)."""
    from picklecheck.isolation.seccomp import refuses_socket  # the child's only

    if not isinstance(family, int) or not isinstance(kind, int):
        return None
    family = 2 if family == -1 else family  # -1: the defaults, AF_INET and SOCK_STREAM
    kind = 1 if kind == -1 else kind
    if not refuses_socket(family, kind):
        return None
    what = _SOCKET_FAMILIES.get(family) or _SOCKET_TYPES.get(kind & 0xF, "a socket")
    return f"opened {what}"


def _name(func: Any) -> str:
    try:
        return f"{func.__module__}.{func.__qualname__}"
    except Exception:  # noqa: BLE001
        return _short(func)


def _short(value: Any, limit: int = 200) -> str:
    try:
        text = repr(os.fsdecode(value)) if isinstance(value, (bytes, os.PathLike)) else (
            repr(value) if not isinstance(value, str) else repr(value))
    except Exception:  # noqa: BLE001
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
