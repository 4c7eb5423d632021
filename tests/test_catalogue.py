"""The culprit catalogue: real objects, every backend, exact paths and verdicts."""

from __future__ import annotations

import collections
import functools
import multiprocessing
import os
import queue
import sqlite3
import threading
import types

import culprits as c
import pytest

import picklecheck

OK = (None, {})


def expect(pickle=OK, dill=OK, cloudpickle=OK):
    return {"pickle": pickle, "dill": dill, "cloudpickle": cloudpickle}


def fails(stage, **paths):
    """A backend that fails at ``stage`` with culprits ``{path: kind}``."""
    return (stage, paths)


def at(path, kind, stage="dumps"):
    return fails(stage, **{path: kind})


CATALOGUE = [
    pytest.param(lambda: c.square, expect(pickle=at("obj", "lambda")), id="module-level lambda"),
    pytest.param(c.make_closure, expect(pickle=at("obj", "local")), id="local function closure"),
    pytest.param(lambda: functools.partial(c.square, 3), expect(pickle=at("obj.func", "lambda")),
                 id="partial of a lambda"),
    pytest.param(lambda: collections.defaultdict(lambda: 0, a=1),
                 expect(pickle=at("obj.default_factory", "lambda")), id="defaultdict lambda factory"),
    pytest.param(c.make_local_instance, expect(pickle=at("obj", "local")), id="local class instance"),
    pytest.param(c.make_local_enum, expect(pickle=at("obj", "local"), dill=at("obj", "local")),
                 id="local enum member"),
    pytest.param(lambda: {"code": c.scale.__code__}, expect(pickle=at("obj['code']", "code")),
                 id="code object"),
    pytest.param(lambda: {"client": c.DbClient()},
                 expect(*[at("obj['client']", "custom_reduce")] * 3), id="__getstate__ raises"),
    pytest.param(lambda: {"accounts": [c.Account("ada", 10)]},
                 expect(*[at("obj['accounts'][0]", "load_failure", "loads")] * 3),
                 id="__reduce__ forgets an argument"),
    pytest.param(lambda: {"v": c.Versioned()},
                 expect(*[at("obj['v']", "load_failure", "loads")] * 3), id="__setstate__ raises"),
    pytest.param(lambda: [c.ValidationError("age", "negative")],
                 expect(*[at("obj[0]", "load_failure", "loads")] * 3),
                 id="exception with required init args"),
    pytest.param(lambda: c.Temperature(20.0, "C"),
                 expect(*[at("obj", "load_failure", "loads")] * 3), id="__new__ with required args"),
    pytest.param(lambda: threading.Lock(), expect(pickle=at("obj", "lock"), cloudpickle=at("obj", "lock")),
                 id="lock"),
    pytest.param(lambda: [1, threading.RLock()],
                 expect(pickle=at("obj[1]", "lock"), cloudpickle=at("obj[1]", "lock"),
                        # dill's copy of an RLock can never be acquired
                        dill=at("obj[1]", "lock", "loads")), id="rlock in a list"),
    pytest.param(lambda: threading.Event(),
                 expect(pickle=at("obj._cond._lock", "lock"), cloudpickle=at("obj._cond._lock", "lock")),
                 id="event"),
    pytest.param(lambda: queue.Queue(),
                 expect(pickle=at("obj.mutex", "lock"), cloudpickle=at("obj.mutex", "lock")),
                 id="queue.Queue"),
    pytest.param(lambda: queue.SimpleQueue(), expect(*[at("obj", "queue")] * 3), id="SimpleQueue"),
    pytest.param(lambda: threading.local(), expect(*[at("obj", "thread")] * 3), id="thread-local"),
    pytest.param(lambda: c.Holder().run,
                 expect(pickle=at("obj.__self__._lock", "lock"),
                        cloudpickle=at("obj.__self__._lock", "lock")),
                 id="bound method of a lock holder"),
    pytest.param(c.make_closure_over_lock,
                 expect(pickle=at("obj", "local"),
                        cloudpickle=at("obj.__closure__[0].cell_contents", "lock")),
                 id="closure over a lock"),
    pytest.param(lambda: {"db": c.Database()},
                 expect(pickle=at("obj['db'].conn._lock", "lock"),
                        cloudpickle=at("obj['db'].conn._lock", "lock")),
                 id="lock three attributes deep"),
    pytest.param(lambda: {"name": "exp1", "db": {"pools": [{"size": 4}, c.RateLimiter(2.0)]}},
                 expect(pickle=at("obj['db']['pools'][1]._lock", "lock"),
                        cloudpickle=at("obj['db']['pools'][1]._lock", "lock")),
                 id="dataclass lock field in nested config"),
    pytest.param(c.SlotWorker,
                 expect(pickle=at("obj.lock", "lock"), cloudpickle=at("obj.lock", "lock")),
                 id="__slots__ holding a lock"),
    pytest.param(lambda: multiprocessing.Lock(), expect(*[at("obj", "process_shared")] * 3),
                 id="multiprocessing lock"),
    pytest.param(lambda: {"db": sqlite3.connect(":memory:")}, expect(*[at("obj['db']", "database")] * 3),
                 id="sqlite3 connection"),
    pytest.param(lambda: sqlite3.connect(":memory:").cursor(), expect(*[at("obj", "database")] * 3),
                 id="sqlite3 cursor"),
    pytest.param(lambda: c.build("socket"), expect(*[at("obj", "socket")] * 3), id="socket"),
    pytest.param(lambda: {"gen": c.build("generator")}, expect(*[at("obj['gen']", "generator")] * 3),
                 id="generator"),
    pytest.param(lambda: {"m": os}, expect(pickle=at("obj['m']", "module")), id="module"),
    pytest.param(lambda: c.build("weakref"),
                 expect(pickle=at("obj", "weakref"), cloudpickle=at("obj", "weakref")), id="weakref"),
    pytest.param(lambda: {1: 2}.keys(), expect(pickle=at("obj", "view")), id="dict keys view"),
    pytest.param(lambda: types.MappingProxyType({"a": 1}), expect(pickle=at("obj", "view")),
                 id="mappingproxy"),
    pytest.param(lambda: c.FeatureJob().mapper(),
                 expect(pickle=at("obj", "lambda"),
                        dill=at("obj.__closure__[0].cell_contents.conn", "database"),
                        cloudpickle=at("obj.__closure__[0].cell_contents.conn", "database")),
                 id="lambda closing over self with a connection"),
    pytest.param(lambda: c.Dataset("/data", transform=lambda i: i * 255),
                 expect(pickle=at("obj.transform", "lambda")), id="dataset with lambda transform"),
    pytest.param(lambda: {"tags": {1, c.square}}, expect(pickle=at("obj['tags'][<set element>]", "lambda")),
                 id="lambda in a set"),
    pytest.param(lambda: ("a", (1, threading.Lock())),
                 expect(pickle=at("obj[1][1]", "lock"), cloudpickle=at("obj[1][1]", "lock")),
                 id="lock in nested tuples"),
    pytest.param(lambda: c.Handle("k1"), expect(pickle=at("obj", "lambda")),
                 id="__reduce__ returns a lambda"),
    pytest.param(c.ReduceRaises, expect(*[at("obj", "custom_reduce")] * 3),
                 id="__reduce_ex__ raises KeyError"),
    pytest.param(lambda: {"p": c.build("partial_lock")},
                 expect(pickle=at("obj['p'].args[0]", "lock"), cloudpickle=at("obj['p'].args[0]", "lock")),
                 id="lock as a partial argument"),
    pytest.param(lambda: c.Proxy(threading.Lock()),
                 expect(pickle=at("obj._target", "lock"), dill=at("obj", "recursive_attribute", "loads"),
                        cloudpickle=at("obj._target", "lock")),
                 id="__getattr__ proxy"),
    pytest.param(lambda: {"r": c.RaisingRepr()},
                 expect(pickle=at("obj['r'].lock", "lock"), cloudpickle=at("obj['r'].lock", "lock")),
                 id="__repr__ raises"),
    pytest.param(lambda: [c.HostileEq()], expect(pickle=at("obj[0].cb", "lambda")),
                 id="__eq__ and __hash__ raise"),
    pytest.param(lambda: {"first": threading.Lock(), "second": [c.square], "third": {"x": threading.RLock()}},
                 expect(pickle=fails("dumps", **{"obj['first']": "lock", "obj['second'][0]": "lambda",
                                                 "obj['third']['x']": "lock"}),
                        cloudpickle=fails("dumps", **{"obj['first']": "lock", "obj['third']['x']": "lock"}),
                        dill=at("obj['third']['x']", "lock", "loads")),
                 id="every culprit, not only the first"),
    pytest.param(lambda: c.Session(),
                 expect(pickle=fails("dumps", **{"obj.db.conn._lock": "lock",
                                                 "obj.handlers[1]['cb']": "lambda"}),
                        cloudpickle=at("obj.db.conn._lock", "lock")),
                 id="session-like object"),
    pytest.param(lambda: {"bytes": c.build("bytesio"), "ok": [1, 2.5, "x", None]}, expect(),
                 id="control: picklable values"),
]


@pytest.mark.parametrize(("factory", "expected"), CATALOGUE)
def test_catalogue(factory, expected):
    """Each backend fails where the reference says, at exactly these paths and kinds."""
    obj = factory()
    report = picklecheck.check(obj)
    for backend, (stage, paths) in expected.items():
        result = report.results[backend]
        found = {culprit.path: culprit.kind for culprit in result.culprits}
        assert (result.stage, found) == (stage, paths), backend
    for culprit in report.culprits:
        if culprit.evaluable:
            assert eval(culprit.path, {"obj": obj}) is culprit.obj  # noqa: S307


def test_culprit_carries_reason_hint_and_alternatives():
    """A culprit names its type, the backend's message, a fix and who can cope."""
    report = picklecheck.check({"db": c.Database()}, name="state")
    (culprit,) = report.culprits
    assert culprit.path == "state['db'].conn._lock"
    assert culprit.type == "_thread.lock"
    assert culprit.reason == "cannot pickle '_thread.lock' object"
    assert culprit.backends == ("pickle", "cloudpickle")
    assert culprit.works_with == {"pickle": False, "dill": True, "cloudpickle": False}
    assert "Conn.__getstate__" in culprit.hint
    assert "dill: ok" in culprit.hint


def test_shared_culprit_is_reported_once():
    """An object reachable by several paths is one culprit, at its first path."""
    lock = threading.Lock()
    report = picklecheck.check({"a": [lock], "b": {"again": lock}}, backends=("pickle",))
    assert [cu.path for cu in report.culprits] == ["obj['a'][0]"]


def test_reference_cycle_is_fine():
    """A self-referencing structure with a culprit inside terminates and finds it."""
    data = {"name": "loop"}
    data["self"] = data
    data["cb"] = c.square
    report = picklecheck.check(data, backends=("pickle",))
    assert [cu.path for cu in report.culprits] == ["obj['cb']"]


def test_max_culprits_truncates():
    """The search stops at max_culprits and says so."""
    report = picklecheck.check([threading.Lock() for _ in range(30)], backends=("pickle",),
                               max_culprits=5)
    assert len(report.culprits) == 5
    assert report.results["pickle"].truncated


def test_unknown_backend_is_a_clear_error():
    """A backend name that is not known raises ValueError naming the choices."""
    with pytest.raises(ValueError, match="unknown backend 'marshal'.*'pickle', 'dill', 'cloudpickle'"):
        picklecheck.check(1, backends=("marshal",))


def test_ok_report_has_sizes_and_times():
    """A clean object: ok everywhere, a size and a dumps time per backend, no culprits."""
    report = picklecheck.check({"a": [1, 2, 3]})
    assert report.ok and report.culprits == []
    for result in report.results.values():
        assert result.ok and result.size > 0 and result.dumps_seconds >= 0 and result.roundtrip


def test_protocol_is_passed_through():
    """__slots__ without __getstate__ cannot be pickled with protocol 1."""

    report = picklecheck.check(c.SlotWorker.__new__(c.SlotWorker), backends=("pickle",), protocol=1)
    assert not report.ok
    assert report.results["pickle"].culprits[0].path == "obj"


PATHS = [
    pytest.param(lambda: c.uses_global_lock, {"pickle": "obj", "cloudpickle": "obj.__globals__['LOCK']"},
                 id="global referenced by a lambda"),
    pytest.param(lambda: (lambda x=threading.Lock(): x),  # noqa: B008
                 {"pickle": "obj", "cloudpickle": "obj.__defaults__[0]"},
                 id="default argument"),
    pytest.param(lambda: ValueError("bad", threading.Lock()), {"pickle": "obj.args[1]"},
                 id="exception argument"),
    pytest.param(lambda: c.Point3(1, threading.Lock(), 3), {"pickle": "obj[1]", "cloudpickle": "obj[1]"},
                 id="namedtuple field"),
    pytest.param(lambda: functools.partial(print, sep=threading.Lock()),
                 {"pickle": "obj.keywords['sep']"}, id="partial keyword"),
    pytest.param(lambda: collections.OrderedDict(a=1, b=threading.Lock()), {"pickle": "obj['b']"},
                 id="OrderedDict value"),
    pytest.param(lambda: types.SimpleNamespace(q=threading.Lock()), {"pickle": "obj.q"},
                 id="SimpleNamespace attribute"),
    pytest.param(lambda: collections.deque([1, threading.Lock()]), {"pickle": "obj[1]"}, id="deque item"),
    pytest.param(lambda: c.Frozen(threading.Lock()), {"pickle": "obj.value"}, id="frozen dataclass"),
    pytest.param(c.make_class_with_lock_attribute, {"pickle": "obj", "cloudpickle": "obj.lock"},
                 id="class attribute of a class saved by value"),
    pytest.param(c.RenamingState, {"pickle": "obj[<state 'renamed'>]"}, id="renamed __getstate__ key"),
    pytest.param(lambda: threading.Lock().acquire, {"pickle": "obj.__self__"}, id="builtin bound method"),
]


@pytest.mark.parametrize(("factory", "expected"), PATHS)
def test_paths(factory, expected):
    """Paths use attribute and item syntax wherever Python has it."""
    obj = factory()
    report = picklecheck.check(obj, backends=tuple(expected), roundtrip=False)
    for backend, path in expected.items():
        (culprit,) = report.results[backend].culprits
        assert culprit.path == path
        if culprit.evaluable:
            assert eval(path, {"obj": obj}) is culprit.obj  # noqa: S307


def test_copyreg_reducer_is_what_the_pickler_sees():
    """A copyreg reducer that drops the lock makes the object fine: no false culprit."""
    report = picklecheck.check({"r": c.Registered([1, 2])})
    assert report.ok, str(report)


def test_copyreg_reducer_state_is_walked():
    """A copyreg reducer's state is walked like __reduce__'s: the lock is found there."""
    report = picklecheck.check({"r": c.RegisteredLeaky()}, backends=("pickle",), roundtrip=False)
    assert [cu.path for cu in report.culprits] == ["obj['r'].lock"]


def test_numpy_object_array_element():
    """numpy object arrays: the element is named ``arr[i, j]``, and that path evaluates."""
    np = pytest.importorskip("numpy")
    grid = np.empty((2, 2), dtype=object)
    grid[1, 0] = threading.Lock()
    report = picklecheck.check({"grid": grid}, backends=("pickle",), roundtrip=False)
    (culprit,) = report.culprits
    assert culprit.path == "obj['grid'][1, 0]"
    assert eval(culprit.path, {"obj": {"grid": grid}}) is grid[1, 0]  # noqa: S307


def test_numpy_numeric_array_is_fine():
    """A numeric array pickles everywhere (protocol 5 buffers are counted, not refused)."""
    np = pytest.importorskip("numpy")
    report = picklecheck.check(np.arange(100_000.0), protocol=5, roundtrip=False)
    assert report.ok and report.results["pickle"].size > 800_000


@pytest.mark.parametrize("protocol", [0, 1])
def test_old_protocols_blame_the_lock_not_its_class(protocol):
    """With protocols 0 and 1 a lock fails through its class: still the lock, still a lock."""
    lock = threading.Lock()
    report = picklecheck.check({"lock": lock}, backends=("pickle",), protocol=protocol)
    assert [(cu.path, cu.kind) for cu in report.culprits] == [("obj['lock']", "lock")]
