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

What is cheap on repeat, and why no more than that
-----------------------------------------------------
A value made only of ``None``, ``bool``, ``int``, ``float``, ``complex``, ``str``,
``bytes`` and (nested) tuples and frozensets of those, with exactly those types, is
accepted without pickling: every backend serializes such values and they cannot
change in place. Anything else is dumped on every store and every :meth:`check`.
An ``id()`` cache would be unsafe there: a list, dict or instance can change in
place without changing its id, and even an unchanged instance of a frozen class
stops pickling when its class is redefined (Streamlit reruns the app script, which
makes ``__main__.Point`` a new class). With ``roundtrip=True`` the load is what is
cached: the digest of the bytes last loaded successfully is kept per key, and the
same bytes are not loaded again (the same bytes load the same way).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import sys
import warnings
from collections.abc import Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from picklecheck.backends import BACKEND_NAMES, Sink, get_backend
from picklecheck.engine.check import check as check_object
from picklecheck.engine.saferepr import saferepr, type_name
from picklecheck.errors import SerializationWarning, UnserializableSessionStateError
from picklecheck.integrations.config import SessionConfig, resolve
from picklecheck.isolation import contain
from picklecheck.model import BackendResult, PathStep, Report, format_path
from picklecheck.report.render import explain

__all__ = ["SessionState", "Verifier", "describe", "is_plain_value"]

_MISSING = object()
_FATAL = (KeyboardInterrupt, SystemExit)
_ATOMS = frozenset({type(None), bool, int, float, complex, str, bytes})
_PLAIN_LIMIT = 1000  # elements inspected before a value is pickled instead
_INTERNAL_MODULES = frozenset({__name__, "contextlib", "_collections_abc", "collections.abc"})


def is_plain_value(value: Any) -> bool:
    """True for deeply immutable builtin values that every backend serializes.

    Exact types only (a ``str`` subclass may define a failing ``__reduce__``); gives
    up, returning False, after :data:`_PLAIN_LIMIT` elements.
    """
    stack, seen = [value], 0
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind in _ATOMS:
            continue
        if kind is not tuple and kind is not frozenset:
            return False
        seen += len(item)
        if seen > _PLAIN_LIMIT:
            return False
        stack.extend(item)
    return True


def describe(reports: dict[Any, Report], backend: str, outcome: str) -> str:
    """The message for rejected values: a summary line, then each value's culprits."""
    names = ", ".join(report.name for report in reports.values())
    verb = "does" if len(reports) == 1 else "do"
    lines = [f"{names} {verb} not serialize with {backend!r}; {outcome}"]
    lines += [explain(report, backend) for report in reports.values()]
    return "\n".join(lines)


class _HashSink:
    """A write-only file that keeps a digest of what was written, not the bytes."""

    __slots__ = ("_hash",)

    def __init__(self) -> None:
        self._hash = hashlib.blake2b(digest_size=16)

    def write(self, data: Any) -> int:
        self._hash.update(data)
        return len(data)

    def digest(self) -> bytes:
        return self._hash.digest()


class Verifier:
    """Checks values by key against the configured backend, remembering what loaded.

    Shared by :class:`SessionState` and the Streamlit hook. ``name`` roots the paths:
    the value under ``"cfg"`` is reported as ``session_state['cfg']``.
    """

    __slots__ = ("config", "name", "_loaded")

    def __init__(self, config: SessionConfig, name: str = "session_state") -> None:
        self.config = config
        self.name = name
        self._loaded: dict[Any, bytes] = {}

    def failures(self, items: Iterable[tuple[Any, Any]]) -> dict[Any, Report]:
        """The report of each failing ``(key, value)``, string keys sorted first."""
        values = dict(items)
        reports: dict[Any, Report] = {}
        for key in _ordered(values):
            report = self.verify(key, values[key])
            if report is not None:
                reports[key] = report
        return reports

    def verify(self, key: Any, value: Any) -> Report | None:
        """None when ``value`` serializes (and loads back, with ``roundtrip``)."""
        if is_plain_value(value):
            return None
        config = self.config
        backend = get_backend(config.backend)
        protocol = backend.default_protocol() if config.protocol is None else config.protocol
        sink: Any = _HashSink() if config.roundtrip else Sink()
        try:
            backend.dump(value, sink, protocol)
            if not config.roundtrip or self._loaded.get(key) == sink.digest():
                return None
            loaded = contain.load(backend, backend.dumps(value, protocol)).ok
        except _FATAL:
            raise
        except BaseException:  # noqa: BLE001 - every failure is a finding
            loaded = False
        if not loaded:
            self._loaded.pop(key, None)
            return self._diagnose(key, value)
        self._loaded[key] = sink.digest()
        return None

    def forget(self, key: Any = _MISSING) -> None:
        """Drop what is remembered about ``key`` (about every key by default)."""
        if key is _MISSING:
            self._loaded.clear()
        else:
            self._loaded.pop(key, None)

    def _diagnose(self, key: Any, value: Any) -> Report | None:
        config = self.config
        name = format_path(self.name, (PathStep.item(key),))
        try:
            report = check_object(value, backends=(config.backend,), protocol=config.protocol,
                                  name=name, roundtrip=config.roundtrip)
            if report.ok:  # it changed while we looked, or fails only now and then
                return None
            others = [b for b in BACKEND_NAMES if b != config.backend]
            verdicts = check_object(value, backends=others, protocol=config.protocol, name=name,
                                    roundtrip=config.roundtrip, max_culprits=1)
            report.results.update(verdicts.results)
        except _FATAL:
            raise
        except Exception as exc:  # noqa: BLE001 - the engine must not take the app down
            return _fallback_report(value, name, config, exc)
        return report


class SessionState(MutableMapping[Any, Any]):
    """A mutable mapping with attribute access that checks what it stores.

    ``SessionState()`` keeps its own dict; ``SessionState(mapping)`` stores into
    ``mapping`` (a dict, ``st.session_state``, ...) without checking what is already
    there (call :meth:`check` for that). ``mode``, ``backend`` and ``roundtrip``
    default to the environment, then ``pyproject.toml``, then "warn", "pickle" and
    False. ``name`` roots the culprit paths: ``session_state['cfg']['cb']``.

    Keys that share a name with a method (``items``, ``check``, ...) are reached with
    ``state["items"]``; setting them as attributes raises AttributeError.
    Not thread-safe, like the dict it wraps.
    """

    __slots__ = ("_data", "_config", "_verifier", "_journals")

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
        object.__setattr__(self, "_journals", [])

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
        self._remember(key)
        del self._data[key]
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
        self._store({key: default}, "the key was not set")
        return default

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
            keys = [k for k in self._data if isinstance(k, str)]
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
        return sorted({*super().__dir__(), *(k for k in self._data if isinstance(k, str)
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
        "enforce" mode a failure, and in any mode an exception, rebinds each key the
        block assigned or deleted to the value it had before (or removes it). An
        in-place change to an object cannot be undone that way; ``snapshot=True``
        deep-copies every value on entry and restores all keys from those copies
        (values that cannot be copied are restored by reference).
        Nested blocks fold their changes into the enclosing one.
        """
        journal: dict[Any, Any] = {}
        saved = self._snapshot() if snapshot else None
        self._journals.append(journal)
        try:
            yield self
        except BaseException:
            self._journals.pop()
            self._rollback(journal, saved)
            raise
        self._journals.pop()
        reports = self._failures(self._data.keys()) if self._config.mode != "off" else {}
        if reports and self._config.mode == "enforce":
            self._rollback(journal, saved)
            self._act(reports, "the transaction was rolled back")
        self._act(reports, "stored anyway because the session mode is 'warn'")
        if self._journals:
            for key, previous in journal.items():
                self._journals[-1].setdefault(key, previous)

    # -- internals -----------------------------------------------------------------

    def _store(self, pending: dict[Any, Any], outcome: str) -> None:
        if self._journals:  # checked when the transaction ends
            for key, value in pending.items():
                self._remember(key)
                self._data[key] = value
            return
        reports: dict[Any, Report] = {}
        if self._config.mode != "off":
            reports = self._verifier.failures(pending.items())
        # Raise or warn before storing, so that `-W error` leaves the state as it was.
        self._act(reports, outcome if self._config.mode == "enforce"
                  else "stored anyway because the session mode is 'warn'")
        for key, value in pending.items():
            self._data[key] = value

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

    def _remember(self, key: Any) -> None:
        if self._journals and key not in self._journals[-1]:
            try:
                self._journals[-1][key] = self._data[key]
            except KeyError:
                self._journals[-1][key] = _MISSING

    def _snapshot(self) -> dict[Any, Any]:
        saved: dict[Any, Any] = {}
        for key, value in self._data.items():
            try:
                saved[key] = copy.deepcopy(value)
            except _FATAL:
                raise
            except BaseException:  # noqa: BLE001 - uncopyable: restore the reference
                saved[key] = value
        return saved

    def _rollback(self, journal: dict[Any, Any], saved: dict[Any, Any] | None) -> None:
        for key, previous in journal.items():
            if previous is _MISSING:
                self._data.pop(key, None)
            else:
                self._data[key] = previous
            self._verifier.forget(key)
        if saved is not None:
            for key in [k for k in self._data if k not in saved]:
                del self._data[key]
            for key, value in saved.items():
                self._data[key] = value
            self._verifier.forget()


def _ordered(keys: Iterable[Any]) -> list[Any]:
    keys = list(keys)
    text = sorted(k for k in keys if isinstance(k, str))
    return text + [k for k in keys if not isinstance(k, str)]


def _fallback_report(value: Any, name: str, config: SessionConfig, exc: Exception) -> Report:
    """A report without culprits, for when the engine itself failed on a hostile value."""
    error = f"picklecheck could not analyse it ({type(exc).__name__}: {exc})"
    result = BackendResult(backend=config.backend, ok=False, error=error, exception=exc)
    return Report(name=name, type=type_name(value), repr=saferepr(value),
                  protocol=config.protocol, results={config.backend: result})


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside this module."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_globals.get("__name__") in _INTERNAL_MODULES:
        frame, level = frame.f_back, level + 1
    return level
