"""Why a culprit fails, in words, and what to do about it.

:func:`classify` sorts a finding into a *kind* (lock, lambda, open file, ...);
:func:`hint_for` turns the kind into a concrete fix, naming the backends that can
serialize the object. The rules look at the object and its type, never at the
backend's message alone (messages drift between Python versions).
"""

from __future__ import annotations

import io
import types
from typing import TYPE_CHECKING, Any

from picklecheck.hazards import HazardBlockedError
from picklecheck.saferepr import qualified_name, type_name

if TYPE_CHECKING:
    from picklecheck.finding import Finding

__all__ = ["KINDS", "classify", "hint_for"]

#: kind -> one-line description, in the order the kinds are checked.
KINDS = {
    "too_deep": "nested deeper than the pickler can recurse",
    "reduce_cycle": "a reference cycle through __reduce__ arguments",
    "load_hazard": "loading it would change files or run commands",
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
    except Exception:  # noqa: BLE001 - isinstance() and hasattr() run user code
        return "other"


def _classify(finding: Finding) -> str:
    origin, obj, exc = finding.origin, finding.obj, finding.exc
    if origin == "depth":
        return "too_deep"
    if origin == "cycle":
        return "reduce_cycle"
    if isinstance(exc, HazardBlockedError):
        return "load_hazard"
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
    except Exception:  # noqa: BLE001
        return None
    return module if isinstance(module, str) else None


def hint_for(kind: str, finding: Finding, works_with: dict[str, bool],
             deeper: list[str] | tuple[str, ...] = (), own: tuple[str, ...] = ()) -> str:
    """A concrete fix for a finding of ``kind``, ending with which backends cope.

    ``deeper`` names backends that get past this object but fail on something inside it;
    ``own`` the backends this culprit was found for.
    """
    try:
        return _hint_for(kind, finding, works_with, deeper, own)
    except Exception:  # noqa: BLE001 - a hostile object must not break the report
        return _FIXES["other"].format(type=type_name(finding.obj))


def _hint_for(kind: str, finding: Finding, works_with: dict[str, bool],
              deeper: list[str] | tuple[str, ...], own: tuple[str, ...]) -> str:
    obj = finding.obj
    tname = type_name(obj)
    owner = _owner_name(finding)
    attr = _last_attr(finding)
    fix = _FIXES.get(kind, _FIXES["other"])
    if attr is None or finding.owner is None:
        fix = fix.replace(_STATE_FIX, _CONTAINER_FIX)
    text = fix.format(type=tname, owner=owner, attr=attr or "it",
                      via=qualified_name(finding.via) if finding.via is not None else tname,
                      detail=finding.detail, **_depth_words(finding))
    return text + _coping(works_with, deeper, own)


def _coping(works_with: dict[str, bool], deeper: list[str] | tuple[str, ...],
            own: tuple[str, ...]) -> str:
    """"(dill: ok, cloudpickle: fails)": what the backends not blamed here do with it."""
    ok = [name for name, good in works_with.items() if good]
    others = [n for n, good in works_with.items() if not good and n not in own and n not in deeper]
    notes = [f"{n}: ok" for n in ok] + [f"{n}: fails" for n in others]
    if deeper:
        notes.append(f"{' and '.join(deeper)} get{'s' if len(deeper) == 1 else ''} past it "
                     "but fail inside it")
    if notes:
        return f" ({', '.join(notes)})"
    if works_with and not ok:
        return " (no backend can pickle it)"
    return ""


def _depth_words(finding: Finding) -> dict[str, Any]:
    extra = finding.extra
    nested = extra.get("nested")
    return {
        "limit": extra.get("limit", "?"),
        "nested": f"at least {nested:,}" if nested else "more than the limit of",
    }


def _owner_name(finding: Finding) -> str:
    if finding.owner is None:
        return "its class"
    return type_name(finding.owner)


def _last_attr(finding: Finding) -> str | None:
    for step in reversed(finding.steps):
        if step.kind == "attr":
            return str(step.value)
        if step.kind in ("item", "index"):
            return None
    return None


_STATE_FIX = ("drop {attr} in {owner}.__getstate__ (or exclude it with __reduce__) and "
              "re-create it in __setstate__")
_CONTAINER_FIX = ("take it out of the data before it is sent and re-create it where it is "
                  "used")
_FIXES = {
    "too_deep": ("the graph nests {nested} levels here; the pickler gives up near {limit}; "
                 "flatten it (store a list of nodes and indices) or raise sys.setrecursionlimit "
                 "with care"),
    "reduce_cycle": ("{detail}: __reduce__ passes an object that leads back to itself as a "
                     "constructor argument, so pickling never ends; move the back-reference "
                     "into the state (third item of __reduce__) so it is set after creation"),
    "load_hazard": ("picklecheck did not load it: a trip through this backend would re-run "
                    "that side effect wherever it is loaded; keep the path, not the handle"),
    "main_reference": ("{via} is defined in __main__, so the pickle refers to __main__.{via} "
                       "and another interpreter has no such name; move it into an importable "
                       "module"),
    "unimportable": ("the pickle refers to {via}, whose module the other interpreter cannot "
                     "import; install that module there, or use cloudpickle with "
                     "cloudpickle.register_pickle_by_value(module)"),
    "lambda": ("pickle saves functions by name and a lambda has none; use a module-level "
               "def, or functools.partial of one"),
    "local": ("{via} is defined inside a function, so pickle cannot find it by name; move it "
              "to module level"),
    "stale_reference": ("{via} is not the object its module now holds under that name "
                        "(redefined after use, renamed, or wrapped by a decorator); pickle "
                        "the current definition or give it a unique module-level name"),
    "lock": ("locks cannot cross a process boundary; " + _STATE_FIX),
    "process_shared": ("pass it to worker processes when they start (Process args or a Pool "
                       "initializer), or use a multiprocessing.Manager() proxy"),
    "executor": "pools hold threads and queues; keep the pool outside the object you send",
    "thread": ("threads, thread-locals and context variables belong to this process; "
               + _STATE_FIX),
    "queue": ("an in-process queue cannot be sent; use multiprocessing.Queue or a Manager "
              "queue, or " + _STATE_FIX),
    "file": "store the file's path and open it again where it is used; " + _STATE_FIX,
    "socket": "store the address, and connect again where it is used; " + _STATE_FIX,
    "database": ("store the connection string and connect again where it is used (in "
                 "Streamlit, st.cache_resource); " + _STATE_FIX),
    "generator": ("a running generator, coroutine or frame cannot be saved; store the data it "
                  "produces (a list) or what is needed to restart it"),
    "module": "store the module's name and import it where it is used",
    "code": "store the source or a module-level function instead of a code object",
    "weakref": "store the referenced object, or re-create the weak reference in __setstate__",
    "view": "convert it to a plain value first (list(d.keys()), dict(proxy), bytes(view))",
    "mock": "mocks are test doubles that cannot be pickled; use a real object or a picklable fake",
    "custom_reduce": ("{type} refuses to be pickled in its own __reduce__/__getstate__; "
                      "exclude it from the state that is sent, or pass what is needed to "
                      "re-create it"),
    "load_failure": ("it dumps but does not load: check that __reduce__ returns every "
                     "argument the constructor needs and that __setstate__ accepts the state"),
    "c_type": ("{type} is a C type that none of its methods can pickle; " + _STATE_FIX),
    "other": "exclude it from what is sent, or give {type} a __reduce__ that rebuilds it",
}
