"""Why today's engine misses an expectation: the reasons entries give their strict xfails.

Each names the issue whose fix should flip it. Keeping them in one place makes the
work list readable: ``grep -n xfail tests/realworld/*objects.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

__all__ = [
    "DILL_OK", "DILL_RLOCK", "INTERNALS", "LONG", "MEMO", "STALE", "UNLOADABLE", "VOCABULARY",
    "by_python",
]

INTERNALS = "issue 10: names library internals, not the object the user holds"
VOCABULARY = "issue 10: the path is not in the library's own vocabulary"
LONG = "issue 10: more than 5 top-level entries (no grouping or collapse yet)"
STALE = "issue 8: stale_reference for a class or function that was never redefined"
DILL_OK = "issue 8: 'dill: ok' for the whole object, whose dill copy is broken (dead RLock)"
DILL_RLOCK = "issue 8: 'dill: ok' for an RLock whose loaded copy can never be acquired"
UNLOADABLE = "issue 8: 'ok' decided by dumps alone; that backend's copy does not load"
MEMO = "issue 8: the resumed scan's memo hides the real culprit (wrong or extra culprit)"


def by_python(reasons: Mapping[tuple[int, int], Mapping[str, str]],
              default: Mapping[str, str]) -> Mapping[str, str]:
    """The reasons measured on this Python (major, minor), else ``default``.

    For defects that show on some Pythons only (tqdm's culprit is named on 3.11 and up).
    """
    return reasons.get(sys.version_info[:2], default)

