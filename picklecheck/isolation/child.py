"""Running work items in a forked, confined child, and hearing how each went.

``fork`` and not a new interpreter: classes of ``__main__`` and of the caller's
modules must load exactly as they would in this process, and the bytes to load are
already in memory (the child reads them copy-on-write, nothing is sent).

The child confines itself (:mod:`~picklecheck.isolation.confine`), installs a
:class:`~picklecheck.isolation.watch.Watch`, runs the items in order and reports
over a pipe, one JSON line per event: ``begin``, each ``effect`` the moment it is
tried, ``end`` with the item's result. It never returns into the caller's code and
never runs its exit handlers (``os._exit``). The parent reads with a wall-clock
limit per item and for the whole run, kills the child's process group when it is
over, and always reaps it. An item the child did not finish is described from how
the child ended (timeout, memory, a signal, an exit code); the items after it run
one child each, because whatever killed one child may kill the next.

Forking with other threads alive (Streamlit always has some) copies only the calling
thread; CPython re-initialises its own locks in the child (the import lock, the GIL,
threading, logging), so what remains is a lock some other thread of a C library or
of the caller held at that instant. A child stuck on one makes no progress: it ends
at the time limit like any slow load, and the outcome says so.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from picklecheck.isolation.confine import Limits, Plan, confine, plan
from picklecheck.isolation.deadline import WAITING
from picklecheck.isolation.watch import Watch

__all__ = ["WAITING", "ConfinementError", "Reader", "default_signals", "describe_status",
           "fork_quietly", "prepare", "run_forked", "setpgid"]

_IMPORT_EXIT = os._exit


def _real_exit(code: int) -> None:
    """``os._exit`` itself, even where the CLI has made it refuse (see
    picklecheck.cli.errors.guard_process_exit)."""
    exit_now = getattr(os._exit, "_picklecheck_real", None) or _IMPORT_EXIT
    exit_now = getattr(exit_now, "_picklecheck_real", exit_now)
    exit_now(code)
_MAX_LINE = 64 * 1024


class ConfinementError(OSError):
    """The child could not confine itself (the parent falls back to a guarded load)."""


Result = dict[str, Any]


def run_forked(count: int, work: Callable[[int], Result], *, per_item: float,
               deadline: float, limits: Limits, sandbox: bool) -> list[Result]:
    """``work(i)`` for ``i`` in ``range(count)``, in confined children; one result each.

    ``deadline`` is a ``time.monotonic()`` value no child outlives; ``per_item`` is
    the wall-clock limit of one item. Raises :class:`ConfinementError` when the
    child cannot confine itself.
    """
    results: dict[int, Result] = {}
    pending = list(range(count))
    batch = True
    while pending:
        if time.monotonic() >= deadline:
            for i in pending:
                results[i] = _not_run()
            break
        todo = pending if batch else pending[:1]
        done = _run_child(todo, work, per_item, deadline, limits, sandbox)
        results.update(done)
        if len(done) < len(todo) or any(r.get("ended") for r in done.values()):
            batch = False  # a child died: one child per item from here on
        pending = [i for i in pending if i not in results]
    return [results[i] for i in range(count)]


def _not_run() -> Result:
    return {"ok": False, "ended": "timeout", "exception": "TimeoutError",
            "error": "not loaded: the check's time limit was reached first", "effects": []}


def _run_child(indices: list[int], work: Callable[[int], Result], per_item: float,
               deadline: float, limits: Limits, sandbox: bool) -> dict[int, Result]:
    prepared = plan(limits)
    scratch = tempfile.mkdtemp(prefix="picklecheck-load-")
    read_fd, write_fd = os.pipe()
    try:
        pid = fork_quietly()
        if pid == 0:  # the child: never returns
            os.close(read_fd)
            _child(lambda: [(indices, work)], write_fd, scratch, prepared, sandbox)
        os.close(write_fd)
        setpgid(pid)
        return Reader(pid, read_fd, scratch, per_item, deadline).collect(indices)
    finally:
        for fd in (read_fd, write_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(scratch, ignore_errors=True)


def setpgid(pid: int) -> None:
    try:
        os.setpgid(pid, pid)  # also done by the child: whichever runs first
    except OSError:
        pass


# -- the child ------------------------------------------------------------------

Batch = tuple[list[int], Callable[[int], Result]]


def _child(get_work: Callable[[], Iterable[Batch]], fd: int, scratch: str, prepared: Plan,
           sandbox: bool, keep: tuple[int, ...] = ()) -> None:
    """The forked child's whole life: confine, then run the items of each batch
    ``get_work()`` yields, reporting on ``fd``; never returns."""
    code = 70
    try:
        send = _sender(fd)
        current = [-1]
        parent = os.getppid()
        try:
            refused = confine(scratch, prepared, (fd, *keep), sandbox)
        except BaseException as exc:  # noqa: BLE001 - the parent decides what to do
            send({"t": "unconfined", "error": f"{type(exc).__name__}: {exc}"})
            raise
        prepare(scratch)
        watch = Watch(lambda text: send({"t": "effect", "i": current[0], "what": text}),
                      (scratch, os.devnull), parent)
        watch.install()
        send({"t": "ready", "refused": refused})
        for indices, work in get_work():  # one batch, or one after another (ahead.Ahead)
            for i in indices:
                current[0] = i
                send({"t": "begin", "i": i})
                watch.before()
                result = work(i)
                watch.after()
                send({"t": "end", "i": i, **result})
        code = 0
    except BaseException as exc:  # noqa: BLE001 - nothing may escape a forked child
        try:
            import traceback

            traceback.print_exc()
            send({"t": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]})
        except BaseException:  # noqa: BLE001, S110
            pass
    finally:
        _real_exit(code)


def fork_quietly() -> int:
    """``os.fork``, without 3.12's warning about forking a threaded process (we know:
    a child stuck on a lock another thread held ends at its time limit)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def _sender(fd: int) -> Callable[[Result], None]:
    write = os.write
    dumps = json.dumps

    def send(message: Result) -> None:
        data = (dumps(message, default=repr) + "\n").encode("utf-8", "replace")
        while data:
            data = data[write(fd, data):]

    return send


def prepare(scratch: str) -> None:
    """Quiet, cheap and local: no bytecode files written, temporary files in the
    scratch folder, no garbage collection (it would touch, and so copy, every page of
    the caller's objects; the child ends without freeing anything, and a load that
    piles up garbage meets the memory limit)."""
    import gc
    import tempfile as tempfile_module

    sys.dont_write_bytecode = True
    tempfile_module.tempdir = scratch
    os.environ["TMPDIR"] = scratch
    gc.disable()
    # What the caller left for the collector is the caller's: a load's young collection
    # (backends.remains) must not finalize it here (a NamedTemporaryFile's finalizer
    # would delete the caller's file, and the watch would blame the load). Frozen
    # objects are never collected; freezing moves list heads, it touches no object.
    gc.freeze()
    default_signals()


def default_signals() -> None:
    """The caller's Python signal handlers are not the loading process's: a signal a
    load raises must do what it does in a fresh process (``SIGTERM`` ends it), and a
    handler of the caller must not run in the child."""
    for sig in signal.valid_signals():
        try:
            handler = signal.getsignal(sig)
            if callable(handler) and handler is not signal.default_int_handler:
                signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            continue


# -- the parent -----------------------------------------------------------------

class Reader:
    """Reads one child's reports until it ends, enforcing the time limits."""

    def __init__(self, pid: int, fd: int, scratch: str, per_item: float, deadline: float):
        self.pid, self.fd, self.scratch = pid, fd, scratch
        self.per_item, self.deadline = per_item, deadline
        self.results: dict[int, Result] = {}
        self.effects: dict[int, list[str]] = {}
        self.current: int | None = None
        self.item_end = min(deadline, time.monotonic() + per_item)
        self.unconfined: str | None = None
        self.failure: str | None = None  # picklecheck's own code failed in the child
        self.timed_out = False
        self.threads = _other_threads()
        self.buffer = b""  # a report line not yet complete
        self.alive = True  # false once the child is reaped

    def collect(self, indices: list[int], keep_alive: bool = False,
                limits: tuple[float, float] | None = None) -> dict[int, Result]:
        """How each of ``indices`` went. With ``keep_alive``, a child that reported
        them all is left running (it waits for more work); else, or when it did not,
        it is killed and reaped, and the item it was on is described from how it ended.
        ``limits``: this batch's (seconds per item, deadline), if not the reader's."""
        if limits is not None:
            self.per_item, self.deadline = limits
        status = None
        reaped = False
        try:
            self._read(set(indices) if keep_alive else None)
        finally:
            if not (keep_alive and all(i in self.results for i in indices)):
                status, reaped = self._reap(), True
        self.alive = not reaped
        if self.unconfined is not None:
            raise ConfinementError(self.unconfined)
        pending = [i for i in indices if i not in self.results]
        if pending:
            at = self.current if self.current in pending else pending[0]
            self.results[at] = self._ending(status, at)
        done = {i: self.results.pop(i) for i in indices if i in self.results}
        for i, result in done.items():
            result["effects"] = self.effects.pop(i, []) + list(result.get("effects", []))
        return done

    def _read(self, until: set[int] | None = None) -> None:
        """Read reports until the child ends or times out (or, with ``until``, until
        each of those items has reported its end)."""
        poller = select.poll()
        poller.register(self.fd, select.POLLIN | select.POLLHUP)
        self.item_end = min(self.deadline, time.monotonic() + self.per_item)
        while until is None or not until.issubset(self.results):
            wait = self.item_end - time.monotonic()
            if wait <= 0 or not poller.poll(max(1, int(wait * 1000))):
                if time.monotonic() >= self.item_end:
                    self.timed_out = True
                    return
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return
            *lines, self.buffer = (self.buffer + chunk).split(b"\n")
            for line in lines:
                self._handle(line)
            if len(self.buffer) > _MAX_LINE:
                self.buffer = b""  # not ours: a load wrote garbage into the pipe

    def _handle(self, line: bytes) -> None:
        try:
            message = json.loads(line)
            kind = message.get("t")
        except (ValueError, AttributeError):
            return
        if kind == "unconfined":
            self.unconfined = str(message.get("error"))
        elif kind == "failed":
            self.failure = str(message.get("error"))
        elif kind == "begin":
            self.current = message.get("i")
            self.item_end = min(self.deadline, time.monotonic() + self.per_item)
        elif kind == "effect" and isinstance(message.get("i"), int):
            self.effects.setdefault(message["i"], []).append(str(message.get("what")))
        elif kind == "end" and message.get("i") == self.current:
            message.pop("t")
            self.results[message.pop("i")] = message
            self.current = None
            self.item_end = min(self.deadline, time.monotonic() + self.per_item)

    def _reap(self) -> int | None:
        """Kill the child's whole process group and collect its exit status."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        while True:
            try:
                _, status = os.waitpid(self.pid, 0)
                return status
            except InterruptedError:
                continue
            except ChildProcessError:
                return None  # SIGCHLD ignored by the caller: reaped by the kernel

    def _ending(self, status: int | None, index: int) -> Result:
        """How item ``index`` ended when the child did not report its end."""
        effects = self.effects.get(index, [])
        if self.timed_out:
            limit = self.per_item if self.item_end < self.deadline else None
            return _ended("timeout", "TimeoutError", _timeout_text(limit, self.threads))
        if self.failure is not None:
            return _ended("crash", "ChildProcessError",
                          f"the loading process failed: {self.failure}")
        if status is None:
            return _ended("died", "ChildProcessError", "the load ended its process")
        return describe_status(status, self._stderr_tail(), effects)

    def _stderr_tail(self) -> str:
        try:
            with open(os.path.join(self.scratch, "stderr"), "rb") as log:
                lines = log.read()[-4000:].decode("utf-8", "replace").strip().splitlines()
        except OSError:
            return ""
        return " / ".join(line.strip() for line in lines[-3:])


def _ended(how: str, exception: str, error: str) -> Result:
    return {"ok": False, "ended": how, "exception": exception, "error": error, "effects": []}


def _other_threads() -> int:
    me = threading.get_ident()
    return sum(1 for t in threading.enumerate() if t.ident != me and t.ident not in WAITING)


def _seconds(limit: float) -> str:
    """A load's time limit as a person reads it: "1.7 s", "60 s" (it is what was left of
    the check's, so never a round number)."""
    text = f"{limit:.1f}".rstrip("0").rstrip(".") if limit < 10 else f"{limit:.0f}"
    return f"{text} s"


def _timeout_text(limit: float | None, threads: int) -> str:
    text = (f"did not finish loading within {_seconds(limit)}" if limit is not None
            else "did not finish loading before the check's time limit")
    if threads:
        text += (f" ({threads} other thread{'s were' if threads > 1 else ' was'} running when "
                 "the loading process was forked; a lock held by one of them at that moment "
                 "would also stop it)")
    return text


def describe_status(status: int, stderr: str, effects: list[str]) -> Result:
    """How a loading process ended, from its wait status."""
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        return _ended("effect", "SystemExit",
                      f"ended its process with exit code {code} "
                      "(os._exit or a C-level exit)")
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    name = signal.Signals(sig).name if sig in signal.valid_signals() else f"signal {sig}"
    if sig == signal.SIGXCPU:
        return _ended("timeout", "TimeoutError", "used up its CPU time limit while loading")
    if sig == signal.SIGKILL and not any(e.startswith("sent SIGKILL") for e in effects):
        return _ended("memory", "MemoryError",
                      "was killed by SIGKILL while loading (most likely the system ran out "
                      "of memory)")
    if sig in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL, signal.SIGFPE):
        detail = f": {stderr}" if stderr else ""
        return _ended("crash", "ChildProcessError",
                      f"crashed the interpreter that loaded it ({name}){detail}")
    return _ended("effect", "ChildProcessError", f"ended its process with {name}")
