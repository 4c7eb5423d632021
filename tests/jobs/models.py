"""A user object with the three classic culprits: a lock, a lambda and a generator."""

import threading


class Model:
    def __init__(self, n):
        self.n = n
        self.lock = threading.Lock()
        self.on_done = lambda result: result
        self.batches = (i for i in range(3))


def score(model, scale=1):
    """A model's score; plain numbers score themselves."""
    return getattr(model, "n", model) * scale


def make(n):
    """A Model, returned: a worker cannot send it back."""
    return Model(n)
