"""A chat app's per-user session state, the kind a web framework keeps between requests.

It holds what real session state tends to collect over time: a model configuration
(fine), the conversation history (fine), a database connection, UI callbacks
written as lambdas, and a cache guarded by a lock. Check it with::

    picklecheck examples/session_app.py:state
    picklecheck examples/session_app.py:state --fresh-process
    picklecheck examples/session_app.py:make_state --call
    picklecheck examples/session_app.py          # every public value, one row each

Running this file directly starts a tiny demo loop; picklecheck never runs it.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MODEL = "small-chat-v2"
SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly."


@dataclass(frozen=True)
class ModelConfig:
    """Plain settings: these pickle with every backend."""

    model: str = DEFAULT_MODEL
    temperature: float = 0.2
    max_tokens: int = 512
    stop: tuple[str, ...] = ("\n\nUser:",)


class ResponseCache:
    """Answers already computed, shared by the request threads of one session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: dict[str, str] = {}
        self.hits = 0

    def get_or_compute(self, prompt: str, compute: Callable[[str], str]) -> str:
        with self._lock:
            if prompt in self.entries:
                self.hits += 1
                return self.entries[prompt]
        answer = compute(prompt)
        with self._lock:
            self.entries[prompt] = answer
        return answer


@functools.lru_cache(maxsize=256)
def tokenize(text: str) -> tuple[str, ...]:
    """A module-level cached function: pickles by reference, so it is fine."""
    return tuple(text.split())


@dataclass
class SessionState:
    """Everything the app remembers about one user between two requests."""

    user: str
    config: ModelConfig
    db: sqlite3.Connection
    history: list[dict[str, str]] = field(default_factory=list)
    callbacks: dict[str, Callable[..., Any]] = field(default_factory=dict)
    cache: ResponseCache = field(default_factory=ResponseCache)
    tokenizer: Callable[[str], tuple[str, ...]] = tokenize


def open_db() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.execute("CREATE TABLE messages (role TEXT, content TEXT)")
    return db


def make_state(user: str = "ada") -> SessionState:
    """A fresh session, as the app creates one when a user arrives."""
    state = SessionState(user=user, config=ModelConfig(), db=open_db())
    state.history.append({"role": "system", "content": SYSTEM_PROMPT})
    state.callbacks["on_submit"] = lambda text: state.history.append(
        {"role": "user", "content": text})
    state.callbacks["on_clear"] = lambda: state.history.clear()
    state.cache.entries["hello"] = "Hi! How can I help?"
    return state


#: The session the demo below serves; what ``picklecheck examples/session_app.py:state`` checks.
state = make_state()

#: Values that are fine to send anywhere.
limits = {"max_history": 50, "max_upload_mb": 10}
config = ModelConfig(temperature=0.7)


if __name__ == "__main__":
    for line in ("hello", "what is pickle?"):
        state.callbacks["on_submit"](line)
        print(state.cache.get_or_compute(line, lambda p: f"(an answer to {p!r})"))
