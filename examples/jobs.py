"""A data job's task: which framework could run it?

    picklecheck examples/jobs.py:task --compare
    picklecheck examples/jobs.py:job --compare
"""

import functools
import threading
import types


class Model:
    def __init__(self, weights):
        self.weights = weights


def score(row, model, limits):
    value = sum(w * x for w, x in zip(model.weights, row, strict=True))
    return limits["low"] <= value <= limits["high"]


def make_task(threshold):
    model = Model([0.2, 0.3, 0.5])

    def task(row):
        return score(row, model, {"low": threshold, "high": 1.0})

    return task


# A read-only view of the settings: plain pickle has no reducer for it, cloudpickle does.
limits = types.MappingProxyType({"low": 0.2, "high": 0.8})
task = functools.partial(score, model=Model([0.2, 0.3, 0.5]), limits=limits)
# A closure (saved by name it is not found; by value it travels) and a lock (nothing sends it).
job = {"task": make_task(0.5), "lock": threading.Lock()}
