"""``picklecheck.explain(exc)``: diagnose a pickling failure from the exception it raised.

The steps: recover the payload from the exception's frames
(:mod:`~picklecheck.integrations.recover`), take the framework's envelope apart into the
user's parts (:mod:`~picklecheck.integrations.unwrap`), check them with the framework's
serializer, and root every culprit at the part it lies in
(:mod:`~picklecheck.integrations.diagnosis`).
"""

from __future__ import annotations

import pickle
import re
import sys
import warnings

from picklecheck.integrations import callsite
from picklecheck.integrations.diagnosis import Diagnosis, check_parts, unique_labels
from picklecheck.integrations.recover import (
    Recovered,
    SentFrom,
    Site,
    exception_chain,
    is_joblib_failure,
    recover,
    traceback_frames,
    traceback_positions,
)
from picklecheck.integrations.unwrap import Context, unwrap, user_caller
from picklecheck.integrations.workers import DATALOADER_DIED

__all__ = ["ExplainWarning", "diagnose", "explain", "is_serialization_failure"]

_DIRECT_BACKENDS = {"pickle": "pickle", "dill": "dill", "cloudpickle": "cloudpickle"}
#: What the pickler's and the frameworks' messages say when serializing fails.
_MESSAGE = re.compile(
    r"(can ?not|can't|could not|couldn't|unable to|failed to) (pickle|seriali[sz]e)"
    r"|not (be )?(pickl|serializ)able|unpicklable|can't get (local object|attribute)"
    r"|pickling is not supported|pickling an? .* is disallowed"
    # multiprocessing's own refusals: a Queue, Lock or Value sent to a running worker, a
    # SemLock made for fork sent to a spawned one, a Pool sent anywhere
    r"|shared between processes through inheritance|is being shared with a process in a"
    r"|cannot be passed between processes or pickled"
    # Ray's refusal of a remote function or actor class too big to export
    r"|FUNCTION_SIZE_ERROR_THRESHOLD", re.IGNORECASE)


class ExplainWarning(UserWarning):
    """:func:`explain` could not recover the object that failed to serialize; says why."""


def explain(exc: BaseException) -> Diagnosis | None:
    """Diagnose the pickling failure behind ``exc``: which of the objects handed to the
    framework do not serialize, at which paths (rooted in the user's own terms), why, and
    what to do.

    Returns None, with an :class:`ExplainWarning` saying why, when the object that was
    being serialized cannot be recovered from ``exc``.
    """
    diagnosis = diagnose(exc)
    if diagnosis.report is None:
        warnings.warn(diagnosis.reason or "nothing to explain", ExplainWarning, stacklevel=2)
        return None
    return diagnosis


def diagnose(exc: BaseException, max_culprits: int = 100) -> Diagnosis:
    """Like :func:`explain`, but always a :class:`Diagnosis`: when nothing could be checked,
    ``report`` is None and ``reason`` says why. Never raises for a bad exception."""
    if not isinstance(exc, BaseException):
        msg = f"explain() takes an exception, not {type(exc).__name__}: {exc!r:.80}"
        raise TypeError(msg)
    try:
        return _diagnose(exc, max_culprits)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as internal:  # noqa: BLE001 - a diagnosis must never add a failure
        return Diagnosis(framework="", call="", backend="", error=_describe(exc),
                         reason=f"picklecheck failed to diagnose it ({type(internal).__name__}: "
                                f"{internal}); please report this")


def _diagnose(exc: BaseException, max_culprits: int) -> Diagnosis:
    for linked in exception_chain(exc):
        carried = getattr(linked, "diagnosis", None)  # a WorkerLostError's
        if isinstance(carried, Diagnosis):
            return carried
        if type(linked).__name__ == "BrokenProcessPool":
            from picklecheck.integrations.workers import explain_broken

            broken = explain_broken(linked)
            if broken is not None:
                return broken
        if type(linked) is RuntimeError:
            from picklecheck.integrations.workers import explain_dataloader

            lost = explain_dataloader(linked)
            if lost is not None:
                return lost
    recovered = recover(exc) or _direct(exc)
    if recovered is None:
        return Diagnosis(framework="", call="", backend="", error=_describe(exc),
                         reason=_why_not(exc))
    frames = traceback_frames(exc)
    if recovered.error is not exc:
        frames += [f for f in traceback_frames(recovered.error) if f not in frames]
    # The user's frame nearest the failure: in the pickling error's own traceback when it
    # has one (pickle.dumps called directly), else where the user called the framework.
    positions = traceback_positions(exc)
    positions.update(traceback_positions(recovered.error))
    caller = user_caller(traceback_frames(recovered.error)) or user_caller(traceback_frames(exc))
    ctx = Context(recovered, caller, frames, positions)
    unwrapped = unwrap(ctx)
    backend = backend_for(recovered.site, starting=unwrapped.starting)
    labels = unique_labels([p.label for p in unwrapped.parts])
    parts = dict(zip(labels, (p.obj for p in unwrapped.parts), strict=True))
    report = check_parts(parts, backend, max_culprits)
    diagnosis = Diagnosis(framework=recovered.site.framework, call=unwrapped.call,
                          backend=backend, error=_describe(_pickling_error(recovered)),
                          report=report, notes=list(unwrapped.notes), labels=labels,
                          how=recovered.site.how)
    if report.ok:
        diagnosis.reason = (f"{', '.join(labels)} pickle{'s' if len(labels) == 1 else ''} now "
                            f"with {backend}: they may have changed since the failure")
    return diagnosis


def backend_for(site: Site, starting: bool = False) -> str:
    """The framework's own backend when one is registered, else the nearest built-in one;
    ``starting``: its variant that pickles a ``Process`` as it starts, where there is one."""
    from picklecheck.backends import get_backend
    from picklecheck.backends.multiprocessing import STARTING
    from picklecheck.errors import UnknownBackendError

    try:
        name = get_backend(site.backend).name
    except UnknownBackendError:
        return site.fallback
    if starting:
        try:
            return get_backend(name + STARTING).name
        except UnknownBackendError:
            pass
    return name


def _pickling_error(recovered: Recovered) -> BaseException:
    """The pickler's own error: the innermost exception of the recovered one's chain."""
    error = recovered.error
    for linked in exception_chain(error):
        if (linked.__traceback__ is not None and type(linked) is not SentFrom
                and _is_pickle_message(linked)):
            error = linked
    return error


def _is_pickle_message(exc: BaseException) -> bool:
    if "Pickl" in type(exc).__name__:
        return True
    return _MESSAGE.search(_text(exc)) is not None


def _text(exc: BaseException, limit: int = 2000) -> str:
    """The start of ``exc``'s message ("" when its ``__str__`` raises)."""
    try:
        return str(exc)[:limit]
    except Exception:  # noqa: BLE001 - a hostile __str__ says nothing
        return ""


def is_serialization_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it chains to) looks like a failure to serialize."""
    for linked in exception_chain(exc):
        if isinstance(linked, pickle.PicklingError) or _is_pickle_message(linked):
            return True
        if type(linked).__name__ in ("BrokenProcessPool", "TokenizationError", "WorkerLostError"):
            return True
        if type(linked) is RuntimeError and DATALOADER_DIED.search(_text(linked)):
            return True
    return _ray_worker_missing(exc) is not None


#: What a Ray worker says when it cannot import a module the task's bytes name (its
#: system error: an import inside the task itself is the task's own error).
_NO_MODULE = re.compile(r"System error: No module named '([\w.]+)'")


def _ray_worker_missing(exc: BaseException) -> str | None:
    """The module a Ray worker could not import to load a task (its error, raised here by
    ``ray.get``), or None."""
    for linked in exception_chain(exc):
        if type(linked).__name__.startswith(("RayTaskError", "RaySystemError")):
            found = _NO_MODULE.search(_text(linked))
            if found:
                return found.group(1)
    return None


def _where_imported(name: str) -> str:
    """Where this process imports module ``name`` from, in words ("" if it does not)."""
    module = sys.modules.get(name) or sys.modules.get(name.partition(".")[0])
    path = getattr(module, "__file__", None)
    return f" (this process imports it from {path})" if isinstance(path, str) else ""


def _direct(exc: BaseException) -> Recovered | None:
    """``pickle.dumps(state)`` raised in the user's own frame: look ``state`` up there (in
    the exception or any it chains to that is a pickling error)."""
    for linked in exception_chain(exc):
        if not (isinstance(linked, pickle.PicklingError) or _is_pickle_message(linked)):
            continue
        frames = traceback_frames(linked)
        caller = user_caller(frames)
        at = traceback_positions(linked).get(id(caller)) if caller is not None else None
        site = callsite.find_call(caller, ("dumps", "dump"), at)
        if site is None or caller is None:
            continue
        value = callsite.lookup_name(caller, site.arg(0))
        if value is callsite.MISSING:
            continue
        backend = _DIRECT_BACKENDS.get(site.receiver.rsplit(".", 1)[-1], "pickle")
        where = Site(backend, caller.f_code.co_filename, caller.f_code.co_name,
                     site.arg(0) or "", backend, backend)
        return Recovered(value, where, linked, frames)
    return None


def _why_not(exc: BaseException) -> str:
    if not is_serialization_failure(exc):
        return (f"{type(exc).__name__} is not a serialization failure, or none that "
                "picklecheck can trace to the object being serialized")
    if exc.__traceback__ is None and exc.__cause__ is None and exc.__context__ is None:
        return ("the exception carries no traceback (joblib's multiprocessing backend drops "
                "it), so the object being pickled cannot be found; check what you passed "
                "with picklecheck.check(obj)")
    missing = _ray_worker_missing(exc)
    if missing is not None:
        return (f"a Ray worker could not load what the task was sent: it has no module "
                f"{missing!r}{_where_imported(missing)}. Ray's workers import only what is "
                "installed, plus the driver script's folder and the current folder: ship the "
                "module with runtime_env={'py_modules': [module]} (or install it where the "
                "workers run), or ray.cloudpickle.register_pickle_by_value(module) to send "
                "its classes and functions by value")
    if type(exc).__name__ in ("BrokenProcessPool", "WorkerLostError"):
        return ("a worker process died without saying why; most often it could not load "
                "its task (a function or class defined in __main__ under the spawn start "
                "method, or in a notebook); run the program with `picklecheck run` to find out")
    sending = _result_not_sent(exc)
    if sending is not None:
        return (f"a worker ran the task but could not send back what it returned "
                f"({sending}): the worker pickles a result to send it to this process, "
                "and what was passed is not in question; return plain data (the values you "
                "need, not the object holding a lock or a connection), or check the return "
                "value where the task runs with picklecheck.check(result)")
    if is_joblib_failure(exc):
        return ("joblib's loky executor kept no trace of the task it could not pickle "
                "(whether it does is a race between threads); call picklecheck.install() "
                "before the job, or run with PICKLECHECK=1, and it always does; or check "
                "what you passed with picklecheck.check(obj)")
    return ("no serializer frame holding the object is left in the exception's traceback; "
            "check what you passed with picklecheck.check(obj)")


#: What a worker's failure to pickle its result leaves in this process: Pool's error, or
#: the text of the worker's traceback (ProcessPoolExecutor), which ends in sending it.
_RESULT_REASON = re.compile(r"Reason: '(.*)'$", re.S)
_SENDING_BACK = ("_sendback_result", "result_queue.put(_ResultItem")


def _result_not_sent(exc: BaseException) -> str | None:
    """Why a worker could not send back a task's result (the pickling error's text), when
    that is what ``exc`` says, else None."""
    name = type(exc).__name__
    if name == "MaybeEncodingError":
        found = _RESULT_REASON.search(_text(exc))
        return found.group(1) if found else _describe(exc)
    remote = exc.__cause__
    if remote is not None and type(remote).__name__ == "_RemoteTraceback" and any(
            words in _text(remote) for words in _SENDING_BACK):
        return _describe(exc)
    text = _text(exc, _WORKER_TRACEBACK)  # Ray's and Spark's carry the worker's traceback
    if name.startswith("RayTaskError") and _ray_result_not_sent(text):
        return _last_line(text)
    if _dask_result_not_sent(exc):
        first = _text(exc).strip().partition("\n")[0]
        return f"{type(exc).__name__}: {first}"[:300]
    return _spark_result_not_sent(text) or None


#: How much of an error's message a worker's traceback in it may take.
_WORKER_TRACEBACK = 50_000
#: A file of the worker's traceback, as its text shows it.
_FILE_LINE = re.compile(r'^\s*File "([^"]+)", line \d+, in (\S+)', re.M)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _ray_result_not_sent(text: str) -> bool:
    """A Ray task's error whose worker traceback (Ray leaves its own frames out) holds
    only cloudpickle's: what failed to pickle is what the task returned. Where the task's
    own code pickled something, its frame is there too."""
    files = [path for path, _ in _FILE_LINE.findall(text.partition("ray::")[2])]
    return bool(files) and all("cloudpickle" in path for path in files)


def _dask_result_not_sent(exc: BaseException) -> bool:
    """Dask's client received, in place of a result, the worker's note that it could not
    serialize it (``serialization_error_loads`` raises it here)."""
    names = {frame.f_code.co_name for linked in exception_chain(exc)
             for frame in traceback_frames(linked) if "distributed" in frame.f_code.co_filename}
    return "serialization_error_loads" in names and bool(names & {"result", "gather", "_gather"})


def _spark_result_not_sent(text: str) -> str:
    """Spark's words ("Could not serialize object: …") where a task's Python worker
    could not serialize its output stream (its ``dump_stream`` of what the function
    returned), else ""."""
    found = _SPARK_NOT_SERIALIZED.search(text)
    return found.group(0).strip()[:300] if found and "dump_stream" in text else ""


_SPARK_NOT_SERIALIZED = re.compile(r"Could not serialize object: .*")


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
