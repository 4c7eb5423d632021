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

joblib's loky executor pickles tasks in a feeder thread too, and hands the caller a new
``PicklingError`` that carries the original failure only as text; whether the original
(whose frames hold the task) is chained to it depends on a race with the caller's
thread. With the hook installed, loky's error path always chains it, so
:func:`picklecheck.explain` finds the task every time. loky is patched when it is
imported (a finder on ``sys.meta_path`` waits for it), so installing costs nothing for
programs that never use joblib.

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
        _patch_joblib_when_imported()
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
        for name in _PATCHES:
            patched = _state.get(name)
            if patched is not None:
                setattr(*patched)  # the original back
        if _JoblibFinder.instance in sys.meta_path:
            sys.meta_path.remove(_JoblibFinder.instance)
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
    if not any(str(n).startswith(_MARK) for n in notes):
        _add_note(exc, diagnosis.note())
    return diagnosis


def _add_note(exc: BaseException, note: str) -> None:
    """``exc.add_note(note)``; before Python 3.11, the ``__notes__`` list it would make,
    which IPython's tracebacks (a notebook's error output) show on 3.10 too."""
    if hasattr(exc, "add_note"):
        exc.add_note(note)
        return
    notes = getattr(exc, "__notes__", None)
    try:
        exc.__notes__ = [*notes, note] if isinstance(notes, list) else [note]  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        pass  # an exception that takes no attributes: the diagnosis is shown after it


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


class _JoblibFinder:
    """Patches joblib's modules (:data:`_PATCHES`) right after each is first imported."""

    instance: _JoblibFinder

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        patch = _PATCHES.get(name)
        if patch is None:
            return None
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        loader = spec.loader
        run = loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            with _lock:
                if _state and name not in _state:
                    patch(module)

        spec.loader = _PatchingLoader(loader, exec_module)  # type: ignore[assignment]
        return spec


class _PatchingLoader:
    """A loader that runs ``exec_module`` (then patches) and otherwise is ``loader``."""

    def __init__(self, loader: Any, exec_module: Any) -> None:
        self._loader = loader
        self.exec_module = exec_module

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


_JoblibFinder.instance = _JoblibFinder()


def _patch_joblib_when_imported() -> None:
    waiting = False
    for name, patch in _PATCHES.items():
        module = sys.modules.get(name)
        if module is not None:
            patch(module)
        else:
            waiting = True
    if waiting and _JoblibFinder.instance not in sys.meta_path:
        sys.meta_path.insert(0, _JoblibFinder.instance)


def _patch_loky(module: Any) -> None:
    """Chain the pickler's own error (its frames hold the task) to the error loky gives
    the caller, whichever thread wins the race."""
    queue = getattr(module, "_SafeQueue", None)
    original = getattr(queue, "__dict__", {}).get("_on_queue_feeder_error")
    if queue is None or not callable(original):
        return  # a loky this hook does not know: leave it alone
    _state[_LOKY] = (queue, "_on_queue_feeder_error", original)

    def _on_queue_feeder_error(self: Any, e: BaseException, obj: Any) -> None:
        items = getattr(self, "pending_work_items", None)
        item = items.get(getattr(obj, "work_id", None)) if isinstance(items, dict) else None
        original(self, e, obj)
        future = getattr(item, "future", None)
        try:
            raised = future.exception(timeout=0) if future is not None and future.done() else None
        except BaseException:  # noqa: BLE001 - cancelled: nothing to chain
            return
        if raised is not None and raised is not e and raised.__context__ is None:
            raised.__context__ = e

    setattr(queue, "_on_queue_feeder_error", _on_queue_feeder_error)  # noqa: B010


def _patch_joblib_callback(module: Any) -> None:
    """Keep the frames of a task joblib's ``multiprocessing`` backend could not pickle.
    Its pool pickles tasks in a thread of its own and hands the error to joblib's
    callback, which drops the error's traceback (its frames hold the task) before the
    caller's thread raises it: they are chained to it first, as its context."""
    callback = getattr(module, "BatchCompletionCallBack", None)
    original = getattr(callback, "__dict__", {}).get("_retrieve_result")
    if callback is None or not callable(original):
        return  # a joblib this hook does not know: leave it alone
    _state[_JOBLIB_PARALLEL] = (callback, "_retrieve_result", original)

    def _retrieve_result(self: Any, out: Any) -> Any:
        if (isinstance(out, BaseException) and out.__context__ is None
                and out.__cause__ is None and out.__traceback__ is not None):
            from picklecheck.integrations.recover import SentFrom, site_of, traceback_frames

            # Only a failure to pickle the task (a task's own error keeps its words)
            if any(site_of(frame) is not None for frame in traceback_frames(out)):
                out.__context__ = SentFrom(out).with_traceback(out.__traceback__)
        return original(self, out)

    setattr(callback, "_retrieve_result", _retrieve_result)  # noqa: B010


_LOKY = "joblib.externals.loky.process_executor"
_JOBLIB_PARALLEL = "joblib.parallel"
#: The joblib modules the hook patches once they are imported, and how.
_PATCHES = {_LOKY: _patch_loky, _JOBLIB_PARALLEL: _patch_joblib_callback}


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
