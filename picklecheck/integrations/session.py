"""A session-state mapping that checks every value it stores against a pickler.

:class:`SessionState` behaves like ``st.session_state`` (a mutable mapping with
attribute access) for any application, and checks each value on the way in:

* ``mode="enforce"`` refuses a value that does not serialize: the store raises
  :class:`~picklecheck.UnserializableSessionStateError` naming the key and every
  culprit inside the value, and nothing is lost (the previous value stays;
  ``update`` stores all of its values or none);
* ``mode="warn"`` (the default) stores it and emits a
  :class:`~picklecheck.SerializationWarning`;
* ``mode="off"`` stores without checking.

Settings come from arguments, the environment and ``pyproject.toml`` (see
:mod:`picklecheck.config`).

Threads and interrupts
----------------------
Each store is checked, then written under the wrapper's lock; an ``update`` is
written whole or not at all, even when the wrapped mapping refuses one key or Ctrl-C
arrives in the middle (see :mod:`picklecheck.integrations.atomic`). A transaction
belongs to the thread that opened it: stores from other threads meanwhile are
checked as usual, and a rollback restores only the keys this transaction bound that
nobody has bound since. Readers are not locked out: like ``dict.update``, another
thread may see an update that is under way.

What is cheap on repeat is described in :mod:`picklecheck.integrations.verifier`.
"""

from __future__ import annotations

import copy
import difflib
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from picklecheck.engine.saferepr import saferepr, type_name
from picklecheck.errors import SerializationWarning, UnserializableSessionStateError
from picklecheck.integrations.atomic import MISSING, interrupts_deferred, restore, write_all
from picklecheck.integrations.config import SessionConfig, resolve
from picklecheck.integrations.verifier import Verifier, describe, is_plain_value
from picklecheck.model import Report

__all__ = ["SessionState", "Verifier", "describe", "is_plain_value"]

_INTERNAL_MODULES = frozenset({__name__, "contextlib", "_collections_abc", "collections.abc",
                               "picklecheck.integrations.atomic"})

#: A transaction's record of one key: [binding before the transaction, binding it made].
_Entry = list


class SessionState(MutableMapping[Any, Any]):
    """A mutable mapping with attribute access that checks what it stores.

    ``SessionState()`` keeps its own dict; ``SessionState(mapping)`` stores into
    ``mapping`` (a dict, ``st.session_state``, ...) without checking what is already
    there (call :meth:`check` for that). ``mode``, ``backend`` and ``roundtrip``
    default to the environment, then ``pyproject.toml``, then "warn", "pickle" and
    False. ``name`` roots the culprit paths: ``session_state['cfg']['cb']``.

    Keys that share a name with a method (``items``, ``check``, ...) are reached with
    ``state["items"]``; setting them as attributes raises AttributeError.
    Stores from several threads are safe (see the module's notes on threads).
    """

    __slots__ = ("_data", "_config", "_verifier", "_stacks", "_lock")

    def __init__(self, data: MutableMapping[Any, Any] | None = None, /, *, mode: str | None = None,
                 backend: str | None = None, roundtrip: bool | None = None,
                 protocol: int | None = None, name: str = "session_state") -> None:
        if data is None:
            data = {}
        elif not isinstance(data, MutableMapping):
            msg = f"SessionState wraps a mutable mapping such as a dict, not {type_name(data)}"
            if hasattr(data, "keys"):
                msg += "; pass dict(data) to wrap a copy"
            raise TypeError(msg)
        if not isinstance(name, str) or not name:
            msg = f"name must be a non-empty string, not {saferepr(name)}"
            raise ValueError(msg)
        config = resolve(mode=mode, backend=backend, roundtrip=roundtrip, protocol=protocol)
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_config", config)
        object.__setattr__(self, "_verifier", Verifier(config, name))
        object.__setattr__(self, "_stacks", {})  # thread id -> its open transactions
        object.__setattr__(self, "_lock", threading.RLock())

    @property
    def session_config(self) -> SessionConfig:
        """The resolved settings, with where each came from."""
        return self._config

    # -- the mapping ---------------------------------------------------------------

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        existed = key in self._data
        self._store({key: value}, "the previous value was kept" if existed
                    else "the key was not set")

    def __delitem__(self, key: Any) -> None:
        with self._lock:
            previous = self._data[key]
            del self._data[key]
            self._note({key: MISSING}, {key: previous})
        self._verifier.forget(key)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Like ``dict.update``, all or nothing: one rejected value stores none of them."""
        pending = dict(*args, **kwargs)
        self._store(pending, "nothing was stored (update is all or nothing)")

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """``state[key]`` if present; otherwise store ``default`` (checked) and return it."""
        if key in self._data:
            return self._data[key]
        self._store({key: default}, "the key was not set", only_new=True)
        return self._data[key]

    def __repr__(self) -> str:
        return (f"SessionState({saferepr(self._data, 200)}, mode={self._config.mode!r}, "
                f"backend={self._config.backend!r})")

    # -- attribute access ----------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: slots, methods and dunders never read keys.
        if name in SessionState.__slots__ or name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            msg = f"session state has no key {name!r}"
            keys = [k for k in self._data if issubclass(type(k), str)]
            close = difflib.get_close_matches(name, keys, n=1)
            if close:
                msg += f" (did you mean {close[0]!r}?)"
            raise AttributeError(msg) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._refuse_interface_name(name, "state[{!r}] = ...")
        self[name] = value

    def __delattr__(self, name: str) -> None:
        self._refuse_interface_name(name, "del state[{!r}]")
        try:
            del self[name]
        except KeyError:
            msg = f"session state has no key {name!r}"
            raise AttributeError(msg) from None

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *(k for k in self._data if issubclass(type(k), str)
                                              and k.isidentifier())})

    def _refuse_interface_name(self, name: str, spelling: str) -> None:
        if name.startswith("__") or hasattr(type(self), name):
            msg = (f"{name!r} is part of SessionState's interface, not a key; "
                   f"use {spelling.format(name)} for a key of that name")
            raise AttributeError(msg)

    # -- checking ------------------------------------------------------------------

    def check(self, keys: Iterable[Any] | None = None) -> dict[Any, Report]:
        """Check every stored value now (or only ``keys``), e.g. after in-place changes.

        Returns the report of each failing key, in a stable order (string keys sorted,
        then the others as stored); empty when all is well. In "enforce" mode a failure
        raises, in "warn" mode it warns; in "off" mode it is only returned. Values stay
        stored either way.
        """
        reports = self._failures(self._data.keys() if keys is None else keys)
        self._act(reports, "found by check(); the values are still stored")
        return reports

    @contextmanager
    def transaction(self, *, snapshot: bool = False) -> Iterator[SessionState]:
        """Check on exit, and undo the block's changes if the check fails or it raises.

        Stores inside the block are not checked one by one. On exit every key is
        checked, so values changed in place inside the block are caught too. In
        "enforce" mode a failure, and in any mode an exception (Ctrl-C during the
        exit check included), rebinds each key the block assigned or deleted to the
        value it had before (or removes it), unless another thread has bound that key
        since. An in-place change to an object cannot be undone that way;
        ``snapshot=True`` deep-copies every value on entry and restores the keys from
        those copies (values that cannot be copied are restored by reference).
        Nested blocks fold their changes into the enclosing one. A transaction
        belongs to the thread that opened it.
        """
        journal: dict[Any, _Entry] = {}
        saved = self._snapshot() if snapshot else None
        stack = self._journals()
        stack.append(journal)
        try:
            yield self
        except BaseException:
            stack.pop()
            try:
                self._rollback(journal, saved)
            finally:
                self._forget_empty(stack)
            raise
        stack.pop()
        try:
            self._check_on_exit(journal)
        except BaseException:
            self._rollback(journal, saved)
            raise
        finally:
            self._forget_empty(stack)
        if stack:
            for key, (previous, written) in journal.items():
                stack[-1].setdefault(key, [previous, written])[1] = written

    def _check_on_exit(self, journal: dict[Any, _Entry]) -> None:
        """Check every key but those another thread's open transaction bound (that
        transaction checks them when it ends), unless they still hold what this one bound."""
        if self._config.mode == "off":
            return
        me = threading.get_ident()
        with self._lock:
            others = {key for thread, stack in self._stacks.items() if thread != me
                      for open_journal in stack for key in open_journal}
            keys = [key for key in self._data.keys() if key not in others or (
                key in journal and self._data.get(key, MISSING) is journal[key][1])]
        reports = self._failures(keys)
        self._act(reports, "the transaction was rolled back" if self._config.mode == "enforce"
                  else "stored anyway because the session mode is 'warn'")

    # -- internals -----------------------------------------------------------------

    def _journals(self) -> list[dict[Any, _Entry]]:
        """This thread's open transactions, innermost last."""
        stack: list[dict[Any, _Entry]] = self._stacks.setdefault(threading.get_ident(), [])
        return stack

    def _forget_empty(self, stack: list[dict[Any, _Entry]]) -> None:
        with self._lock:
            if not stack:
                self._stacks.pop(threading.get_ident(), None)

    def _store(self, pending: dict[Any, Any], outcome: str, only_new: bool = False) -> None:
        if not self._journals() and self._config.mode != "off":
            reports = self._verifier.failures(pending.items())
            # Raise or warn before storing, so that `-W error` leaves the state as it was.
            self._act(reports, outcome if self._config.mode == "enforce"
                      else "stored anyway because the session mode is 'warn'")
        # Inside this thread's transaction the check runs when the transaction ends.
        with self._lock:
            if only_new:
                pending = {k: v for k, v in pending.items() if k not in self._data}
            previous = {key: self._data.get(key, MISSING) for key in pending}
            write_all(self._data, pending)
            self._note(pending, previous)

    def _note(self, written: dict[Any, Any], previous: dict[Any, Any]) -> None:
        """Record in this thread's innermost transaction what a write bound (under the lock)."""
        stack = self._journals()
        if not stack:
            return
        journal = stack[-1]
        for key, value in written.items():
            journal.setdefault(key, [previous[key], value])[1] = value

    def _act(self, reports: dict[Any, Report], outcome: str) -> None:
        if not reports or self._config.mode == "off":
            return
        message = describe(reports, self._config.backend, outcome)
        if self._config.mode == "enforce":
            first = next(iter(reports))
            raise UnserializableSessionStateError(first, reports[first], self._config.backend,
                                                  message, reports)
        warnings.warn(SerializationWarning(message), stacklevel=_caller_level())

    def _failures(self, keys: Iterable[Any]) -> dict[Any, Report]:
        return self._verifier.failures((key, self._data[key]) for key in keys)

    def _snapshot(self) -> tuple[dict[Any, Any], dict[Any, Any]]:
        """Deep copies of every value, and the values themselves, at this moment."""
        with self._lock:
            originals = dict(self._data.items())
        copies: dict[Any, Any] = {}
        for key, value in originals.items():
            try:
                copies[key] = copy.deepcopy(value)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:  # noqa: BLE001 - uncopyable: restore the reference
                copies[key] = value
        return copies, originals

    def _rollback(self, journal: dict[Any, _Entry],
                  saved: tuple[dict[Any, Any], dict[Any, Any]] | None) -> None:
        """Undo a transaction, whole even if Ctrl-C arrives meanwhile.

        A key is put back only if it still holds what this transaction bound (or, with
        a snapshot, what it held on entry): a later store from another thread stays.
        """
        data = self._data
        with self._lock, interrupts_deferred():
            for key, (previous, written) in journal.items():
                if data.get(key, MISSING) is written:
                    restore(data, key, previous)
            if saved is not None:
                copies, originals = saved
                for key, original in originals.items():
                    if data.get(key, MISSING) is original:
                        data[key] = copies[key]
            self._verifier.forget()


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside this module."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_globals.get("__name__") in _INTERNAL_MODULES:
        frame, level = frame.f_back, level + 1
    return level
