"""Checking session values by key, and remembering what passed so reruns stay cheap.

Shared by :class:`picklecheck.SessionState` and the Streamlit hook. A value is
*checked* by dumping it with the configured backend (and, with ``roundtrip``,
loading the bytes back through :func:`picklecheck.isolation.contain.load`); only a
value that fails goes to the engine for the full diagnosis.

Two things make a repeat check cheap:

* a value made only of ``None``, ``bool``, numbers, ``str``, ``bytes`` and (nested)
  tuples and frozensets of those, with exactly those types, is accepted without
  pickling (every backend serializes such values, and they cannot change in place);
* with ``trust=True`` (the Streamlit hook between its full checks), a value that
  passed before and is unchanged by the rules of :mod:`~picklecheck.integrations.recheck`
  (same object, same shape, the globals it pickles by name unchanged) is not pickled
  again. With a round trip, bytes identical to the last ones that loaded are not
  loaded again either (the same bytes load the same way).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Mapping
from typing import Any

from picklecheck.backends import BACKEND_NAMES, Sink, get_backend
from picklecheck.engine.check import check as check_object
from picklecheck.engine.saferepr import saferepr, type_name
from picklecheck.integrations.config import SessionConfig
from picklecheck.integrations.recheck import Passed, by_reference, recording_pickler, shape
from picklecheck.isolation import contain
from picklecheck.model import BackendResult, PathStep, Report, format_path
from picklecheck.report.render import explain

__all__ = ["Verifier", "describe", "is_plain_value", "ordered"]

_MISSING = object()
_FATAL = (KeyboardInterrupt, SystemExit)
_ATOMS = frozenset({type(None), bool, int, float, complex, str, bytes})
_PLAIN_LIMIT = 1000  # elements inspected before a value is pickled instead


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


def ordered(keys: Iterable[Any]) -> list[Any]:
    """String keys sorted, then the others as given; never runs a key's own code.

    Keys of a ``str`` subclass sort by their plain text (``str.__str__``), so a key
    whose ``__lt__`` raises cannot break a check, or skip a rollback after one.
    """
    keys = list(keys)
    text = sorted((k for k in keys if issubclass(type(k), str)), key=str.__str__)
    return text + [k for k in keys if not issubclass(type(k), str)]


class Verifier:
    """Checks values by key against the configured backend, remembering what passed.

    ``name`` roots the paths: the value under ``"cfg"`` is reported as
    ``session_state['cfg']``. Only a ``trusting`` verifier (the Streamlit hook's) keeps
    what :meth:`failures` needs to trust a value later: the value itself, its shape and
    its globals. Otherwise only the digest of the bytes that loaded is kept per key, so
    a value deleted behind the verifier's back is not kept alive.
    """

    __slots__ = ("config", "name", "trusting", "_passed", "_failed")

    def __init__(self, config: SessionConfig, name: str = "session_state",
                 trusting: bool = False) -> None:
        self.config = config
        self.name = name
        self.trusting = trusting
        self._passed: dict[Any, Passed] = {}
        self._failed: dict[Any, tuple[Passed, Report]] = {}

    def failures(self, items: Iterable[tuple[Any, Any]], *, trust: bool = False,
                 redump: bool = False, prune: bool = False,
                 names: Mapping[Any, str] | None = None) -> dict[Any, Report]:
        """The report of each failing ``(key, value)``, string keys sorted first.

        ``trust`` skips values unchanged since they last passed (or failed: the same
        report is returned); with ``redump`` an unchanged value that passed is still
        dumped (not hashed, not loaded), so nothing that stops dumping is missed.
        ``prune`` forgets keys not among ``items`` (they were deleted), so nothing is
        kept alive for them. ``names`` roots some keys' paths elsewhere than
        ``name[key]`` (a widget without a key has no such path).
        """
        values = dict(items)
        if prune:
            for store in (self._passed, self._failed):
                for key in [k for k in store if k not in values]:
                    del store[key]
        valid: dict[int, bool] = {}
        reports: dict[Any, Report] = {}
        for key in ordered(values):
            value = values[key]
            report: Any = (self._trusted(key, value, valid, redump) if trust and self.trusting
                           else _MISSING)
            if report is _MISSING:
                report = self.verify(key, value, None if names is None else names.get(key))
            if report is not None:
                reports[key] = report
        return reports

    def _trusted(self, key: Any, value: Any, valid: dict[int, bool], redump: bool) -> Any:
        """None (passes) or the old report (fails) when ``value`` is unchanged; else _MISSING."""
        passed = self._passed.get(key)
        if passed is not None and passed.holds(value, valid):
            return None if not redump or self._dumps(value) else _MISSING
        failed = self._failed.get(key)
        if failed is not None and failed[0].holds(value, valid):
            return failed[1]
        return _MISSING

    def verify(self, key: Any, value: Any, name: str | None = None) -> Report | None:
        """None when ``value`` serializes (and loads back, with ``roundtrip``).

        ``name`` is the root of the culprit paths (default ``name[key]``).
        """
        if is_plain_value(value):
            self.forget(key)
            return None
        kept: list[Any] = []
        before = shape(value, keep=kept) if self.trusting else ()
        config = self.config
        backend = get_backend(config.backend)
        protocol = backend.default_protocol() if config.protocol is None else config.protocol
        previous = self._passed.pop(key, None)
        self._failed.pop(key, None)
        sink: Any = io.BytesIO() if config.roundtrip else Sink()
        pickler, digest = None, None
        try:
            pickler = (recording_pickler(backend, sink, protocol) if self.trusting
                       else backend.pickler(sink, protocol))
            backend.run(pickler, value)
            digest = _digest(sink) if config.roundtrip else None
            loaded = (not config.roundtrip or (previous is not None and previous.digest == digest)
                      or contain.load(backend, sink.getvalue()).ok)
        except _FATAL:
            raise
        except BaseException:  # noqa: BLE001 - every failure is a finding
            loaded = False
        if loaded:
            self._passed[key] = (Passed(value, before, _globals_of(pickler), digest, tuple(kept))
                                 if self.trusting else Passed(_MISSING, (), (), digest))
            return None
        report = self._diagnose(value, name or format_path(self.name, (PathStep.item(key),)))
        if report is not None and self.trusting:
            self._failed[key] = (Passed(value, before, _globals_of(pickler), None, tuple(kept)),
                                 report)
        return report

    def forget(self, key: Any = _MISSING) -> None:
        """Drop what is remembered about ``key`` (about every key by default)."""
        if key is _MISSING:
            self._passed.clear()
            self._failed.clear()
        else:
            self._passed.pop(key, None)
            self._failed.pop(key, None)

    def _dumps(self, value: Any) -> bool:
        """Whether ``value`` still dumps (a plain dump into a counting sink)."""
        config = self.config
        backend = get_backend(config.backend)
        protocol = backend.default_protocol() if config.protocol is None else config.protocol
        try:
            backend.dump(value, Sink(), protocol)
        except _FATAL:
            raise
        except BaseException:  # noqa: BLE001 - the full check will say why
            return False
        return True

    def _diagnose(self, value: Any, name: str) -> Report | None:
        config = self.config
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


def _digest(buffer: io.BytesIO) -> bytes:
    # sha256 runs at ~1.5 GB/s here (blake2b at ~0.5): on a 40 MB value it is cheaper than the dump.
    return hashlib.sha256(buffer.getbuffer()).digest()


def _globals_of(pickler: Any) -> tuple[Any, ...]:
    return by_reference(getattr(pickler, "picklecheck_globals", ()))


def _fallback_report(value: Any, name: str, config: SessionConfig, exc: Exception) -> Report:
    """A report without culprits, for when the engine itself failed on a hostile value."""
    error = f"picklecheck could not analyse it ({type(exc).__name__}: {exc})"
    result = BackendResult(backend=config.backend, ok=False, error=error, exception=exc)
    return Report(name=name, type=type_name(value), repr=saferepr(value),
                  protocol=config.protocol, results={config.backend: result})
