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
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import tempfile
import time
from collections.abc import Callable

from picklecheck.isolation.child import Reader, Result, _child, fork_quietly, setpgid
from picklecheck.isolation.confine import Limits, plan

__all__ = ["Ahead"]

#: Builds the child's work function from the payloads it received.
WorkFor = Callable[[list[tuple[str, bytes]]], Callable[[int], Result]]


class Ahead:
    """A confined child waiting for payloads (see the module docstring)."""

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

    def run(self, items: list[tuple[str, bytes]], per_item: float,
            deadline: float) -> dict[int, Result]:
        """Send the payloads and read how each load went (the child's results by index;
        an item it did not report is described from how it ended)."""
        assert self.pid is not None, "an Ahead runs once"
        try:
            _send(self.feed_fd, items)
        except OSError:
            pass  # the child is gone: the reader says how it ended
        finally:
            os.close(self.feed_fd)
        try:
            return Reader(self.pid, self.read_fd, self.scratch, per_item,
                          deadline).collect(list(range(len(items))))
        finally:
            self.pid = None
            self._cleanup()

    def close(self) -> None:
        """Kill and reap the child if it was never given work (idempotent)."""
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
        try:
            os.close(self.feed_fd)
        except OSError:
            pass
        self._cleanup()

    def _cleanup(self) -> None:
        try:
            os.close(self.read_fd)
        except OSError:
            pass
        shutil.rmtree(self.scratch, ignore_errors=True)


def _send(fd: int, items: list[tuple[str, bytes]]) -> None:
    header = json.dumps({"names": [n for n, _ in items], "sizes": [len(d) for _, d in items]})
    for chunk in [header.encode() + b"\n", *(data for _, data in items)]:
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]


def _receive(fd: int, wait_until: float, work_for: WorkFor
             ) -> tuple[list[int], Callable[[int], Result]]:
    """In the child: wait (until ``wait_until``) for the header and the payloads."""
    data = bytearray()
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    while True:
        wait = wait_until - time.monotonic()
        if wait <= 0 or not poller.poll(max(1, int(wait * 1000))):
            if time.monotonic() >= wait_until:
                raise TimeoutError("no work arrived before the check's time limit")
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        data += chunk
    header, _, rest = bytes(data).partition(b"\n")
    meta = json.loads(header)
    items, offset = [], 0
    for name, size in zip(meta["names"], meta["sizes"], strict=True):
        items.append((name, rest[offset:offset + size]))
        offset += size
    return list(range(len(items))), work_for(items)
