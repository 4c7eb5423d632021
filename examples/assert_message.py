"""The message of ``picklecheck.assert_picklable`` for a small app state (README).

Run it with ``python examples/assert_message.py``: it prints the message of the
``UnpicklableError`` that ``assert_picklable`` raises for a state holding a database
wrapper with a lock and a lambda callback.
"""

import threading

import picklecheck


class Conn:
    """A connection wrapper that guards its socket with a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.dsn = "postgresql://db/app"


class Database:
    def __init__(self) -> None:
        self.conn = Conn()


def build_state() -> dict:
    return {"db": Database(), "cb": lambda event: event, "user": "ada"}


if __name__ == "__main__":
    try:
        picklecheck.assert_picklable(build_state(), backend="pickle", name="state")
    except picklecheck.UnpicklableError as exc:
        print(exc)
