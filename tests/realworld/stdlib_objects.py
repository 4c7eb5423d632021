"""Corpus entries from the standard library (and numpy), built the way programs build them."""

from __future__ import annotations

import asyncio
import code
import collections
import contextvars
import ctypes
import dataclasses
import functools
import io
import logging
import os
import queue
import socket
import sqlite3
import sys
import tempfile
import threading
import typing
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from realworld.appcode import (
    AuditLog,
    Cache,
    JobRunner,
    RateLimiter,
    Reader,
    Services,
    Widget,
    lock_is_free,
)
from realworld.entry import Context, Entry

# -- asyncio ----------------------------------------------------------------------


def _loop(ctx: Context) -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    ctx.closing(loop.close)
    return loop


def event_loop(ctx: Context) -> Any:
    return _loop(ctx)


def asyncio_task(ctx: Context) -> Any:
    loop = _loop(ctx)

    async def fetch() -> int:
        await asyncio.sleep(3600)
        return 1

    async def start() -> asyncio.Task[int]:
        return asyncio.ensure_future(fetch())

    task = loop.run_until_complete(start())
    ctx.closing(lambda: _cancel(loop, task))
    return task


def _cancel(loop: asyncio.AbstractEventLoop, task: asyncio.Future[Any]) -> None:
    task.cancel()
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        pass


def asyncio_future(ctx: Context) -> Any:
    return _loop(ctx).create_future()


def asyncio_queue(ctx: Context) -> Any:
    async def make() -> asyncio.Queue[int]:
        q: asyncio.Queue[int] = asyncio.Queue()
        await q.put(1)
        return q

    return _loop(ctx).run_until_complete(make())


def asyncio_lock(ctx: Context) -> Any:
    async def make() -> asyncio.Lock:
        lock = asyncio.Lock()
        async with lock:
            pass
        return lock

    return _loop(ctx).run_until_complete(make())


# -- logging ----------------------------------------------------------------------


def file_handler(ctx: Context) -> Any:
    handler = logging.FileHandler(ctx.tmp / "app.log")
    ctx.closing(handler.close)
    return handler


def stream_handler(ctx: Context) -> Any:
    # What StreamHandler() holds in a plain program; under pytest sys.stderr is a capture.
    handler = logging.StreamHandler(sys.__stderr__)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    return handler


def logger(ctx: Context) -> Any:
    log = logging.getLogger("realworld.app")
    handler = logging.StreamHandler(io.StringIO())
    log.addHandler(handler)
    ctx.closing(lambda: log.removeHandler(handler))
    return log


# -- threads and processes ----------------------------------------------------------


def started_thread(ctx: Context) -> Any:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="poller", daemon=True)
    thread.start()
    ctx.closing(thread.join)
    ctx.closing(stop.set)
    return thread


def thread_pool(ctx: Context) -> Any:
    pool = ThreadPoolExecutor(max_workers=1)
    pool.submit(sum, [1, 2]).result()
    ctx.closing(pool.shutdown)
    return pool


def queue_in_user_object(ctx: Context) -> Any:
    jobs: queue.Queue[str] = queue.Queue()
    jobs.put("job-1")
    return JobRunner(jobs)


def rlock_cache(ctx: Context) -> Any:
    cache = Cache()
    cache.data["answer"] = "42"
    return cache


# -- files, sockets, databases -----------------------------------------------------------


def sqlite_connection(ctx: Context) -> Any:
    conn = sqlite3.connect(ctx.tmp / "app.db")
    conn.execute("create table if not exists t (x)")
    ctx.closing(conn.close)
    return conn


def tcp_socket(ctx: Context) -> Any:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ctx.closing(sock.close)
    return sock


def named_tempfile(ctx: Context) -> Any:
    handle = tempfile.NamedTemporaryFile(dir=ctx.tmp, suffix=".csv")
    handle.write(b"a,b\n")
    ctx.closing(handle.close)
    return handle


def temporary_directory(ctx: Context) -> Any:
    folder = tempfile.TemporaryDirectory(dir=ctx.tmp)
    ctx.closing(folder.cleanup)
    return folder


def spooled_tempfile(ctx: Context) -> Any:
    handle = tempfile.SpooledTemporaryFile(max_size=1024, dir=ctx.tmp)
    handle.write(b"buffered")
    ctx.closing(handle.close)
    return handle


def closure_over_connection(ctx: Context) -> Any:
    conn = sqlite_connection(ctx)

    def count_rows() -> int:
        return conn.execute("select count(*) from t").fetchone()[0]

    return count_rows


# -- functions, classes and types made at run time --------------------------------------


def generator(ctx: Context) -> Any:
    return (line.upper() for line in ["a", "b"])


def generator_in_user_object(ctx: Context) -> Any:
    def rows() -> typing.Iterator[int]:
        yield from range(3)

    return Reader(rows())


def lru_cache_local(ctx: Context) -> Any:
    @functools.lru_cache(maxsize=32)
    def lookup(key: str) -> str:
        return key.upper()

    lookup("a")
    return lookup


def local_namedtuple(ctx: Context) -> Any:
    point = collections.namedtuple("Point", "x y")
    return point(1, 2)


def local_dataclass(ctx: Context) -> Any:
    @dataclasses.dataclass
    class Settings:
        retries: int = 3

    return Settings()


def local_typevar(ctx: Context) -> Any:
    return typing.TypeVar("T")


def ctypes_array(ctx: Context) -> Any:
    return (ctypes.c_double * 3)(1.0, 2.0, 3.0)


def ctypes_array_type(ctx: Context) -> Any:
    return ctypes.c_int * 4


def ctypes_cdll(ctx: Context) -> Any:
    return ctypes.cdll


def interactive_console(ctx: Context) -> Any:
    return code.InteractiveConsole()


# -- numpy ----------------------------------------------------------------------------


def object_array_1d(ctx: Context) -> Any:
    import numpy as np

    arr = np.empty(3, dtype=object)
    arr[:] = [1.5, lambda v: v * 2, "label"]
    return arr


def object_array_2d(ctx: Context) -> Any:
    import numpy as np

    arr = np.empty((2, 2), dtype=object)
    arr[0, 0], arr[0, 1], arr[1, 0] = "a", 1, threading.Lock()
    arr[1, 1] = None
    return arr


# -- user object models ------------------------------------------------------------------


def widget_tree(ctx: Context) -> Any:
    root = Widget()
    button = Widget(root)
    Widget(root)
    button.on_click = lambda event: print("clicked", event)
    return button


def services(ctx: Context) -> Any:
    pool = thread_pool(ctx)
    return Services(
        db=sqlite_connection(ctx), lock=threading.Lock(), on_done=lambda r: r,
        pending=(n * n for n in range(3)), pool=pool, retries=3,
    )


def weak_value_cache(ctx: Context) -> Any:
    cache: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
    keep = Reader(rows=None)
    cache["reader"] = keep
    ctx.closing(lambda: keep)  # the value stays alive while the entry is in use
    return cache


def mp_queue(ctx: Context) -> Any:
    import multiprocessing

    q: Any = multiprocessing.get_context("fork").Queue()
    ctx.closing(q.close)
    return q


def audit_log(ctx: Context) -> Any:
    log = AuditLog(ctx.tmp / "audit.log")
    ctx.closing(log.out.close)
    return log


def _e(id: str, build: Any, **kw: Any) -> Entry:
    return Entry(id=id, build=build, **kw)


ENTRIES = [
    _e("asyncio-loop", event_loop, change=("obj",)),
    _e("asyncio-task", asyncio_task, change=("obj",)),
    _e("asyncio-future", asyncio_future, change=("obj",)),
    _e("asyncio-queue", asyncio_queue),
    _e("asyncio-lock", asyncio_lock),
    _e("logging-filehandler", file_handler, change=("obj",), probe=lambda h: lock_is_free(h.lock),
       harmless_load=True),
    _e("logging-streamhandler", stream_handler, change=("obj",),
       probe=lambda h: lock_is_free(h.lock)),
    _e("logging-logger", logger, fresh=True),
    _e("thread-started", started_thread, change=("obj",)),
    _e("thread-event", lambda ctx: threading.Event(), change=("obj",)),
    _e("thread-condition", lambda ctx: threading.Condition(), change=("obj",),
       probe=lambda c: lock_is_free(c)),
    _e("thread-pool-executor", thread_pool, change=("obj",)),
    _e("queue-in-user-object", queue_in_user_object, change=("obj.jobs",), library=False,
       say=("obj.jobs",)),
    _e("rlock-in-user-object", rlock_cache, change=("obj._lock",), library=False,
       probe=lambda c: lock_is_free(c._lock)),
    _e("dataclass-lock-field", lambda ctx: RateLimiter(rate=2.5), library=False,
       change=("obj._lock",)),
    _e("open-write-file-in-user-object", audit_log, library=False, change=("obj.out",),
       probe=lambda log: os.path.getsize(log.path)),
    _e("weak-value-dictionary", weak_value_cache, change=("obj",)),
    _e("multiprocessing-queue", mp_queue, change=("obj",)),
    _e("contextvar", lambda ctx: contextvars.ContextVar("request_id", default=""),
       change=("obj",)),
    _e("sqlite3-connection", sqlite_connection, change=("obj",)),
    _e("socket", tcp_socket, change=("obj",)),
    _e("tempfile-named", named_tempfile, change=("obj",)),
    _e("tempfile-directory", temporary_directory),
    _e("tempfile-spooled", spooled_tempfile),
    _e("closure-over-connection", closure_over_connection, library=False,
       change=("obj.__closure__[0].cell_contents",),
       say=("obj.__closure__[0].cell_contents",)),
    _e("generator", generator, change=("obj",), library=False),
    _e("generator-in-user-object", generator_in_user_object, change=("obj.rows",),
       library=False),
    _e("lru-cache-local-function", lru_cache_local, library=False, fresh=True,
       change=("obj",)),
    _e("local-namedtuple", local_namedtuple, library=False, fresh=True, change=("obj",)),
    _e("local-dataclass", local_dataclass, library=False, fresh=True, change=("obj",)),
    _e("local-typevar", local_typevar, library=False, change=("obj",)),
    _e("ctypes-array", ctypes_array, change=("obj",)),
    _e("ctypes-array-type", ctypes_array_type, change=("obj",)),
    _e("ctypes-cdll", ctypes_cdll, fresh=True),
    _e("code-interactive-console", interactive_console, fresh=True),
    _e("numpy-object-array-1d", object_array_1d, needs=("numpy",), library=False,
       change=("obj[1]",)),
    _e("numpy-object-array-2d", object_array_2d, needs=("numpy",), library=False,
       change=("obj[1, 0]",), say=("obj[1, 0]",)),
    _e("parent-child-widgets", widget_tree, library=False, change=("obj.on_click",)),
    _e("user-services-stdlib", services, library=False,
       change=("obj.db", "obj.lock", "obj.on_done", "obj.pending", "obj.pool"),
       say=("obj.db", "obj.lock", "obj.on_done", "obj.pending", "obj.pool")),
]
