"""The public entry: verdict, localisation, comparison, round trips.

For each backend, :func:`check` first dumps the object once into a sink that keeps
no bytes (or into memory when a round trip is asked for): a picklable object costs
about one ``dumps``. Only when that fails does the culprit search run
(:mod:`picklecheck.locate`). Loads run through the hazard guard
(:mod:`picklecheck.hazards`); with ``fresh_process`` the bytes are also loaded in
new interpreters (:mod:`picklecheck.fresh`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import os
import pickle
import sys
import time
import types
from collections.abc import Iterable
from typing import Any

from picklecheck.backends import BACKEND_NAMES, Backend, Sink, get_backend, plaintree
from picklecheck.backends.base import Scratch
from picklecheck.backends.hazards import HazardBlockedError
from picklecheck.engine import boundary, deferred, depth, group, merge, usable
from picklecheck.engine.explain import explain_findings
from picklecheck.engine.finding import FOLDED, Finding, scrub
from picklecheck.engine.locate import locate_dumps, locate_loads, locate_references
from picklecheck.engine.saferepr import saferepr, type_name
from picklecheck.engine.scan import failed_dump
from picklecheck.engine.usercode import UserCode
from picklecheck.errors import UnpicklableError
from picklecheck.isolation import collector, contain, deadline, interpreter, plain, workers
from picklecheck.isolation.deadline import DEFAULT_TIMEOUT, CheckTimeout, Deadline
from picklecheck.isolation.foreign import exception_text
from picklecheck.isolation.fresh import FreshResult
from picklecheck.model import BackendResult, Culprit, Report

__all__ = ["DEFAULT_MAX_CULPRITS", "assert_picklable", "check"]

DEFAULT_MAX_CULPRITS = 100
_FATAL = (KeyboardInterrupt, SystemExit)
_PYTHON = sys.version.split()[0]


def check(
    obj: Any,
    *,
    backends: Iterable[str] | None = BACKEND_NAMES,
    protocol: int | None = None,
    name: str = "obj",
    roundtrip: bool = True,
    fresh_process: bool = False,
    max_culprits: int = DEFAULT_MAX_CULPRITS,
    timeout: float | None = DEFAULT_TIMEOUT,
    expand: bool = False,
    user_code: Iterable[str] = (),
    script_folder: str | None = None,
    python: str | os.PathLike[str] | None = None,
) -> Report:
    """Check whether ``obj`` survives pickling with each backend, and if not, why.

    Returns a :class:`~picklecheck.Report`: per-backend verdict, size and timings,
    and every culprit, each with a path rooted at ``name``, a reason and a hint.
    ``roundtrip`` loads the bytes back (in a sandboxed child where the machine has
    one); ``fresh_process`` also loads them in a new interpreter standing for the
    backend's worker (see :mod:`picklecheck.isolation.workers`): the worker of this
    program, or with ``script_folder`` of ``python script.py`` run in that folder.
    Framework backends load in their worker on their own whenever the bytes name a
    module it may not import. ``timeout`` bounds the whole call (default 60 s; None: no limit):
    what was not finished by then is reported as ``truncated`` and ``skipped``.
    ``report.entries`` groups alike culprits and collapses those inside a library
    object into it, unless ``expand``. ``user_code`` names packages whose classes count
    as your code even when installed (see :mod:`picklecheck.engine.usercode`).
    ``python`` names another interpreter (a deployment's virtualenv, the workers'
    Python version) to do the fresh load in, with its own packages: it implies
    ``fresh_process`` (see :mod:`picklecheck.isolation.interpreter`).
    """
    chosen = _backends(backends)
    if protocol is not None and (
        not isinstance(protocol, int) or isinstance(protocol, bool)
        or not -1 <= protocol <= pickle.HIGHEST_PROTOCOL
    ):
        msg = f"protocol must be an int from 0 to {pickle.HIGHEST_PROTOCOL} (or -1), not {protocol!r}"
        raise ValueError(msg)
    if isinstance(max_culprits, bool) or not isinstance(max_culprits, int) or max_culprits < 1:
        msg = f"max_culprits must be at least 1, not {max_culprits!r}"
        raise ValueError(msg)
    if not isinstance(name, str) or not name:
        msg = f"name must be a non-empty string, not {name!r}"
        raise ValueError(msg)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not timeout > 0):
        msg = f"timeout must be a positive number of seconds (or None), not {timeout!r}"
        raise ValueError(msg)
    there = interpreter.resolve(python) if python is not None else None
    fresh_process = fresh_process or there is not None
    limit = Deadline(timeout)
    words = _Words(expand, UserCode(user_code))
    # What a dump in this thread found failing (the search starts from it; see _in_thread).
    failed: dict[str, tuple[BaseException, float]] = {}
    if not fresh_process and script_folder is None:
        report = _in_thread(obj, chosen, protocol, name, roundtrip, max_culprits, limit,
                            words, failed)
        if report is not None:
            return report
    results: dict[str, BackendResult] = {}
    done: set[str] = set()
    loaders: list[contain.Loader] = []
    pauses: list[collector.Pause] = []
    made: list[Report] = []  # the report, once all but the object's own repr is done

    def run() -> Report:
        for backend in chosen:  # imported before the loader forks: a framework's import
            backend.available  # noqa: B018 - (env vars, threads) is not the load's doing
        pauses.append(collector.Pause())  # no full collection in the middle of the check
        loader = None
        try:
            # The probe tells a copy whose lock is dead. The child is forked at the first
            # load that needs it (a load proven pure is done here: see
            # Backend.loads_as_pickle), or now, overlapping the dumps, for a backend
            # none of whose loads can be done here.
            loader = contain.Loader(usable.probe, ahead=not all(
                b.loads_as_pickle for b in chosen), select=usable.probe_pure_for) if roundtrip else None
            if loader is not None:
                loaders.append(loader)
            with contain.serving(loader) if loader is not None else contextlib.nullcontext():
                return _check(obj, chosen, protocol, name, roundtrip, fresh_process,
                              max_culprits, limit, results, done, loader,
                              None if script_folder is None
                              else workers.driver(script_folder),
                              words, failed, made=made, there=there)
        finally:
            if loader is not None:
                loader.close()
            pauses[-1].end()

    try:
        return deadline.run_within(run, limit)
    except CheckTimeout as stuck:
        for loader in loaders:
            loader.close()  # the stuck helper never will
        for pause in pauses:
            pause.end()  # nor give the collector back
        if made:  # stuck in the object's own __repr__: everything else is known
            return copy.copy(made[0])  # (the helper fills in the one it made, if ever)
        return _unfinished(obj, name, protocol, chosen, results, done, stuck)


def _in_thread(obj: Any, chosen: list[Backend], protocol: int | None, name: str,
               roundtrip: bool, max_culprits: int, limit: Deadline, words: _Words,
               failed: dict[str, tuple[BaseException, float]]) -> Report | None:
    """The report of a check of builtin data with pickle, done in the caller's thread
    (see :mod:`picklecheck.isolation.plain`: it runs no one's code, so it cannot hang,
    and no hand-over to the helper thread is paid), or None: the check goes to the helper.
    A dump that failed here is left in ``failed``: the search starts from it. A dump that
    ran out of time here is reported here, as not finished within the limit."""
    if len(chosen) != 1 or chosen[0].name != "pickle" or not plain.likely(obj):
        return None
    proto = chosen[0].default_protocol() if protocol is None else protocol
    if (pickle.HIGHEST_PROTOCOL if proto < 0 else proto) < 4:
        return None  # it writes nothing before the end: the time limit could not be kept
    # No collection in the middle of it either (see collector): a search of flat data
    # holds lists of a million items, which every young collection would walk.
    with deadline.limit(limit), collector.Pause():
        try:
            return _check(obj, chosen, protocol, name, roundtrip, False, max_culprits, limit,
                          {}, set(), words=words, failed=failed, in_thread=True)
        except plain.Tripped:
            if not limit.expired():
                return None
        # Out of time here: in the helper it could only end at the hard limit, saying
        # less. Started again with the limit passed, it dumps nothing and says so.
        return _check(obj, chosen, protocol, name, roundtrip, False, max_culprits, limit,
                      {}, set(), words=words, in_thread=True)


class _Words:
    """How the report reads: grouped and collapsed (or ``expand``ed), and whose code is
    the user's."""

    def __init__(self, expand: bool = False, user: UserCode | None = None) -> None:
        self.expand = expand
        self.user = user if user is not None else UserCode()


def _check(obj: Any, chosen: list[Backend], protocol: int | None, name: str, roundtrip: bool,
           fresh_process: bool, max_culprits: int, limit: Deadline,
           results: dict[str, BackendResult], done: set[str],
           loader: contain.Loader | None = None,
           drv: workers.Driver | None = None, words: _Words | None = None,
           failed: dict[str, tuple[BaseException, float]] | None = None,
           in_thread: bool = False, made: list[Report] | None = None,
           there: interpreter.Interpreter | None = None) -> Report:
    """The check; ``in_thread``: every dump and load proven to run no one's code, or
    :class:`~picklecheck.isolation.plain.Tripped` (a failed dump goes to ``failed``);
    ``there``: the interpreter fresh loads run in, when not this one.
    The report goes to ``made`` before the object's repr is made (its ``__repr__`` is
    the user's, and may never return)."""
    words = words if words is not None else _Words()
    failed = failed if failed is not None else {}
    findings: dict[str, list[Finding]] = {}
    payloads: dict[str, bytes] = {}
    configs: dict[str, dict[str, Any]] = {}
    dumped: dict[str, bytes] = {}
    drivers: list[workers.Driver] = []
    trees = plaintree.Trees()  # plain is plain for every backend: each tree walked once

    def driver() -> workers.Driver:  # only frameworks need it: made when first asked for
        if not drivers:
            drivers.append(drv or workers.driver())
        return drivers[0]

    for backend in chosen:
        if limit.expired():
            results[backend.name] = _not_started(backend.name, limit)
            findings[backend.name] = []
            continue
        model = workers.model_for(backend)
        others_failed = _failure_likely(results, findings)
        found, data = _dump(obj, backend, protocol, roundtrip or fresh_process or model.watches,
                            max_culprits, results, roundtrip, failed, in_thread,
                            others_failed, trees)
        results[backend.name].worker = model.name if results[backend.name].available else None
        findings[backend.name] = found
        if data is not None:
            dumped[backend.name] = data
    if roundtrip and dumped:
        _round_trips(obj, dumped, protocol, max_culprits, results, findings, loader,
                     in_thread)
    for backend in chosen:
        model = workers.model_for(backend)
        data = dumped.get(backend.name)
        if data is not None and model.in_process and there is None:
            if fresh_process:
                findings[backend.name].extend(
                    _load_in_copy(obj, backend, protocol, results[backend.name], data,
                                  max_culprits))
            done.add(backend.name)
        elif data is not None and (fresh_process or model.watches and workers.needs_worker_load(
                model, data, workers.search_path(model, driver()))):
            payloads[backend.name] = _payload(obj, backend, protocol, results[backend.name],
                                              data)
            configs[backend.name] = workers.child_config(model, driver())
        else:
            done.add(backend.name)
    if payloads and not limit.expired():
        from picklecheck.isolation.fresh import load_in_fresh_interpreters

        fresh = load_in_fresh_interpreters(payloads, max(0.1, limit.remaining()), configs,
                                           there)
        for backend_name, outcome in fresh.items():
            backend = get_backend(backend_name)
            found = _apply_fresh(obj, backend, protocol, results[backend_name], outcome,
                                 max_culprits)
            if there is not None and not there.runs_this_bytecode:
                found = _other_bytecode(obj, backend, protocol, results[backend_name], there,
                                        max_culprits, found)
            findings[backend_name].extend(found)
            done.add(backend_name)
    elif payloads:
        for backend_name in payloads:
            results[backend_name].ok = False
            results[backend_name].skipped.append(_late(limit, "the fresh-interpreter load"))
    culprits: list[Culprit] = []
    if any(findings.values()):
        places = ({} if limit.expired() else
                  boundary.annotate(obj, findings, protocol, words.user,
                                    {b.name: b for b in chosen}))
        culprits = merge.one_per_object(explain_findings(obj, name, results, findings,
                                                         protocol, limit.seconds),
                                        places)
        boundary.attach(name, culprits, places)
    if limit.expired():
        for result in results.values():
            if result.truncated and not any("time limit" in s for s in result.skipped):
                result.skipped.append(_late(limit, "the culprit search"))
    report = Report(
        name=name, type=type_name(obj), repr=_REPR_UNFINISHED, protocol=protocol,
        results=results, culprits=culprits, python=_PYTHON,
        fresh_python=there.describe() if there is not None else "",
        entries=deferred.Lazy(lambda: group.entries(culprits, words.expand)),  # type: ignore[arg-type]
        expanded=words.expand,
    )
    if made is not None:
        made.append(report)
    report.repr = saferepr(obj)
    return report


#: The repr of an object whose ``__repr__`` did not return by the check's time limit.
_REPR_UNFINISHED = "<not shown: its __repr__ did not return within the check's time limit>"


#: What pickle saves by name, and dill and cloudpickle by value.
_BY_NAME = (types.FunctionType, type)


def _failure_likely(results: dict[str, BackendResult],
                    findings: dict[str, list[Finding]]) -> bool:
    """Whether an earlier backend failed on something the next backends likely fail on
    too (then their verdicts start with a dump that passes over trees of plain data:
    see Backend.verdict_dump). Not when each of its culprits is a function or a class
    (or an object whose class or reconstructor is one) that it could not find by name,
    which dill and cloudpickle save by value: a pandas Styler's formatters are lambdas,
    and dill's dump, done once to pass over trees and once again for its bytes, took
    twice as long."""
    for name, result in results.items():
        if result.exception is None:
            continue
        found = findings.get(name)
        if not found or not all(
                issubclass(type(f.via if f.origin in FOLDED else f.obj),
                           _BY_NAME)  # type(): isinstance would read a hostile __class__
                for f in found):
            return True
    return False


def _late(limit: Deadline, what: str) -> str:
    return f"{what} did not finish: the check's time limit of {limit.seconds:g} s was reached"


def _not_started(backend_name: str, limit: Deadline) -> BackendResult:
    note = _late(limit, f"checking with {backend_name}")
    return BackendResult(backend=backend_name, ok=False, error=f"not checked: {note}",
                         truncated=True, skipped=[note])


def _unfinished(obj: Any, name: str, protocol: int | None, chosen: list[Backend],
                results: dict[str, BackendResult], done: set[str],
                stuck: CheckTimeout) -> Report:
    """The report of a check whose helper did not return by the hard limit: what was
    finished, and for the rest where it was stuck. Nothing here calls the object."""
    note = f"the check stopped after {stuck.seconds:g} s" + (
        f", stuck in {stuck.where}" if stuck.where else "")
    final: dict[str, BackendResult] = {}
    for backend in chosen:
        started = results.get(backend.name)
        result = (dataclasses.replace(started, skipped=list(started.skipped), culprits=[])
                  if started is not None else BackendResult(backend=backend.name, ok=False))
        if backend.name not in done:
            result.ok, result.truncated = False, True
            result.skipped.append(note)
            if result.size is None and result.error is None:
                result.error = f"not finished: {note}"
        elif not result.ok:
            # Its culprits were found, but the report of them was not made by the limit:
            # never a failure with nothing named and nothing said to be missing.
            result.truncated = True
            result.skipped.append(f"naming its culprits did not finish: {note}")
        final[backend.name] = result
    return Report(name=name, type=_plain_type_name(obj), repr="<not shown: the check timed out>",
                  protocol=protocol, results=final, culprits=[],
                  python=_PYTHON)


def _plain_type_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}" if cls.__module__ != "builtins" else cls.__qualname__


def assert_picklable(obj: Any, backend: str = "pickle", *, name: str = "obj",
                     protocol: int | None = None, roundtrip: bool = True,
                     fresh_process: bool = False,
                     max_culprits: int = DEFAULT_MAX_CULPRITS,
                     timeout: float | None = DEFAULT_TIMEOUT, expand: bool = False,
                     python: str | os.PathLike[str] | None = None) -> Report:
    """Raise :class:`~picklecheck.UnpicklableError` unless ``backend`` round-trips ``obj``.

    The message names every culprit path (alike ones grouped, those inside a library
    object under it, unless ``expand``), the reason, the hint, and which other backends
    would succeed. Returns the report when the object is fine. ``python``: load it in
    that interpreter too (see :func:`check`).
    """
    backend_obj = get_backend(backend)
    others = [b for b in BACKEND_NAMES if b != backend_obj.name and get_backend(b).available]
    report = check(obj, backends=(backend_obj.name,), protocol=protocol, name=name,
                   roundtrip=roundtrip, fresh_process=fresh_process, max_culprits=max_culprits,
                   timeout=timeout, expand=expand, python=python)
    if report.ok:
        return report
    if others:
        verdicts = check(obj, backends=others, protocol=protocol, name=name,
                         roundtrip=roundtrip, fresh_process=fresh_process, max_culprits=1,
                         timeout=timeout, python=python)
        for other, result in verdicts.results.items():
            report.results[other] = result
    raise UnpicklableError(report, backend_obj.name)


def _backends(names: Iterable[str] | None) -> list[Backend]:
    if names is None:
        names = BACKEND_NAMES  # the usual spelling of "the default"
    elif isinstance(names, str):
        names = (names,)
    try:
        names = list(names)
    except TypeError:
        msg = f"backends must be a backend's name or an iterable of names, not {names!r}"
        raise ValueError(msg) from None
    chosen: list[Backend] = []
    for n in names:
        backend = get_backend(n)
        if backend not in chosen:
            chosen.append(backend)
    if not chosen:
        msg = "backends is empty: name at least one of " + ", ".join(BACKEND_NAMES)
        raise ValueError(msg)
    return chosen


def _dump(obj: Any, backend: Backend, protocol: int | None, keep_bytes: bool,
          max_culprits: int, results: dict[str, BackendResult], loadable: bool = True,
          failed: dict[str, tuple[BaseException, float]] | None = None,
          in_thread: bool = False,
          others_failed: bool = False,
          trees: plaintree.Trees | None = None) -> tuple[list[Finding], bytes | None]:
    """The verdict of one backend's dumps (and its culprits when it fails); the bytes
    when they are to be loaded. A dump already done (and failed) in the caller's thread
    is taken from ``failed``; ``in_thread``, a failure is left there (see _in_thread).
    ``others_failed``: an earlier backend's dump failed (see Backend.verdict_dump);
    ``trees``: the check's knowledge of trees of plain data, shared by its backends."""
    result = BackendResult(backend=backend.name, ok=False)
    results[backend.name] = result  # visible to the caller as it fills in
    if not backend.available:
        result.available = False
        result.error = backend.not_installed
        return [], None
    proto = backend.default_protocol() if protocol is None else protocol
    data: bytes | None = None
    known = failed.pop(backend.name, None) if failed and not in_thread else None
    start = time.perf_counter()
    try:
        if known is not None:
            raise known[0]
        depth.mark_verdict()  # the stack its search gets (see depth.headroom)
        if in_thread:
            result.size, data = plain.dump(obj, proto, keep_bytes)
        elif keep_bytes:
            buffer = io.BytesIO() if loadable else Scratch()
            backend.verdict_dump(obj, buffer, proto, others_failed, trees)
            data = buffer.getvalue()
            result.size = len(data)
        else:
            sink = Sink()
            backend.verdict_dump(obj, sink, proto, others_failed, trees)
            result.size = sink.size
    except (*_FATAL, plain.Tripped):
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure is a finding
        seconds = known[1] if known is not None else time.perf_counter() - start
        # A pure-Python pickler's work is not done twice: what it saved in full, and
        # what it had under way (see scan.UnderWay).
        saved, under = failed_dump(exc)
        scrub(exc)  # tracebacks' frames hold the pickler, whose memo holds everything
        if in_thread and failed is not None:
            if not backend.is_depth_error(exc):  # the caller's stack may be the deep one:
                failed[backend.name] = (exc, seconds)  # the helper starts afresh
            raise plain.Tripped(exc) from None
        result.dumps_seconds = seconds
        result.error = _describe(exc)
        result.exception = exc
        located, result.truncated = locate_dumps(obj, backend, proto, exc, max_culprits,
                                                 saved, trees, under)
        return located, None
    result.dumps_seconds = time.perf_counter() - start
    result.ok = True
    return [], data


def _round_trips(obj: Any, dumped: dict[str, bytes], protocol: int | None, max_culprits: int,
                 results: dict[str, BackendResult], findings: dict[str, list[Finding]],
                 loader: contain.Loader | None, in_thread: bool = False) -> None:
    """Load every backend's bytes (one contained child for all), and locate what fails;
    ``in_thread``, only loads proven to run no code, all of them fine, or Tripped."""
    for name in dumped:
        results[name].ok = False  # until its round trip says otherwise
    backends = [get_backend(name) for name in dumped]
    pairs = list(zip(backends, dumped.values(), strict=True))
    if in_thread:
        outcomes = contain.pure_loads(pairs, usable.probe_pure_for([d for _, d in pairs]))
        if outcomes is None or not all(o.ok for o in outcomes):
            raise plain.Tripped("load")
    else:
        chosen = usable.probe_for([d for _, d in pairs])
        outcomes = (contain.load_pairs(pairs, chosen) if loader is None
                    # the loader's own probe, unless a file dill saved calls for its own
                    else loader.load_pairs(pairs, chosen) if chosen is not usable.probe
                    else loader.load_pairs(pairs))
    for backend, outcome in zip(backends, outcomes, strict=True):
        result = results[backend.name]
        result.loads_seconds = outcome.seconds
        result.isolation = outcome.isolation
        result.ok = result.roundtrip = outcome.ok
        if outcome.ok:
            continue
        load_exc = usable.load_error(outcome)  # what it raised, or why the copy is unusable
        assert load_exc is not None
        scrub(load_exc)  # chained tracebacks would keep half-built copies alive
        result.roundtrip_error = _describe(load_exc)
        result.exception = load_exc
        if issubclass(type(load_exc), HazardBlockedError):
            result.skipped.append(str(load_exc))
        proto = backend.default_protocol() if protocol is None else protocol
        found, result.truncated = locate_loads(obj, backend, proto, load_exc, max_culprits)
        for finding in found:
            if (issubclass(type(finding.exc), HazardBlockedError)
                    and str(finding.exc) not in result.skipped):
                result.skipped.append(str(finding.exc))
        findings[backend.name] = found


def _payload(obj: Any, backend: Backend, protocol: int | None, result: BackendResult,
             data: bytes) -> bytes:
    """The bytes the worker loads: a dump of their own when loading consumes what they
    refer to (see Backend.single_use; the verdict's bytes were loaded here, or kept
    only to be read)."""
    if not backend.single_use:
        return data
    proto = backend.default_protocol() if protocol is None else protocol
    try:
        return backend.dumps(obj, proto)
    except _FATAL:
        raise
    except BaseException:  # noqa: BLE001 - it dumped a moment ago; keep those bytes
        return data


def _load_in_copy(obj: Any, backend: Backend, protocol: int | None, result: BackendResult,
                  data: bytes, max_culprits: int) -> list[Finding]:
    """A forked worker is a copy of this process: its load is a load here."""
    if result.roundtrip is not None:
        result.fresh = result.roundtrip
        result.fresh_error = result.roundtrip_error
        return []
    outcome = contain.load(backend, data)
    result.fresh = outcome.ok
    if outcome.ok:
        return []
    assert outcome.exc is not None
    result.ok = False
    result.fresh_error = _describe(outcome.exc)
    proto = backend.default_protocol() if protocol is None else protocol
    found, result.truncated = locate_loads(obj, backend, proto, outcome.exc, max_culprits)
    return found


def _apply_fresh(obj: Any, backend: Backend, protocol: int | None, result: BackendResult,
                 outcome: FreshResult, max_culprits: int) -> list[Finding]:
    result.fresh = outcome.ok
    result.fresh_warnings = list(outcome.warnings)
    if outcome.ok:
        return []
    result.ok = False
    result.fresh_error = outcome.error
    if result.roundtrip is False:
        return []  # the same load already failed here, and its culprits are located
    error: BaseException = FreshLoadError.from_text(
        outcome.error or "failed to load in a fresh interpreter", outcome.exception or "")
    if outcome.effects:
        result.fresh_error = "; ".join(outcome.effects[:3])
        error = contain.LoadSideEffectError(outcome.effects, outcome.exception or "")
        return [Finding(obj, (), error, "fresh", origin="load")]
    targets = _resolve_missing(outcome.missing)
    proto = backend.default_protocol() if protocol is None else protocol
    found = locate_references(obj, backend, proto, targets, max_culprits) if targets else []
    if not found:
        found = [Finding(obj, (), error, "fresh", origin="load")]
    return found


def _other_bytecode(obj: Any, backend: Backend, protocol: int | None, result: BackendResult,
                   there: interpreter.Interpreter, max_culprits: int,
                   found: list[Finding]) -> list[Finding]:
    """The functions ``backend`` saved by value, as bytecode another Python version cannot
    run, each a culprit of the load there (they load, or not, and then fail or crash
    when called: their load is no proof), in place of a load failure of the whole."""
    proto = backend.default_protocol() if protocol is None else protocol
    codes = backend.code_saved(obj, proto)
    if not codes:
        return found
    here = interpreter.THIS_MINOR
    error = interpreter.OtherBytecodeError(here, there.minor)
    stale = locate_references(obj, backend, proto, dict.fromkeys(map(id, codes), error),
                              max_culprits, holders=(types.FunctionType,))
    if not stale:
        return found
    for finding in stale:
        finding.detail = f"{backend.name} saves it by value: its code, globals and closure"
    result.ok = result.fresh = False
    result.fresh_error = result.fresh_error or (
        f"loads in Python {there.minor}, but the bytecode of what {backend.name} saved by "
        f"value is Python {here}'s")
    return [f for f in found if f.steps or f.origin != "load"] + stale


class FreshLoadError(Exception):
    """What a fresh interpreter raised when loading the bytes (by name: it was there)."""

    def __init__(self, message: str, exception_name: str) -> None:
        super().__init__(message)
        self.exception_name = exception_name

    @classmethod
    def from_text(cls, text: str, exception_name: str = "") -> FreshLoadError:
        """From ``"AttributeError: Can't get attribute ..."`` as the child reported it."""
        name, sep, message = text.partition(": ")
        if sep and name.isidentifier():
            return cls(message, exception_name or name)
        return cls(text, exception_name)


def _resolve_missing(missing: list[tuple[str, str, str]]) -> dict[int, BaseException]:
    """Objects of this process that the other interpreter could not import, each with
    the error it gave."""
    targets: dict[int, BaseException] = {}
    for module_name, qualname, error in missing:
        value: Any = sys.modules.get(module_name)
        for part in qualname.split("."):
            value = getattr(value, part, None) if value is not None else None
        if value is not None:
            targets[id(value)] = FreshLoadError.from_text(error)
    return targets


def _describe(exc: BaseException) -> str:
    text = exception_text(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
