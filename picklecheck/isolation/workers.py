"""Worker models: which process loads the bytes, and what it can import.

A check's "fresh" load stands for the process that receives the bytes. That
process differs by framework, and so does what it can resolve by name:

* ``interpreter`` (pickle, dill, cloudpickle): a new interpreter with the worker's
  ``sys.path``; its ``__main__`` is empty.
* ``spawn``, ``forkserver`` (multiprocessing) and ``loky`` (joblib): a new
  interpreter that imports the parent's main script as ``__mp_main__`` first, with
  multiprocessing's own ``spawn.prepare``. From ``python -c``, stdin or a notebook
  there is no script, so nothing defined in ``__main__`` exists there: ``Pool.map``
  hangs, ``ProcessPoolExecutor`` breaks.
* ``fork`` (multiprocessing): a copy of this process; the in-process round trip is
  the worker's load.
* ``dask``, ``ray``, ``spark``: a worker imports only what its ``sys.path`` has.

The worker's ``sys.path`` is this process's, unless a caller names a script's
folder (:func:`script_path`): the command line does, so that ``picklecheck`` and
``python -m picklecheck`` judge a file the same way from any folder, as
``python that_file.py`` would run it.

Framework backends load in a worker even when no fresh process was asked for,
whenever the bytes name a module the worker may not import (:func:`needs_worker_load`):
``__main__``, or a module this process holds that is not found on the worker's path.
Clean bytes cost one substring search per such module and no process at all.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from picklecheck.backends import Backend

__all__ = [
    "MODELS", "Driver", "WorkerModel", "child_config", "driver", "model_for",
    "needs_worker_load", "prepare_child", "script_path", "search_path", "worker_path",
]

#: Set in every fresh interpreter: a check run there (a main script imported as
#: __mp_main__ that checks at import) starts no further interpreters.
IN_WORKER_ENV = "PICKLECHECK_IN_WORKER"


@dataclass(frozen=True)
class WorkerModel:
    """Which process loads the bytes (see the module docstring)."""

    name: str
    summary: str
    imports_main: bool = False
    in_process: bool = False
    #: Loads in a worker on its own when the bytes name something it may not import.
    watches: bool = True
    #: The worker's sys.path is the interpreter's own (what is installed) plus a few
    #: folders the framework adds (see :func:`installed_path`), not the driver's.
    installed_only: bool = False


MODELS = {
    "interpreter": WorkerModel(
        "interpreter", "a new interpreter with the same sys.path", watches=False),
    "spawn": WorkerModel(
        "spawn", "a spawned multiprocessing worker: a new interpreter that imports the main "
        "script as __mp_main__", imports_main=True),
    "forkserver": WorkerModel(
        "forkserver", "a forkserver worker: forked from a server that imported the main "
        "script as __mp_main__", imports_main=True),
    "fork": WorkerModel(
        "fork", "a forked worker: a copy of this process, so the round trip is its load",
        in_process=True),
    "loky": WorkerModel(
        "loky", "a loky worker: a new interpreter that imports the main script as "
        "__mp_main__", imports_main=True),
    "dask": WorkerModel("dask", "a Dask worker process: the client's sys.path, without its "
                        "main script"),
    "ray": WorkerModel("ray", "a Ray worker: what is installed, plus the driver script's folder "
                       "and the current folder", installed_only=True),
    "spark": WorkerModel("spark", "a Spark Python worker: what is installed, plus the current "
                         "folder and files added with sc.addPyFile", installed_only=True),
}


def model_for(backend: Backend) -> WorkerModel:
    return MODELS.get(backend.worker, MODELS["interpreter"])


# -- the worker's sys.path ----------------------------------------------------------

def worker_path() -> list[str]:
    """This process's ``sys.path``, ``''`` made absolute (what spawn hands a worker)."""
    return [os.path.abspath(p) if p else os.getcwd() for p in sys.path]


def script_path(folder: str) -> list[str]:
    """The ``sys.path`` of ``python script.py`` for a script in ``folder``: that folder,
    then this interpreter's own entries. The first entry of this process's path is
    left out: it is where the running program was started from (the ``picklecheck``
    script's folder, or the current folder under ``python -m``), which the user's
    script would not have."""
    rest = worker_path()[1:]
    folder = os.path.abspath(folder)
    return [folder] + [p for p in rest if p != folder]


@dataclass(frozen=True)
class Driver:
    """The program whose workers are modelled: its ``sys.path``, its script's folder
    (None from ``python -c``, stdin, a notebook or ``python -m``) and the folder it
    runs in."""

    path: tuple[str, ...]
    folder: str | None
    cwd: str
    #: Whether the program is this process (its main script is the workers'), not a
    #: script the command line stands for (picklecheck's own entry point is no one's).
    this_process: bool = True


def driver(script_folder: str | None = None) -> Driver:
    """This process as the driver, or a script in ``script_folder`` run there as
    ``python script.py`` (what the command line checks: the same answer from any
    folder)."""
    if script_folder is not None:
        given = os.path.abspath(script_folder)
        return Driver(tuple(script_path(given)), given, given, this_process=False)
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-") else None
    folder = os.path.dirname(os.path.realpath(argv0)) if argv0 else None
    path = worker_path()
    return Driver(tuple(path), folder if folder in path else None, os.getcwd())


def installed_path(model: WorkerModel, drv: Driver) -> list[str]:
    """The folders a framework puts before the interpreter's own path on its workers:
    Ray the driver script's folder and the current folder (``ray.init``); Spark's
    local workers the current folder (``python -m pyspark.daemon``) and the files
    added with ``sc.addPyFile``."""
    head = [drv.folder] if model.name == "ray" and drv.folder else []
    head.append(drv.cwd)
    if model.name == "spark":
        head += _spark_files()
    return list(dict.fromkeys(head))


def _spark_files() -> list[str]:
    pyspark = sys.modules.get("pyspark")
    context = getattr(getattr(pyspark, "SparkContext", None), "_active_spark_context", None)
    if context is None:
        return []
    try:
        return [pyspark.SparkFiles.getRootDirectory()]  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - a stopped or half-started context
        return []


def search_path(model: WorkerModel, drv: Driver) -> list[str]:
    """Where the worker looks for modules, as far as this process can tell (for
    :func:`needs_worker_load`; the worker itself is the authority)."""
    if not model.installed_only:
        return list(drv.path)
    prefixes = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})
    return installed_path(model, drv) + [p for p in drv.path if p.startswith(prefixes)]


# -- when a worker load is needed ---------------------------------------------------

_MAIN_NAMES = ("__main__", "__mp_main__")
_cache: dict[tuple[str, ...], tuple[int, frozenset[str]]] = {}


#: Above this size a pickle that mentions a suspect module is sent to the worker
#: without reading its opcodes first (reading costs more than starting the worker).
READ_LIMIT = 1 << 20


def needs_worker_load(model: WorkerModel, data: bytes, path: Sequence[str]) -> bool:
    """Whether ``data`` refers to a global of a module that a worker with ``path`` may
    fail to import (so only a real load there can tell).

    First a substring search per suspect module (C speed, usually all misses); on a
    hit, the opcodes say whether the name is a global's module or only a string (a
    function cloudpickle saves by value carries ``'__main__'`` as its ``__module__``).
    """
    if not model.watches or model.in_process:
        return False
    # One pass finds both "__main__" and "__mp_main__" (usually nothing), then one per
    # module made at run time (usually none exist).
    names = (_MAIN_NAMES if b"main__" in data else ()) + tuple(_unfindable(path))
    suspects = [n for n in names if _names_module(data, n)]
    if not suspects:
        return False
    if len(data) > READ_LIMIT:
        return True
    try:
        modules = global_modules(data)
    except Exception:  # noqa: BLE001 - unreadable opcodes: let the worker decide
        return True
    return any(name in modules for name in suspects)


_STRING_OPS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE",
                         "SHORT_BINSTRING", "BINSTRING", "STRING"})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


def global_modules(data: bytes) -> set[str]:
    """The modules of every global a pickle refers to, read from its opcodes (strings
    are followed through the memo, as STACK_GLOBAL's operands often are)."""
    import pickletools

    modules: set[str] = set()
    memo: dict[Any, Any] = {}
    recent: list[Any] = [None, None]  # the last two values pushed (strings, or None)
    for opcode, arg, _pos in pickletools.genops(data):
        name = opcode.name
        if name in _STRING_OPS:
            recent = [recent[-1], arg]
        elif name in _GET_OPS:
            recent = [recent[-1], memo.get(arg)]
        elif name == "MEMOIZE":
            memo[len(memo)] = recent[-1]
        elif name in _PUT_OPS:
            memo[arg] = recent[-1]
        elif name == "STACK_GLOBAL":
            if isinstance(recent[0], str):
                modules.add(recent[0])
            recent = [None, None]
        elif name in ("GLOBAL", "INST"):
            modules.add(str(arg).split(" ", 1)[0])
            recent = [None, None]
        elif name == "STOP":
            break
        else:
            recent = [recent[-1], None]
    return modules


def _names_module(data: bytes, module: str) -> bool:
    """Whether the pickle refers to a global of ``module``: as a short unicode string
    (protocols 4 and 5), or as the text of a GLOBAL opcode (protocols 0 to 3)."""
    raw = module.encode("utf-8", "surrogatepass")
    if raw not in data:
        return False
    if len(raw) < 256 and b"\x8c" + bytes([len(raw)]) + raw in data:
        return True
    return raw + b"\n" in data


def _unfindable(path: Sequence[str]) -> frozenset[str]:
    """Modules of this process that an import on ``path`` would not find (made at run
    time, or loaded from a folder that is not on the path)."""
    key = tuple(path)
    count = len(sys.modules)
    cached = _cache.get(key)
    if cached is not None and cached[0] == count:
        return cached[1]
    found: dict[str, bool] = {}
    out = set()
    for name, module in list(sys.modules.items()):
        if module is None or name in _MAIN_NAMES or name in sys.builtin_module_names:
            continue
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None)
        if spec is None and getattr(module, "__file__", None) is None:
            if not _made_by_an_import(name):
                out.add(name)
        elif origin in ("built-in", "frozen"):
            continue
        else:
            top = name.partition(".")[0]
            if top not in found:
                found[top] = _findable(top, key)
            if not found[top]:
                out.add(name)
    result = frozenset(out)
    _cache.clear()
    _cache[key] = (count, result)
    return result


def _made_by_an_import(name: str) -> bool:
    """Modules without a spec that importing something else makes again in a worker:
    submodules a package creates (``typing.io``, ``pyexpat.errors``) and Cython's
    runtime modules. A module made with ``types.ModuleType`` by the user's code is
    not one of them."""
    return "." in name or name.startswith(("_cython_", "cython_runtime"))


def _findable(top: str, path: tuple[str, ...]) -> bool:
    """Whether an import of ``top`` succeeds on ``path``: the path finder on the worker's
    path, or another finder of this interpreter (an editable install's), which the
    worker has too."""
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        try:
            if finder is importlib.machinery.PathFinder:
                spec = find_spec(top, list(path))
            else:
                spec = find_spec(top, None)
        except Exception:  # noqa: BLE001 - a third-party finder may raise anything
            continue
        if spec is not None:
            return True
    return False


# -- the child's side ----------------------------------------------------------------

def child_config(model: WorkerModel, drv: Driver) -> dict[str, Any]:
    """What the fresh interpreter needs to stand for a worker of ``model``."""
    cfg: dict[str, Any] = {"path": list(drv.path), "worker": model.name}
    if model.installed_only:
        cfg["installed"] = installed_path(model, drv)
    if model.imports_main:
        # The script is imported with the caller's arguments, as spawn's and loky's
        # preparation gives them: a script may read sys.argv at its top level. A
        # script the command line stands for is the checked file, imported there as
        # the module it is here: picklecheck's own entry point is not the workers' main.
        cfg["main"] = ({**_main_spec(), "sys_argv": [str(a) for a in sys.argv]}
                       if drv.this_process else {})
        from multiprocessing import process

        cfg["authkey"] = bytes(process.current_process().authkey).hex()
    return cfg


def _main_spec() -> dict[str, str]:
    """How a spawned worker would import this process's main module: by module name
    (``python -m``), by path (a script), or not at all (``-c``, stdin, a notebook).
    The same rules as ``multiprocessing.spawn.get_preparation_data``, which cannot be
    called here: it fixes the start method of the caller's process as a side effect."""
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if isinstance(name, str):
        return {"init_main_from_name": name}
    path = getattr(main, "__file__", None)
    if isinstance(path, str):
        from multiprocessing import process

        original = getattr(process, "ORIGINAL_DIR", None)
        if not os.path.isabs(path) and original is not None:
            path = os.path.join(original, path)
        # From stdin or -c the "file" is '<stdin>' or '<string>': a spawned worker finds
        # no script there, and its __main__ holds nothing of the caller's.
        if os.path.isfile(path):
            return {"init_main_from_path": os.path.normpath(path)}
    return {}


def prepare_child(cfg: dict[str, Any]) -> None:
    """In the fresh interpreter, before loading: become the worker ``cfg`` describes.
    Raises what importing the main script raises (the worker would fail the same way)."""
    head = cfg.get("installed")
    if isinstance(head, list) and isinstance(cfg.get("default_path"), list):
        import picklecheck.backends  # noqa: F401 - what loading needs, before the path changes

        sys.path[:] = head + [p for p in cfg["default_path"] if p not in head]
    main = cfg.get("main")
    if main is None:
        return
    from multiprocessing import process, spawn

    # The worker's path, put in place by the fresh child (another interpreter's own too).
    data: dict[str, Any] = {"sys_path": list(sys.path), **main}
    if cfg.get("authkey"):
        data["authkey"] = bytes.fromhex(cfg["authkey"])
    current = process.current_process()
    current._inheriting = True  # type: ignore[attr-defined]  # as spawn's own _main does
    try:
        spawn.prepare(data)
    finally:
        del current._inheriting  # type: ignore[attr-defined]


def in_worker() -> bool:
    """Whether this process is a fresh interpreter picklecheck started."""
    return os.environ.get(IN_WORKER_ENV) == "1"
