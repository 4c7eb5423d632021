"""picklecheck on real objects of the standard library and numpy, against the real backends'
behaviour: one test per (entry, expectation); see :mod:`realworld.cases`."""

from __future__ import annotations

import pytest

from realworld import stdlib_objects
from realworld.cases import cases, run_case
from realworld.entry import Entry


@pytest.mark.parametrize(("entry", "expectation"), cases(stdlib_objects.ENTRIES))
def test_realworld(entry: Entry, expectation: str,
                   tmp_path_factory: pytest.TempPathFactory) -> None:
    """check() on a real object meets one expectation: runs, truthful verdicts, named culprit..."""
    run_case(entry, expectation, tmp_path_factory)
