"""The kernel layers of a loading child, each proven on its own: Landlock, seccomp,
capabilities, resource limits, descriptors, and the child's report over its pipe."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from picklecheck.isolation import child, confine, landlock

pytestmark = pytest.mark.skipif(confine.available() != "sandbox",
                                reason="this kernel has no Landlock sandbox")


def in_sandbox(*attempts):
    """Run each attempt (a no-argument callable) in one confined child: what it returned,
    or the errno name of the OSError it raised."""

    def work(i):
        try:
            return {"ok": True, "value": repr(attempts[i]())}
        except OSError as exc:
            return {"ok": False, "value": os.strerror(exc.errno) if exc.errno else str(exc)}

    results = child.run_forked(len(attempts), work, per_item=10, deadline=time.monotonic() + 60,
                               limits=confine.Limits(10, 1 << 30), sandbox=True)
    return [r["value"] for r in results]


def test_landlock_abi_is_read_from_the_kernel():
    """The ABI comes from landlock_create_ruleset(NULL, 0, VERSION)."""
    assert landlock.abi_version() >= 1


def test_files_outside_the_scratch_folder_cannot_change(tmp_path):
    """Write, truncate, create and remove are refused; reading is not."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    results = in_sandbox(
        lambda: victim.read_text(),
        lambda: victim.write_text("x"),
        lambda: os.truncate(victim, 0),
        lambda: os.unlink(victim),
        lambda: (tmp_path / "new").touch(),
        lambda: open(os.path.join(os.environ["TMPDIR"], "ok"), "w").write("scratch is fine"),
    )
    assert results == ["'precious'", "Permission denied", "Permission denied",
                       "Permission denied", "Permission denied", "15"]
    assert victim.read_text() == "precious" and not (tmp_path / "new").exists()


def test_no_new_process_and_no_escape_from_the_group():
    """fork, exec and setsid are refused by seccomp; threads still work."""
    def thread():
        import threading

        t = threading.Thread(target=lambda: None)
        t.start()
        t.join()
        return "thread"

    results = in_sandbox(os.fork, lambda: os.execv("/bin/true", ["true"]), os.setsid, thread)
    assert results == ["Operation not permitted"] * 3 + ["'thread'"]


def test_network_is_refused():
    """TCP connect (Landlock), unix and UDP sockets (seccomp) are refused."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    try:
        results = in_sandbox(
            lambda: socket.create_connection(("127.0.0.1", port), 2),
            lambda: socket.socket(socket.AF_UNIX),
            lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
        )
    finally:
        server.close()
    assert results == ["Permission denied", "Operation not permitted", "Operation not permitted"]


def test_signals_cannot_leave_the_sandbox():
    """A signal to the parent is refused (Landlock scope, ABI 6)."""
    if landlock.abi_version() < 6:
        pytest.skip("signal scoping needs Landlock ABI 6")
    received = []
    old = signal.signal(signal.SIGUSR1, lambda *a: received.append(1))
    try:
        parent = os.getpid()
        results = in_sandbox(lambda: os.kill(parent, signal.SIGUSR1))
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert results == ["Operation not permitted"] and received == []


def test_kernel_objects_by_key_and_other_processes_limits_are_refused():
    """System V shared memory, semaphores and message queues, POSIX message queues and
    keyrings are reached by key, not path: refused (seccomp). prlimit works on the child
    itself and is refused on the process that checks, whose limits stay as they were."""
    import ctypes
    import resource

    libc = ctypes.CDLL(None, use_errno=True)

    def call(name, *args):
        def attempt():
            result = getattr(libc, name)(*args)
            if result == -1:
                raise OSError(ctypes.get_errno(), name)
            return "made"
        return attempt

    key = 0x5D000000 | (os.getpid() & 0xFFFFF)
    parent = os.getpid()
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    results = in_sandbox(
        call("shmget", key, 4096, 0o1000 | 0o600),
        call("semget", key, 1, 0o1000 | 0o600),
        call("msgget", key, 0o1000 | 0o600),
        call("mq_open", b"/picklecheck-test", os.O_CREAT | os.O_RDWR, 0o600, None),
        lambda: resource.prlimit(parent, resource.RLIMIT_NOFILE, (64, 64)),
        lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)),
    )
    assert results == ["Operation not permitted"] * 5 + ["None"]
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == before
    assert libc.shmget(key, 0, 0) == -1  # nothing left behind


def test_inherited_descriptors_are_neutralised(tmp_path):
    """A file the caller holds open for writing cannot be written through."""
    path = tmp_path / "held.log"
    with path.open("w") as held:
        results = in_sandbox(lambda: os.write(held.fileno(), b"pwned"))
    assert results == ["Bad file descriptor"] and path.read_text() == ""


def test_memory_limit():
    """Allocating past the address-space limit raises MemoryError in the child."""
    def work(i):
        try:
            return {"ok": len(bytearray(4 << 30)) > 0}
        except MemoryError:
            return {"ok": False, "memory": True}

    (result,) = child.run_forked(1, work, per_item=10, deadline=time.monotonic() + 60,
                                 limits=confine.Limits(10, 256 << 20), sandbox=True)
    assert result == {"ok": False, "memory": True, "effects": []}


def test_a_child_that_hangs_is_killed_at_its_limit():
    """The wall-clock limit kills the whole process group and reports a timeout."""
    start = time.monotonic()
    (result,) = child.run_forked(1, lambda i: time.sleep(60), per_item=1,
                                 deadline=time.monotonic() + 60,
                                 limits=confine.Limits(10, 1 << 30), sandbox=True)
    assert time.monotonic() - start < 5
    assert result["ended"] == "timeout" and "within 1 s" in result["error"]


def test_batch_falls_back_to_one_child_per_item_after_a_death():
    """Items after one that kills its child still get their own run."""
    def work(i):
        if i == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return {"ok": True, "pid": os.getpid()}

    results = child.run_forked(4, work, per_item=10, deadline=time.monotonic() + 60,
                               limits=confine.Limits(10, 1 << 30), sandbox=True)
    assert [r["ok"] for r in results] == [True, False, True, True]
    assert results[0]["pid"] != results[2]["pid"] != results[3]["pid"]


def test_a_shared_mapping_gone_between_plan_and_fork_is_no_crash(tmp_path):
    """The child copies the shared mappings it has, not those the parent planned: one
    another thread of the caller unmapped in between (a multiprocessing pool shutting
    down) would crash the child when read."""
    import mmap

    shared = mmap.mmap(-1, 1 << 16)  # anonymous and shared
    prepared = confine.plan(confine.Limits(10, 1 << 30))
    shared.close()  # gone before the fork
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            confine.confine(str(tmp_path), prepared, (), True)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
