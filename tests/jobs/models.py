"""A user object with the three classic culprits: a lock, a lambda and a generator."""

import threading


class Model:
    def __init__(self, n):
        self.n = n
        self.lock = threading.Lock()
        self.on_done = lambda result: result
        self.batches = (i for i in range(3))


def score(model, scale=1):
    return model.n * scale
