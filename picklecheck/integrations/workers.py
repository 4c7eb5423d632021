"""Workers that die before they report: the ``Pool.map`` hang and ``BrokenProcessPool``.

A task that pickles in the parent can still fail to load in the worker. The usual
reason: it refers to a function or class of ``__main__`` that the worker does not
have. A worker started with ``spawn`` or ``forkserver`` (the default on macOS and
Windows) re-runs the main script as ``__mp_main__``, skipping its
``if __name__ == "__main__":`` block, and a notebook or ``python -c`` has no script to
re-run at all. The worker then dies: ``Pool.map`` waits forever for the lost task,
``ProcessPoolExecutor`` raises ``BrokenProcessPool`` with no cause.

:class:`Watch` (used by ``picklecheck run``) notices a pool worker that exited with an
error while results are pending, and fails those results with a
:class:`~picklecheck.WorkerLostError` that carries the diagnosis, instead of hanging.
It also remembers what each ``ProcessPoolExecutor.submit`` sent, so a
``BrokenProcessPool`` can be explained. :func:`explain_lost` finds the references to
``__main__`` that such a worker cannot resolve, at paths rooted in the user's call.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import re
import sys
import threading
import types
import weakref
from typing import Any

from picklecheck.integrations import callsite
from picklecheck.integrations.diagnosis import Diagnosis, unique_labels
from picklecheck.integrations.recover import is_framework_frame

__all__ = ["DEFAULT_GRACE", "NOTEBOOK_MAIN_HINT", "Watch", "explain_dataloader", "explain_lost",
           "spawn_unreachable"]

#: Seconds between a worker's death and failing the results it leaves hanging.
DEFAULT_GRACE = 1.0
_POLL = 0.2
_POOL_CALLS = ("map", "starmap", "map_async", "starmap_async", "apply", "imap", "imap_unordered")

MAIN_GUARD_HINT = (
    "{name} is defined under `if __name__ == \"__main__\":` in {file}; a worker started with "
    "{method!r} re-runs the script as __mp_main__ without that block, so it has no {name}: "
    "define it at the top level of the script (or in a module it imports)")
NOTEBOOK_MAIN_HINT = (
    "in a notebook, functions and classes defined in a cell live in __main__, which a "
    "worker process started with 'spawn' (the default on macOS and Windows) cannot import: "
    "put them in a .py file next to the notebook and import them from there (or use the "
    "'fork' start method on Linux, or a cloudpickle-based framework such as joblib or Dask)"
)
NO_FILE_HINT = (
    "{name} is defined in __main__, which has no file here (a notebook cell, a REPL or "
    "python -c); a worker started with {method!r} (the default on macOS and Windows) "
    "cannot import it: put it in a .py file next to the notebook or script and import it "
    "from there")


# -- what a spawned worker cannot import ---------------------------------------------------

def _start_method() -> str:
    import multiprocessing

    return multiprocessing.get_start_method(allow_none=True) or (
        "fork" if sys.platform.startswith("linux") and sys.version_info < (3, 14) else "spawn")


def _top_level_names(filename: str) -> set[str] | None:
    """Names the script binds when run as ``__mp_main__`` (outside its main guard)."""
    try:
        with open(filename, "rb") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return None
    names: set[str] = set()
    for stmt in tree.body:
        if _is_main_guard(stmt):
            names.update(_bound(stmt.orelse))  # type: ignore[attr-defined]
            continue
        names.update(_bound([stmt]))
    return names


def _is_main_guard(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.If):
        return False
    text = ast.unparse(stmt.test).replace("'", '"')
    return text in ('__name__ == "__main__"', '"__main__" == __name__')


def _bound(stmts: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for stmt in stmts:
        for node in ast.walk(stmt):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def spawn_unreachable(method: str | None = None) -> dict[int, tuple[Any, str]]:
    """Functions and classes of ``__main__`` that a worker started with ``method`` cannot
    import, by id, each with the reason."""
    method = method or _start_method()
    main = sys.modules.get("__main__")
    if main is None or method == "fork":
        return {}
    filename = getattr(main, "__file__", None)
    # Run as a script or with -m, the worker re-runs the file as __mp_main__: it gets the
    # names bound outside the main guard. Without a file it gets none of them.
    known = _top_level_names(filename) if filename else set()
    if known is None:
        return {}  # a file that cannot be read or parsed: no grounds to blame anything
    found: dict[int, tuple[Any, str]] = {}
    for name, value in list(vars(main).items()):
        if not (inspect.isfunction(value) or inspect.isclass(value)):
            continue
        if getattr(value, "__module__", None) != "__main__" or name in known:
            continue
        template = MAIN_GUARD_HINT if filename else NO_FILE_HINT
        found[id(value)] = (value, template.format(name=name, file=filename, method=method))
    return found


# -- explaining a lost task -----------------------------------------------------------------

def explain_lost(parts: dict[str, Any], call: str, how: str, method: str | None = None
                 ) -> Diagnosis:
    """Where ``parts`` (the user's arguments, by label) refer to ``__main__`` objects a
    worker started with ``method`` cannot import, as a diagnosis with paths rooted at the
    labels."""
    from picklecheck.backends import get_backend
    from picklecheck.engine.explain import explain_findings
    from picklecheck.engine.locate import locate_references
    from picklecheck.model import BackendResult, Report

    unreachable = spawn_unreachable(method)
    targets: dict[int, BaseException] = {
        key: AttributeError(f"Can't get attribute {getattr(v, '__qualname__', '?')!r} on "
                         "<module '__mp_main__'>") for key, (v, _why) in unreachable.items()}
    backend = get_backend("pickle")
    found = locate_references(parts, backend, backend.default_protocol(), targets, 100) if (
        targets and parts) else []
    result = BackendResult(backend="pickle", ok=False, fresh=False,
                           fresh_error="a worker process could not load its task")
    culprits = explain_findings(parts, "parts", {"pickle": result}, {"pickle": found}, None)
    for culprit in culprits:
        # the function or class itself, or an instance of the class
        reached = unreachable.get(id(culprit.obj)) or unreachable.get(id(type(culprit.obj)))
        culprit.hint = reached[1] if reached is not None else culprit.hint
        culprit.kind = "main_reference"
        from picklecheck.integrations.diagnosis import _reroot

        _reroot(culprit)
    report = Report(name=call, type="call", repr=call, protocol=None, results={"pickle": result},
                    culprits=culprits)
    diagnosis = Diagnosis(framework="multiprocessing", call=call, backend="pickle",
                          error="a worker process died before it returned a result",
                          report=report, how=how,
                          verb="lost its task: a worker process could not load it")
    if culprits and not getattr(sys.modules.get("__main__"), "__file__", None):
        diagnosis.notes.append(NOTEBOOK_MAIN_HINT)
    if not culprits:
        diagnosis.reason = ("a worker process exited with an error before returning a result; "
                            "its own traceback (above) says why")
    return diagnosis


# -- watching pools and executors ------------------------------------------------------------

class Watch:
    """While started: fail hung ``Pool`` results after a worker dies, and remember what
    each ``ProcessPoolExecutor.submit`` sent. Restores everything on :meth:`stop`."""

    def __init__(self, grace: float = DEFAULT_GRACE) -> None:
        self.grace = grace
        self._crashed: dict[int, list[int]] = {}  # id(worker list) -> exit codes
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._undo: list[Any] = []
        self.submitted: weakref.WeakKeyDictionary[Any, tuple[Any, Any, Any, str | None]] = (
            weakref.WeakKeyDictionary())

    def start(self) -> None:
        import concurrent.futures.process as cf_process
        import multiprocessing.pool as mp_pool

        _ACTIVE.append(self)
        join = mp_pool.Pool.__dict__["_join_exited_workers"]
        watch = self

        def _join_exited_workers(pool: list[Any]) -> Any:
            codes = [w.exitcode for w in pool if w.exitcode not in (None, 0)]
            if codes:
                watch._crashed.setdefault(id(pool), []).extend(codes)
            return join.__func__(pool)

        setattr(mp_pool.Pool, "_join_exited_workers", staticmethod(_join_exited_workers))  # noqa: B010
        self._undo.append(lambda: setattr(mp_pool.Pool, "_join_exited_workers", join))
        submit = cf_process.ProcessPoolExecutor.submit

        def _submit(executor: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            future = submit(executor, fn, *args, **kwargs)
            with contextlib.suppress(TypeError, AttributeError, ValueError):
                method = executor._mp_context.get_start_method()
                watch.submitted[future] = (fn, args, kwargs, method)
            return future

        cf_process.ProcessPoolExecutor.submit = _submit  # type: ignore[method-assign]
        self._undo.append(lambda: setattr(cf_process.ProcessPoolExecutor, "submit", submit))
        self._watch_processes()
        self._thread = threading.Thread(target=self._run, name="picklecheck-watch", daemon=True)
        self._thread.start()

    def _watch_processes(self) -> None:
        """A spawned ``Process`` that could not load its task ends with exit code 1 and a
        traceback of its own, and nothing is raised here: once it is joined, what of
        its task a worker cannot import is said on stderr (nothing when all is
        importable: then the target itself failed, and its traceback says so)."""
        import multiprocessing.process as mp_process

        start, join = mp_process.BaseProcess.start, mp_process.BaseProcess.join
        # What each started process was given (start() drops it: bpo-30775), until joined.
        tasks: weakref.WeakKeyDictionary[Any, tuple[Any, Any, Any, str]] = (
            weakref.WeakKeyDictionary())

        def _start(process: Any) -> None:
            with contextlib.suppress(Exception):
                method = getattr(process, "_start_method", None) or _start_method()
                if method != "fork":
                    tasks[process] = (process._target, process._args, process._kwargs, method)
            start(process)

        def _join(process: Any, timeout: float | None = None) -> None:
            join(process, timeout)
            task = tasks.pop(process, None) if process.exitcode is not None else None
            if task is not None and process.exitcode == 1:
                try:
                    diagnosis = _process_diagnosis(type(process).__name__, *task)
                except Exception:  # noqa: BLE001 - the program's join matters more
                    diagnosis = None
                if diagnosis is not None:
                    print(diagnosis, file=sys.stderr, flush=True)

        setattr(mp_process.BaseProcess, "start", _start)  # noqa: B010
        setattr(mp_process.BaseProcess, "join", _join)  # noqa: B010
        self._undo.append(lambda: setattr(mp_process.BaseProcess, "start", start))
        self._undo.append(lambda: setattr(mp_process.BaseProcess, "join", join))

    def stop(self) -> None:
        self._stop.set()
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        if self in _ACTIVE:
            _ACTIVE.remove(self)

    def _run(self) -> None:
        pending: dict[int, float] = {}
        clock = 0.0
        while not self._stop.wait(_POLL):
            clock += _POLL
            for handler in _pool_handlers():
                workers, cache = handler.f_locals.get("pool"), handler.f_locals.get("cache")
                if not isinstance(workers, list) or not cache or id(workers) not in self._crashed:
                    continue
                first = pending.setdefault(id(workers), clock)
                if clock - first >= self.grace:
                    self._fail(cache, self._crashed.pop(id(workers)),
                               _method_of(handler.f_locals.get("ctx")))
                    pending.pop(id(workers), None)

    def _fail(self, cache: dict[Any, Any], codes: list[int], method: str | None) -> None:
        from picklecheck.errors import WorkerLostError

        try:
            diagnosis = _pool_diagnosis(method)
        except Exception:  # noqa: BLE001 - unblocking the program matters more
            diagnosis = None
        message = (f"a worker process of the pool exited with code {codes[0]} before returning "
                   "a result, so the pool would wait for it forever; picklecheck stopped "
                   "the wait")
        for result in list(cache.values()):
            error = WorkerLostError(message, diagnosis)
            _fail_result(result, error)


_ACTIVE: list[Watch] = []


def _method_of(context: Any) -> str | None:
    try:
        return str(context.get_start_method())
    except Exception:  # noqa: BLE001 - no context: the default start method
        return None


def _fail_result(result: Any, error: BaseException) -> None:
    """Deliver ``error`` to a pending pool result, as the pool does for a task it could not
    send."""
    with contextlib.suppress(Exception):
        if hasattr(result, "_items"):  # IMapIterator: hand the error to the waiting next()
            with result._cond:
                result._items.append((False, error))
                result._cond.notify()
            return
        if hasattr(result, "_number_left"):
            result._number_left = 1
        result._set(0, (False, error))


def _pool_handlers() -> list[types.FrameType]:
    """The frames of every running pool's worker-handler thread."""
    frames = []
    for frame in sys._current_frames().values():
        current: types.FrameType | None = frame
        while current is not None:
            code = current.f_code
            if code.co_name == "_handle_workers" and code.co_filename.replace("\\", "/").endswith(
                    "multiprocessing/pool.py"):
                frames.append(current)
            current = current.f_back
    return frames


def _pool_diagnosis(method: str | None) -> Diagnosis:
    """The diagnosis of a pool whose worker died: what the waiting call sent, checked for
    references a spawned worker cannot load."""
    for frame in sys._current_frames().values():
        stack: list[types.FrameType] = []
        current: types.FrameType | None = frame
        while current is not None:
            stack.append(current)
            current = current.f_back
        stack.reverse()  # outermost first
        for i, f in enumerate(stack):
            if f.f_code.co_name in _POOL_CALLS and f.f_code.co_filename.replace(
                    "\\", "/").endswith("multiprocessing/pool.py") and "func" in f.f_locals:
                caller = next((g for g in reversed(stack[:i]) if not is_framework_frame(g)), None)
                return _lost_call(f, caller, method)
    return explain_lost({}, "Pool", _HOW, method)


_HOW = "a worker started with spawn or forkserver imports __main__ anew"


def _process_diagnosis(kind: str, target: Any, args: Any, kwargs: Any, method: str
                       ) -> Diagnosis | None:
    """What of a spawned process's target and arguments its child could not import, or
    None."""
    labels, values = ["target"], [target]
    labels += [f"args[{k}]" for k in range(len(args))]
    values += list(args)
    labels += [f"kwargs[{k!r}]" for k in kwargs]
    values += list(kwargs.values())
    name = getattr(target, "__name__", None) or "..."
    diagnosis = explain_lost(dict(zip(unique_labels(labels), values, strict=True)),
                             f"{kind}(target={name})", _HOW, method)
    return diagnosis if diagnosis.culprits else None


def _lost_call(api: types.FrameType, caller: types.FrameType | None, method: str | None
               ) -> Diagnosis:
    site = callsite.find_call(caller, _POOL_CALLS)
    func, iterable = api.f_locals.get("func"), api.f_locals.get("iterable", ())
    func_text = site.arg(0) if site is not None else None
    items_text = site.arg(1) if site is not None else None
    labels = [func_text if callsite.is_name(func_text) else "func"]
    values = [func]
    root = items_text if callsite.is_name(items_text) else "items"
    if isinstance(iterable, (list, tuple)):
        labels += [f"{root}[{k}]" for k in range(len(iterable))]
        values += list(iterable)
    parts = dict(zip(unique_labels(labels), values, strict=True))
    call = site.text if site is not None else f"Pool.{api.f_code.co_name}(func, items)"
    return explain_lost(parts, call, _HOW, method)


def explain_broken(exc: BaseException) -> Diagnosis | None:
    """A ``BrokenProcessPool``: what the futures it broke were sent (remembered by an
    active :class:`Watch` at ``submit``), checked like a lost task. The executor sets the
    one exception object on every pending future, which is how they are found."""
    from picklecheck.integrations.unwrap import call_parts

    for watch in _ACTIVE:
        for future, (fn, args, kwargs, method) in list(watch.submitted.items()):
            if getattr(future, "_exception", None) is not exc:
                continue
            chunked = getattr(getattr(fn, "func", None), "__name__", "") == "_process_chunk"
            target = fn.args[0] if chunked and fn.args else fn
            parts = call_parts(target, () if chunked else args, {} if chunked else kwargs,
                               None, func_label=getattr(target, "__name__", "fn"))
            labels = unique_labels([p.label for p in parts])
            call = f"executor.{'map' if chunked else 'submit'}({labels[0]}, ...)"
            return explain_lost(dict(zip(labels, (p.obj for p in parts), strict=True)), call, _HOW,
                                method)
    return None


# -- PyTorch's DataLoader ----------------------------------------------------------------------

#: What a DataLoader raises when one of its worker processes has died.
DATALOADER_DIED = re.compile(r"DataLoader worker \(pid\(s\) [\d, ]+\) exited unexpectedly")
#: What of a DataLoader its workers are started with that is the user's, by label.
_LOADER_PARTS = (("dataset", "_dataset"), ("collate_fn", "_collate_fn"),
                 ("worker_init_fn", "_worker_init_fn"))


def explain_dataloader(exc: BaseException) -> Diagnosis | None:
    """A PyTorch ``DataLoader`` whose worker died (``RuntimeError: DataLoader worker (pid(s)
    ...) exited unexpectedly``): its dataset, collate and init functions, checked like a
    lost task against the workers' start method (spawn is the default on macOS and Windows,
    where a dataset class defined under the main guard kills every worker)."""
    try:
        died = type(exc) is RuntimeError and DATALOADER_DIED.search(str(exc)[:1000]) is not None
    except Exception:  # noqa: BLE001 - a hostile __str__ is no DataLoader's
        return None
    if not died:
        return None
    from picklecheck.integrations.recover import traceback_frames

    loader = None
    for frame in reversed(traceback_frames(exc)):
        candidate = frame.f_locals.get("self")
        if type(candidate).__name__ == "_MultiProcessingDataLoaderIter":
            loader = candidate
            break
    if loader is None:
        return None
    # Its workers' class says how they started (None: the process's default context's way)
    workers = getattr(loader, "_workers", None) or [None]
    method = getattr(type(workers[0]), "_start_method", None)
    method = method if isinstance(method, str) else None
    parts = {label: getattr(loader, attr, None) for label, attr in _LOADER_PARTS}
    parts = {label: value for label, value in parts.items() if value is not None}
    workers = getattr(loader, "_num_workers", "...")
    return explain_lost(parts, f"DataLoader(dataset, num_workers={workers})",
                        "a DataLoader worker started with spawn or forkserver imports "
                        "__main__ anew", method)
