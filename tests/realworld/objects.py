"""The corpus: every real-world entry, by id.

Entries live in two modules by origin (standard library and numpy; third-party
libraries); this module is the one list the tests, the truth and the benchmark read.
"""

from __future__ import annotations

from realworld import library_objects, stdlib_objects
from realworld.entry import Entry

__all__ = ["ENTRIES", "by_id"]

ENTRIES: tuple[Entry, ...] = (*stdlib_objects.ENTRIES, *library_objects.ENTRIES)


def _index() -> dict[str, Entry]:
    index: dict[str, Entry] = {}
    for entry in ENTRIES:
        if entry.id in index:
            msg = f"two corpus entries share the id {entry.id!r}"
            raise ValueError(msg)
        index[entry.id] = entry
    return index


_BY_ID = _index()


def by_id(entry_id: str) -> Entry:
    try:
        return _BY_ID[entry_id]
    except KeyError:
        msg = f"no corpus entry {entry_id!r}; known: {', '.join(sorted(_BY_ID))}"
        raise KeyError(msg) from None
