"""A value that counts how often it is pickled (used by tests/apps/rerun_state.py)."""

DUMPS = {"count": 0}


def rebuild():
    return Counted()


class Counted:
    """Each dump increments DUMPS['count']."""

    def __reduce__(self):
        DUMPS["count"] += 1
        return (rebuild, ())
