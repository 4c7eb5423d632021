"""What kind of problem a culprit is: a lock, a lambda, an open file, ...

:func:`classify` sorts a finding into one of :data:`KINDS` from evidence about the
object and its type, never from the backend's message alone (messages drift
between Python versions). :mod:`picklecheck.engine.fixes` turns a kind into a fix.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import types
from typing import TYPE_CHECKING, Any, TypeVar, cast

from picklecheck.backends.base import TooLargeError
from picklecheck.backends.hazards import HazardBlockedError
from picklecheck.backends.remains import is_one_of
from picklecheck.engine.finding import FOLDED, exception_name, raised_in
from picklecheck.engine.usable import CHILDREN, UnusableCopyError
from picklecheck.engine.usercode import MAIN_MODULES
from picklecheck.engine.walker import MISSING, safe_attr
from picklecheck.isolation.contain import (
    LoadMemoryError,
    LoadSideEffectError,
    LoadTimeoutError,
    only_dropped,
)
from picklecheck.isolation.foreign import exception_text
from picklecheck.isolation.interpreter import LIBRARY_MISSING, OtherBytecodeError
from picklecheck.isolation.plain import implemented_in_c
from picklecheck.isolation.watch import WROTE_DATABASE

if TYPE_CHECKING:
    from picklecheck.engine.finding import Finding

__all__ = ["KINDS", "classify", "getattr_raises", "recurses_when_loaded"]

#: kind -> one-line description, in the order the kinds are checked.
KINDS = {
    "too_deep": "nested deeper than the pickler can recurse",
    "too_large": "a function or class bigger than the framework takes (Ray's limit)",
    "reduce_cycle": "a reference cycle through __reduce__ arguments",
    "load_hazard": "loading it would change files or run commands",
    "manager_proxy": "a multiprocessing manager's proxy, which connects to its manager as it loads",
    "shared_memory": "a multiprocessing shared memory block, which attaches to its segment as it loads",
    "shared_database": "loading it opens a database file other processes share, and writes to it",
    "load_side_effect": "loading it tried to change something outside itself",
    "drop_side_effect": "its loaded copy, once dropped, tried to change something outside itself",
    "load_timeout": "loading it took longer than the time limit",
    "load_memory": "loading it needed more memory than the limit",
    "other_python": "a function saved by value, as bytecode another Python version cannot run",
    "no_library": "the interpreter that loads it lacks the library that wrote it",
    "main_reference": "pickled by reference to __main__",
    "unimportable": "pickled by reference to a module another interpreter cannot import",
    "lambda": "a lambda",
    "local": "defined inside a function",
    "wrapped": "a decorator's wrapper of a function pickle cannot find by name",
    "runtime_class": "a class (or TypeVar) made at run time, never bound under its name",
    "generated_function": "a function compiled at run time (a template, a generated __init__)",
    "unbound": "not bound under its own name in its module",
    "stale_reference": "its module holds another object under its name",
    "recursive_attribute": "looking up an attribute on it recurses without end",
    "getattr_raises": "its __getattr__ raises another error where Python expects AttributeError",
    "lock": "a lock or other synchronisation primitive",
    "process_shared": "a multiprocessing object shared by inheritance only",
    "fork_context": "a multiprocessing lock or queue made for fork, sent to a spawned worker",
    "executor": "a thread or process pool",
    "subprocess": "a running child process (subprocess.Popen)",
    "thread": "a thread, thread-local storage, or an event loop and its futures",
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

#: How much of an error's message the kinds read (a hostile __str__ reads as a stand-in).
_TEXT = 10_000
_BY_NAME = (type, types.FunctionType, types.BuiltinFunctionType, TypeVar)
_DB_MODULES = ("sqlite3", "psycopg", "psycopg2", "pymysql", "MySQLdb", "mysql", "sqlalchemy",
               "redis", "pymongo", "motor", "asyncpg", "aiosqlite", "duckdb", "cx_Oracle",
               "oracledb", "pyodbc", "snowflake", "clickhouse_driver", "cassandra")
_LOCK_NAMES = ("lock", "RLock", "Condition", "Semaphore", "BoundedSemaphore", "Event",
               "Barrier")
_CUSTOM_REDUCERS = ("__reduce__", "__reduce_ex__", "__getstate__", "__getnewargs__",
                    "__getnewargs_ex__")


def classify(finding: Finding, known: dict[Any, Any] | None = None) -> str:
    """The kind of a finding: one of :data:`KINDS` ("other" if the object resists).

    ``known`` (one per report) keeps the kinds of objects whose kind their type decides:
    a hundred locks are classified once."""
    if known is not None:
        key = _type_key(finding, known)
        if key is not None:
            kind = known.get(key)
            if kind is None:
                kind = known[key] = classify(finding)
            return kind
    try:
        return _classify(finding)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: BLE001 - isinstance() and hasattr() run user code (any BaseException)
        return "other"


def _type_key(finding: Finding, known: dict[Any, Any]) -> tuple[Any, ...] | None:
    """What decides the kind of a dump failure of an instance of a type written in C,
    without an instance dict or a name of its own (a lock, a socket, a generator):
    nothing of it but its type can differ. None for anything else."""
    if finding.stage != "dumps" or finding.origin not in ("", "reduce"):
        return None
    cls = type(finding.obj)
    decides = known.get(cls)
    if decides is None:
        decides = known[cls] = (
            type(cls) is type and not issubclass(cls, _BY_NAME) and implemented_in_c(cls)
            and not any(name in vars(klass) for klass in cls.__mro__
                        for name in ("__name__", "__wrapped__")))
    if not decides:
        return None
    try:
        return (cls, finding.origin, type(finding.exc), str(finding.exc))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: BLE001 - an exception's __str__ may raise
        return None


def _classify(finding: Finding) -> str:
    origin, obj, exc = finding.origin, finding.obj, finding.exc
    if origin == "recursion":
        return "recursive_attribute"
    if origin == "depth":
        return "too_deep"
    if issubclass(type(exc), TooLargeError):
        return "too_large"
    if origin == "cycle":
        return "reduce_cycle"
    if issubclass(type(exc), HazardBlockedError):
        return "load_hazard"
    if issubclass(type(exc), OtherBytecodeError):
        return "other_python"
    if finding.stage == "fresh" and exception_name(exc) == LIBRARY_MISSING:
        return "no_library"
    if finding.stage in ("loads", "fresh"):
        reaching = _reaching_kind(obj)  # whatever its load ran into: what it reaches is
        if reaching:
            return reaching
    contained = _contained_kind(exc)
    if contained:
        return contained
    if finding.stage == "fresh":
        name = exception_name(exc)
        if name == "HazardBlockedError":
            return "load_hazard"
        if finding.via is None and name not in ("ModuleNotFoundError", "AttributeError",
                                                "ImportError"):
            return "load_failure"
        module = _module_of(finding.via if finding.via is not None else obj)
        return "main_reference" if module in MAIN_MODULES else "unimportable"
    if (_module_of(type(obj)) or "").startswith("unittest.mock"):
        return "mock"
    if origin == "class":  # protocols 0 and 1 refuse a lock through its class
        kind = _kind_of_instance(obj)
        if kind:
            return kind
    text = exception_text(exc, _TEXT)
    by_name = _by_name_failure(text)  # the pickler looked its class (or it) up by name
    target = finding.via if origin in FOLDED else obj
    kind = _kind_of_callable(target, by_name)
    if kind:
        return kind
    if by_name:
        if issubclass(type(obj), _BY_NAME) or _is_wrapper(obj):
            return "other"  # it was looked up itself, and is where its name says
        return _kind_of_callable(type(obj), by_name) or "other"
    if finding.stage == "loads":
        if issubclass(type(exc), UnusableCopyError):  # it loads, but (say) its lock is dead
            return _kind_of_instance(obj) or "load_failure"
        if recurses_when_loaded(obj, exc):
            return "recursive_attribute"
        if getattr_raises(obj, exc):
            return "getattr_raises"
        return "load_failure"
    if getattr_raises(obj, exc):
        return "getattr_raises"
    if _FORK_CONTEXT in text:
        return "fork_context"
    if is_one_of(finding.owner, _ARENAS):  # the shared memory of a RawValue or a RawArray
        return "process_shared"
    kind = _kind_of_instance(obj)
    if kind:
        return kind
    if any(said in text for said in _CYTHON_REFUSES):
        return "c_type"  # Cython's generated __reduce__: a C type, not the author's choice
    if origin == "reduce" and _has_custom_reducer(obj):
        return "custom_reduce"
    if "__slots__" in text:
        return "c_type" if not _has_custom_reducer(obj) else "custom_reduce"
    if type(obj).__module__ in ("builtins",) or not hasattr(type(obj), "__dict__"):
        return "c_type"
    if "cannot pickle" in text and not hasattr(obj, "__dict__"):
        return "c_type"
    return "other"


#: What multiprocessing (3.11 and up) says of a lock made by a fork context (the default
#: on Linux before 3.14), alone or inside a queue, that a spawn or forkserver worker gets.
_FORK_CONTEXT = "created in a fork context"
#: multiprocessing's shared memory blocks (a RawValue's, a Value's without a lock).
_ARENAS = frozenset({("multiprocessing.heap", "Arena")})


#: multiprocessing's objects that load by reaching what lives outside the copy, with
#: their kinds: a manager's proxy connects to the manager's server (the sandbox refuses
#: the socket, another process lacks the manager's authkey), a shared memory block or
#: list attaches to its segment by name.
_REACHING = ((frozenset({("multiprocessing.managers", "BaseProxy")}), "manager_proxy"),
             (frozenset({("multiprocessing.shared_memory", "SharedMemory"),
                         ("multiprocessing.shared_memory", "ShareableList")}),
              "shared_memory"))


def _reaching_kind(obj: Any) -> str | None:
    """The kind of ``obj`` if it is one of :data:`_REACHING`, else None."""
    return next((kind for classes, kind in _REACHING if is_one_of(obj, classes)), None)


def recurses_when_loaded(obj: Any, exc: BaseException) -> bool:
    """Whether ``obj`` failed to load by recursing without end because its class has a
    ``__getattr__`` of its own and no ``__setstate__``: a loader makes an empty instance
    and looks ``__setstate__`` up on it; the lookup fails over to ``__getattr__``, which
    reads an attribute the empty copy lacks, and so calls itself (tqdm's file wrapper,
    starlette's ``State``). Read from the class's namespaces: nothing of it runs."""
    return (exception_name(exc) == "RecursionError" and _defines(obj, "__getattr__")
            and not _defines(obj, "__setstate__"))


#: What a pickler or loader looks up on an object, trusting AttributeError to mean "none".
_LOOKUPS = frozenset({"__getstate__", "__setstate__", "__reduce_ex__", "__reduce__",
                      "__getnewargs_ex__", "__getnewargs__"})


def getattr_raises(obj: Any, exc: BaseException) -> bool:
    """Whether ``obj`` failed because its class's ``__getattr__`` raised an error other
    than ``AttributeError`` for a name it cannot serve: a pickler or loader looks
    ``__getstate__`` or ``__setstate__`` up and takes only AttributeError for "there is
    none" (before Python 3.11 every dump of an instance asks for ``__getstate__``; a
    load asks an empty copy for ``__setstate__``). Told by where the error was raised
    (in a ``__getattr__``), or by its message naming what was looked up (an attribute
    dict's ``__getattr__ = dict.__getitem__`` has no frame of its own: KeyError:
    '__getstate__'). Read from the class's namespaces: nothing of it runs."""
    if (exception_name(exc) in ("AttributeError", "RecursionError")
            or _has_custom_reducer(obj) or not _defines(obj, "__getattr__")):
        return False
    return raised_in(exc) == "__getattr__" or exception_text(exc, _TEXT).strip("'\"") in _LOOKUPS


def _defines(obj: Any, name: str) -> bool:
    """Whether a class of ``obj`` (``object`` aside) has ``name`` in its own namespace."""
    return any(name in vars(klass) for klass in type(obj).__mro__[:-1])


def _contained_kind(exc: BaseException) -> str | None:
    """Kinds the contained load decided (picklecheck.isolation.contain)."""
    if issubclass(type(exc), LoadSideEffectError):
        if only_dropped(exc):
            return "drop_side_effect"
        tries = cast(LoadSideEffectError, exc).effects
        # All it did was write to a database file (a diskcache Cache opens its own).
        return ("shared_database" if all(t.startswith(WROTE_DATABASE) for t in tries)
                else "load_side_effect")
    if issubclass(type(exc), LoadTimeoutError):
        return "load_timeout"
    if issubclass(type(exc), LoadMemoryError):
        return "load_memory"
    return None


def _kind_of_callable(target: Any, by_name: bool) -> str | None:
    """The kind of something pickled by name (a class, function, wrapper, TypeVar) that
    failed, from where it was made and what its module holds under its name; ``by_name``:
    the error says the pickler failed to look something up by name."""
    name, qualname = safe_attr(target, "__name__"), safe_attr(target, "__qualname__")
    if issubclass(type(target), type):  # a class's names live on its metaclass
        name, qualname = target.__name__, target.__qualname__
    if not isinstance(name, str):
        return None
    qualname = qualname if isinstance(qualname, str) else name
    if not (issubclass(type(target), _BY_NAME) or _is_wrapper(target) or by_name):
        return None
    if name == "<lambda>":
        return "lambda"
    if "<locals>" in qualname:
        return "wrapped" if _is_wrapper(target) else "local"
    if by_name:
        return _unfindable_kind(target, qualname)
    return None


def _unfindable_kind(target: Any, qualname: str) -> str | None:
    """Why pickle could not find ``target`` under its name: its module holds another
    object there (stale), or nothing, because it was made at run time."""
    module = sys.modules.get(_module_of(target) or "")
    # No module (a function whose __module__ is None): pickle searched them all.
    bound = _bound(module, qualname) if module is not None else MISSING
    if bound is target:
        return None
    if wraps_a_method(target):
        return "wrapped"  # made per instance: the method's name leads to the method
    if bound is not MISSING:
        return "stale_reference"
    if _is_wrapper(target):
        return "wrapped"
    if type(target) is types.FunctionType:
        source = getattr(target.__code__, "co_filename", "")
        if module is None and unregistered_module(target):
            return "unimportable"  # this interpreter cannot import it either
        # compiled from a string, or into a module made at run time (mako's templates)
        made = source.startswith("<") or (module is None and bool(_module_of(target)))
        return "generated_function" if made else "unbound"
    if issubclass(type(target), (type, TypeVar)):
        return "runtime_class"
    return "unbound"  # an object pickled by name (numpy.frompyfunc's ufunc) is no class


def unregistered_module(target: Any) -> str | None:
    """The name of the module a function comes from when that module was loaded from a
    file but never registered in ``sys.modules`` (a plugin loader's
    ``module_from_spec`` and ``exec_module`` without ``sys.modules[name] = module``), or
    None."""
    if type(target) is not types.FunctionType:
        return None
    name = _module_of(target)
    globals_ = target.__globals__
    path = globals_.get("__file__")
    if (not name or name in sys.modules or globals_.get("__name__") != name
            or not isinstance(path, str) or not os.path.isfile(path)):
        return None
    return name


def _bound(module: Any, qualname: str) -> Any:
    """What ``module`` holds under ``qualname`` (dotted), read without running its code:
    its namespace, then class namespaces; :data:`MISSING` if nothing."""
    parts = qualname.split(".")
    value = vars(module).get(parts[0], MISSING)
    for part in parts[1:]:
        if value is MISSING:
            break
        value = safe_attr(value, part)
    return value


def _is_wrapper(obj: Any) -> bool:
    """A decorator's wrapper object (functools.lru_cache, partial-like callables)."""
    return (not issubclass(type(obj), (type, types.FunctionType))
            and safe_attr(obj, "__wrapped__") is not MISSING)


def wraps_a_method(obj: Any) -> bool:
    """Whether ``obj`` wraps a bound method (``functools.lru_cache()(self.method)``, made
    per instance at run time), under the method's name."""
    return _is_wrapper(obj) and type(safe_attr(obj, "__wrapped__")) is types.MethodType


def _by_name_failure(message: str) -> bool:
    return any(words in message for words in (
        "not the same object", "attribute lookup", "not found as", "local object",
        "import of module"))  # its module is none that can be imported: made at run time


def _kind_of_instance(obj: Any) -> str | None:
    t = type(obj)
    module = _module_of(t) or ""
    name = getattr(t, "__name__", "")
    top = module.split(".")[0]
    if module.startswith("unittest.mock"):
        return "mock"
    if module in ("_thread", "threading") and name in _LOCK_NAMES:
        return "lock"
    if module == "_thread" and name == "_ThreadHandle":  # a thread's own state (3.13)
        return "thread"
    if module.startswith("multiprocessing"):
        if "pool" in module or name == "Pool":
            return "executor"
        if module.endswith(("synchronize", "queues", "sharedctypes", "connection")):
            return "process_shared"  # a lock, a queue, a Value, an Array or a Pipe's end
    if issubclass(t, (threading.local, threading.Thread)):  # type(): isinstance reads __class__
        return "thread"
    if module.startswith("concurrent.futures") and "Executor" in name:
        return "executor"
    if is_one_of(obj, CHILDREN):
        return "subprocess"
    if module in ("queue", "_queue", "asyncio.queues"):
        return "queue"
    if isinstance(obj, io.IOBase) or module in ("_io", "io", "tempfile") and "File" in name:
        return "file"
    if module == "mmap":  # a file mapped into this process's memory
        return "file"
    if module in ("ssl", "_ssl", "socket", "_socket", "select", "selectors"):
        return "socket"
    if fetched_row(t):
        return "c_type"  # a fetched row is data, not a connection
    if top in _DB_MODULES or (top == "_duckdb" and "Connection" in name):
        return "database"  # duckdb's C types live in _duckdb (from 1.4): its connection
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
    if module.startswith(("asyncio", "_asyncio", "contextvars", "_contextvars")):
        return "thread"
    return None


#: What the ``__reduce__`` Cython generates says for an extension type it cannot pickle
#: (a ``__cinit__`` of its own, or a C field with no Python counterpart).
_CYTHON_REFUSES = ("no default __reduce__ due to non-trivial __cinit__",
                   "cannot be converted to a Python object for pickling")


def fetched_row(cls: Any) -> bool:
    """Whether ``cls`` is a database library's row type (sqlite3.Row, psycopg's rows)."""
    name, module = getattr(cls, "__name__", ""), getattr(cls, "__module__", "")
    return (isinstance(name, str) and name.endswith("Row") and isinstance(module, str)
            and module.partition(".")[0] in _DB_MODULES)


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
