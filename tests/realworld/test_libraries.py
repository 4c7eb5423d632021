"""picklecheck on real objects of third-party libraries (the realworld extra), against the real backends'
behaviour: one test per (entry, expectation); see :mod:`realworld.cases`."""

from __future__ import annotations

import pytest

from realworld import library_objects
from realworld.cases import cases, run_case
from realworld.entry import Entry


@pytest.mark.parametrize(("entry", "expectation"), cases(library_objects.ENTRIES))
def test_realworld(entry: Entry, expectation: str,
                   tmp_path_factory: pytest.TempPathFactory) -> None:
    """check() on a real object meets one expectation: runs, truthful verdicts, named culprit..."""
    run_case(entry, expectation, tmp_path_factory)
