"""Loading pickles in a fresh interpreter: what a worker process or a later run sees.

The parent starts ``python -I -B`` with the same ``sys.path`` (``''`` made absolute),
in an empty temporary directory and its own process group, and sends the bytes on
stdin. The child confines itself exactly like a forked loading child
(:func:`picklecheck.isolation.confine.confine`, with a
:class:`~picklecheck.isolation.watch.Watch` naming what the load tries) before it
loads anything. The child loads
them strictly (the verdict) and then leniently, with every global it cannot
import replaced by a stand-in, so that *every* missing global is reported, not
only the first. Loading uses the same hazard guard as in-process round trips.
The child answers with one JSON line on the original stdout; anything the loaded
code prints goes to stderr. Children run in parallel, each with a time limit.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAIN_IMPORT_FAILED", "NOT_THERE", "THERE", "FreshResult", "distribution_of",
           "load_in_fresh_interpreters", "version_of"]

from picklecheck.isolation.deadline import DEFAULT_TIMEOUT
from picklecheck.isolation.foreign import drop_traceback
from picklecheck.isolation.interpreter import LIBRARY_MISSING, Interpreter, make_shim
from picklecheck.isolation.workers import IN_WORKER_ENV

#: How the answer ends the version of a package where it loads: "(numpy 1.26.4 there)".
THERE = " there)"
#: How it says the package is not installed where it loads: "(numpy is not installed there)".
NOT_THERE = " is not installed there)"
#: What the answer says when the worker a fresh interpreter stands for could not even
#: start (its main script raised on import).
MAIN_IMPORT_FAILED = "importing the main script as __mp_main__ failed"

_BOOT = (
    "import sys, json\n"
    "cfg = json.loads(sys.stdin.buffer.readline())\n"
    "cfg['default_path'] = sys.path[:]\n"
    # Another interpreter's path starts with a folder holding only this picklecheck (one
    # installed there may be another version); this one's imports its own from its path.
    "sys.path[:] = (cfg['boot'] + cfg['default_path'] if cfg.get('own_path')\n"
    "               else cfg['default_path'] + cfg['boot'])\n"
    "from picklecheck.isolation.fresh import child_main\n"
    "child_main(cfg)\n"
)


@dataclass
class FreshResult:
    ok: bool
    error: str | None = None
    exception: str | None = None
    missing: list[tuple[str, str, str]] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    effects: list[str] = field(default_factory=list)  # what the load tried (see watch)
    warnings: list[str] = field(default_factory=list)  # what the load warned of


def load_in_fresh_interpreters(payloads: dict[str, bytes],
                               timeout: float = DEFAULT_TIMEOUT,
                               workers: dict[str, dict[str, Any]] | None = None,
                               interpreter: Interpreter | None = None,
                               ) -> dict[str, FreshResult]:
    """Load each ``{backend_name: data}`` in its own new interpreter, in parallel.

    ``workers`` gives, per backend, the worker the interpreter stands for
    (:func:`picklecheck.isolation.workers.child_config`); by default a plain
    interpreter with this process's ``sys.path``. ``interpreter``: another Python to
    load in (:mod:`.interpreter`), with its own packages; by default this one.
    """
    if not payloads:
        return {}
    import shutil
    import tempfile
    import threading

    from picklecheck.isolation.contain import isolation
    from picklecheck.isolation.workers import in_worker, worker_path

    if in_worker():
        return {name: FreshResult(False, "not checked: picklecheck starts no fresh "
                                  "interpreter from inside one (a main script that checks "
                                  "at import time was imported as __mp_main__)",
                                  "RuntimeError") for name in payloads}
    # Plain threads and mkdtemp: a thread pool imports logging and TemporaryDirectory
    # uses weakref.finalize, and both register exit handlers in the caller's process.
    where = isolation()
    path = worker_path()
    configs = workers or {}
    cwd = tempfile.mkdtemp(prefix="picklecheck-")
    results: dict[str, FreshResult] = {}
    foreign = interpreter if interpreter is not None and not interpreter.is_this_one else None
    shim = make_shim(cwd) if foreign is not None else ""
    executable = foreign.path if foreign is not None else sys.executable
    boot = [_package_folder()]

    def run(name: str, data: bytes) -> None:
        config = configs.get(name) or {"path": path}
        config = foreign.config(config, shim) if foreign is not None else {**config, "boot": boot}
        results[name] = _run_child(name, data, config, cwd, timeout, where, executable)

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in payloads.items()]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        shutil.rmtree(cwd, ignore_errors=True)
    return {name: results.get(name) or FreshResult(False, "the fresh interpreter did not report",
                                                   "ChildProcessError") for name in payloads}


def _package_folder() -> str:
    """The folder picklecheck is imported from here (site-packages, or a checkout)."""
    import picklecheck

    return os.path.dirname(os.path.dirname(os.path.abspath(picklecheck.__file__)))


#: The most of a matplotlib folder's files copied into a fresh interpreter's scratch.
_MATPLOTLIB_COPY_BYTES = 8 << 20
#: The fresh child's answer goes out through a descriptor numbered at least this.
_ANSWER_FD_MIN = 100


def _matplotlib_folders() -> list[str]:
    """Where matplotlib keeps its settings (``matplotlibrc``, styles) and its caches (the
    font list) for this user: its own answer once it is imported, else its rules."""
    mpl = sys.modules.get("matplotlib")
    try:
        return [mpl.get_configdir(), mpl.get_cachedir()]  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001, S110 - not imported (or not as expected): its rules
        pass
    if os.environ.get("MPLCONFIGDIR"):
        return [os.environ["MPLCONFIGDIR"]]
    home = os.path.expanduser("~")
    return [os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"),
                         "matplotlib"),
            os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache"),
                         "matplotlib")]


def _copy_matplotlib_folders(scratch: str) -> None:
    """Copy matplotlib's settings and caches into ``scratch`` (its ``MPLCONFIGDIR`` in the
    fresh interpreter). With an empty folder, importing matplotlib there rebuilt the font
    list, running ``fc-list``, which was named as the load starting a process (a worker
    with the user's warm cache runs none), and ignored the user's ``matplotlibrc``."""
    import shutil

    budget = _MATPLOTLIB_COPY_BYTES
    for folder in dict.fromkeys(_matplotlib_folders()):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name == "stylelib":
                        shutil.copytree(entry.path, os.path.join(scratch, entry.name),
                                        dirs_exist_ok=True)
                    continue
                size = entry.stat().st_size
                if entry.is_file() and size <= budget:
                    shutil.copyfile(entry.path, os.path.join(scratch, entry.name))
                    budget -= size
            except OSError:
                continue


def _run_child(backend: str, data: bytes, config: dict[str, Any], cwd: str, timeout: float,
               where: str, executable: str) -> FreshResult:
    import subprocess

    scratch = os.path.join(cwd, backend.replace(":", "-"))
    os.mkdir(scratch)
    header = json.dumps({**config, "backend": backend, "isolation": where,
                         "scratch": scratch, "seconds": timeout}).encode() + b"\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    # Caches that imports write (matplotlib's fonts, ...) go to the scratch folder,
    # which starts with matplotlib's settings and caches as the user's worker finds them.
    env.update(TMPDIR=scratch, XDG_CACHE_HOME=scratch, MPLCONFIGDIR=scratch)
    _copy_matplotlib_folders(scratch)
    env[IN_WORKER_ENV] = "1"  # a check run by the worker's main script starts no interpreter
    try:
        proc = subprocess.Popen(
            [executable, "-I", "-B", "-c", _BOOT], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=scratch, env=env,
            start_new_session=True,  # its own process group, killed whole below
        )
    except OSError as exc:
        return FreshResult(False, f"could not start a fresh interpreter: {exc}", "OSError")
    try:
        out, err = proc.communicate(header + data, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return FreshResult(False, f"timed out after {timeout:g} s in a fresh interpreter",
                           "TimeoutError")
    finally:
        _kill_group(proc)
    return _answer(out, err, proc.returncode, scratch)


def _kill_group(proc: Any) -> None:
    import signal

    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)  # the whole group: nothing survives it
        else:
            proc.kill()  # Windows: no process groups to kill
    except OSError:
        pass
    proc.wait()


def _answer(out: bytes, err: bytes, returncode: int, scratch: str) -> FreshResult:
    """The child's last JSON line, and every effect it reported before it."""
    answer: dict[str, Any] | None = None
    effects: list[str] = []
    for line in out.decode("utf-8", "replace").splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and "effect" in message:
            effects.append(str(message["effect"]))
        elif isinstance(message, dict) and "ok" in message:
            answer = message
    effects = list(dict.fromkeys(effects))
    if answer is None:
        from picklecheck.isolation.child import describe_status

        tail = _stderr_tail(err, scratch)
        status = returncode << 8 if returncode >= 0 else -returncode  # as a wait status
        ended = describe_status(status, tail, effects)
        if ended["ended"] == "effect":
            effects.append(ended["error"])
        return FreshResult(False, f"the fresh interpreter {ended['error']}",
                           ended["exception"], effects=effects)
    return FreshResult(
        ok=bool(answer["ok"]) and not effects, error=answer.get("error"),
        exception=answer.get("exception"),
        missing=[tuple(m) for m in answer.get("missing", [])],  # type: ignore[misc]
        blocked=list(answer.get("blocked", [])), effects=effects,
        warnings=[str(w) for w in answer.get("warnings", [])],
    )


def _stderr_tail(err: bytes, scratch: str) -> str:
    try:
        with open(os.path.join(scratch, "stderr"), "rb") as log:
            err = log.read()[-4000:] or err
    except OSError:
        pass
    lines = err.decode("utf-8", "replace").strip().splitlines()[-3:]
    return " / ".join(line.strip() for line in lines)


# -- the child ---------------------------------------------------------------

def child_main(cfg: dict[str, Any]) -> None:
    """Entry point inside the fresh interpreter (see ``_BOOT``): confined like a forked
    loading child (:mod:`picklecheck.isolation.confine`) before it loads anything."""
    # Kept above the small numbers a loaded file opened by number may take (dill's copy
    # of a tempfile.TemporaryFile() opens descriptor 3 again, and closes it when dropped).
    answer_fd = _high_dup(1)
    data = sys.stdin.buffer.read()
    where = cfg.get("isolation", "guarded")

    def send(message: dict[str, Any]) -> None:
        os.write(answer_fd, (json.dumps(message) + "\n").encode())

    lacking = _backend_missing(cfg["backend"])
    if lacking is not None:  # another interpreter, without the library
        if cfg["backend"] not in _PLAIN_PICKLES:  # a framework's worker needs it to run
            send({"ok": False, "error": lacking[1], "exception": LIBRARY_MISSING,
                  "missing": [], "blocked": []})
            return
        # dill's and cloudpickle's bytes load with pickle.loads, unless they name the
        # library itself (what it saved by value): load them so, and see.
        cfg = {**cfg, "backend": "pickle"}
    if where == "guarded":
        os.dup2(2, 1)  # whatever the loaded code prints must not corrupt the answer
        _worker_path(cfg)
        watch, prepared = None, _prepare(cfg)
    else:
        watch, prepared = _confine(cfg, answer_fd, where, send)
    guarded = where != "sandbox"
    answer: dict[str, Any] = {"ok": True}
    try:
        if prepared is not None:
            raise prepared
        with _warnings_kept(answer):
            copy = _load(cfg["backend"], data, lenient=False, guarded=guarded)
            _probe(copy, data)
    except BaseException as exc:  # noqa: BLE001 - report everything, including SystemExit
        from picklecheck.backends.hazards import HazardBlockedError

        error, name = f"{type(exc).__name__}: {exc}", type(exc).__name__
        if exc is prepared:
            error = f"{MAIN_IMPORT_FAILED}: {error}"
        elif lacking is not None and _names_library(exc, lacking[0]):
            error, name = lacking[1], LIBRARY_MISSING
        answer = {"ok": False, "error": error,
                  "exception": name, "missing": [], "blocked": []}
        if isinstance(exc, HazardBlockedError):
            answer["blocked"].append(exc.what)
        if isinstance(exc, (SystemExit, KeyboardInterrupt)):
            send({"effect": f"raised {type(exc).__name__}({exc}), which would end or "
                            "interrupt the process that loads it"})
        missing: list[tuple[str, str, str]] = []
        try:
            # (Not when the main script failed to import: what is missing from the
            # __main__ it left is that failure's doing, not the culprits'.)
            if exc is not prepared:
                _load(cfg["backend"], data, lenient=True, missing=missing, guarded=guarded)
        except BaseException:  # noqa: BLE001, S110 - the lenient pass is best effort
            pass
        if lacking is not None:  # what needs the library is named as needing it
            missing = [(module, qualname, f"{LIBRARY_MISSING}: {lacking[1]}"
                        if module.partition(".")[0] == lacking[0] else said)
                       for module, qualname, said in missing]
        answer["missing"] = missing
    if watch is not None:
        watch.after()
    send(answer)
    if where != "guarded":
        os._exit(0)  # no exit handlers a load may have registered


#: The serializers whose bytes ``pickle.loads`` reads, when they name none of the
#: library's own functions.
_PLAIN_PICKLES = ("dill", "cloudpickle")


def _backend_missing(backend_name: str) -> tuple[str, str] | None:
    """When this interpreter cannot import the backend's library (one given with
    ``python=`` has its own packages): the library's module, and what the child says."""
    from picklecheck.backends import get_backend

    backend = get_backend(backend_name)
    try:
        backend.module  # noqa: B018 - the import is the point
    except ImportError as exc:
        return (backend.install_name or backend.name,
                f"{exc} in {sys.executable}: it cannot load what {backend_name} wrote")
    return None


def _names_library(exc: BaseException, library: str) -> bool:
    """Whether ``exc`` is the import of ``library`` (or a module of it) failing."""
    name = getattr(exc, "name", None)
    return (isinstance(exc, ImportError) and isinstance(name, str)
            and name.partition(".")[0] == library)


#: Warnings about the code of whoever warns, not about these bytes.
_NOT_ABOUT_THE_DATA = (DeprecationWarning, PendingDeprecationWarning, ImportWarning,
                       ResourceWarning)
#: The most warnings an answer carries, and the most of each one's text.
_MAX_WARNINGS, _WARNING_TEXT = 5, 300


@contextlib.contextmanager
def _warnings_kept(answer: dict[str, Any]) -> Iterator[None]:
    """Record what the load warns of (scikit-learn's InconsistentVersionWarning, a
    library's "pickled with version X") in ``answer["warnings"]``."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            said = [" ".join(f"{w.category.__name__}: {w.message}".split())[:_WARNING_TEXT]
                    for w in caught if not issubclass(w.category, _NOT_ABOUT_THE_DATA)]
            answer["warnings"] = list(dict.fromkeys(said))[:_MAX_WARNINGS]


def _high_dup(fd: int) -> int:
    """A non-inheritable copy of ``fd`` numbered :data:`_ANSWER_FD_MIN` or above where
    the platform can say so (``os.dup`` takes the lowest free number)."""
    try:
        import fcntl
    except ImportError:  # Windows
        return os.dup(fd)
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _ANSWER_FD_MIN)


def _confine(cfg: dict[str, Any], answer_fd: int, where: str,
             send: Any) -> tuple[Any, BaseException | None]:
    import tempfile

    from picklecheck.backends import get_backend
    from picklecheck.isolation.confine import Limits, confine, plan
    from picklecheck.isolation.contain import MEMORY_ALLOWANCE
    from picklecheck.isolation.watch import Watch

    get_backend(cfg["backend"]).module  # noqa: B018 - imported before confinement
    scratch = cfg["scratch"]
    limits = Limits(seconds=float(cfg.get("seconds") or DEFAULT_TIMEOUT) + 1,
                    memory=MEMORY_ALLOWANCE)
    confine(scratch, plan(limits), (answer_fd,), sandbox=where == "sandbox")
    _worker_path(cfg)  # the project's modules are imported from here on: confined
    sys.dont_write_bytecode = True
    tempfile.tempdir = scratch
    # Becoming the worker (a spawned one imports the main script as __mp_main__) happens
    # confined, but before the watch: it is the worker's doing, not the load's.
    prepared = _prepare(cfg)
    watch = Watch(lambda text: send({"effect": text}), (scratch, os.devnull), os.getppid())
    watch.install()
    watch.before()
    return watch, prepared


def _worker_path(cfg: dict[str, Any]) -> None:
    """The worker's ``sys.path``, once the child is confined. Until then it imported
    picklecheck, the backend and the standard library from the interpreter's own path
    (and picklecheck's folder): a module of the project's folder named like one of the
    standard library's (``queue.py``) would have run unconfined."""
    sys.path[:] = cfg["path"] + (cfg["default_path"] if cfg.get("own_path") else [])


def _prepare(cfg: dict[str, Any]) -> BaseException | None:
    """Become the worker the config describes (picklecheck.isolation.workers); what
    that raised, if anything (the worker would fail the same way)."""
    try:
        from picklecheck.isolation.workers import prepare_child

        prepare_child(cfg)
    except BaseException as exc:  # noqa: BLE001 - a main script may raise anything
        drop_traceback(exc)
        return exc
    return None


def _load(backend_name: str, data: bytes, lenient: bool,
          missing: list[tuple[str, str, str]] | None = None, guarded: bool = True) -> Any:
    import io

    from picklecheck.backends import get_backend

    backend = get_backend(backend_name)
    file = io.BytesIO(data)
    unpickler = backend.unpickler(file) if guarded else backend.contained_unpickler(file)
    if lenient:
        strict_find = unpickler.find_class

        def find_class(module: str, name: str) -> Any:
            try:
                return strict_find(module, name)
            except Exception as exc:  # noqa: BLE001
                assert missing is not None
                missing.append((module, name, f"{type(exc).__name__}: {exc}"
                                + _version_there(module)))
                return _stand_in(module, name)

        unpickler.find_class = find_class
    return unpickler.load()


def _probe(copy: Any, data: bytes) -> None:
    """Raise :class:`~picklecheck.engine.usable.UnusableCopyError` when the copy loaded
    but cannot be used here (as a round trip's child finds: see usable.probe)."""
    from picklecheck.engine import usable

    probe = usable.probe_for([data])
    unusable = probe(copy) if probe is not None else None
    if unusable is not None:
        raise usable.UnusableCopyError.saying(unusable)


def _version_there(module: str) -> str:
    """`` (numpy 1.26.4 there)`` when ``module`` is missing from a package this interpreter
    has (another version of it: numpy 1 has no ``numpy._core``), else ""."""
    top = module.partition(".")[0]
    version = version_of(top) if top in sys.modules else None
    if module != top and isinstance(version, str):
        return f" ({top} {version}{THERE}"
    try:
        import importlib.util

        missing = top not in sys.modules and importlib.util.find_spec(top) is None
    except (ImportError, ValueError):
        missing = False
    return f" ({top}{NOT_THERE}" if missing else ""


def version_of(top: str) -> str | None:
    """The installed version of the package imported as ``top`` (its distribution's, else
    its ``__version__``), or None."""
    import importlib.metadata
    import warnings

    try:
        return importlib.metadata.version(distribution_of(top))
    except Exception:  # noqa: BLE001, S110 - no metadata: a package of a folder, or none
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # click 8.2 deprecates its __version__
        version = getattr(sys.modules.get(top), "__version__", None)
    return version if isinstance(version, str) else None


def distribution_of(top: str) -> str:
    """The name pip knows the package imported as ``top`` by (scikit-learn for sklearn),
    or ``top`` itself when no installed distribution says."""
    try:
        from importlib.metadata import packages_distributions

        names = packages_distributions().get(top)
    except Exception:  # noqa: BLE001 - broken metadata: the import name will do
        return top
    return names[0] if names else top


def _stand_in(module: str, name: str) -> type:
    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:  # noqa: N807
        return object.__new__(cls)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        pass

    def __setstate__(self: Any, state: Any) -> None:  # noqa: N807
        pass

    return type(name.rsplit(".", 1)[-1], (), {
        "__new__": __new__, "__init__": __init__, "__setstate__": __setstate__,
        "__module__": module,
    })
