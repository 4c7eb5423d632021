"""The cyclic garbage collector, paused while a check runs.

A check makes tens of thousands of short-lived containers (a pure-Python pickler's memo
entries, reduction tuples, fed slices): enough to start the collector's full pass, which
walks every object in the process. In a process holding a boto3 client that pass takes
100-300 ms, as long as the rest of the check, and lands in it at random. Nothing a check
makes needs collecting while it runs (what it leaves in reference cycles is collected
after it), so the collector is paused for the check.

The pause is the process's, not the check's thread's: it is counted, so the collector
comes back on when the last check running in the process ends, and only if it was on
when the first one began (a program that turned it off keeps it off). A caller that
gives up on a stuck check (a reducer that never returns) ends the pause itself: the
stuck thread must not leave the collector off.
"""

from __future__ import annotations

import gc
import threading
from types import TracebackType

__all__ = ["Pause"]

_lock = threading.Lock()
_holders = 0
_resume = False  # whether the collector was on when the first pause began


class Pause:
    """The collector off from now until :meth:`end` (or the end of a ``with`` block) in
    every pause under way; ending it twice is ending it once."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        global _holders, _resume
        with _lock:
            if _holders == 0:
                _resume = gc.isenabled()
                gc.disable()
            _holders += 1
        self._held = True

    def end(self) -> None:
        global _holders
        with _lock:
            if not self._held:
                return
            self._held = False
            _holders -= 1
            if _holders == 0 and _resume:
                gc.enable()

    def __enter__(self) -> Pause:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.end()
