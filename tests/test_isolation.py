"""Contained loads: hostile payloads change nothing outside a scratch folder, nothing in
the caller's process, send it no signal, leave no process behind, never hang, and are
never ok. Real files in a tmp folder, real children, the real kernel sandbox."""

from __future__ import annotations

import atexit
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hostile_payloads import build

import picklecheck
from picklecheck.isolation import contain

HERE = Path(__file__).parent
needs_sandbox = pytest.mark.skipif(contain.isolation() != "sandbox",
                                   reason="this kernel has no Landlock sandbox")
ROUTES = sorted(build("v", "m", 0))


def _children() -> list[int]:
    """Processes whose parent is this one (zombies included)."""
    me, found = str(os.getpid()), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me:
                found.append(int(entry))
    return found


class World:
    """A victim file, a marker that must not appear, a listening port, and a record of
    the caller's process state and of the signals it receives."""

    def __init__(self, tmp: Path) -> None:
        self.victim = tmp / "victim.txt"
        self.victim.write_text("precious")
        self.marker = tmp / "marker"
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.setblocking(False)
        self.port = self.server.getsockname()[1]
        self.signals: list[int] = []
        self.old = {sig: signal.signal(sig, lambda s, f: self.signals.append(s))
                    for sig in (signal.SIGUSR1, signal.SIGALRM, signal.SIGTERM)}
        # Ctrl-C as a fresh interpreter has it (a process started in the background by a
        # shell ignores SIGINT, and a SIGINT already ignored would hide the payload that
        # ignores it, here and, the disposition being inherited, in the CLI's process).
        self.old[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
        self.state = self.snapshot()

    def payloads(self) -> dict[str, object]:
        return build(str(self.victim), str(self.marker), os.getpid(), self.port)

    def snapshot(self) -> dict[str, object]:
        return {
            "cwd": os.getcwd(),
            "environ": {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"},
            "modules": {k: id(v) for k, v in sys.modules.items()},
            "handlers": {s: signal.getsignal(s) for s in signal.valid_signals()
                         if s not in (signal.SIGKILL, signal.SIGSTOP)},
            "atexit": atexit._ncallbacks(), "alarm": signal.getitimer(signal.ITIMER_REAL),
            "children": _children(),
        }

    def assert_untouched(self) -> None:
        time.sleep(0.3)  # a timer or alarm the load scheduled would fire by now
        assert self.victim.read_text() == "precious"
        assert not self.marker.exists()
        assert self.signals == []
        now = self.snapshot()
        new_modules = {k for k in now["modules"] if k not in self.state["modules"]}
        now["modules"] = {k: v for k, v in now["modules"].items() if k not in new_modules}
        assert now == self.state
        with pytest.raises(BlockingIOError):
            self.server.accept()

    def close(self) -> None:
        for sig, handler in self.old.items():
            signal.signal(sig, handler)
        self.server.close()


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


@needs_sandbox
@pytest.mark.parametrize("route", ROUTES)
def test_check_contains_every_route(world, route):
    """check(): the load runs in the sandbox, is named, and is not ok."""
    payload = world.payloads()[route]
    start = time.monotonic()
    report = picklecheck.check(payload, backends=("pickle", "dill"), timeout=20)
    assert time.monotonic() - start < 20
    world.assert_untouched()
    assert not report.ok
    assert all(r.isolation == "sandbox" for r in report.results.values() if r.roundtrip is not None)
    kinds = {c.kind for c in report.culprits}
    assert kinds & {"load_side_effect", "load_failure"}, [(c.kind, c.reason) for c in report.culprits]


def test_named_side_effects():
    """What a load tried is named with what it tried it on."""
    if contain.isolation() != "sandbox":
        pytest.skip("this kernel has no Landlock sandbox")
    payloads = build("/nonexistent/victim", "/nonexistent/marker", os.getpid())
    expected = {
        "os.remove": "loading it removed '/nonexistent/victim'",
        "os.system": "loading it ran the command 'touch /nonexistent/marker'",
        "kill the caller": f"loading it sent SIGUSR1 to process {os.getpid()} (the process "
                           "that ran the check)",
        "os.chdir": "loading it changed the working directory to '/'",
        # the time left when the load ended: 1 s less what the load took (0.999 s on a slow run)
        "signal.alarm": re.compile(r"loading it scheduled SIGALRM in (1|0\.9\d*) s"),
        "os._exit": "loading it ended its process with exit code 0 (os._exit or a C-level exit)",
    }
    for route, reason in expected.items():
        (culprit,) = picklecheck.check(payloads[route], backends=("pickle",)).culprits
        assert culprit.kind == "load_side_effect"
        if isinstance(reason, str):
            assert culprit.reason == reason
        else:
            assert reason.fullmatch(culprit.reason), culprit.reason


@needs_sandbox
@pytest.mark.parametrize("route", ["os.remove", "os.system", "kill the caller", "os._exit",
                                   "fork an orphan", "Path.write_text", "tcp connect"])
def test_fresh_interpreter_is_contained(world, route):
    """check(fresh_process=True): the new interpreter is confined the same way."""
    report = picklecheck.check(world.payloads()[route], backends=("pickle",), roundtrip=False,
                               fresh_process=True, timeout=30)
    world.assert_untouched()
    result = report.results["pickle"]
    assert result.fresh is False and not report.ok


@needs_sandbox
@pytest.mark.parametrize("route", ["os.remove", "os.system", "kill the caller", "sys.exit",
                                   "atexit.register", "os.chdir"])
def test_session_state_round_trips_are_contained(world, route):
    """SessionState(roundtrip=True) rejects the value and nothing happens."""
    state = picklecheck.SessionState(mode="enforce", roundtrip=True)
    with pytest.raises(picklecheck.UnserializableSessionStateError):
        state["value"] = world.payloads()[route]
    assert "value" not in state
    world.assert_untouched()


@needs_sandbox
def test_cli_contains_every_route(world, tmp_path):
    """The CLI checks every payload of a file: exit 1, every target not ok, no harm."""
    target = tmp_path / "payloads.py"
    target.write_text(textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(HERE)!r})
        from hostile_payloads import build
        for _name, _value in build({str(world.victim)!r}, {str(world.marker)!r}, os.getpid(),
                                   {world.port}).items():
            globals()["p_" + "".join(c if c.isalnum() else "_" for c in _name)] = _value
    """))
    proc = subprocess.run([sys.executable, "-m", "picklecheck", f"{target}", "--json",
                           "-b", "pickle", "--timeout", "30"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    document = json.loads(proc.stdout)
    assert len(document["targets"]) == len(ROUTES)
    assert not any(t["ok"] for t in document["targets"])
    world.assert_untouched()


def test_timeout_of_a_load_that_never_ends():
    """A __setstate__ that sleeps is stopped at the limit and named load_timeout."""
    report = picklecheck.check({"a": [1], "b": Sleeper()}, backends=("pickle",), timeout=4)
    assert not report.ok
    assert [(c.path, c.kind) for c in report.culprits] == [("obj['b']", "load_timeout")]


class Sleeper:
    def __init__(self):
        self.x = 1

    def __setstate__(self, state):
        time.sleep(600)


class SleepyReduce:
    def __reduce__(self):
        time.sleep(600)
        return (int, ())


def test_whole_check_time_limit_covers_dumps():
    """A __reduce__ that never returns: the check returns at the limit, saying where,
    and the loading child forked for it is gone too."""
    children = _children()
    start = time.monotonic()
    report = picklecheck.check([SleepyReduce()], backends=("pickle",), timeout=2)
    assert time.monotonic() - start < 3
    assert _children() == children
    result = report.results["pickle"]
    assert not report.ok and result.truncated
    assert any("SleepyReduce.__reduce__" in note for note in result.skipped)
    assert "stuck in SleepyReduce.__reduce__" in str(report)


class ReducedIn:
    """Pickles fine, noting which thread reduced it."""

    threads: list = []

    def __reduce__(self):
        type(self).threads.append(threading.get_ident())
        return (int, ())


class SleepsOnce:
    def __reduce__(self):
        ReducedIn.threads.append(threading.get_ident())
        time.sleep(3)
        return (int, ())


def test_checks_reuse_their_helper_thread_but_never_a_stuck_one():
    """A check runs in a helper thread kept for the next check (starting a thread cost
    more than a small check); the helper of a check that ran out of time is not reused."""
    ReducedIn.threads = []
    picklecheck.check(ReducedIn(), backends=("pickle",), roundtrip=False)
    picklecheck.check(ReducedIn(), backends=("pickle",), roundtrip=False)
    first, second = ReducedIn.threads
    assert first == second != threading.get_ident()
    report = picklecheck.check(SleepsOnce(), backends=("pickle",), roundtrip=False, timeout=1)
    assert report.results["pickle"].truncated
    stuck = ReducedIn.threads[-1]
    picklecheck.check(ReducedIn(), backends=("pickle",), roundtrip=False)
    assert ReducedIn.threads[-1] != stuck


def test_no_thread_of_ours_is_left_when_the_caller_forks():
    """A process the caller forks after a check (a multiprocessing pool) finds no thread
    of picklecheck's: the idle helper leaves first (Python 3.12 warns of forks with
    threads), and an idle one leaves on its own soon anyway."""
    ReducedIn.threads = []
    picklecheck.check(ReducedIn(), backends=("pickle",), roundtrip=False)
    (helper,) = [t for t in threading.enumerate() if t.ident == ReducedIn.threads[0]]
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    assert not helper.is_alive()


def test_time_limit_from_a_thread_like_streamlit():
    """The limit holds when the check runs in a non-main thread (Streamlit's script thread)."""
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault(
        "report", picklecheck.check([SleepyReduce()], backends=("pickle",), timeout=2)))
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and not out["report"].ok


def test_redis_client_returns_within_the_limit():
    """check(redis.Redis()) returns in time with explained findings (it used to hang)."""
    redis = pytest.importorskip("redis")
    start = time.monotonic()
    report = picklecheck.check(redis.Redis(host="localhost"), timeout=60)
    assert time.monotonic() - start < 60
    assert not report.ok and report.culprits
    assert all(c.hint for c in report.culprits)


def test_timeout_must_be_positive():
    """A bad timeout is a clear ValueError."""
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        picklecheck.check(1, timeout=0)


def test_isolation_is_named_when_not_sandboxed(monkeypatch):
    """str(report) says where loads ran when it is not the sandbox."""
    monkeypatch.setenv("PICKLECHECK_ISOLATION", "guarded")
    report = picklecheck.check({"a": 1})
    assert {r.isolation for r in report.results.values()} == {"guarded"}
    assert "guarded" in str(report)


def test_a_machine_that_refuses_confinement_falls_back_and_says_so(monkeypatch):
    """If the child cannot confine itself, the load runs guarded, and the next ones
    run without the failing layer."""
    if contain.isolation() != "sandbox":
        pytest.skip("this kernel has no Landlock sandbox")
    from picklecheck.isolation import landlock

    def refuse(*args, **kwargs):
        raise OSError("landlock: restrict_self failed: Operation not permitted")

    from culprits import Restores  # its __setstate__ runs at load: a child is needed

    monkeypatch.setattr(contain, "_broken", [])
    monkeypatch.setattr(landlock, "restrict", refuse)  # inherited by the forked child
    report = picklecheck.check({"a": Restores()}, backends=("pickle",))
    assert report.ok and report.results["pickle"].isolation == "guarded"
    assert contain.isolation() == "process"
    again = picklecheck.check({"a": Restores()}, backends=("pickle",))
    assert again.results["pickle"].isolation == "process"


def test_a_load_that_needs_too_much_memory_is_load_memory():
    """A reconstructor that allocates without bound meets the child's memory limit."""
    if contain.isolation() != "sandbox":
        pytest.skip("this kernel has no Landlock sandbox")
    from hostile_payloads import Call

    report = picklecheck.check({"blob": Call(bytearray, 1 << 44)}, backends=("pickle",))
    assert [(c.path, c.kind) for c in report.culprits] == [("obj['blob']", "load_memory")]


def test_callers_garbage_is_not_the_loads_doing():
    """A NamedTemporaryFile left in a reference cycle (garbage the caller has not collected
    yet) is not finalized by the load's child: the file stays, and the load is ok."""
    import gc
    import io
    import tempfile

    class Cycle:
        pass

    enabled = gc.isenabled()
    gc.disable()
    try:
        handle = tempfile.NamedTemporaryFile()  # noqa: SIM115 - left to the collector
        cycle = Cycle()
        cycle.me, cycle.handle = cycle, handle
        path = handle.name
        del handle, cycle
        report = picklecheck.check(io.BytesIO(b"abc"))
        assert report.ok, [r.roundtrip_error for r in report.results.values()]
        assert os.path.exists(path)
    finally:
        gc.collect()
        if enabled:
            gc.enable()


@pytest.mark.parametrize("fresh", [False, True], ids=["round trip", "fresh interpreter"])
def test_a_variable_set_and_removed_again_is_no_side_effect(fresh):
    """Importing numpy sets OPENBLAS_MAIN_FREE and removes it again; a load doing the same
    changes nothing, and is ok (in the sandbox and in a fresh interpreter)."""
    from culprits import EnvRoundTrip

    report = picklecheck.check(EnvRoundTrip(), backends=("pickle",), fresh_process=fresh)
    result = report.results["pickle"]
    assert result.ok, (result.roundtrip_error, result.fresh_error)


def test_numpy_array_is_ok_in_a_fresh_interpreter():
    """The real case: numpy's import in the fresh interpreter is not the load's doing."""
    np = pytest.importorskip("numpy")
    report = picklecheck.check(np.arange(3), fresh_process=True)
    assert report.ok, {b: r.fresh_error for b, r in report.results.items()}


@needs_sandbox
def test_a_write_to_shared_memory_reaches_no_file_and_is_named(tmp_path):
    """A load that writes through the caller's shared file mapping changes a private copy
    in the child, never the file; the write is named, and the round trip is not ok."""
    import mmap

    from culprits import WritesSharedMemory

    victim = tmp_path / "mapped.bin"
    victim.write_bytes(b"precious" + bytes(4088))
    with open(victim, "r+b") as handle:
        mapped = mmap.mmap(handle.fileno(), 4096)
    WritesSharedMemory.SHARED_MAPS["t"] = mapped
    try:
        report = picklecheck.check(WritesSharedMemory("t"), backends=("pickle",))
        assert mapped[:8] == b"precious"
    finally:
        del WritesSharedMemory.SHARED_MAPS["t"]
        mapped.close()
    assert victim.read_bytes()[:8] == b"precious"
    assert not report.ok
    (culprit,) = report.culprits
    assert culprit.kind == "load_side_effect"
    assert f"wrote to the shared memory of '{victim}'" in culprit.reason


@needs_sandbox
def test_a_multiprocessing_lock_works_in_the_sandbox():
    """A load that takes and releases one of the caller's multiprocessing locks (shared
    memory) works in the child, as it would in the caller: no crash, no side effect."""
    import multiprocessing

    from culprits import UsesProcessLock

    UsesProcessLock.LOCKS["t"] = multiprocessing.Lock()
    try:
        report = picklecheck.check(UsesProcessLock("t"), backends=("pickle",))
    finally:
        del UsesProcessLock.LOCKS["t"]
    assert report.ok, report.results["pickle"].roundtrip_error


def _counting_forks(monkeypatch):
    forks = []
    real_fork = os.fork

    def counting_fork():
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counting_fork)
    return forks


@needs_sandbox
def test_a_search_for_what_does_not_load_forks_once(monkeypatch):
    """Every round of a search for what does not load runs in the check's one child
    (forks in a large process are most of a search's cost)."""
    from culprits import ValidationError  # its exception arguments do not load

    forks = _counting_forks(monkeypatch)
    obj = {"items": [ValidationError("f", "r") if i in (3, 17) else [i] for i in range(40)],
           "x": 1}
    report = picklecheck.check(obj, backends=("pickle",))
    assert sorted(c.path for c in report.culprits) == ["obj['items'][17]", "obj['items'][3]"]
    assert len(forks) == 1


@needs_sandbox
def test_a_load_that_runs_no_code_needs_no_child(monkeypatch):
    """Plain data (builtin containers, instances of plain classes, datetimes) loads with
    nothing of anyone's running: it is loaded here, as fast as pickle.loads, with the
    sandbox's guarantees intact; a __setstate__ sends the load to the child."""
    import datetime

    from culprits import Restores, Row

    forks = _counting_forks(monkeypatch)
    plain = {"rows": [Row(i, [i, str(i)]) for i in range(100)],
             "when": datetime.datetime(2026, 1, 1), "tags": {"a", "b"}}
    report = picklecheck.check(plain)  # pickle, dill and cloudpickle
    assert report.ok and forks == []
    assert {r.isolation for r in report.results.values()} == {"sandbox"}
    report = picklecheck.check({"plain": plain, "own": Restores()}, backends=("pickle",))
    assert report.ok and len(forks) == 1
    # dill's own names (a function saved by value) are never loaded here
    report = picklecheck.check({"plain": plain, "f": lambda x: x}, backends=("dill",))
    assert report.ok and len(forks) == 2


@needs_sandbox
@pytest.mark.parametrize("framework", ["multiprocessing", "joblib", "dask", "ray", "spark"])
def test_a_frameworks_load_that_runs_no_code_needs_no_child(monkeypatch, framework):
    """A framework's bytes load as pickle.loads loads them: plain data is loaded here, no
    child forked (forking a process that imported Ray or Spark costs milliseconds);
    bytes whose load runs code still go to the sandbox."""
    import datetime
    import fractions

    from picklecheck.backends import get_backend

    if not get_backend(framework).available:
        pytest.skip(f"{framework} is not installed")
    forks = _counting_forks(monkeypatch)
    plain = {"rows": [[i, str(i), i / 2] for i in range(100)],
             "when": datetime.datetime(2026, 1, 1), "tags": {"a", "b"}}
    report = picklecheck.check(plain, backends=(framework,))
    assert report.ok and forks == []
    assert report.results[framework].isolation == "sandbox"
    # Python code at load (and importable in every framework's worker)
    report = picklecheck.check({"plain": plain, "own": fractions.Fraction(1, 3)},
                               backends=(framework,))
    assert report.ok and len(forks) == 1


@needs_sandbox
def test_bytes_that_call_a_plain_class_are_loaded_in_the_sandbox(world):
    """A plain class is only built by object.__new__ in this process: bytes that call
    it (running its __init__, which removes a file here) stop before the call and go
    to the sandbox, where the removal is refused and named."""
    from culprits import CallsRemovesOnInit

    report = picklecheck.check(CallsRemovesOnInit(str(world.victim)), backends=("pickle",))
    world.assert_untouched()
    assert not report.ok
    (culprit,) = report.culprits
    assert culprit.kind == "load_side_effect"
    assert "removed" in culprit.reason


def test_a_constructor_put_in_place_of_a_genuine_one_is_not_trusted(monkeypatch):
    """Only the C-implemented constructors themselves are trusted, not whatever now
    bears their name."""
    import collections
    import pickle

    from picklecheck.isolation import pure

    data = pickle.dumps(collections.OrderedDict(a=1))
    assert pure.load(data) == collections.OrderedDict(a=1)
    monkeypatch.setattr(collections, "OrderedDict", os.system)
    with pytest.raises(pure.NotPure):
        pure.load(data)


def test_a_load_s_time_limit_reads_as_a_person_writes_it():
    """What was left of the check's limit is never round: 1.7 s, not 1.69438 s."""
    from picklecheck.isolation.child import _timeout_text

    assert _timeout_text(1.69438, 0) == "did not finish loading within 1.7 s"
    assert _timeout_text(59.97, 0) == "did not finish loading within 60 s"
    assert _timeout_text(1, 0) == "did not finish loading within 1 s"
    assert _timeout_text(None, 0) == "did not finish loading before the check's time limit"
