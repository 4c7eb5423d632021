"""What kind of problem a culprit is: a lock, a lambda, an open file, ...

:func:`classify` sorts a finding into one of :data:`KINDS` from evidence about the
object and its type, never from the backend's message alone (messages drift
between Python versions). :mod:`picklecheck.engine.fixes` turns a kind into a fix.
"""

from __future__ import annotations

import io
import types
from typing import TYPE_CHECKING, Any

from picklecheck.backends.hazards import HazardBlockedError
from picklecheck.isolation.contain import LoadMemoryError, LoadSideEffectError, LoadTimeoutError

if TYPE_CHECKING:
    from picklecheck.engine.finding import Finding

__all__ = ["KINDS", "classify"]

#: kind -> one-line description, in the order the kinds are checked.
KINDS = {
    "too_deep": "nested deeper than the pickler can recurse",
    "reduce_cycle": "a reference cycle through __reduce__ arguments",
    "load_hazard": "loading it would change files or run commands",
    "load_side_effect": "loading it tried to change something outside itself",
    "load_timeout": "loading it took longer than the time limit",
    "load_memory": "loading it needed more memory than the limit",
    "main_reference": "pickled by reference to __main__",
    "unimportable": "pickled by reference to a module another interpreter cannot import",
    "lambda": "a lambda",
    "local": "defined inside a function",
    "stale_reference": "not findable under its own name",
    "lock": "a lock or other synchronisation primitive",
    "process_shared": "a multiprocessing object shared by inheritance only",
    "executor": "a thread or process pool",
    "thread": "a running thread or thread-local storage",
    "queue": "a queue",
    "file": "an open file",
    "socket": "a socket or SSL object",
    "database": "a database connection or cursor",
    "generator": "a generator, coroutine, frame or traceback",
    "module": "a module",
    "code": "a code object",
    "weakref": "a weak reference",
    "view": "a view or proxy of another object",
    "mock": "a mock object",
    "custom_reduce": "its own __reduce__ or __getstate__ raises",
    "load_failure": "dumps, but fails to load",
    "c_type": "a C type with no way to pickle it",
    "other": "cannot be pickled",
}

_DB_MODULES = ("sqlite3", "psycopg", "psycopg2", "pymysql", "MySQLdb", "mysql", "sqlalchemy",
               "redis", "pymongo", "motor", "asyncpg", "aiosqlite", "duckdb", "cx_Oracle",
               "oracledb", "pyodbc", "snowflake", "clickhouse_driver", "cassandra")
_LOCK_NAMES = ("lock", "RLock", "Condition", "Semaphore", "BoundedSemaphore", "Event",
               "Barrier", "_ThreadHandle")
_CUSTOM_REDUCERS = ("__reduce__", "__reduce_ex__", "__getstate__", "__getnewargs__",
                    "__getnewargs_ex__")


def classify(finding: Finding) -> str:
    """The kind of a finding: one of :data:`KINDS` ("other" if the object resists)."""
    try:
        return _classify(finding)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: BLE001 - isinstance() and hasattr() run user code (any BaseException)
        return "other"


def _classify(finding: Finding) -> str:
    origin, obj, exc = finding.origin, finding.obj, finding.exc
    if origin == "depth":
        return "too_deep"
    if origin == "cycle":
        return "reduce_cycle"
    if isinstance(exc, HazardBlockedError):
        return "load_hazard"
    contained = _contained_kind(exc)
    if contained:
        return contained
    if finding.stage == "fresh":
        name = getattr(exc, "exception_name", "")
        if name == "HazardBlockedError":
            return "load_hazard"
        if finding.via is None and name not in ("ModuleNotFoundError", "AttributeError",
                                                "ImportError"):
            return "load_failure"
        module = _module_of(finding.via if finding.via is not None else obj)
        return "main_reference" if module in ("__main__", "__mp_main__") else "unimportable"
    if (_module_of(type(obj)) or "").startswith("unittest.mock"):
        return "mock"
    if origin == "class":  # protocols 0 and 1 refuse a lock through its class
        kind = _kind_of_instance(obj)
        if kind:
            return kind
    target = finding.via if origin in ("class", "reconstructor") else obj
    kind = _kind_of_callable(target, exc)
    if kind:
        return kind
    if _by_name_failure(str(exc)):  # the pickler looked its class (or it) up by name
        return _kind_of_callable(type(obj), exc) or "stale_reference"
    if finding.stage == "loads":
        return "load_failure"
    kind = _kind_of_instance(obj)
    if kind:
        return kind
    if origin == "reduce" and _has_custom_reducer(obj):
        return "custom_reduce"
    if "__slots__" in str(exc):
        return "c_type" if not _has_custom_reducer(obj) else "custom_reduce"
    if type(obj).__module__ in ("builtins",) or not hasattr(type(obj), "__dict__"):
        return "c_type"
    if "cannot pickle" in str(exc) and not hasattr(obj, "__dict__"):
        return "c_type"
    return "other"


def _contained_kind(exc: BaseException) -> str | None:
    """Kinds the contained load decided (picklecheck.isolation.contain)."""
    if isinstance(exc, LoadSideEffectError):
        return "load_side_effect"
    if isinstance(exc, LoadTimeoutError):
        return "load_timeout"
    if isinstance(exc, LoadMemoryError):
        return "load_memory"
    return None


def _kind_of_callable(target: Any, exc: BaseException) -> str | None:
    if not isinstance(target, (type, types.FunctionType, types.BuiltinFunctionType)):
        return None
    name = getattr(target, "__name__", "")
    qualname = getattr(target, "__qualname__", "") or ""
    if name == "<lambda>":
        return "lambda"
    if "<locals>" in qualname:
        return "local"
    if _by_name_failure(str(exc)):
        return "stale_reference"
    return None


def _by_name_failure(message: str) -> bool:
    return any(words in message for words in (
        "not the same object", "attribute lookup", "not found as", "local object"))


def _kind_of_instance(obj: Any) -> str | None:
    t = type(obj)
    module = _module_of(t) or ""
    name = getattr(t, "__name__", "")
    top = module.split(".")[0]
    if module.startswith("unittest.mock"):
        return "mock"
    if module in ("_thread", "threading") and name in _LOCK_NAMES:
        return "lock"
    if module.startswith("multiprocessing"):
        if "pool" in module or name == "Pool":
            return "executor"
        if module.endswith("synchronize") or module.endswith("queues"):
            return "process_shared"
    if module in ("_thread", "threading") and name in ("_local", "local", "Thread"):
        return "thread"
    if module.startswith("concurrent.futures") and "Executor" in name:
        return "executor"
    if module in ("queue", "_queue", "asyncio.queues"):
        return "queue"
    if isinstance(obj, io.IOBase) or module in ("_io", "io", "tempfile") and "File" in name:
        return "file"
    if module in ("ssl", "_ssl", "socket", "_socket", "select", "selectors"):
        return "socket"
    if top in _DB_MODULES:
        return "database"
    if isinstance(obj, (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType,
                        types.FrameType, types.TracebackType)):
        return "generator"
    if isinstance(obj, types.ModuleType):
        return "module"
    if isinstance(obj, types.CodeType):
        return "code"
    if module in ("weakref", "_weakref", "_weakrefset"):
        return "weakref"
    if name in ("dict_keys", "dict_values", "dict_items", "mappingproxy", "memoryview"):
        return "view"
    if module.startswith(("asyncio", "contextvars", "_contextvars")):
        return "thread"
    return None


def _has_custom_reducer(obj: Any) -> bool:
    for klass in getattr(type(obj), "__mro__", ())[:-1]:
        if klass.__module__ == "builtins":
            continue
        if any(name in vars(klass) for name in _CUSTOM_REDUCERS):
            return True
    return False


def _module_of(obj: Any) -> str | None:
    try:
        module = obj.__module__
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: BLE001 - even a hostile BaseException
        return None
    return module if isinstance(module, str) else None
