"""Collapsing at the user's boundary: a library object is reported once, by the path the
user's data holds it at, with a fix at that level; the full list stays available."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import io
import json
import logging
import logging.handlers
import multiprocessing
import queue
import sys
import threading
import time
import types
from concurrent.futures import Future, ThreadPoolExecutor

import culprits as c
import pytest

import picklecheck
from picklecheck.engine.usercode import UserCode


class Services:
    """An app's bag of long-lived helpers."""

    def __init__(self, **parts):
        self.__dict__.update(parts)


# -- what "the user's code" is ---------------------------------------------------------

def test_user_code_is_main_and_files_outside_the_library_folders():
    """__main__ and the test modules are the user's; stdlib, site-packages and picklecheck
    are not; a named package counts as the user's even when installed."""
    user = UserCode()
    assert user.module("__main__") and user.module(__name__) and user.module("culprits")
    assert not user.module("threading") and not user.module("_thread")
    assert not user.module("click.core") and not user.module("picklecheck.model")
    assert UserCode(["click"]).module("click.core")
    assert user.module("never_imported_anywhere")
    assert user.defines(Services()) and user.defines(c.square) and user.defines(Services)
    assert not user.defines(threading.Lock()) and not user.defines(print)


def test_a_submodule_an_extension_makes_is_its_package_s(monkeypatch):
    """A module with no file of its own (a C extension's submodule, as duckdb's
    _duckdb._sqltypes, whose column types were each an entry "of the user's" inside a
    relation) is its package's: a library's when the package is installed; a name found
    nowhere at all stays the user's."""
    monkeypatch.setitem(sys.modules, "click._made_by_extension",
                        types.ModuleType("click._made_by_extension"))
    monkeypatch.setitem(sys.modules, "made_at_run_time", types.ModuleType("made_at_run_time"))
    user = UserCode()
    assert not user.module("click._made_by_extension")
    assert user.module("made_at_run_time") and user.module("nowhere_at_all.sub")


# -- collapsing ---------------------------------------------------------------------------

def started_thread(request):
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    request.addfinalizer(thread.join)
    request.addfinalizer(stop.set)
    return thread


def test_library_object_is_one_entry_with_everything_inside(request):
    """A started thread fails on several locks inside: one entry, the thread itself."""
    thread = started_thread(request)
    report = picklecheck.check(thread, backends=("pickle",))
    assert len(report.culprits) > 1
    (entry,) = report.entries
    assert (entry.path, entry.inside, entry.obj) == ("obj", True, thread)
    assert entry.type == "threading.Thread"
    assert len(entry.culprits) == len(report.culprits)
    assert all(cu.within is not None and cu.within.obj is thread for cu in report.culprits)


def test_user_object_holding_library_objects(request):
    """Each helper of the user's object is one entry at its attribute, fixed in the user's
    class; a lock directly held stays itself."""
    pool = ThreadPoolExecutor(max_workers=1)
    request.addfinalizer(pool.shutdown)
    pool.submit(sum, [1]).result()
    services = Services(pool=pool, log=logging.StreamHandler(), lock=threading.Lock(),
                        on_done=c.square, retries=3)
    report = picklecheck.check(services, backends=("pickle",))
    paths = {e.path: e for e in report.entries}
    assert set(paths) == {"obj.pool", "obj.log", "obj.lock", "obj.on_done"}
    assert paths["obj.pool"].inside and paths["obj.log"].inside
    assert not paths["obj.lock"].inside
    assert paths["obj.pool"].obj is pool and paths["obj.lock"].obj is services.lock
    assert f"drop pool in {__name__}.Services.__getstate__" in paths["obj.pool"].hint
    assert "logging" in paths["obj.log"].hint


def test_users_callback_inside_a_library_object_stays_a_culprit():
    """A lambda the user handed to a library object is the user's to change."""
    report = picklecheck.check({"args": argparse.Namespace(key=c.square)}, backends=("pickle",))
    assert [(e.path, e.inside) for e in report.entries] == [("obj['args'].key", False)]


def test_outermost_library_object_is_the_one_reported():
    """A library object inside a library object: the outer one is what the user holds."""
    inner = logging.StreamHandler(io.StringIO())
    outer = logging.handlers.MemoryHandler(10, target=inner)
    report = picklecheck.check({"outer": outer}, backends=("pickle",))
    (entry,) = report.entries
    assert (entry.path, entry.type, entry.inside) == (
        "obj['outer']", "logging.handlers.MemoryHandler", True)
    assert "obj['outer'].target.lock" in [c.path for c in report.culprits]


class Worker:
    """Holds an in-process queue."""

    def __init__(self):
        self.jobs = queue.Queue()


def test_alike_library_objects_group():
    """Ten user objects each holding a queue.Queue: one entry for the ten queues."""
    report = picklecheck.check([Worker() for _ in range(10)], backends=("pickle",))
    (entry,) = report.entries
    assert (entry.path, entry.count, entry.inside) == ("obj[0..9].jobs", 10, True)


def test_expand_and_json_keep_every_culprit(request):
    """expand=True lists each culprit; JSON has every culprit and where it sits."""
    thread = started_thread(request)
    expanded = picklecheck.check(thread, backends=("pickle",), expand=True)
    assert [e.path for e in expanded.entries] == [cu.path for cu in expanded.culprits]
    data = json.loads(json.dumps(picklecheck.check(thread, backends=("pickle",)).to_dict()))
    assert all(cu["within"] == "obj" for cu in data["culprits"])
    assert data["entries"][0]["inside"] is True
    assert data["entries"][0]["culprits"] == [cu["path"] for cu in data["culprits"]]


def test_plain_text_and_error_show_what_is_inside(request):
    """str(report) and UnpicklableError: the library object, N culprits inside, first one."""
    thread = started_thread(request)
    report = picklecheck.check({"worker": thread}, name="state", backends=("pickle",))
    text = " ".join(str(report).split())
    assert "state['worker'] (threading.Thread) [pickle]" in text
    assert f"holds: {len(report.culprits)} culprits inside, first: state['worker']." in text
    with pytest.raises(picklecheck.UnpicklableError) as info:
        picklecheck.assert_picklable({"worker": thread}, name="state")
    assert "holds:" in str(info.value)


def test_event_loop_is_one_entry():
    """An asyncio event loop: one entry naming the loop, with asyncio's own advice."""
    loop = asyncio.new_event_loop()
    try:
        report = picklecheck.check({"loop": loop}, backends=("pickle", "cloudpickle"))
    finally:
        loop.close()
    (entry,) = report.entries
    assert entry.path == "obj['loop']" and entry.obj is loop
    assert "asyncio.run()" in entry.hint


# -- real third-party objects ------------------------------------------------------------

def _sqlalchemy_session():
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from sqlalchemy.orm import Session

    engine = sqlalchemy.create_engine("sqlite://")
    session = Session(engine)
    session.execute(sqlalchemy.text("select 1"))
    return session


def _boto3_client():
    boto3 = pytest.importorskip("boto3")
    return boto3.client("s3", region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def _httpx_client():
    return pytest.importorskip("httpx").Client(base_url="https://api.example.com")


def _openai_client():
    openai = pytest.importorskip("openai")
    return openai.OpenAI(api_key="sk-test-not-a-key", base_url="http://127.0.0.1:9/v1")


LIBRARY_OBJECTS = [
    pytest.param(_sqlalchemy_session, "SQLAlchemy Session", id="sqlalchemy session"),
    pytest.param(_boto3_client, "boto3 client", id="boto3 client"),
    pytest.param(_httpx_client, "httpx Client", id="httpx client"),
    pytest.param(_openai_client, "OpenAI client", id="openai client"),
]


@pytest.mark.parametrize(("factory", "words"), LIBRARY_OBJECTS)
def test_library_clients_are_one_entry(factory, words):
    """A client of a popular library is one entry naming the client, with its advice."""
    client = factory()
    report = picklecheck.check(client, backends=("pickle", "cloudpickle"))
    assert len(report.culprits) >= 2
    (entry,) = report.entries
    assert entry.obj is client and entry.path == "obj" and entry.inside
    assert words in entry.hint
    assert len(str(report).splitlines()) < 20


@pytest.mark.parametrize(("factory", "words"), LIBRARY_OBJECTS)
def test_user_object_holding_a_client(factory, words):
    """The same client inside the user's object: named at its attribute, fixed there."""
    report = picklecheck.check(Services(client=factory(), name="x"), backends=("pickle",))
    (entry,) = report.entries
    assert entry.path == "obj.client"
    assert f"drop client in {__name__}.Services.__getstate__" in entry.hint


def test_jinja_environment_names_the_users_filter_and_the_environment():
    """A lambda filter is the user's (its own entry); the rest is the Environment's."""
    jinja2 = pytest.importorskip("jinja2")
    env = jinja2.Environment(loader=jinja2.DictLoader({"hi.txt": "Hello {{ name }}"}))
    env.filters["shout"] = lambda s: s.upper()
    env.get_template("hi.txt")
    report = picklecheck.check(env, backends=("pickle",))
    by_path = {e.path: e for e in report.entries}
    assert by_path["obj.filters['shout']"].obj is env.filters["shout"]
    assert len(report.entries) <= 5


def test_a_torchscript_module_is_one_entry_with_torch_s_own_fix():
    """A scripted module fails in a dozen C objects of TorchScript's runtime: one entry,
    whose fix is torch's way to send it (needs torch: ``pip install torch``)."""
    torch = pytest.importorskip("torch")
    model = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU()))
    report = picklecheck.check(model, backends=("pickle",))
    (entry,) = report.entries
    assert entry.path == "obj" and len(report.culprits) > 1
    assert "torch.jit.save(model, path)" in entry.hint


def test_compare_view_names_the_library_object(request):
    """The compare table's first culprit is the report's first entry: the thread itself."""
    from picklecheck.report.compare_view import compare_rows

    thread = started_thread(request)
    report = picklecheck.check({"worker": thread}, backends=("pickle",))
    (row,) = compare_rows(report)
    assert row.culprit == f"obj['worker'] (threading.Thread, holds {len(report.culprits)})"


# -- a library's words only where they are true -------------------------------------------

def _record_with(exc_info=None, args=()):
    return logging.LogRecord("app", logging.ERROR, __file__, 1, "failed %s", args, exc_info)


def _raised():
    try:
        raise ValueError("boom")
    except ValueError:
        return sys.exc_info()


@pytest.mark.parametrize(("make", "says", "never"), [
    # logging's advice speaks of a lock and a stream: a record holds neither.
    pytest.param(lambda: _record_with(exc_info=_raised()),
                 "format it first (record.exc_text = logging.Formatter().formatException(",
                 "holds a lock and an open stream", id="record with a traceback"),
    pytest.param(Future,
                 "pass its result (future.result()) instead", "threads or processes",
                 id="future"),
])
def test_a_library_object_is_described_by_what_it_holds(make, says, never):
    """A library's own advice says what its objects hold (a logging handler's lock and
    stream, an executor's threads); an object of the library holding none of that gets
    words that are true of it: its own advice, or what is inside it."""
    report = picklecheck.check({"item": make()}, backends=("pickle",), roundtrip=False)
    (entry,) = report.entries
    assert entry.path == "obj['item']" and entry.inside
    assert says in entry.hint
    assert never not in entry.hint


def test_a_traceback_is_kept_as_text():
    """A traceback is no running generator: its fix keeps its text."""
    report = picklecheck.check({"tb": _raised()[2]}, backends=("pickle",), roundtrip=False)
    (culprit,) = report.culprits
    assert culprit.kind == "generator"
    assert "keep its text instead" in culprit.hint and "restart" not in culprit.hint


class Tasks:
    """The user's class: its namespace of settings holds a lock."""

    def __init__(self):
        self.settings = types.SimpleNamespace(lock=threading.Lock(), retries=3)


def test_the_attribute_to_drop_is_the_holders_own():
    """The fix drops the user's own attribute (``settings``), not the lock's name inside
    the namespace it holds."""
    report = picklecheck.check(Tasks(), backends=("pickle",), roundtrip=False)
    (culprit,) = report.culprits
    assert culprit.path == "obj.settings.lock"
    assert "drop settings in " in culprit.hint and "Tasks.__getstate__" in culprit.hint


class Key:
    """A dict key that reads as ``<key of type Key>``: every such key of a dict shares
    the words of a path step."""


def _ambiguous(depth: int) -> dict:
    """A lock at the end of a chain of dicts, each keyed by a Key, beside a dead end of
    2**depth paths (a small graph: its levels are shared) whose steps read the same."""
    dead: dict = {Key(): None}
    for _ in range(depth):
        dead = {Key(): dead, Key(): dead}
    live: dict = {Key(): threading.Lock()}
    for _ in range(depth - 1):
        live = {Key(): live}
    return {Key(): dead, Key(): live}


def test_a_path_whose_steps_fit_exponentially_many_routes_is_not_walked_again():
    """Walking a culprit's steps again (to name it in library words) tries children deep
    first: where every key reads `<key of type Key>`, the dead end's 2**30 routes fit them
    all. It ran until the time limit and the report kept no culprit (parso's grammar
    tables, in half the runs); now the walk gives up and the search's own path stands."""
    graph = _ambiguous(30)
    started = time.monotonic()
    report = picklecheck.check(graph, backends=("pickle",), roundtrip=False, timeout=30)
    assert time.monotonic() - started < 10
    [culprit] = report.culprits
    assert culprit.type == "_thread.lock"
    assert culprit.path == "obj" + "[<key of type test_boundary.Key>]" * 31
    assert not report.results["pickle"].truncated


def test_a_check_stopped_while_naming_its_culprits_says_so():
    """A backend whose dump failed, when the limit stopped the check before its culprits
    were named, is truncated with a note: never a failure with nothing named and nothing
    said to be missing."""
    from picklecheck.backends import get_backend
    from picklecheck.engine.check import _unfinished
    from picklecheck.isolation.deadline import CheckTimeout
    from picklecheck.model import BackendResult

    results = {"pickle": BackendResult(backend="pickle", ok=False, error="TypeError: no")}
    report = _unfinished({}, "obj", None, [get_backend("pickle")], results, {"pickle"},
                         CheckTimeout(5.0, "chain.resolve"))
    result = report.results["pickle"]
    assert result.truncated and not report.culprits
    assert result.skipped == ["naming its culprits did not finish: the check stopped after "
                              "5 s, stuck in chain.resolve"]


def test_a_sqlalchemy_result_is_one_entry_with_its_cython_closures_inside(request):
    """SQLAlchemy's result rows are made by Cython closures, whose class is named after
    Cython's shared module (``_cython_3_3_1``): judged by their own ``__module__``, they are
    SQLAlchemy's, inside the result's one entry (they were three entries of "the user's")."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine("sqlite://")
    request.addfinalizer(engine.dispose)
    conn = engine.connect()
    request.addfinalizer(conn.close)
    conn.exec_driver_sql("create table t (id int)")
    result = conn.execute(sqlalchemy.text("select id from t"))
    report = picklecheck.check({"result": result}, backends=("pickle",))
    assert [entry.path for entry in report.entries] == ["obj['result']"]
    assert "SQLAlchemy" in report.entries[0].hint


def _tick(loop):
    """Keeps a loop's timers (about a hundred) changing: each schedules two more, and the
    oldest are cancelled."""
    loop.call_later(0.0005, _tick, loop)
    loop.call_later(0.0007, _tick, loop)
    if len(loop._scheduled) > 200:
        for handle in loop._scheduled[:100]:
            handle.cancel()


def test_a_running_event_loop_is_one_entry_though_its_timers_change_under_the_check():
    """A loop running in another thread reschedules its handles while the check runs: the
    path the search took is the one placed, so its culprits stay inside the loop's entry
    (walked again, ``_ready[3]`` was another handle by then, and the culprits stood as
    entries of their own)."""
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    try:
        loop.call_soon_threadsafe(_tick, loop)
        time.sleep(0.05)
        paths = {entry.path for _ in range(3)
                 for entry in picklecheck.check({"loop": loop}, backends=("pickle",)).entries}
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(5)
        loop.close()
    assert paths == {"obj['loop']"}


class Crawler(threading.Thread):
    """A thread of the user's, holding a lock of its own beside the thread's state."""

    def __init__(self, pages):
        super().__init__(daemon=True)
        self.pages = pages
        self.guard = threading.Lock()

    def run(self):
        pass


def test_a_thread_subclass_is_one_entry_for_the_thread_s_state():
    """What threading.Thread.__init__ set (_started, _stderr, ...) is the thread's: one
    entry, the thread (it was an entry each, "drop _started in Crawler.__getstate__",
    which breaks the thread); the lock the user added is fixed in the user's class."""
    report = picklecheck.check(Crawler(["a", "b"]), backends=("pickle",))
    hints = {entry.path: entry.hint for entry in report.entries}
    assert set(hints) == {"obj", "obj.guard"}
    assert "_started" not in hints["obj"] and "create it where it is used" in hints["obj"]
    assert "drop guard in" in hints["obj.guard"]
    assert hints["obj"].startswith("a threading.Thread belongs to this process")


class Indexer(multiprocessing.Process):
    """A process of the user's, with a setting of its own."""

    def __init__(self, folder):
        super().__init__(daemon=True)
        self.folder = folder


def test_a_process_is_one_entry_whose_fix_is_to_keep_it_where_it_was_made():
    """A multiprocessing Process in the data (one of the user's subclass too) is one entry:
    its authkey may be pickled only while a worker starts, so the fix is to keep it and
    send its name or pid (it said to pass it as a Process argument or through a Manager()
    proxy, and for the subclass to take out its ``_config['authkey']``)."""
    made = multiprocessing.get_context("spawn").Process(target=print)
    for proc in (made, Indexer("/data")):
        report = picklecheck.check({"worker": proc}, name="state", backends=("pickle",))
        (entry,) = report.entries
        assert entry.path == "state['worker']"
        assert "its authentication key may be pickled only while a worker starts" in entry.hint
        assert "send its name or pid" in entry.hint and "Manager()" not in entry.hint


def test_a_value_of_the_user_s_in_a_library_bag_is_the_user_s_entry():
    """argparse's Namespace, optparse's Values, click's ``ctx.obj`` and what a LogRecord
    got through ``extra=`` or its args keep the user's values: each is an entry at its own
    path with its own fix (the bag was the entry: "argparse.Namespace holds locks ... create
    it where it is used", and for a LogRecord "holds a lock and an open stream")."""
    import argparse
    import optparse

    import click

    ctx = click.Context(click.Command("cli"))
    ctx.obj = {"db_lock": threading.Lock()}
    cases = [
        (argparse.Namespace(lr=0.1, lock=threading.Lock()), "obj.lock"),
        (optparse.Values({"lr": 0.1, "lock": threading.Lock()}), "obj.lock"),
        (ctx, "obj.obj['db_lock']"),
        (logging.makeLogRecord({"msg": "hi", "lock": threading.Lock()}), "obj.lock"),
        (logging.makeLogRecord({"msg": "at %s", "args": (threading.Lock(),)}), "obj.args[0]"),
    ]
    for obj, path in cases:
        report = picklecheck.check(obj, backends=("pickle",))
        assert [(e.path, e.type) for e in report.entries] == [(path, "_thread.lock")], obj
        assert report.entries[0].hint.startswith("locks cannot cross a process boundary")


def test_a_handler_the_event_loop_runs_for_someone_else_is_no_entry_of_its_own():
    """A client's StreamWriter reaches, through its event loop, the local handler of a
    server on the same loop: the writer is the one entry (the handler was a second one,
    "move it to module level", which fixes nothing: the writer can never be sent)."""

    async def main():
        async def handle(reader, writer):  # a local handler, as most servers have
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return picklecheck.check({"writer": writer}, backends=("pickle",))
        finally:
            writer.close()
            server.close()
            await server.wait_closed()

    report = asyncio.run(main())
    assert [(e.path, e.type) for e in report.entries] == [
        ("obj['writer']", "asyncio.streams.StreamWriter")]


def test_a_future_s_result_is_the_user_s_and_the_current_thread_is_looked_up():
    """A done Future whose result holds a lock: the Future is one entry ("pass its result")
    and the result its own (passing the result fails the same way: it was folded into the
    Future's entry). The current thread's fix is to look it up, not to create it."""
    done = Future()
    done.set_result({"guard": threading.Lock()})
    report = picklecheck.check({"v": done}, name="state", backends=("pickle",))
    hints = {e.path: e.hint for e in report.entries}
    assert set(hints) == {"state['v']", "state['v']._result['guard']"}
    assert hints["state['v']"].startswith("a Future is completed by the pool that runs it")
    (entry,) = picklecheck.check(threading.current_thread(), backends=("pickle",)).entries
    assert "call threading.current_thread() where it is needed" in entry.hint
    assert "create it where it is used" not in entry.hint


@dataclasses.dataclass
class _AppState:
    user: str
    thing: object


def test_a_library_subclass_of_a_container_is_the_decision_not_its_attributes(tmp_path):
    """sqlitedict's SqliteDict is a collections.UserDict: its items are data, but its
    worker thread and connection are the library's own. The entry is the SqliteDict,
    not its .conn with a thread's hint."""
    sqlitedict = pytest.importorskip("sqlitedict", reason="pip install 'picklecheck[realworld]'")
    store = sqlitedict.SqliteDict(str(tmp_path / "kv.sqlite"), autocommit=True)
    try:
        store["a"] = 1
        report = picklecheck.check(_AppState("ada", store), backends=("pickle",))
        [entry] = report.entries
        assert entry.path == "obj.thing" and entry.type == "sqlitedict.SqliteDict"
        assert "threading.Thread" not in entry.hint
        root = picklecheck.check(store, backends=("pickle",))
        assert [e.path for e in root.entries] == ["obj"]
    finally:
        store.close()


def test_values_the_user_put_in_a_librarys_place_for_them_are_their_own_entries():
    """xarray's attrs (of a Dataset, and of a DataArray, kept on its variable),
    starlette's app.state and flask.g hold what the user stored: each value is its own
    entry, named as the user reaches it, not collapsed into the library object."""
    found = {}
    if importlib.util.find_spec("xarray") and importlib.util.find_spec("numpy"):
        import numpy as np
        import xarray as xr

        found["dataset"] = xr.Dataset({"v": ("t", np.arange(3.0))},
                                      attrs={"lock": threading.Lock(), "units": "m"})
        found["dataarray"] = xr.DataArray(np.arange(3.0), dims="t",
                                          attrs={"lock": threading.Lock()})
    if importlib.util.find_spec("starlette"):
        from starlette.datastructures import State

        found["state"] = state = State()
        state.lock = threading.Lock()
        state.name = "app"
    if not found:
        pytest.skip("needs xarray or starlette: pip install 'picklecheck[realworld]'")
    expected = {"dataset": "obj.attrs['lock']", "dataarray": "obj.attrs['lock']",
                "state": "obj.lock"}
    for name, obj in found.items():
        report = picklecheck.check(obj, backends=("pickle",))
        assert [e.path for e in report.entries] == [expected[name]], (name, str(report))
        assert report.entries[0].kind == "lock"


def test_flask_g_holds_the_users_values():
    flask = pytest.importorskip("flask", reason="pip install 'picklecheck[realworld]'")
    app = flask.Flask("picklecheck-test")
    with app.app_context():
        flask.g.lock = threading.Lock()
        report = picklecheck.check(flask.g._get_current_object(), backends=("pickle",))
    assert [(e.path, e.kind) for e in report.entries] == [("obj.lock", "lock")]
