"""A loading child forked ahead of its work, so that forking and confinement overlap
the dumps.

A check's round trips need a child anyway; forking it when the check starts lets the
kernel copy the page tables and the child confine itself (a few milliseconds, more on
a busy machine) on the other core while this process pickles. The bytes do not exist
yet at the fork, so they go to the child through a second pipe: a JSON header line
(backend names, sizes), then the payloads. Everything else is
:mod:`~picklecheck.isolation.child`: the same confinement, watch, reports, reader and
reaping. The child waits for its work until the given deadline and then leaves, so an
abandoned :class:`Ahead` never outlives the check.

The same child can serve batch after batch (:meth:`Ahead.run` with ``keep``): a
search for what does not load (halves of halves, round after round) then pays for
one fork instead of one per round, which in a large process is most of its cost.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from picklecheck.isolation.child import Batch, Reader, Result, _child, fork_quietly, setpgid
from picklecheck.isolation.confine import Limits, plan

__all__ = ["Ahead"]

#: Builds the child's work function from the payloads it received (and the batch's
#: ``extra``: what :meth:`Ahead.run` was given besides the payloads).
WorkFor = Callable[[list[tuple[str, bytes]], dict[str, Any]], Callable[[int], Result]]


class Ahead:
    """A confined child waiting for payloads (see the module docstring). :meth:`run`
    may be called again while :attr:`alive`: the child serves batch after batch (a
    search's rounds of loads), until :meth:`close`."""

    def __init__(self, limits: Limits, sandbox: bool, wait_until: float, work_for: WorkFor):
        prepared = plan(limits)
        self.scratch = tempfile.mkdtemp(prefix="picklecheck-load-")
        self.read_fd, write_fd = os.pipe()
        feed_read, self.feed_fd = os.pipe()
        pid = fork_quietly()
        if pid == 0:  # the child: never returns
            os.close(self.read_fd)
            os.close(self.feed_fd)
            _child(lambda: _receive(feed_read, wait_until, work_for), write_fd, self.scratch,
                   prepared, sandbox, keep=(feed_read,))
        os.close(write_fd)
        os.close(feed_read)
        setpgid(pid)
        self.pid: int | None = pid
        self._reader: Reader | None = None
        self._next = 0  # the first index of the next batch (indices are never reused)

    @property
    def alive(self) -> bool:
        """Whether the child still waits for work."""
        return self.pid is not None

    def run(self, items: list[tuple[str, bytes]], per_item: float, deadline: float,
            extra: dict[str, Any] | None = None, keep: bool = False) -> dict[int, Result]:
        """Send the payloads and read how each load went (the child's results by
        position in ``items``; an item it did not report is described from how it
        ended, and those after it are missing). With ``keep``, a child that loaded
        them all stays for the next batch. ``extra`` goes to ``work_for`` with them."""
        assert self.pid is not None, "the child has ended"
        first, self._next = self._next, self._next + len(items)
        try:
            _send(self.feed_fd, items, first, extra or {})
        except OSError:
            keep = False  # the child is gone: the reader says how it ended
        if not keep:
            self._close_feed()
        if self._reader is None:
            self._reader = Reader(self.pid, self.read_fd, self.scratch, per_item, deadline)
        try:
            results = self._reader.collect(list(range(first, first + len(items))), keep,
                                           (per_item, deadline))
        except BaseException:
            self._reader.alive = False
            raise
        finally:
            if not self._reader.alive:
                self.pid = None
                self._close_feed()
                self._cleanup()
        return {i - first: result for i, result in results.items()}

    def close(self) -> None:
        """Kill and reap the child if it is still there (idempotent)."""
        pid, self.pid = self.pid, None
        if pid is None:
            return
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        self._close_feed()
        self._cleanup()

    def _close_feed(self) -> None:
        _close(self.feed_fd)
        self.feed_fd = -1

    def _cleanup(self) -> None:
        _close(self.read_fd)
        self.read_fd = -1
        shutil.rmtree(self.scratch, ignore_errors=True)


def _close(fd: int) -> None:
    """Close ``fd`` unless it is -1 (closed already) or gone."""
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


def _send(fd: int, items: list[tuple[str, bytes]], first: int, extra: dict[str, Any]) -> None:
    header = json.dumps({"names": [n for n, _ in items], "sizes": [len(d) for _, d in items],
                         "first": first, "extra": extra})
    for chunk in [header.encode() + b"\n", *(data for _, data in items)]:
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]


def _receive(fd: int, wait_until: float, work_for: WorkFor) -> Iterator[Batch]:
    """In the child: each batch as it arrives (a header line, then the payloads), until
    the parent closes the pipe; waiting for one ends at ``wait_until``."""
    reader = _Feed(fd, wait_until)
    while True:
        header = reader.line()
        if header is None:
            return
        meta = json.loads(header)
        items = [(name, reader.exactly(size))
                 for name, size in zip(meta["names"], meta["sizes"], strict=True)]
        first = int(meta["first"])
        yield list(range(first, first + len(items))), _shifted(
            work_for(items, meta.get("extra") or {}), first)


def _shifted(work: Callable[[int], Result], first: int) -> Callable[[int], Result]:
    """``work`` for indices counted from ``first``."""
    return lambda i: work(i - first)


class _Feed:
    """Reads the parent's pipe with a time limit."""

    def __init__(self, fd: int, wait_until: float) -> None:
        self.fd, self.wait_until = fd, wait_until
        self.data = bytearray()
        self.poller = select.poll()
        self.poller.register(fd, select.POLLIN | select.POLLHUP)

    def _more(self) -> bool:
        while True:
            wait = self.wait_until - time.monotonic()
            if wait <= 0 or not self.poller.poll(max(1, int(wait * 1000))):
                if time.monotonic() >= self.wait_until:
                    raise TimeoutError("no work arrived before the check's time limit")
                continue
            chunk = os.read(self.fd, 1 << 20)
            self.data += chunk
            return bool(chunk)

    def line(self) -> bytes | None:
        while b"\n" not in self.data:
            if not self._more():
                return None
        line, _, rest = bytes(self.data).partition(b"\n")
        self.data = bytearray(rest)
        return line

    def exactly(self, size: int) -> bytes:
        while len(self.data) < size:
            if not self._more():
                raise EOFError("the payloads ended early")
        out = bytes(self.data[:size])
        del self.data[:size]
        return out
