"""Run one piece of work in a forked child with a time limit, and hear what it said.

Real library objects can hang a load (a redis client reconnecting) or abort the
interpreter (a half-loaded tqdm bar whose ``__del__`` recurses during collection). Each
piece of work therefore runs in its own forked child: a hang or an abort ends that
child and becomes a finding for one test, never the end of the suite.

The child reports through ``emit``: each call sends one JSON line at once, so what
happened before a crash is kept (dumps succeeded, then loads aborted). Its stderr goes
to a pipe too, so that "Fatal Python error: ..." reaches the report.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChildOutcome", "Work", "run_children", "run_in_child"]

_STDERR_TAIL = 2000
_nested = False  # true inside a child: grandchildren stay in its process group


@dataclass
class ChildOutcome:
    """What a child sent before it ended, and how it ended.

    ``status`` is "ok" (the work returned), "error" (it raised: ``error`` has the
    traceback), "timeout" (killed after the time limit), or "crashed" (ended by a
    signal or a non-zero exit without finishing: ``error`` says which, with the tail
    of its stderr).
    """

    status: str
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    stderr: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def last(self, kind: str) -> dict[str, Any] | None:
        """The last event whose ``event`` field is ``kind``."""
        for event in reversed(self.events):
            if event.get("event") == kind:
                return event
        return None

    def describe(self) -> str:
        """One paragraph for an assertion message."""
        text = f"child {self.status} after {self.seconds:.1f} s"
        if self.error:
            text += f": {self.error.strip()}"
        if self.stderr.strip() and self.status != "ok":
            text += f"\n--- child stderr (tail) ---\n{self.stderr.strip()[-_STDERR_TAIL:]}"
        return text


Work = Callable[[Callable[[dict[str, Any]], None]], None]


def run_in_child(work: Work, timeout: float) -> ChildOutcome:
    """Fork, call ``work(emit)`` in the child, and collect its events within ``timeout`` s.

    ``emit`` takes a JSON-ready dict. The child never returns into the caller's code:
    it leaves with ``os._exit`` whatever happens, so a test runner's state in the
    parent is never run twice.
    """
    return run_children([(work, timeout)])[0]


def run_children(jobs: list[tuple[Work, float]]) -> list[ChildOutcome]:
    """Like :func:`run_in_child` for several pieces of work at once, each in its own child.

    All children run in parallel; one loop reads every pipe, so no child blocks on a
    full pipe while the parent waits for another.
    """
    running = [_start(work, timeout) for work, timeout in jobs]
    sel = selectors.DefaultSelector()
    for child in running:
        for fd in child.chunks:
            sel.register(fd, selectors.EVENT_READ, child)
    while any(child.open for child in running):
        now = time.monotonic()
        for child in running:
            if child.open and child.deadline <= now:
                child.expire(sel)
        waiting = [c.deadline - now for c in running if c.open]
        if not waiting:
            break
        for key, _ in sel.select(max(0.0, min(waiting))):
            key.data.read(key.fd, sel)
    sel.close()
    return [child.finish() for child in running]


class _Running:
    """A forked child, its two pipes, and what they have delivered so far."""

    def __init__(self, pid: int, out_r: int, err_r: int, deadline: float) -> None:
        self.pid, self.out_r, self.err_r, self.deadline = pid, out_r, err_r, deadline
        self.start = time.monotonic()
        self.chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
        self.open = {out_r, err_r}
        self.timed_out = False

    def read(self, fd: int, sel: selectors.BaseSelector) -> None:
        data = os.read(fd, 65536)
        if data:
            self.chunks[fd].append(data)
        else:
            self._close(fd, sel)

    def expire(self, sel: selectors.BaseSelector) -> None:
        self.timed_out = True
        _kill(self.pid)
        for fd in list(self.open):
            self._close(fd, sel)

    def _close(self, fd: int, sel: selectors.BaseSelector) -> None:
        sel.unregister(fd)
        os.close(fd)
        self.open.discard(fd)

    def finish(self) -> ChildOutcome:
        _, status = os.waitpid(self.pid, 0)
        out, err = b"".join(self.chunks[self.out_r]), b"".join(self.chunks[self.err_r])
        return _outcome(out, err, status, self.timed_out, time.monotonic() - self.start)


def _start(work: Work, timeout: float) -> _Running:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    deadline = time.monotonic() + timeout
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(out_r)
        os.close(err_r)
        _child(work, out_w, err_w)
    os.close(out_w)
    os.close(err_w)
    return _Running(pid, out_r, err_r, deadline)


def _child(work: Work, out_w: int, err_w: int) -> None:  # pragma: no cover - runs in the child
    global _nested
    code = 0
    try:
        if not _nested:  # our own group: killing it also ends anything the work started
            os.setpgid(0, 0)
        # The work's own alarm ends it, whatever handler the test process had installed.
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        _nested = True
        os.dup2(err_w, 2)
        stream = os.fdopen(out_w, "w", buffering=1)

        def emit(event: dict[str, Any]) -> None:
            stream.write(json.dumps(event, default=repr) + "\n")
            stream.flush()

        try:
            work(emit)
            emit({"event": "__done__"})
        except BaseException:  # noqa: BLE001 - everything the work raises is a finding
            emit({"event": "__error__", "traceback": traceback.format_exc()})
        stream.flush()
    except BaseException:  # noqa: BLE001 - the child must reach os._exit
        code = 70
    os._exit(code)


def _kill(pid: int) -> None:
    """End the child's process group (the child and anything it spawned)."""
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
            return
        except (ProcessLookupError, PermissionError):
            continue


def _outcome(out: bytes, err: bytes, status: int, timed_out: bool,
             seconds: float) -> ChildOutcome:
    events: list[dict[str, Any]] = []
    for line in out.decode("utf-8", "replace").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    stderr = err.decode("utf-8", "replace")
    outcome = ChildOutcome("ok", stderr=stderr, seconds=seconds)
    if timed_out:
        outcome.status, outcome.error = "timeout", f"no answer within {seconds:.0f} s (killed)"
    elif events and events[-1].get("event") == "__error__":
        outcome.status, outcome.error = "error", events[-1]["traceback"]
    elif not events or events[-1].get("event") != "__done__":
        outcome.status, outcome.error = "crashed", _ending(status)
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM:
            outcome.status = "timeout"
    outcome.events = [e for e in events if not str(e.get("event", "")).startswith("__")]
    return outcome


def _ending(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGALRM:
            return "ended by its own alarm: the work took longer than its time limit"
        return f"ended by signal {signal.Signals(sig).name}"
    return f"ended with exit code {os.WEXITSTATUS(status)} before finishing"
