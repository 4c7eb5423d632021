"""``picklecheck.install()``: diagnose every uncaught pickling failure where it happens.

With the hook installed, an uncaught exception that is a serialization failure gets a
short note (``add_note``: one culprit path a line, so loggers and other tools show it)
and, after Python's usual traceback, the full diagnosis on stderr. Nothing changes for
other exceptions, and the previous ``sys.excepthook`` still does the printing.

Three places see uncaught exceptions, and the hook takes each: ``sys.excepthook`` (a
script; ``threading.excepthook`` never sees these failures, which are re-raised in the
thread that waits for the result), IPython's ``set_custom_exc`` (a notebook or IPython
shell), and ``multiprocessing.Queue``'s feeder thread, whose failures raise nothing at
all: the item is dropped and a traceback printed.

``PICKLECHECK=1`` (or ``true``/``yes``/``on``) in the environment installs the hook when
picklecheck is imported (and the pytest plugin imports it in every pytest run); a
program that does not import picklecheck gets it from ``picklecheck run``, which sets
the variable for the program's own child processes too. No ``.pth`` file is involved.
"""

from __future__ import annotations

import os
import sys
import threading
from types import TracebackType
from typing import Any, TextIO

__all__ = ["ENV", "install", "installed", "uninstall", "wants_install"]

ENV = "PICKLECHECK"
_TRUE = ("1", "true", "yes", "on")
_MARK = "picklecheck: "

_lock = threading.Lock()
_state: dict[str, Any] = {}


def wants_install(environ: Any = None) -> bool:
    """Whether ``PICKLECHECK`` asks for the hook."""
    value = (environ if environ is not None else os.environ).get(ENV, "")
    return value.strip().lower() in _TRUE


def installed() -> bool:
    return bool(_state)


def install(*, file: TextIO | None = None) -> None:
    """Diagnose uncaught pickling failures from now on (idempotent).

    ``file`` is where the diagnosis goes (default: ``sys.stderr`` at the time of the
    failure).
    """
    with _lock:
        if _state:
            _state["file"] = file
            return
        _state["file"] = file
        _state["excepthook"] = sys.excepthook
        sys.excepthook = _excepthook
        _patch_queue_feeder()
        _install_ipython()


def uninstall() -> None:
    """Undo :func:`install`: restore the previous hooks."""
    with _lock:
        if not _state:
            return
        if sys.excepthook is _excepthook:
            sys.excepthook = _state["excepthook"]
        feeder = _state.get("feeder")
        if feeder is not None:
            setattr(feeder[0], "_on_queue_feeder_error", staticmethod(feeder[1]))  # noqa: B010
        shell = _state.get("ipython")
        if shell is not None:
            from picklecheck.integrations import ipython

            ipython.remove_handler(shell)
        _state.clear()


def _output() -> TextIO:
    return _state.get("file") or sys.stderr


def annotate(exc: BaseException) -> Any:
    """Diagnose ``exc`` if it is a serialization failure: attach the short note (once) and
    return the :class:`~picklecheck.integrations.diagnosis.Diagnosis`, or None."""
    from picklecheck.errors import UnpicklableError
    from picklecheck.integrations.explain import diagnose, is_serialization_failure

    if isinstance(exc, UnpicklableError) or not is_serialization_failure(exc):
        return None
    diagnosis = diagnose(exc)
    notes = getattr(exc, "__notes__", None) or []
    if hasattr(exc, "add_note") and not any(str(n).startswith(_MARK) for n in notes):
        exc.add_note(diagnosis.note())
    return diagnosis


def _excepthook(etype: type[BaseException], value: BaseException,
                tb: TracebackType | None) -> None:
    previous = _state.get("excepthook") or sys.__excepthook__
    try:
        diagnosis = annotate(value)
    except Exception:  # noqa: BLE001 - the user's traceback must always print
        diagnosis = None
    previous(etype, value, tb)
    # Without culprits the note says all there is (where notes are shown: 3.11+).
    if diagnosis is not None and (diagnosis.culprits or not hasattr(value, "add_note")):
        print("\n" + str(diagnosis), file=_output(), flush=True)


def _patch_queue_feeder() -> None:
    """``mp.Queue.put`` of an unpicklable item raises nothing: the feeder thread prints a
    traceback and drops the item. Print the diagnosis of the item after it."""
    import multiprocessing.queues as queues

    original = queues.Queue.__dict__["_on_queue_feeder_error"].__func__
    _state["feeder"] = (queues.Queue, original)

    def _on_queue_feeder_error(e: BaseException, obj: Any) -> None:
        original(e, obj)
        try:
            report = _diagnose_item(obj)
        except Exception:  # noqa: BLE001 - never break the feeder thread
            return
        if report:
            print(report, file=_output(), flush=True)

    setattr(queues.Queue, "_on_queue_feeder_error", staticmethod(_on_queue_feeder_error))  # noqa: B010


def _diagnose_item(obj: Any) -> str:
    from picklecheck.backends import get_backend
    from picklecheck.errors import UnknownBackendError
    from picklecheck.integrations.diagnosis import Diagnosis, check_parts

    try:
        backend = get_backend("multiprocessing").name
    except UnknownBackendError:
        backend = "pickle"
    report = check_parts({"item": obj}, backend)
    if report.ok:
        return ""
    diagnosis = Diagnosis(framework="multiprocessing", call="Queue.put(item)", backend=backend,
                          report=report, how="the item was dropped; the queue pickles it "
                                             "with pickle in its feeder thread")
    return str(diagnosis)


def _install_ipython() -> None:
    shell = _ipython_shell()
    if shell is not None:
        from picklecheck.integrations import ipython

        ipython.add_handler(shell)
        _state["ipython"] = shell


def _ipython_shell() -> Any:
    module = sys.modules.get("IPython")
    if module is None:
        return None
    get = getattr(module, "get_ipython", None)
    return get() if callable(get) else None
