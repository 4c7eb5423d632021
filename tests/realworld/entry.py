"""One corpus entry: how to build a real object as users build it, and what must hold.

An :class:`Entry` is a record, not a test: the truth (:mod:`realworld.truth`), the
tests (:mod:`realworld.test_realworld`) and the benchmark all read the same records.
Objects are built inside the factory, in the process that uses them, never at import.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EXPECTATIONS", "EXTRA", "Context", "Entry", "missing_modules"]

EXTRA = "realworld"

# Every expectation a corpus test can assert, in the order tests run them. See
# realworld.expect for what each one means.
EXPECTATIONS = ("runs", "complete", "verdicts", "fresh", "culprit", "vocabulary", "short",
                "paths", "kinds", "works_with", "genuine")


class Context:
    """What a factory gets: a private temporary directory and a place to register cleanup.

    Anything a factory opens (files, sockets, loops, pools) is closed by the callable it
    hands to :meth:`closing`, run in reverse order by :meth:`teardown`.
    """

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._cleanups: list[Callable[[], Any]] = []

    def closing(self, cleanup: Callable[[], Any]) -> None:
        self._cleanups.append(cleanup)

    def teardown(self) -> list[str]:
        """Run every cleanup, newest first; return the errors instead of raising them."""
        errors = []
        while self._cleanups:
            cleanup = self._cleanups.pop()
            try:
                cleanup()
            except Exception as exc:  # noqa: BLE001 - one failed cleanup must not skip the rest
                errors.append(f"{type(exc).__name__}: {exc}")
        return errors


@dataclass(frozen=True)
class Entry:
    """A real object and the annotations of what a user must change.

    ``change`` holds Python expressions rooted at ``name`` for the objects the report
    must name (by identity) as the thing to change: the lambda inside a Figure, or the
    client itself when the user put a client where it cannot go. ``library`` marks an
    object whose report must stay short (at most 5 top-level entries). ``probe`` is
    called on the original and on each loaded copy; a copy whose answer differs is
    loaded but not usable (dill's dead RLock). ``harmless_load`` says every backend's real
load changes nothing outside the process, so refusing it is wrong. ``say`` holds paths the report must print as they are (the library's own
vocabulary: ``obj['rows'].iloc[0]``). ``slow`` marks an object today's engine needs
minutes for (a longer hang limit). ``xfail`` maps an expectation name to
    "issue N: why" where today's engine does not meet it.
    """

    id: str
    build: Callable[[Context], Any]
    needs: tuple[str, ...] = ()
    change: tuple[str, ...] = ()
    library: bool = True
    fresh: bool = False
    probe: Callable[[Any], Any] | None = None
    say: tuple[str, ...] = ()
    slow: bool = False
    harmless_load: bool = False
    wrong_kinds: frozenset[str] = frozenset({"stale_reference"})
    xfail: Mapping[str, str] = field(default_factory=dict)
    name: str = "obj"
    note: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.xfail) - set(EXPECTATIONS)
        if unknown:
            msg = f"entry {self.id!r}: unknown expectation(s) in xfail: {sorted(unknown)}"
            raise ValueError(msg)

    def target(self, obj: Any, expr: str) -> Any:
        """The object a ``change`` expression names in ``obj``."""
        return eval(expr, {self.name: obj})  # noqa: S307 - expressions written in objects.py


def missing_modules(entry: Entry) -> list[str]:
    """The modules ``entry`` needs that this environment cannot import."""
    return [m for m in entry.needs if importlib.util.find_spec(m) is None]
