"""From a framework's payload to what the user passed: parts named in the user's terms.

What a framework pickles is its own envelope around the user's objects: ``Pool.map``
sends ``(job, i, mapstar, ((func, chunk),), {})``, ``ProcessPoolExecutor`` a
``_CallItem``, joblib a ``BatchedCalls``, Dask a graph expression of ``Task`` nodes,
Spark a command tuple around a closure around the user's function. Each unwrapper
here takes that envelope apart into :class:`Part` s, each labelled the way the user
wrote it when the call's source can be read (``jobs[3]``, ``model``), by the target
function's parameter name otherwise, and generically (``items[3]``, ``arg0``) last.
The envelope itself never appears in a path.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from picklecheck.integrations import callsite
from picklecheck.integrations.callsite import CallSite, is_name
from picklecheck.integrations.recover import Recovered, is_framework_frame

__all__ = ["Part", "Unwrapped", "unwrap"]

_POOL_MAPS = ("map", "map_async", "starmap", "starmap_async", "imap", "imap_unordered")


@dataclass(frozen=True)
class Part:
    """One thing the user handed the framework, and the name paths inside it start with."""

    label: str
    obj: Any


@dataclass
class Unwrapped:
    """The user's call (as text) and the parts of its payload."""

    call: str
    parts: list[Part] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Whether the parts were pickled as a worker started (a ``Process`` and its arguments:
    #: see :func:`picklecheck.backends.multiprocessing.starting_worker`).
    starting: bool = False


@dataclass
class Context:
    """What the unwrappers may look at: the recovery, and the frames around the call."""

    recovered: Recovered
    caller: types.FrameType | None  # the user's frame that called the framework
    frames: list[types.FrameType]  # every traceback frame seen, outermost first
    positions: dict[int, tuple[int, int]] = field(default_factory=dict)  # by id(frame)

    @property
    def at(self) -> tuple[int, int] | None:
        """Where the caller was when the exception passed through it."""
        return self.positions.get(id(self.caller)) if self.caller is not None else None

    def frame(self, path: str, *functions: str) -> types.FrameType | None:
        """The innermost traceback frame of a function in a file ending with ``path``."""
        for frame in reversed(self.frames):
            code = frame.f_code
            if code.co_name in functions and code.co_filename.replace("\\", "/").endswith(path):
                return frame
        return None

    def call(self, *methods: str) -> CallSite | None:
        return callsite.find_call(self.caller, methods, self.at)

    def deferred(self, wrapper: str) -> CallSite | None:
        return callsite.find_deferred_call(self.caller, wrapper, self.at)


def unwrap(ctx: Context) -> Unwrapped:
    """The user's parts of the recovered payload (the payload whole, labelled, when its
    framework's envelope is not one this module knows)."""
    framework = ctx.recovered.site.framework
    handler = _UNWRAPPERS.get(framework)
    if handler is not None:
        found = handler(ctx, ctx.recovered.payload)
        if found is not None:
            return found
    return _direct(ctx, ctx.recovered.payload)


# -- labels -------------------------------------------------------------------------

def _index_of(container: Any, item: Any, start: int = 0) -> int | None:
    """Where ``item`` is (by identity) in a list or tuple, searching from ``start`` first."""
    if not isinstance(container, (list, tuple)):
        return None
    n = len(container)
    for k in list(range(start, n)) + list(range(0, min(start, n))):
        if container[k] is item:
            return k
    return None


def _params(func: Any) -> list[str] | None:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    names: list[str] = []
    for p in signature.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
    return names


def _func_name(func: Any, default: str) -> str:
    target = func.func if isinstance(func, functools.partial) else func
    name = getattr(target, "__name__", None)
    return name if isinstance(name, str) and name.isidentifier() else default


def call_parts(func: Any, args: Any, kwargs: Any, site: CallSite | None, *,
               func_label: str, first_arg: int = 0) -> list[Part]:
    """``func(*args, **kwargs)`` as parts: the function, then each argument, named by the
    call's source (``site``, whose argument ``first_arg`` is ``args[0]``), the function's
    parameters, or ``arg0``, ``arg1`` ..."""
    params = _params(func) or []
    parts = [Part(func_label, func)]
    for i, value in enumerate(tuple(args or ())):
        text = site.arg(first_arg + i) if site is not None else None
        if is_name(text):
            label = text
        elif i < len(params):
            label = params[i]
        else:
            label = f"arg{i}"
        parts.append(Part(str(label), value))
    for key, value in dict(kwargs or {}).items():
        text = site.keyword(key) if site is not None else None
        parts.append(Part(text if is_name(text) else str(key), value))
    return parts


def _site_func_label(site: CallSite | None, index: int, func: Any, default: str) -> str:
    text = site.arg(index) if site is not None else None
    return text if is_name(text) else _func_name(func, default)


# -- multiprocessing ----------------------------------------------------------------

def _multiprocessing(ctx: Context, payload: Any) -> Unwrapped | None:
    if _is_pool_task(payload):
        return _pool_task(ctx, payload)
    if type(payload).__name__ == "_CallItem":
        return _call_item(ctx, payload)
    if _is_process(payload):
        return _process(ctx, payload)
    return None


def _is_pool_task(payload: Any) -> bool:
    return (type(payload) is tuple and len(payload) == 5 and isinstance(payload[0], int)
            and isinstance(payload[1], int) and isinstance(payload[3], tuple)
            and isinstance(payload[4], dict))


def _pool_task(ctx: Context, task: tuple[Any, ...]) -> Unwrapped:
    _job, index, func, args, kwds = task
    star = getattr(func, "__name__", "")
    if star in ("mapstar", "starmapstar") and getattr(func, "__module__", "") == "multiprocessing.pool":
        return _pool_chunk(ctx, index, args[0])
    site = ctx.call(*_POOL_MAPS, "apply_async", "apply")
    if site is not None and site.method.startswith("imap") and not kwds and len(args) == 1:
        items = site.arg(1)
        label = f"{items if is_name(items) else 'items'}[{index}]"
        return Unwrapped(site.text, [Part(_site_func_label(site, 0, func, "func"), func),
                                     Part(label, args[0])])
    call = site.text if site is not None else f"Pool.apply_async({_func_name(func, 'func')}, ...)"
    args_site = _tuple_site(site)
    parts = call_parts(func, args, kwds, args_site,
                       func_label=_site_func_label(site, 0, func, "func"))
    return Unwrapped(call, parts)


def _tuple_site(site: CallSite | None) -> CallSite | None:
    """``apply_async(f, (a, b), {"k": c})``: the tuple's items as if they were arguments."""
    if site is None or site.starred or len(site.args) < 2:
        return None
    import ast

    try:
        node = ast.parse(site.args[1], mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Tuple):
        return None
    return CallSite(text=site.text, method=site.method, args=tuple(ast.unparse(e) for e in node.elts))


#: A map over more items than this is checked by its failing chunk only.
WHOLE_MAP_LIMIT = 10_000


def _pool_chunk(ctx: Context, index: int, func_and_chunk: Any) -> Unwrapped:
    """A chunk of ``Pool.map``: the whole iterable is checked when the call's frame still
    has it (every item that would fail, not only the first chunk), else the chunk."""
    func, chunk = func_and_chunk
    site = ctx.call(*_POOL_MAPS)
    api = ctx.frame("multiprocessing/pool.py", *_POOL_MAPS)
    iterable = api.f_locals.get("iterable") if api is not None else None
    size = _chunksize(api, iterable, len(chunk))
    items = site.arg(1) if site is not None else None
    root = items if is_name(items) else "items"
    parts = [Part(_site_func_label(site, 0, func, "func"), func)]
    if isinstance(iterable, (list, tuple)) and len(iterable) <= WHOLE_MAP_LIMIT and (
            _index_of(iterable, chunk[0], index * size) is not None if chunk else False):
        parts += [Part(f"{root}[{k}]", item) for k, item in enumerate(iterable)]
    else:
        for j, item in enumerate(chunk):
            k = _index_of(iterable, item, index * size + j) if iterable is not None else None
            if k is None and size:
                k = index * size + j
            parts.append(Part(f"{root}[{k}]", item))
    call = site.text if site is not None else f"Pool.map({parts[0].label}, items)"
    return Unwrapped(call, parts)


def _chunksize(api: types.FrameType | None, iterable: Any, default: int) -> int:
    """The chunk size ``Pool.map`` used: given, or worked out the way the pool does."""
    if api is None:
        return default
    given = api.f_locals.get("chunksize")
    if isinstance(given, int) and given > 0:
        return given
    pool = api.f_locals.get("self")
    workers = getattr(pool, "_processes", None)
    if isinstance(workers, int) and workers > 0 and hasattr(iterable, "__len__"):
        size, extra = divmod(len(iterable), workers * 4)
        return size + 1 if extra else max(size, 1)
    return default


def _call_item(ctx: Context, item: Any) -> Unwrapped:
    """A ``concurrent.futures`` ``_CallItem``: ``submit(fn, *args, **kwargs)``, or a
    chunk of ``Executor.map``."""
    fn, args, kwargs = getattr(item, "fn", None), getattr(item, "args", ()), getattr(item, "kwargs", {})
    if isinstance(fn, functools.partial) and getattr(fn.func, "__name__", "") == "_process_chunk":
        return _executor_map(ctx, fn.args[0] if fn.args else fn, args[0] if args else ())
    site = ctx.call("submit")
    call = site.text if site is not None else f"executor.submit({_func_name(fn, 'fn')}, ...)"
    parts = call_parts(fn, args, kwargs, site, func_label=_site_func_label(site, 0, fn, "fn"),
                       first_arg=1)
    return Unwrapped(call, parts)


def _executor_map(ctx: Context, fn: Any, chunk: Any) -> Unwrapped:
    """A chunk of ``Executor.map``: every item of the user's list when the call names it
    (a variable of the calling frame), else the chunk that failed."""
    site = ctx.call("map")
    parts = [Part(_site_func_label(site, 0, fn, "fn"), fn)]
    for m, values in enumerate(zip(*chunk, strict=True) if chunk else ()):
        text = site.arg(1 + m) if site is not None else None
        root = text if is_name(text) else ("items" if m == 0 else f"items{m + 1}")
        whole = callsite.lookup_name(ctx.caller, text) if is_name(text) else None
        if (isinstance(whole, (list, tuple)) and len(whole) <= WHOLE_MAP_LIMIT
                and _index_of(whole, values[0]) is not None):
            parts += [Part(f"{root}[{k}]", item) for k, item in enumerate(whole)]
            continue
        for j, value in enumerate(values):
            k = _index_of(whole, value)
            parts.append(Part(f"{root}[{k}]" if k is not None else f"{root}[<item {j} of a chunk>]",
                              value))
    call = site.text if site is not None else f"executor.map({parts[0].label}, items)"
    return Unwrapped(call, parts)


def _is_process(payload: Any) -> bool:
    return any(c.__name__ == "BaseProcess" and c.__module__ == "multiprocessing.process"
               for c in type(payload).__mro__)


_PROCESS_ATTRS = frozenset({"_config", "_parent_pid", "_parent_name", "_popen", "_closed",
                            "_target", "_name", "_args", "_kwargs", "_identity", "_start_method"})


#: The worker functions of pools, by module and name: of what they are started with, only
#: these parameters are the user's (the rest, the pool's queues, are its envelope, closed
#: by the time a failure that left the pool's ``with`` block is diagnosed).
_POOL_WORKERS: dict[tuple[Any, Any], tuple[str, ...]] = {
    ("multiprocessing.pool", "worker"): ("initializer", "initargs"),
    ("concurrent.futures.process", "_process_worker"): ("initializer", "initargs")}


def _process(ctx: Context, process: Any) -> Unwrapped:
    """``Process(target=f, args=(...)).start()`` under spawn or forkserver: the target, its
    arguments, and the attributes a ``Process`` subclass added; a pool's worker: the
    initializer and its arguments, in the user's call that started it."""
    site = ctx.call("start")
    receiver = site.receiver if site is not None and is_name(site.receiver) else "process"
    state = getattr(process, "__dict__", {})
    target = state.get("_target")
    parts = call_parts(target, state.get("_args", ()), state.get("_kwargs", {}), None,
                       func_label=_func_name(target, "target")) if target is not None else []
    mine = _POOL_WORKERS.get((getattr(target, "__module__", None),
                              getattr(target, "__qualname__", None)))
    if mine is not None:
        parts = [part for part in parts if part.label in mine]
        site = site or ctx.call("Pool", "ProcessPoolExecutor", "submit", "map", "apply_async",
                                "starmap", "imap", "imap_unordered")
    parts += [Part(f"{receiver}.{name}", value) for name, value in state.items()
              if name not in _PROCESS_ATTRS]
    call = site.text if site is not None else f"{type(process).__name__}.start()"
    return Unwrapped(call, parts, starting=True)


# -- joblib -------------------------------------------------------------------------

def _joblib(ctx: Context, payload: Any) -> Unwrapped | None:
    if _is_pool_task(payload):  # the multiprocessing backend's pool: its task wraps the batch
        fn = getattr(payload[2], "func", payload[2])
    else:  # loky's _CallItem
        fn = getattr(payload, "fn", None)
    calls = getattr(fn, "items", None)
    if not isinstance(calls, list):
        return None
    site = ctx.deferred("delayed")
    parts: list[Part] = []
    for func, args, kwargs in calls:
        parts += call_parts(func, args, kwargs, site, func_label=_func_name(func, "func"))
    call = site.text if site is not None else "Parallel(...)(delayed(...)(...))"
    return Unwrapped(call, parts)


# -- Dask ---------------------------------------------------------------------------

def _dask(ctx: Context, payload: Any) -> Unwrapped | None:
    graph = _dask_graph(payload)
    if graph is None:
        return _dask_value(ctx, payload)
    site = ctx.call("submit") or ctx.deferred("delayed")
    parts: list[Part] = []
    for task in _dask_tasks(graph):
        func = task.func
        args = [_dask_data(a) for a in getattr(task, "args", ())]
        kwargs = {k: _dask_data(v) for k, v in dict(getattr(task, "kwargs", {})).items()}
        if _is_dask_own(func) and site is None:
            # A collection's plumbing (bag's map_chunk, a frame's apply): the user's are
            # the functions and data handed to it, not Dask's function or the graph.
            parts += [Part(_func_name(a, f"arg{i}"), a) for i, a in enumerate(args)
                      if not _is_dask_own(a) and not _is_dask_node(a)]
            continue
        first = 1 if site is not None and site.method == "submit" else 0
        parts += call_parts(func, args, kwargs, site, func_label=_site_func_label(
            site if first else None, 0, func, "func"), first_arg=first)
    parts = list({id(part.obj): part for part in parts}.values())  # once per object
    call = site.text if site is not None else _collection_call(ctx) or "client.compute(...)"
    return Unwrapped(call, parts)


def _dask_tasks(graph: dict[Any, Any]) -> Iterator[Any]:
    """The graph's tasks, those of fused subgraphs (``_execute_subgraph``) included."""
    for task in graph.values():
        func = getattr(task, "func", None)
        if type(task).__name__ != "Task" or func is None:
            continue
        args = getattr(task, "args", ())
        if getattr(func, "__name__", "") == "_execute_subgraph" and args and isinstance(
                args[0], dict):
            yield from _dask_tasks(args[0])
        else:
            yield task


def _is_dask_own(value: Any) -> bool:
    """A function of Dask's own (or a builtin), part of a collection's plumbing."""
    module = getattr(value, "__module__", None)
    return callable(value) and (not isinstance(module, str) or module == "builtins"
                                or module.split(".")[0] in ("dask", "distributed", "toolz",
                                                            "tlz", "operator"))


def _is_dask_node(value: Any) -> bool:
    """A reference to another task of the graph (its own part, if it is a task)."""
    return type(value).__name__ in ("Task", "Alias", "TaskRef", "DataNode", "List", "Dict")


def _collection_call(ctx: Context) -> str | None:
    """The user's call that made a collection run (``ddf.map_partitions(f).compute()``)."""
    site = ctx.call("compute", "persist", "map_partitions", "map_blocks", "map", "apply",
                    "submit", "delayed")
    return site.text if site is not None else None


def _dask_graph(payload: Any) -> dict[Any, Any] | None:
    getter = getattr(payload, "__dask_graph__", None)
    if getter is None or not callable(getter):
        return None
    try:
        graph = getter()
    except Exception:  # noqa: BLE001 - a graph that cannot be built is no graph
        return None
    return dict(graph) if hasattr(graph, "items") else None


def _dask_data(value: Any) -> Any:
    """A ``DataNode`` wraps a plain value in the graph; the value is what the user passed."""
    if type(value).__name__ == "DataNode" and hasattr(value, "value"):
        return value.value
    return value


def _dask_value(ctx: Context, value: Any) -> Unwrapped:
    """A value Dask pickled on its own (``scatter``, or tokenizing ``map``'s items)."""
    api = ctx.frame("distributed/client.py", "map", "submit", "scatter")
    site = ctx.call("map", "submit", "scatter")
    label = None
    if api is not None and api.f_code.co_name == "map":
        for m, iterable in enumerate(api.f_locals.get("iterables", ()) or ()):
            k = _index_of(iterable if isinstance(iterable, (list, tuple)) else None, value)
            if k is not None:
                text = site.arg(1 + m) if site is not None else None
                label = f"{text if is_name(text) else 'items'}[{k}]"
                break
    if label is None:
        text = site.arg(0) if site is not None and site.method == "scatter" else None
        label = text if is_name(text) else _func_name(value, "value")
    if site is not None:
        call = site.text
    else:  # tokenized as a collection was built (map_partitions(f)): no client call
        call = _collection_call(ctx) or "client.map(...)"
    return Unwrapped(call, [Part(label, value)])


# -- Ray ----------------------------------------------------------------------------

def _ray(ctx: Context, value: Any) -> Unwrapped:
    if ctx.recovered.site.function in ("pickle_dumps", "export", "export_actor_class"):
        site = ctx.call("remote")
        name = _func_name(value, "function")
        call = site.text if site is not None else f"{name}.remote(...)"
        return Unwrapped(call, [Part(name, value)])
    put = ctx.frame("ray/_private/worker.py", "put")
    site = ctx.call("put") if put is not None else ctx.call("remote")
    if put is not None:
        text = site.arg(0) if site is not None else None
        return Unwrapped(site.text if site else "ray.put(value)",
                         [Part(text if is_name(text) else "value", value)])
    api = ctx.frame("ray/remote_function.py", "_remote") or ctx.frame("ray/actor.py", "_remote")
    args = api.f_locals.get("args") or () if api is not None else ()
    kwargs = api.f_locals.get("kwargs") or {} if api is not None else {}
    func = _ray_function(api)
    label = _ray_label(value, args, kwargs, site, func)
    call = site.text if site is not None else f"{_func_name(func, 'f')}.remote(...)"
    return Unwrapped(call, [Part(label, value)])


def _ray_function(api: types.FrameType | None) -> Any:
    owner = api.f_locals.get("self") if api is not None else None
    func = getattr(owner, "_function", None)
    if func is None and owner is not None:  # an actor class: its __init__
        modified = getattr(getattr(owner, "__ray_metadata__", None), "modified_class", None)
        func = getattr(modified, "__init__", None)
    return func


def _ray_label(value: Any, args: Any, kwargs: Any, site: CallSite | None, func: Any) -> str:
    k = _index_of(tuple(args), value)
    if k is not None:
        parts = call_parts(func, args, {}, site, func_label="")
        return parts[1 + k].label
    for key, v in dict(kwargs).items():
        if v is value:
            text = site.keyword(key) if site is not None else None
            return text if is_name(text) else str(key)
    return "value"


# -- Spark --------------------------------------------------------------------------

def _spark(ctx: Context, payload: Any) -> Unwrapped:
    if ctx.recovered.site.function == "dump":  # a broadcast
        site = ctx.call("broadcast")
        text = site.arg(0) if site is not None else None
        return Unwrapped(site.text if site else "sc.broadcast(value)",
                         [Part(text if is_name(text) else "value", payload)])
    if isinstance(payload, tuple) and payload and callable(payload[0]):
        return _spark_command(ctx, payload[0])
    return _spark_data(ctx, payload)


def _spark_command(ctx: Context, func: Any) -> Unwrapped:
    """PySpark wraps each function given to ``map``/``filter``/... in closures of its own;
    the user's functions are the first non-PySpark callables inside them."""
    found: list[tuple[str, Any]] = []
    _user_callables(func, found, set())
    site = ctx.call(*_SPARK_ACTIONS)
    parts = [Part(_spark_label(api, f), f) for api, f in found] or [Part("function", func)]
    return Unwrapped(site.text if site is not None else "a Spark job", parts)


#: The calls that make Spark run a job: an RDD's actions, and a DataFrame's (a UDF, a
#: mapInPandas function runs when one of these does).
_SPARK_ACTIONS = ("collect", "count", "take", "first", "reduce", "foreach", "saveAsTextFile",
                  "toDF", "collectAsMap", "sum", "max", "min", "mean", "top", "aggregate",
                  "fold", "foreachPartition", "show", "toPandas", "head", "tail", "save",
                  "saveAsTable", "insertInto", "parquet", "csv", "json", "toLocalIterator")


def _user_callables(func: Any, found: list[tuple[str, Any]], seen: set[int]) -> None:
    if id(func) in seen or len(seen) > 1000:
        return
    seen.add(id(func))
    module = getattr(func, "__module__", "") or ""
    if not module.startswith("pyspark"):
        found.append(("", func))
        return
    api = (getattr(func, "__qualname__", "") or "").split(".<locals>")[0].rsplit(".", 1)[-1]
    for cell in getattr(func, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if callable(value) and not isinstance(value, type):
            before = len(found)
            _user_callables(value, found, seen)
            found[before:] = [(a or api, f) for a, f in found[before:]]


def _spark_label(api: str, func: Any) -> str:
    name = _func_name(func, "")
    if name:
        return name
    return f"{api}(<lambda>)" if api else "<lambda>"


def _spark_data(ctx: Context, batch: Any) -> Unwrapped:
    api = ctx.frame("pyspark/core/context.py", "parallelize") or ctx.frame("pyspark/context.py", "parallelize")
    site = ctx.call("parallelize")
    data = api.f_locals.get("c") if api is not None else None
    text = site.arg(0) if site is not None else None
    root = text if is_name(text) else "data"
    items = batch if isinstance(batch, list) else [batch]
    parts = []
    for j, item in enumerate(items):
        k = _index_of(data, item, j) if isinstance(data, (list, tuple)) else None
        parts.append(Part(f"{root}[{k if k is not None else f'<item {j} of a batch>'}]", item))
    return Unwrapped(site.text if site is not None else "sc.parallelize(data)", parts)


# -- pickle, dill, cloudpickle called directly --------------------------------------------

def _direct(ctx: Context, payload: Any) -> Unwrapped:
    site = ctx.call("dumps", "dump")
    text = site.arg(0) if site is not None else None
    return Unwrapped(site.text if site is not None else f"{ctx.recovered.site.framework}.dumps(obj)",
                     [Part(text if is_name(text) else "obj", payload)])


_UNWRAPPERS: dict[str, Callable[[Context, Any], Unwrapped | None]] = {
    "multiprocessing": _multiprocessing,
    "joblib": _joblib,
    "dask": _dask,
    "ray": _ray,
    "spark": _spark,
}


def user_caller(frames: list[types.FrameType]) -> types.FrameType | None:
    """The innermost user frame that precedes a framework frame (or the innermost user
    frame, when the failure did not go through a framework)."""
    caller: types.FrameType | None = None
    for frame in frames:
        if is_framework_frame(frame):
            if caller is not None:
                return caller
            continue
        caller = frame
    return caller
