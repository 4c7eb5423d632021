"""The benchmarks' clock (benchmarks/_timing.py): CPU time of the caller's thread and of
picklecheck's check helpers, each read from its own thread clock."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from _timing import timed  # noqa: E402

from picklecheck.isolation.deadline import HELPER_NAME  # noqa: E402


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class Helper:
    """A thread named as picklecheck names its check helpers, alive between jobs as
    they are: each job spins for the given CPU seconds while the caller waits."""

    def __init__(self, name: str = HELPER_NAME) -> None:
        self.jobs: list[float] = []
        self.ready, self.done = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            self.ready.wait()
            self.ready.clear()
            if not self.jobs:
                return
            _spin(self.jobs.pop())
            self.done.set()

    def run(self, seconds: float) -> None:
        self.jobs.append(seconds)
        self.done.clear()
        self.ready.set()
        self.done.wait()

    def stop(self) -> None:
        self.ready.set()
        self.thread.join()


def test_a_helpers_cpu_time_is_counted_and_waiting_is_not():
    helper = Helper()
    try:
        seconds, _ = timed(lambda: helper.run(0.05))
    finally:
        helper.stop()
    assert 0.045 <= seconds < 0.2
    waited, _ = timed(lambda: time.sleep(0.05))
    assert waited < 0.02


def test_other_threads_are_not_counted():
    helper = Helper("someone-else")
    try:
        seconds, _ = timed(lambda: helper.run(0.05))
    finally:
        helper.stop()
    assert seconds < 0.02


def test_a_helper_that_leaves_and_one_that_takes_its_id_are_told_apart():
    # An idle helper leaves and the next check starts a new one, which the system may
    # give the same thread id: the newcomer's clock starts at 0, the leaver's was high.
    old = Helper()
    old.run(0.05)  # its clock now reads 0.05 s or more
    started: list[Helper] = []

    def leave_then_work() -> None:
        old.stop()
        started.append(Helper())
        started[0].run(0.01)

    try:
        seconds, _ = timed(leave_then_work)
    finally:
        started[0].stop()
    assert 0.009 <= seconds < 0.1
