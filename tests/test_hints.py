"""Every word of a fix: it names only code the user owns, and says nothing false."""

from __future__ import annotations

import argparse
import collections
import csv
import enum
import functools
import hashlib
import importlib
import importlib.util
import io
import multiprocessing
import multiprocessing.pool
import os
import queue
import re
import socket
import sqlite3
import sys
import sysconfig
import textwrap
import threading
import time
import types
import unittest.mock
import weakref

import culprits as c
import pytest

import picklecheck
from picklecheck.engine.kinds import KINDS
from picklecheck.isolation import confine, contain

# -- an oracle for "this names library code as the place to edit" ----------------------

_LIBRARY_DIRS = tuple(
    os.path.realpath(p) + os.sep
    for p in {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
)

#: Phrases of a fix that name a class or function to change; group 1 is its name.
EDIT_PHRASES = [
    r"in ([\w.<>]+)\.__getstate__",
    r"give ([\w.<>]+) a __reduce__",
    r"create it inside \w+ \(([\w.<>]+)\)",
    r"\(([\w.<>]+)\) (?:captures|uses it|has it)",
    r"([\w.<>]+) is defined inside a function, so pickle cannot find it by name; move it",
    r"([\w.<>]+) is defined in __main__",
    r"([\w.<>]+) is not the object its module now holds",
    r"([\w.<>]+) dumps but does not load: check",
    r"([\w.<>]+) refuses to be pickled in its own",
    r"define (\w+) in an importable module",
    r"([\w.<>]+) is saved by value",
]


def is_library(name: str) -> bool:
    """Whether ``name`` (``module.Qual.name``) is defined in the standard library or an
    installed package: by the longest prefix that is a loaded module."""
    parts = name.split(".")
    for size in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:size])
        try:
            spec = importlib.util.find_spec(prefix)
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            path = os.path.realpath(spec.origin or "")
            return prefix.split(".")[0] in sys.stdlib_module_names or path.startswith(
                _LIBRARY_DIRS)
    return hasattr(__builtins__, name) or name in dir(__builtins__) or name in (
        "function", "method", "generator", "cell", "module", "code")


def edit_targets(hint: str) -> list[str]:
    """The names a fix asks the user to change."""
    flat = " ".join(hint.split())
    return [m.group(1) for pattern in EDIT_PHRASES for m in re.finditer(pattern, flat)]


def library_edits(report: picklecheck.Report) -> list[tuple[str, str]]:
    """(path, name) for every fix in the report that names library code to change."""
    found = []
    entries = getattr(report, "entries", [])
    hints = [(c.path, c.hint) for c in report.culprits] + [(e.path, e.hint) for e in entries]
    for path, hint in hints:
        found += [(path, name) for name in edit_targets(hint) if is_library(name)]
    return found


def test_oracle_recognises_library_and_user_code():
    """The oracle itself: queue.Queue is library code, this test module's classes are not."""
    assert edit_targets("drop mutex in queue.Queue.__getstate__ (or exclude it)") == ["queue.Queue"]
    assert is_library("queue.Queue") and is_library("http.cookiejar.CookieJar")
    assert is_library("sqlalchemy.pool.base._ConnectionRecord") or "sqlalchemy" not in sys.modules
    assert not is_library("culprits.Conn") and not is_library(f"{__name__}.Bag")


# -- every kind, held every way ----------------------------------------------------------

class Bag:
    """The user's own class holding one value."""

    def __init__(self, item):
        self.item = item


def hold_in_user_object(x):
    return Bag(x)


def hold_in_library_object(x):
    return {"ns": argparse.Namespace(item=x)}


def hold_in_closure(x):
    def use():
        return x

    return use


def hold_as_default(x):
    def use(value=x):
        return value

    return use


HOLDERS = {
    "root": lambda x: x,
    "user object": hold_in_user_object,
    "library object": hold_in_library_object,
    "closure": hold_in_closure,
    "default argument": hold_as_default,
}


def _nested(depth):
    root = node = []
    for _ in range(depth):
        child = []
        node.append(child)
        node = child
    return root


def _peers():
    a = c.Peer("a")
    a.other = c.Peer("b", a)
    return a


def _generator():
    yield 1


def _stale():
    def scale(x):
        return x

    scale.__module__, scale.__qualname__ = c.__name__, "scale"
    return scale  # culprits.scale is another function


def _thread_pool(request):
    pool = multiprocessing.pool.ThreadPool(1)
    request.addfinalizer(pool.terminate)
    return pool


def _socket(request):
    sock = socket.socket()
    request.addfinalizer(sock.close)
    return sock


def _file(request, tmp_path, mode="rb"):
    (tmp_path / "data.bin").write_bytes(b"abc")
    handle = open(tmp_path / "data.bin", mode)  # noqa: SIM115 - closed by the finalizer
    request.addfinalizer(handle.close)
    return handle


def _proxy(request, tmp_path):
    manager = multiprocessing.get_context("fork").Manager()
    request.addfinalizer(manager.shutdown)
    shared = manager.dict()
    shared["a"] = 1
    return shared


def _shared_memory(request, tmp_path):
    from multiprocessing import shared_memory

    block = shared_memory.SharedMemory(create=True, size=16)
    request.addfinalizer(block.unlink)
    request.addfinalizer(block.close)
    return block


def _shared_log(request, tmp_path):
    log = c.SharedLog(str(tmp_path / "log.db"))
    request.addfinalizer(log.conn.close)
    return log


def _running(request, tmp_path):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    request.addfinalizer(proc.wait)
    request.addfinalizer(proc.kill)
    return proc


def _shelf(request, tmp_path):
    import dbm.dumb
    import shelve

    shelf = shelve.Shelf(dbm.dumb.open(str(tmp_path / "shelf"), "c"))
    shelf["a"] = 1  # not synced: a copy's finalizer rewrites the index (see test_safety)
    request.addfinalizer(shelf.close)
    return shelf


def _database(request):
    conn = sqlite3.connect(":memory:")
    request.addfinalizer(conn.close)
    return conn


def _generated():
    namespace = {"__name__": __name__}
    exec("def generated(x):\n    return x\n", namespace)  # noqa: S102 - code made at run time
    return namespace["generated"]


def _unbound():
    def renamed(x):
        return x

    renamed.__qualname__ = renamed.__name__ = "bound_nowhere"
    return renamed


def _wrapped():
    def square(v):
        return v * v

    return functools.lru_cache(square)


class Recursing:
    """Every attribute lookup calls itself."""

    def __getattribute__(self, name):
        return getattr(self, name)


class Sleeper:
    """Its load never ends."""

    def __init__(self):
        self.x = 1

    def __setstate__(self, state):
        time.sleep(600)


class Blob:
    """Its load asks for 16 TiB."""

    def __reduce__(self):
        return (bytearray, (1 << 44,))


#: kind -> (factory(request, tmp_path), check keywords); "isolation" is where loads must
#: run for that kind (the sandbox names what the hazard guard refuses in-process).
KIND_CASES = {
    "too_deep": (lambda r, t: _nested(5000), {"backends": ("pickle",), "roundtrip": False}),
    "reduce_cycle": (lambda r, t: _peers(), {"backends": ("pickle",), "roundtrip": False}),
    "load_hazard": (lambda r, t: _file(r, t, "w"), {"backends": ("dill",),
                                                      "isolation": "guarded"}),
    "load_side_effect": (lambda r, t: _file(r, t, "w"), {"backends": ("dill",),
                                                           "isolation": "sandbox"}),
    "manager_proxy": (_proxy, {"backends": ("pickle",), "isolation": "sandbox"}),
    "shared_memory": (_shared_memory, {"backends": ("pickle",), "isolation": "sandbox"}),
    "shared_database": (_shared_log, {"backends": ("pickle",), "isolation": "sandbox"}),
    "drop_side_effect": (_shelf, {"backends": ("pickle",), "isolation": "sandbox"}),
    "load_timeout": (lambda r, t: Sleeper(), {"backends": ("pickle",), "timeout": 2}),
    "load_memory": (lambda r, t: Blob(), {"backends": ("pickle",), "isolation": "sandbox"}),
    "lambda": (lambda r, t: c.square, {}),
    "local": (lambda r, t: c.make_local_instance(), {}),
    "stale_reference": (lambda r, t: _stale(), {}),
    "runtime_class": (lambda r, t: collections.namedtuple("Point", "x y")(1, 2), {}),
    "wrapped": (lambda r, t: _wrapped(), {}),
    "generated_function": (lambda r, t: _generated(), {}),
    "unbound": (lambda r, t: _unbound(), {}),
    "recursive_attribute": (lambda r, t: Recursing(), {"backends": ("pickle",)}),
    "getattr_raises": (lambda r, t: Extras(), {}),
    "lock": (lambda r, t: threading.Lock(), {}),
    "process_shared": (lambda r, t: multiprocessing.Lock(), {}),
    # sent as a spawned Process starts (3.10's multiprocessing sends it, and fails later)
    "fork_context": (lambda r, t: multiprocessing.get_context("fork").Lock(),
                     {"backends": ("multiprocessing:start",), "python": (3, 11)}),
    "executor": (lambda r, t: _thread_pool(r), {}),
    "subprocess": (_running, {"backends": ("dill",)}),
    "thread": (lambda r, t: threading.local(), {}),
    "queue": (lambda r, t: queue.SimpleQueue(), {}),
    "file": (_file, {"backends": ("pickle",)}),
    "socket": (lambda r, t: _socket(r), {}),
    "database": (lambda r, t: _database(r), {}),
    "generator": (lambda r, t: _generator(), {}),
    "module": (lambda r, t: os, {"backends": ("pickle",)}),
    "code": (lambda r, t: c.scale.__code__, {"backends": ("pickle",)}),
    "weakref": (lambda r, t: weakref.ref(c.Holder), {}),
    "view": (lambda r, t: {1: 2}.keys(), {"backends": ("pickle",)}),
    "mock": (lambda r, t: unittest.mock.MagicMock(), {}),
    "custom_reduce": (lambda r, t: c.DbClient(), {}),
    "load_failure": (lambda r, t: c.Account("ada", 10), {}),
    "c_type": (lambda r, t: hashlib.sha256(), {}),
}


def check_case(kind, obj, monkeypatch):
    """Check ``obj`` as the catalogue says, where loads run as that kind needs."""
    options = dict(KIND_CASES[kind][1])
    where = options.pop("isolation", None)
    since = options.pop("python", (3,))
    if sys.version_info < since:
        pytest.skip(f"multiprocessing says what makes it {kind} from Python "
                    f"{'.'.join(map(str, since))} on")
    if where == "sandbox" and contain.isolation() != "sandbox":
        pytest.skip("this machine has no kernel sandbox for loads")
    if where == "guarded":
        monkeypatch.setenv(confine.ENV, "guarded")
    return picklecheck.check(obj, **options)


@pytest.mark.parametrize("holder", list(HOLDERS))
@pytest.mark.parametrize("kind", list(KIND_CASES))
def test_no_fix_names_library_code(kind, holder, request, tmp_path, monkeypatch):
    """Whatever holds it, no hint or entry asks to edit a standard-library or installed class."""
    obj = HOLDERS[holder](KIND_CASES[kind][0](request, tmp_path))
    report = check_case(kind, obj, monkeypatch)
    assert not report.ok
    assert library_edits(report) == []


@pytest.mark.parametrize("kind", list(KIND_CASES))
def test_catalogue_produces_its_kind(kind, request, tmp_path, monkeypatch):
    """Each case of the hint catalogue really is a culprit of that kind."""
    report = check_case(kind, {"x": KIND_CASES[kind][0](request, tmp_path)}, monkeypatch)
    assert kind in {culprit.kind for culprit in report.culprits}


def test_catalogue_covers_every_kind():
    """The hint catalogue has a case for every kind (fresh-interpreter kinds are below)."""
    fresh_only = {"main_reference", "unimportable"}
    ray_only = {"too_large"}  # tests/test_backend_ray.py
    elsewhere = {"other_python", "no_library"}  # another interpreter: tests/test_interpreter.py
    assert set(KINDS) - set(KIND_CASES) - fresh_only - ray_only - elsewhere <= {"other"}


def test_reference_catalogue_names_no_library_code():
    """The culprit catalogue's objects (test_catalogue) get no fix in library code."""
    from test_catalogue import CATALOGUE, PATHS

    for param in [*CATALOGUE, *PATHS]:
        factory = param.values[0]
        report = picklecheck.check(factory(), roundtrip=False)
        assert library_edits(report) == [], param.id


# -- the misleading hints of issue 10, one by one -----------------------------------------

def closure_over_connection(conn):
    def count_rows():
        return conn.execute("select 1").fetchone()

    return count_rows


def test_closure_over_a_connection_names_the_function():
    """A closure's culprit is fixed in the function, not in a cell's __getstate__."""
    conn = sqlite3.connect(":memory:")
    report = picklecheck.check(closure_over_connection(conn), backends=("cloudpickle",))
    (culprit,) = report.culprits
    assert culprit.path == "obj.__closure__[0].cell_contents"
    assert "cell" not in culprit.hint and "__getstate__" not in culprit.hint
    assert "count_rows" in culprit.hint and "captures conn" in culprit.hint


def test_gets_past_it_agrees_with_its_subject():
    """One backend 'gets past it but fails inside it'; two 'get past it but fail'."""
    conn = sqlite3.connect(":memory:")
    report = picklecheck.check(closure_over_connection(conn), backends=("pickle", "dill"))
    outer = next(cu for cu in report.culprits if cu.path == "obj")
    assert "dill gets past it but fails inside it" in outer.hint
    both = picklecheck.check(closure_over_connection(conn))
    outer = next(cu for cu in both.culprits if cu.path == "obj")
    assert "dill and cloudpickle get past it but fail inside it" in outer.hint


class JobRunner:
    """Holds a queue.Queue: its fix belongs here."""

    def __init__(self):
        self.name = "runner"
        self.jobs = queue.Queue()


def test_queue_in_user_object_is_fixed_in_the_user_class():
    """A queue.Queue held by the user's class: drop it there, never in queue.Queue."""
    report = picklecheck.check(JobRunner(), backends=("pickle",))
    (entry,) = report.entries
    assert (entry.path, entry.type, entry.inside) == ("obj.jobs", "queue.Queue", True)
    assert f"drop jobs in {__name__}.JobRunner.__getstate__" in entry.hint
    for hint in [entry.hint] + [cu.hint for cu in report.culprits]:
        assert "queue.Queue.__getstate__" not in hint


class Slow:
    def __setstate__(self, state):
        import time

        time.sleep(30)


def test_fresh_timeout_hint_talks_about_time():
    """A load that times out in a fresh interpreter is not blamed on __reduce__."""
    slow = Slow()
    slow.x = 1
    report = picklecheck.check(slow, backends=("pickle",), roundtrip=False,
                               fresh_process=True, timeout=2)
    (culprit,) = report.culprits
    assert "__reduce__ returns every argument" not in culprit.hint
    assert "did not finish in time" in culprit.hint


@pytest.fixture
def private_module(tmp_path):
    """A module only this process can import."""
    name = "picklecheck_hint_plugin"
    (tmp_path / f"{name}.py").write_text("class PluginConfig:\n    pass\n")
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))
    yield module
    sys.modules.pop(name, None)


def test_only_fresh_load_fails_is_not_no_backend_can_pickle(private_module):
    """Every backend dumps it: '(no backend can pickle it)' would be false."""
    report = picklecheck.check([private_module.PluginConfig()], fresh_process=True)
    assert all(r.size for r in report.results.values())
    (culprit,) = report.culprits
    assert culprit.stage == "fresh"
    assert "no backend can pickle it" not in culprit.hint
    assert library_edits(report) == []


@pytest.fixture
def main_function():
    """A function defined in __main__, as a script defines it."""
    main = sys.modules["__main__"]
    namespace = {"__name__": "__main__"}
    exec(textwrap.dedent("""
        def handler(x):
            return x
    """), namespace)
    main.handler = namespace["handler"]
    yield namespace["handler"]
    del main.handler


def test_main_reference_names_the_users_function(main_function):
    """A __main__ function a worker cannot import: move it, and that is user code."""
    report = picklecheck.check({"cb": main_function}, backends=("pickle",), fresh_process=True)
    (culprit,) = report.culprits
    assert culprit.kind == "main_reference"
    assert "importable module" in culprit.hint
    assert library_edits(report) == []


@pytest.fixture
def main_dispatcher():
    """A functools.singledispatch function of the script: cloudpickle saves it by value,
    with the attributes singledispatch sets on it (``register``'s closure holds a
    WeakKeyDictionary's weak references)."""
    main = sys.modules["__main__"]
    namespace = {"__name__": "__main__"}
    exec(textwrap.dedent("""
        import functools

        @functools.singledispatch
        def show(x):
            return str(x)

        @show.register
        def _(x: int):
            return hex(x)
    """), namespace)
    main.show = namespace["show"]
    yield namespace["show"]
    del main.show


def test_a_function_saved_by_value_with_its_attributes_is_moved(main_dispatcher):
    """The fix is the user's function (saved by value with its attributes), not the
    functools closure the culprit sits in."""
    report = picklecheck.check(main_dispatcher, name="show", backends=("cloudpickle",))
    (culprit,) = report.culprits
    assert culprit.kind == "weakref"
    assert culprit.within is not None and culprit.within.path == "show.register"
    hint = culprit.within.hint
    assert hint.endswith("show is saved by value with its attributes (register among them): "
                         "define show in an importable module so it is saved by name")
    assert "create it inside show" not in hint
    assert library_edits(report) == []


def test_an_object_made_at_run_time_and_pickled_by_name_is_no_class():
    """numpy.frompyfunc's ufunc is pickled by name, and found under none: "made at run
    time", never "a class"."""
    np = pytest.importorskip("numpy")
    report = picklecheck.check(np.frompyfunc(lambda x: x, 1, 1), name="uf",
                               backends=("pickle",))
    (culprit,) = report.culprits
    assert culprit.kind == "unbound"
    assert "is made at run time by numpy" in culprit.hint
    assert "class" not in culprit.hint


@pytest.mark.parametrize("where", ["in a dict", "at the root"])
def test_one_object_is_one_culprit(tmp_path, where):
    """A file pickle cannot dump and dill would empty on load is one culprit, not two."""
    with open(tmp_path / "log.txt", "w") as handle:
        obj = {"log": handle} if where == "in a dict" else handle
        report = picklecheck.check(obj, name="state")
    (culprit,) = report.culprits
    assert culprit.path == ("state['log']" if where == "in a dict" else "state")
    assert set(culprit.backends) == {"pickle", "dill", "cloudpickle"}
    assert culprit.reasons["dill"].startswith("loads: ") and "empties it" in culprit.reasons["dill"]
    assert "with dill:" in culprit.hint and "dill: ok" not in culprit.hint
    assert "get past it" not in culprit.hint and "gets past it" not in culprit.hint


def test_a_class_is_one_culprit_whichever_backend_meets_it():
    """pickle fails on each instance of a model class defined in a function ("its class
    cannot be pickled"); dill gets past the instances and fails on the class itself. One
    thing to change: one culprit per instance, each naming both backends."""
    pydantic = pytest.importorskip("pydantic", reason="pydantic is not installed (picklecheck[test])")

    class Order(pydantic.BaseModel):
        id: int

    report = picklecheck.check([Order(id=1), Order(id=2)], name="orders")
    assert [(c.path, c.backends) for c in report.culprits] == [
        ("orders[0]", ("pickle", "dill")), ("orders[1]", ("pickle", "dill"))]
    for culprit in report.culprits:
        assert "not found as" in culprit.reasons["dill"]
        assert "move it to module level" in culprit.hint and "past it" not in culprit.hint
    assert [c.path for c in report.results["dill"].culprits] == ["orders[0].__class__"]
    assert "shown as 1 entry" in str(report)


class LooseSettings:
    """Settings read as attributes, the common way: ``__getattr__`` reads ``self._values``,
    which an empty copy does not have yet."""

    def __init__(self, **values):
        self._values = values

    def __getattr__(self, name):
        return self._values[name]


class Settings(LooseSettings):
    """The same, fixed as the hint says: what it cannot serve is an AttributeError."""

    def __getattr__(self, name):
        values = self.__dict__.get("_values", {})
        if name not in values:
            raise AttributeError(name)
        return values[name]


def test_a_getattr_that_recurses_on_an_empty_copy_is_named_and_fixed():
    """Loading makes an empty instance and looks ``__setstate__`` up on it; a
    ``__getattr__`` that reads an attribute the copy lacks calls itself without end. The
    hint says so and how to fix it, and the class fixed that way loads."""
    report = picklecheck.check({"settings": LooseSettings(debug=True)}, name="state")
    (culprit,) = report.culprits
    if sys.version_info < (3, 11):  # no object.__getstate__: dumping asks __getattr__ first
        assert (culprit.path, culprit.kind, culprit.stage) == (
            "state['settings']", "getattr_raises", "dumps")
        assert "__getstate__" in culprit.reason
        assert "have __getattr__ raise AttributeError" in culprit.hint
    else:
        assert (culprit.path, culprit.kind, culprit.stage) == (
            "state['settings']", "recursive_attribute", "loads")
        assert set(culprit.backends) == {"pickle", "dill", "cloudpickle"}
        assert "looks __setstate__ up" in culprit.hint
        assert "raise AttributeError" in culprit.hint
        assert "give test_hints.LooseSettings a __setstate__" in culprit.hint
    fixed = picklecheck.check({"settings": Settings(debug=True)}, name="state")
    assert fixed.ok, fixed


class Extras:
    """Attributes served from a dict that an empty copy does not have: its __getattr__
    raises KeyError, where Python expects AttributeError."""

    def __init__(self):
        self.__dict__["extras"] = {"colour": "red"}

    def __getattr__(self, name):
        return self.__dict__["extras"][name]


class AttrDict(dict):
    """The attribute dict everyone writes once."""

    __getattr__ = dict.__getitem__
    __setattr__ = dict.__setitem__


def test_a_getattr_that_raises_keyerror_is_named_and_fixed():
    """A pickler looks ``__getstate__`` up (every instance, before Python 3.11) and a
    loader looks ``__setstate__`` up on an empty copy, and both take only AttributeError
    for "none". A ``__getattr__`` raising KeyError instead was "give it a __reduce__" or
    "check its __reduce__ returns every argument": now it is named, with the fix."""
    report = picklecheck.check({"extras": Extras()}, name="state")
    (culprit,) = report.culprits
    assert (culprit.path, culprit.kind) == ("state['extras']", "getattr_raises")
    assert set(culprit.backends) == {"pickle", "dill", "cloudpickle"}
    assert "raises KeyError" in culprit.hint
    assert "have __getattr__ raise AttributeError" in culprit.hint
    if sys.version_info < (3, 11):
        assert culprit.stage == "dumps" and "looks __getstate__ up" in culprit.hint
    else:
        assert culprit.stage == "loads" and "looks __setstate__ up" in culprit.hint
        assert "give test_hints.Extras a __setstate__" in culprit.hint


def test_an_attribute_dict_is_named_where_python_asks_it_for_getstate():
    """``__getattr__ = dict.__getitem__`` has no frame of its own: the KeyError's message
    names what was looked up. Python 3.11 and up never ask for it (object has one)."""
    report = picklecheck.check({"config": AttrDict(debug=True)}, name="state")
    if sys.version_info >= (3, 11):
        assert report.ok, report
        return
    (culprit,) = report.culprits
    assert (culprit.path, culprit.kind, culprit.stage) == (
        "state['config']", "getattr_raises", "dumps")
    assert "looks __getstate__ up on test_hints.AttrDict" in culprit.hint


class Bar:
    """A progress bar."""


def _bar_with_wrapped_file():
    """A progress bar as tqdm builds one: its file wrapper's ``write`` is a function made
    in a function, which reaches the bar back through a weak proxy. The wrapper is a
    ``Proxy``: attributes fall through to the wrapped file, as in tqdm's."""
    bar = Bar()
    wrapper = c.Proxy(io.BytesIO())
    owner = weakref.proxy(bar)

    def write(data):
        owner.written = True
        return wrapper._target.write(data)

    wrapper.write = write
    bar.fp = wrapper
    return bar


def test_a_getattr_that_recurses_on_a_cycle_is_named_not_the_root():
    """dill saves ``write`` by value, so every part of the wrapper leads back to the bar
    and fails to load with it: the search used to end on the cycle's top (the bar
    itself, "it dumps but does not load"). The wrapper's ``__getattr__`` is why, and each
    backend that loads the bar names it, as cloudpickle always did."""
    report = picklecheck.check(_bar_with_wrapped_file(), name="bar", expand=True)
    for backend in ("dill", "cloudpickle"):
        culprits = report.results[backend].culprits
        assert [(f.path, f.kind) for f in culprits] == [("bar.fp", "recursive_attribute")]
    (entry,) = [f for f in report.culprits if "dill" in f.backends]
    assert entry.path == "bar.fp"
    assert {"dill", "cloudpickle"} <= set(entry.backends)


def test_library_local_function_is_not_moved_to_module_level():
    """A function a library defines inside another one is not the user's to move."""
    logger_filter = types.SimpleNamespace(cb=weakref.WeakValueDictionary())
    report = picklecheck.check(logger_filter, backends=("pickle",))
    assert report.culprits
    for culprit in report.culprits:
        assert "move it to module level" not in culprit.hint


@pytest.mark.parametrize(("make", "keep"), [
    (lambda: re.match(r"(\w+)@(\w+)", "ada@example"), "keep what it matched instead (match.group()"),
    (lambda: csv.writer(io.StringIO()), "keep the file's path and the csv options"),
    (lambda: hashlib.sha256(b"chunk"), "keep the data to hash, or its hexdigest()"),
], ids=["re.Match", "csv writer", "hashlib hash"])
def test_a_c_object_people_hold_says_what_to_keep(make, keep):
    """A match, a csv writer or a hash object is "a C type" like any other, but each has
    one obvious thing to keep instead, and the hint says it (in data, nothing more)."""
    report = picklecheck.check({"x": make()}, name="state")
    (culprit,) = report.culprits
    assert culprit.kind == "c_type"
    assert keep in culprit.hint
    assert "take it out of the data" not in culprit.hint


class FreshLockState:
    """Its __getstate__ makes a new lock on every call: each backend meets another."""

    def __init__(self):
        self.x = 1

    def __getstate__(self):
        return {"x": self.x, "guard": threading.Lock()}


def test_state_made_anew_for_each_backend_is_one_culprit_fixed_in_getstate():
    """pickle and cloudpickle each fail on a lock their own call of __getstate__ made: one
    culprit at one place, whose fix is in the __getstate__ it came from."""
    report = picklecheck.check(FreshLockState(), roundtrip=False)
    (culprit,) = report.culprits
    assert culprit.path == "obj[<state 'guard'>]"
    assert culprit.backends == ("pickle", "cloudpickle")
    assert (f"leave 'guard' out of the state {__name__}.FreshLockState.__getstate__ (or "
            "__reduce__) returns, and re-create it in __setstate__") in culprit.hint


@pytest.mark.parametrize(("make", "says"), [
    (lambda: io.TextIOWrapper(io.BytesIO(b"rows")), "keep its contents (getvalue() of the BytesIO"),
    (lambda: io.BufferedReader(io.BytesIO(b"rows")), "keep its contents (getvalue() of the BytesIO"),
    (lambda: sys.stdout, "look sys.stdout (or sys.stderr) up where it is used"),
    (lambda: sys.__stderr__, "look sys.stdout (or sys.stderr) up where it is used"),
], ids=["text wrapper of a BytesIO", "buffered reader of a BytesIO", "sys.stdout",
        "sys.__stderr__"])
def test_a_file_without_a_path_is_not_told_to_store_its_path(make, says):
    """A file in memory or a standard stream has no path to store and open again."""
    report = picklecheck.check({"out": make()}, backends=("pickle",), roundtrip=False)
    (culprit,) = report.culprits
    assert culprit.kind == "file"
    assert says in culprit.hint and "path" not in culprit.hint


def test_an_enum_of_the_script_dill_cannot_load_is_one_culprit_its_class(monkeypatch):
    """dill saves a class of the script (``__main__``) by value; an enum's does not load
    back. Its members lead back to the value checked, which fails only through its class:
    the class is the one culprit, and the fix is to save it by name."""
    import enum

    color = enum.Flag("Color", ["RED", "BLUE"], module="__main__")
    monkeypatch.setattr(sys.modules["__main__"], "Color", color, raising=False)
    value = color.RED | color.BLUE
    report = picklecheck.check(value, backends=("dill",), name="v")
    (culprit,) = report.culprits
    assert (culprit.path, culprit.stage, culprit.kind) == ("v.__class__", "loads", "load_failure")
    assert culprit.hint.startswith(
        "Color is defined in __main__, so it is saved by value, with what its namespace holds, "
        "and that copy of the class does not load back: define Color in an importable module")


def test_an_ssl_context_is_created_where_it_is_used_not_reconnected():
    """An SSLContext connects nothing: its fix is about its settings, not an address."""
    import ssl

    report = picklecheck.check({"ctx": ssl.create_default_context()}, backends=("pickle",))
    [culprit] = report.culprits
    assert culprit.kind == "socket"
    assert culprit.hint.startswith("an SSLContext holds settings and certificates")
    assert "address" not in culprit.hint


@pytest.mark.parametrize(("backend", "module", "words"), [
    ("multiprocessing", "multiprocessing", "when they start"),
    ("joblib", "joblib", "multiprocessing.Manager()"),
    ("dask", "distributed", "distributed.Queue"),
    ("ray", "ray", "ray.util.queue.Queue"),
])
def test_a_multiprocessing_queue_gets_each_framework_s_way_to_share(backend, module, words):
    """Only multiprocessing starts workers with what they are given; the others' workers
    are running when a task is sent, and each framework has its own shared queue."""
    pytest.importorskip(module)
    report = picklecheck.check({"q": multiprocessing.Queue()}, backends=(backend,),
                               roundtrip=False)
    [culprit] = report.culprits
    assert culprit.kind == "process_shared"
    assert words in culprit.hint


def test_a_function_of_a_module_made_at_run_time_is_generated():
    """Code a library compiles into a module it makes (mako's templates: 'memory:0x...')
    pickles by reference to a module no process can import: a generated function, not "a
    C type"."""
    module = types.ModuleType("memory:0x7f00")
    exec("def render_body(context):\n    return 'hi'\n", module.__dict__)  # noqa: S102
    report = picklecheck.check({"render": module.render_body}, backends=("pickle",))
    [culprit] = report.culprits
    assert culprit.kind == "generated_function"
    assert "compiled at run time" in culprit.hint


@pytest.mark.parametrize("factory", [
    lambda: multiprocessing.RawValue("i", 0),
    lambda: multiprocessing.Value("d", 0.0, lock=False),
], ids=["RawValue", "Value without a lock"])
def test_a_shared_value_without_a_lock_is_shared_memory_not_an_open_file(factory):
    """A RawValue is a plain ctypes object in multiprocessing's shared memory (an mmap):
    its fix is to hand it to workers as they start, not "holds open files ... create it
    where it is used", which would give each process a counter of its own."""
    report = picklecheck.check({"counter": factory()}, backends=("pickle",))
    [entry] = report.entries
    assert entry.path == "obj['counter']"
    assert "lives in memory multiprocessing shares" in entry.hint
    assert {c.kind for c in report.culprits} == {"process_shared"}


def test_a_pickle_buffer_s_fix_is_protocol_5():
    """A PickleBuffer is protocol 5's out-of-band buffer: pickle's default protocol
    refuses it, protocol 5 (cloudpickle's default) saves it; not "a C type that none of
    its methods can pickle"."""
    import pickle

    buffer = pickle.PickleBuffer(bytearray(b"rows"))
    report = picklecheck.check({"buf": buffer}, backends=("pickle", "cloudpickle"))
    [culprit] = report.culprits
    assert culprit.hint.startswith("a PickleBuffer pickles only with protocol 5")
    assert report.results["cloudpickle"].ok
    assert picklecheck.check({"buf": buffer}, backends=("pickle",), protocol=5).ok


class Lookup:
    """A cache per instance, of a bound method: made at run time, under the method's name."""

    def __init__(self):
        self.get = functools.lru_cache(maxsize=128)(self._get)

    def _get(self, key):
        return key


def test_a_per_instance_cache_of_a_method_is_a_wrapper_made_at_run_time():
    """``self.get = lru_cache()(self._get)``: pickle finds the method under the wrapper's
    name, not the wrapper. Its fix is to wrap again in __setstate__ (it read "redefined
    after use ... give it a unique module-level name", and named the wrapper by its repr)."""
    report = picklecheck.check(Lookup(), backends=["pickle"])
    (culprit,) = report.culprits
    assert (culprit.path, culprit.kind) == ("obj.get", "wrapped")
    assert culprit.hint.startswith("it wraps the method test_hints.Lookup._get per instance")
    assert "wrap the method again in __setstate__" in culprit.hint


class Token:
    """A value that compares by identity."""


class Stage(enum.Enum):
    """Members whose values compare by identity: a loaded copy of a value is no member's."""

    RAW = Token()
    CLEAN = Token()


def test_an_enum_member_whose_value_compares_by_identity_is_fixed_by_pickling_it_by_name():
    """Enum pickles a member as Stage(value); a copied Token() is no member's value, so
    every load fails. The fix is to pickle members by name (it was "check that its
    __reduce__ returns every argument its constructor needs")."""
    report = picklecheck.check({"stage": Stage.RAW}, backends=["pickle"])
    (culprit,) = report.culprits
    assert (culprit.path, culprit.kind, culprit.stage) == ("obj['stage']", "load_failure", "loads")
    assert "have its members pickled by name" in culprit.hint
    assert "enum.pickle_by_enum_name" in culprit.hint and "constructor" not in culprit.hint


def test_a_polars_expression_whose_python_function_holds_a_lock_names_the_function():
    """polars pickles an expression's Python functions (map_elements) with cloudpickle, in
    Rust; a lock in one's closure fails there. The fix is about the function and what it
    holds (it was "Expr refuses to be pickled ... take it out of the data"). Needs polars
    (the realworld extra)."""
    pl = pytest.importorskip("polars", reason="polars is not installed (picklecheck[realworld])")

    def per_row():
        guard = threading.Lock()
        return pl.col("url").map_elements(lambda u: guard.locked() or len(u),
                                          return_dtype=pl.Int64)

    report = picklecheck.check({"expr": per_row()}, backends=["pickle"], roundtrip=False)
    (entry,) = report.entries
    assert entry.path == "obj['expr']"
    assert "pickles the Python functions in it (map_elements, map_batches)" in entry.hint
    assert "cannot pickle '_thread.lock' object" in entry.hint


def test_a_class_made_at_run_time_is_one_entry_whatever_each_backend_fails_on():
    """A ctypes array: pickle cannot find its class (c_int_Array_3), dill fails on the class's
    metaclass and cloudpickle's copy does not load; sys.flags: pickle and dill cannot find
    its class, cloudpickle's copy does not load. One entry each (they were two: the object
    and its class, or its class's class); the array's fix keeps its contents (it said
    "define it at module level", which cannot give it a name pickle finds)."""
    import ctypes

    for obj, kind in (((ctypes.c_int * 3)(1, 2, 3), "runtime_class"),
                      (sys.flags, "stale_reference")):
        report = picklecheck.check({"v": obj}, name="state")
        assert [(e.path, e.kind) for e in report.entries] == [("state['v']", kind)], obj
        assert set(report.entries[0].culprits[0].backends) == {"pickle", "dill", "cloudpickle"}
    (entry,) = picklecheck.check({"v": (ctypes.c_int * 3)(1, 2, 3)}, name="state").entries
    assert "keep the contents (list(arr), or bytes(arr))" in entry.hint
    assert "define it at module level" not in entry.hint
    (entry,) = picklecheck.check({"v": sys.flags}, name="state").entries
    assert entry.hint.startswith("sys.flags is a record of this interpreter")
    assert "keep the fields you need (tuple(sys.flags)" in entry.hint


@pytest.mark.skipif(sys.version_info < (3, 12), reason="the [T] syntax is Python 3.12+")
def test_a_type_parameter_of_the_bracket_syntax_is_not_blamed_on_typing():
    """``class Box[T]``'s T says its module is typing: the hint names the syntax and what
    works, not "typing.T is made at run time by typing; take it out of the data"."""
    namespace = {"__name__": "__main__"}
    exec("class Box[T]:\n    def __init__(self, v):\n        self.v = v\n", namespace)  # noqa: S102
    report = picklecheck.check(namespace["Box"], backends=("dill",), name="Box")
    assert report.culprits, str(report)
    for culprit in report.culprits:
        assert culprit.hint.startswith("T is the type parameter of a generic written with "
                                       "the [T] syntax"), culprit.hint
        assert "by typing" not in culprit.hint


class _StateFromObject:
    """Builds its state from ``object.__getstate__``, which exists from Python 3.11."""

    def __init__(self):
        self.rows, self._lock = [1, 2], threading.Lock()

    def __getstate__(self):
        state = super().__getstate__().copy()
        del state["_lock"]
        return state


@pytest.mark.skipif(sys.version_info >= (3, 11), reason="object.__getstate__ exists")
def test_super_getstate_before_3_11_is_named_as_what_fails():
    """Before 3.11, super().__getstate__() raises AttributeError: the class does not
    "refuse to be pickled", it calls what this Python lacks."""
    report = picklecheck.check({"cache": _StateFromObject()}, backends=("pickle",))
    [culprit] = report.culprits
    assert culprit.hint.startswith("test_hints._StateFromObject.__getstate__ calls "
                                   "super().__getstate__(), "
                                   "which object has only from Python 3.11 on"), culprit.hint


def test_a_function_of_a_module_never_put_in_sys_modules_is_named_so(tmp_path):
    """A plugin loader's module_from_spec and exec_module, without sys.modules[name] =
    module: pickle cannot import it by name. The hint says to register the module, not
    that the function was "compiled at run time (from a template)"."""
    import importlib.util

    path = tmp_path / "plugin_unregistered.py"
    path.write_text("def scale(v):\n    return v * 2\n")
    spec = importlib.util.spec_from_file_location("plugin_unregistered", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = picklecheck.check(module.scale, backends=("pickle",), name="scale")
    [culprit] = report.culprits
    assert culprit.kind == "unimportable"
    assert "sys.modules[spec.name] = module" in culprit.hint and "template" not in culprit.hint


def test_psycopg_objects_get_psycopgs_words():
    """psycopg 3's Connection and Cursor (Python classes over its C connection) are
    named as what they are, whatever the culprits inside them (locks, run-time classes)."""
    from picklecheck.engine.fixes import library_fix

    connection = type("Connection", (), {"__module__": "psycopg"})
    cursor = type("Cursor", (), {"__module__": "psycopg"})
    assert "call psycopg.connect()" in library_fix(connection, ["runtime_class"])
    assert "send the query and its parameters" in library_fix(cursor, ["lock"])
    other = type("connection", (), {"__module__": "psycopg2.extensions"})
    assert library_fix(other, ["lock"]) is None  # psycopg2's C connection is a database kind
