"""What the loading child's watch records of one load: environment variables set,
removed or put back, and signal handlers installed, and nothing for a load that
changed nothing. Run in a new interpreter: an audit hook cannot be removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_SCRIPT = """
import json, os, signal
from picklecheck.isolation.watch import Watch

records = []
os.environ["PC_GONE"] = "y"
os.environ["PC_SAME"] = "z"
watch = Watch(records.append, ("/tmp", os.devnull), os.getppid())
watch.install()
watch.before()
os.environ["PC_SET"] = "1"
del os.environ["PC_GONE"]
os.environ["PC_SAME"] = "other"
os.environ["PC_SAME"] = "z"  # back to what it was: not a change
os.putenv("PC_PUT", "2")  # behind os.environ's back
signal.signal(signal.SIGUSR1, lambda *args: None)
watch.after()
first = list(records)
watch.before()
watch.after()
print(json.dumps([first, records[len(first):]]))
"""


def test_a_load_s_environment_and_signal_changes_are_recorded_once():
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                          timeout=60, check=True)
    first, second = json.loads(done.stdout)
    assert sorted(first) == sorted([
        "installed a handler for SIGUSR1",
        "set the environment variable 'PC_SET'",
        "removed the environment variable 'PC_GONE'",
        "set the environment variable 'PC_PUT'",
    ])
    assert second == []


def test_dropping_names_a_stuck_finalizer_and_puts_the_process_back(monkeypatch):
    """watch.dropping, run here with a watch that is not installed as an audit hook:
    a finalizer stuck past its second is named after DROPPING, and the SIGALRM handler,
    the timer and the unraisable hook are the caller's again afterwards."""
    import signal
    import threading

    from picklecheck.isolation import watch as watch_module

    said: list[str] = []
    monkeypatch.setattr(watch_module, "_installed",
                        watch_module.Watch(said.append, (), os.getppid()))
    monkeypatch.setattr(watch_module, "_DROP_SECONDS", 0.2)

    class Stuck:
        def __del__(self):
            gate = threading.Lock()
            gate.acquire()
            gate.acquire()

    def mine(signum, frame):
        pass

    previous = signal.signal(signal.SIGALRM, mine)
    signal.setitimer(signal.ITIMER_REAL, 30)
    hook = sys.unraisablehook
    try:
        box = [Stuck()]
        watch_module.dropping(box.clear)
        assert signal.getsignal(signal.SIGALRM) is mine
        assert 25 < signal.getitimer(signal.ITIMER_REAL)[0] <= 30
        assert sys.unraisablehook is hook
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    (sentence,) = said
    assert sentence.startswith(f"{watch_module.DROPPING}did not finish within 0.2 s (")
    assert sentence.endswith("Stuck.__del__ was still running): the process that drops it hangs")


_SOCKETS = """
import json, os, socket
from picklecheck.isolation.watch import Watch

records = []
watch = Watch(records.append, ("/tmp", os.devnull), os.getppid())
watch.install()
watch.before()
for family, kind in ((socket.AF_UNIX, socket.SOCK_STREAM), (socket.AF_INET, socket.SOCK_DGRAM),
                     (socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)):
    socket.socket(family, kind).close()
watch.after()
print(json.dumps(records))
"""


def test_sockets_the_sandbox_refuses_are_named_when_made():
    """A unix or UDP socket is named as it is made (the sandbox refuses it, and the load's
    error alone said only "Operation not permitted"); a TCP one waits for its connect."""
    done = subprocess.run([sys.executable, "-c", _SOCKETS], capture_output=True, text=True,
                          timeout=60, check=True)
    assert json.loads(done.stdout) == [
        "opened a unix socket (which reaches the processes of this machine)",
        "opened a UDP socket",
    ]


def test_a_shared_memory_block_loads_by_attaching_to_its_segment(tmp_path):
    """A SharedMemory's copy attaches to the segment by name (and the loading program's
    resource tracker would remove it when that program ends): named as such, of a kind
    whose fix says where to send it, where the sandbox's refusal read "Permission denied"
    and "multiprocessing cannot load it back". The segment is the caller's still."""
    from multiprocessing import shared_memory

    import picklecheck
    from picklecheck.isolation import contain

    if contain.isolation() != "sandbox":
        import pytest

        pytest.skip("this machine has no kernel sandbox for loads")
    block = shared_memory.SharedMemory(create=True, size=16)
    try:
        block.buf[:3] = b"abc"
        report = picklecheck.check({"block": block}, backends=("pickle",))
        [culprit] = report.culprits
        assert (culprit.path, culprit.kind) == ("obj['block']", "shared_memory")
        assert f"attached to the shared memory segment '/{block.name}'" in culprit.reason
        assert "send bytes(shm.buf)" in culprit.hint
        assert bytes(block.buf[:3]) == b"abc"
    finally:
        block.close()
        block.unlink()


def test_a_database_its_load_writes_to_is_named_not_read_as_a_load_failure(tmp_path):
    """A load that opens its SQLite file again and writes to it (a diskcache Cache):
    the sandbox lets SQLite open the file only for reading, and the write then raises
    "attempt to write a readonly database". Named as the write it was, of a kind whose
    fix says where to send it; the caller's database is as it was."""
    import sqlite3

    import culprits
    import pytest

    import picklecheck
    from picklecheck.isolation import contain

    if contain.isolation() != "sandbox":
        pytest.skip("this machine has no kernel sandbox for loads")
    path = tmp_path / "log.db"
    log = culprits.SharedLog(str(path))
    try:
        report = picklecheck.check({"log": log}, backends=("pickle", "dill"))
        [culprit] = report.culprits
        assert (culprit.path, culprit.kind) == ("obj['log']", "shared_database")
        assert f"wrote to the SQLite database '{path}'" in culprit.reason
        assert "send the path and open it there" in culprit.hint
        assert "readonly" not in str(report)
    finally:
        log.conn.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM log").fetchone() == (1,)


_CONFIGURES = '''
import os
os.environ["PC_SET_AT_IMPORT"] = "jemalloc-like"


class Configured:
    def __init__(self):
        self.rows = [1, 2]
'''


def test_a_variable_a_module_sets_as_it_is_imported_is_not_the_load_s(tmp_path, monkeypatch):
    """polars sets _RJEM_MALLOC_CONF as it is imported: a fresh interpreter's load
    imports it, and every process that imports it does the same, as with the exit
    handlers modules register. Only what a load itself sets is named."""
    import picklecheck

    (tmp_path / "pc_configures.py").write_text(_CONFIGURES)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("PC_SET_AT_IMPORT", raising=False)
    import pc_configures

    monkeypatch.setitem(sys.modules, "pc_configures", pc_configures)  # gone afterwards
    os.environ.pop("PC_SET_AT_IMPORT")  # the fresh interpreter's import sets it anew
    report = picklecheck.check(pc_configures.Configured(), backends=("pickle",),
                               fresh_process=True)
    assert report.ok, str(report)


def _checked_in_a_child(obj, backends):
    """``check(obj)`` whose loads run in the loading child (where the watch is), or a
    skip where loads run in this process."""
    import pytest

    import picklecheck
    from picklecheck.isolation import contain

    if contain.isolation() == "guarded":
        pytest.skip("loads run in this process here")
    return picklecheck.check(obj, backends=backends)


class SetsVariable:
    """Its load sets an environment variable."""

    def __init__(self):
        self.rows = [1, 2]

    def __setstate__(self, state):
        os.environ["PC_SET_BY_LOAD"] = "1"


def test_each_backend_s_load_starts_from_the_same_environment():
    """The loads of one check share a child: a variable the first load set is put back,
    so the next backend's load that sets it again is named too (it was "ok")."""
    report = _checked_in_a_child(SetsVariable(), ("pickle", "dill", "cloudpickle"))
    assert {name: result.ok for name, result in report.results.items()} == {
        "pickle": False, "dill": False, "cloudpickle": False}
    assert "PC_SET_BY_LOAD" not in os.environ
    [culprit] = report.culprits
    assert culprit.backends == ("pickle", "dill", "cloudpickle")
    assert "set the environment variable 'PC_SET_BY_LOAD'" in culprit.reason


class IgnoresSignal:
    """Its load ignores SIGUSR2 (the same handler, SIG_IGN, every time)."""

    def __init__(self):
        self.rows = [1, 2]

    def __setstate__(self, state):
        import signal

        signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def test_each_backend_s_load_starts_with_the_same_signal_handlers():
    report = _checked_in_a_child(IgnoresSignal(), ("pickle", "dill", "cloudpickle"))
    assert not any(result.ok for result in report.results.values())
    [culprit] = report.culprits
    assert culprit.backends == ("pickle", "dill", "cloudpickle")
    assert "installed a handler for SIGUSR2" in culprit.reason


class ChangesProcessSettings:
    """Its load raises the recursion limit and changes the umask."""

    def __init__(self):
        self.rows = [1, 2]

    def __setstate__(self, state):
        sys.setrecursionlimit(sys.getrecursionlimit() + 1000)
        os.umask(0o000)


def test_a_load_that_changes_the_recursion_limit_or_umask_is_named():
    """Both change the process that loads it (the umask, every file it creates), and each
    load starts from the settings before it."""
    limit, mask = sys.getrecursionlimit(), os.umask(0o022)
    os.umask(mask)
    report = _checked_in_a_child(ChangesProcessSettings(), ("pickle", "dill"))
    [culprit] = report.culprits
    assert culprit.backends == ("pickle", "dill")
    assert "changed the recursion limit from" in culprit.reason
    assert "changed the umask from" in culprit.reason
    assert sys.getrecursionlimit() == limit
    now = os.umask(0o022)
    os.umask(now)
    assert now == mask


class ClosesOrRedirects:
    """Its load closes stdout, or points stderr at another file."""

    def __init__(self, what):
        self.what = what

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self.what == "close":
            os.close(1)
        else:
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, 2)
            os.close(fd)


@pytest.mark.parametrize("what", ["close", "redirect"])
def test_a_load_that_closes_or_redirects_a_standard_descriptor_is_named(what):
    """No audit event says so: the standard descriptors are compared before and after each
    load, and put back, so the next backend's load starts with them (a closed stdout was
    "dill: ok" alone, and failed dill's load with "Bad file descriptor" after pickle's)."""
    report = _checked_in_a_child(ClosesOrRedirects(what), ("pickle", "dill"))
    [culprit] = report.culprits
    assert culprit.backends == ("pickle", "dill")
    assert culprit.kind == "load_side_effect"
    assert ("closed descriptor 1 (stdout)" if what == "close"
            else "pointed descriptor 2 (stderr) of the process that loads it at another file"
            ) in culprit.reason, culprit.reason


class ChangesSharedSettings:
    """Its load changes one setting that the whole loading process shares."""

    def __init__(self, what):
        self.what = what

    def __setstate__(self, state):
        import builtins
        import logging
        import warnings

        self.__dict__.update(state)
        what = self.what
        if what == "sys.path":
            sys.path.append("/opt/pc-plugins")
        elif what == "sys.path replaced":
            sys.path = [*sys.path, "/opt/pc-other"]
        elif what == "sys.stdout":
            sys.stdout = sys.__stderr__
        elif what == "sys.excepthook":
            sys.excepthook = print
        elif what == "builtins":
            builtins.pc_translate = str
        elif what == "builtins.print":
            builtins.print = repr
        elif what == "the root logger":
            logging.getLogger().addHandler(logging.StreamHandler())
        elif what == "the warnings filters":
            warnings.simplefilter("ignore")
        elif what == "caught warnings":  # put back as the load ends: nothing changed
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
        elif what == "a named logger":  # its own logger, not the process's
            logging.getLogger("pc.mine").setLevel(logging.DEBUG)


@pytest.mark.parametrize(("what", "said"), [
    ("sys.path", "added '/opt/pc-plugins' to sys.path, where every later import looks"),
    ("sys.path replaced", "added '/opt/pc-other' to sys.path"),
    ("sys.stdout", "replaced sys.stdout, which the whole process shares"),
    ("sys.excepthook", "replaced sys.excepthook"),
    ("builtins", "added builtins.pc_translate, which every module of the process sees"),
    ("builtins.print", "replaced builtins.print"),
    ("the root logger", "changed the root logger (its handlers or level)"),
    ("the warnings filters", "changed the warnings filters"),
])
def test_a_load_that_changes_what_the_whole_process_shares_is_named(what, said):
    """Each backend's load is named (the first one's change is put back), and nothing of
    it reaches this process."""
    import builtins
    import logging
    import warnings

    path, filters, handlers = list(sys.path), list(warnings.filters), logging.getLogger().handlers
    report = _checked_in_a_child(ChangesSharedSettings(what), ("pickle", "dill"))
    [culprit] = report.culprits
    assert culprit.kind == "load_side_effect"
    assert culprit.backends == ("pickle", "dill")
    assert said in culprit.reason
    assert sys.path == path and warnings.filters == filters
    assert logging.getLogger().handlers == handlers
    assert not hasattr(builtins, "pc_translate") and builtins.print is print


@pytest.mark.parametrize("what", ["caught warnings", "a named logger", "nothing"])
def test_a_load_that_changes_nothing_shared_is_ok(what):
    report = _checked_in_a_child(ChangesSharedSettings(what), ("pickle", "dill"))
    assert report.ok, str(report)


_EXTENDS_PATH = '''
import sys

sys.path.append("/opt/pc-added-at-import")


class Extended:
    pass
'''


def test_a_module_that_extends_sys_path_as_it_is_imported_is_not_the_load_s(
        tmp_path, monkeypatch):
    """As with the environment: a module imported by the load may change sys.path as it
    loads, and every process that imports it does the same."""
    import picklecheck

    (tmp_path / "pc_extends.py").write_text(_EXTENDS_PATH)
    monkeypatch.syspath_prepend(str(tmp_path))
    import pc_extends

    monkeypatch.setitem(sys.modules, "pc_extends", pc_extends)
    report = picklecheck.check(pc_extends.Extended(), backends=("pickle",), fresh_process=True)
    assert report.ok, str(report)



_INSTALLS_BUILTIN = """
import builtins

builtins.pc_translate_at_import = str
"""


class TranslatedOnLoad:
    """Its load imports a module (the first time) that installs a builtin it then uses."""

    def __setstate__(self, state):
        import pc_installs  # noqa: F401 - installs pc_translate_at_import

        pc_translate_at_import("still there")  # noqa: F821 - the import installed it
        self.__dict__.update(state)


def test_what_a_module_installs_as_it_is_imported_stays_for_the_next_load(tmp_path, monkeypatch):
    """A builtin a module installs as the first backend's load imports it is the module's
    doing: kept, so the next backend's load, whose import finds the module imported, finds
    it too (put back, that load failed with a NameError that no process importing the
    module sees)."""
    import builtins

    import picklecheck
    from picklecheck.isolation import contain

    if contain.isolation() == "guarded":
        pytest.skip("loads run in this process here")
    (tmp_path / "pc_installs.py").write_text(_INSTALLS_BUILTIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "pc_installs" not in sys.modules
    obj = TranslatedOnLoad()
    obj.rows = [1, 2]
    report = picklecheck.check(obj, backends=("pickle", "dill"))
    assert report.ok, str(report)
    assert "pc_installs" not in sys.modules and not hasattr(builtins, "pc_translate_at_import")


_PROBES_AT_IMPORT = '''
import os
import socket

os.makedirs({folder!r}, exist_ok=True)  # a cache folder, there already
try:  # urllib3's question at import: can this machine bind IPv6?
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
except OSError:
    pass


class Probed:
    def __init__(self):
        self.rows = [1, 2]
'''


def test_what_a_module_asks_of_the_machine_as_it_is_imported_is_not_the_load_s(
        tmp_path, monkeypatch):
    """A fresh interpreter's load imports the module: its makedirs of a folder that exists
    creates nothing, and a socket bound to a free loopback port only asks what the machine
    supports (urllib3 does both kinds of thing as every process imports it)."""
    import picklecheck

    cache = tmp_path / "cache"
    cache.mkdir()
    (tmp_path / "pc_probes.py").write_text(_PROBES_AT_IMPORT.format(folder=str(cache)))
    monkeypatch.syspath_prepend(str(tmp_path))
    import pc_probes

    monkeypatch.setitem(sys.modules, "pc_probes", pc_probes)
    report = picklecheck.check(pc_probes.Probed(), backends=("pickle",), fresh_process=True)
    assert report.ok, str(report)


def test_urllib3_s_objects_load_in_a_fresh_interpreter():
    """urllib3 binds ('::1', 0) as it is imported, and so does every process that imports
    it: a Retry (inside every requests and boto3 client) loads as plain data."""
    import picklecheck

    urllib3 = pytest.importorskip("urllib3")
    report = picklecheck.check(urllib3.Retry(total=5), backends=("pickle",),
                               fresh_process=True)
    assert report.ok, str(report)


class BindsOnLoad:
    """Its own load binds a loopback socket: not an import's doing, so named."""

    def __init__(self):
        self.rows = [1, 2]

    def __setstate__(self, state):
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))


def test_a_load_that_binds_a_socket_itself_is_still_named():
    report = _checked_in_a_child(BindsOnLoad(), ("pickle",))
    [culprit] = report.culprits
    assert "bound a socket to ('127.0.0.1', 0)" in culprit.reason


class MakesItsFolder:
    """Its load makes a folder that is already there: nothing is created."""

    def __init__(self, folder):
        self.folder = folder

    def __setstate__(self, state):
        self.__dict__.update(state)
        os.makedirs(self.folder, exist_ok=True)


def test_a_load_that_makes_a_folder_already_there_changes_nothing(tmp_path):
    report = _checked_in_a_child(MakesItsFolder(str(tmp_path)), ("pickle",))
    assert report.ok, str(report)


def test_a_database_in_wal_mode_its_load_writes_to_is_named_too(tmp_path):
    """A diskcache Cache another connection has used (as processes that share it do)
    keeps its database in WAL mode with -wal and -shm files beside it: there SQLite
    cannot open the -shm file for writing and says "disk I/O error", which is the same
    refused write, not a load failure (pickle.loads of it works)."""
    import pickle

    import pytest

    import picklecheck
    from picklecheck.isolation import contain

    diskcache = pytest.importorskip("diskcache", reason="pip install 'picklecheck[realworld]'")
    if contain.isolation() != "sandbox":
        pytest.skip("this machine has no kernel sandbox for loads")
    cache = diskcache.Cache(str(tmp_path / "cache"))
    try:
        cache["a"] = 1
        other = pickle.loads(pickle.dumps(cache))
        assert other["a"] == 1
        other.close()
        report = picklecheck.check(cache, backends=("pickle", "dill", "cloudpickle"))
        assert {c.kind for c in report.culprits} == {"shared_database"}, str(report)
        assert "disk I/O error" not in str(report)
    finally:
        cache.close()
