"""Making a group of writes to a mapping happen whole or not at all.

:class:`picklecheck.SessionState` writes several keys at once (``update``, a
transaction's rollback). Two things can cut such a group short:

* the wrapped mapping refuses one key (``st.session_state`` raises for a widget's key
  once the widget exists): :func:`write_all` puts back the keys it already wrote;
* Ctrl-C lands between two writes: :func:`interrupts_deferred` holds a SIGINT that
  arrives inside the block and raises its ``KeyboardInterrupt`` once the block is
  done, so a rollback or an ``update`` is never left half done.

Only the main thread receives SIGINT, and only there can a handler be swapped, so
elsewhere the deferral does nothing (and is not needed). A SIGINT handler the
application installed itself is left alone.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

__all__ = ["MISSING", "interrupts_deferred", "restore", "write_all"]

#: Stands for "the key was absent" in a saved binding.
MISSING: Any = object()


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, then raise its ``KeyboardInterrupt``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.getsignal(signal.SIGINT)
    except (ValueError, OSError):  # no signal support here
        previous = None
    if previous is not signal.default_int_handler:
        yield
        return
    held: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held:  # Ctrl-C wins over whatever else the block raised (kept as its context)
            raise KeyboardInterrupt


def restore(data: MutableMapping[Any, Any], key: Any, previous: Any) -> None:
    """Bind ``key`` to ``previous`` again, or remove it if it was absent."""
    if previous is MISSING:
        data.pop(key, None)
    else:
        data[key] = previous


def write_all(data: MutableMapping[Any, Any], pending: dict[Any, Any]) -> None:
    """Store every item of ``pending`` in ``data``, or none: a refused key undoes the rest.

    The refusal itself propagates. Keys are written in ``pending``'s order and put
    back in reverse, so ``data`` ends as it began.
    """
    if len(pending) == 1:
        for key, value in pending.items():
            data[key] = value
        return
    done: list[tuple[Any, Any]] = []
    with interrupts_deferred():
        try:
            for key, value in pending.items():
                previous = _binding(data, key)
                data[key] = value
                done.append((key, previous))
        except BaseException:
            for key, previous in reversed(done):
                restore(data, key, previous)
            raise


def _binding(data: MutableMapping[Any, Any], key: Any) -> Any:
    try:
        return data[key]
    except KeyError:
        return MISSING
