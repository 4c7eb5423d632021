"""A data job's task: which framework could run it?

    picklecheck examples/jobs.py:task --compare
    picklecheck examples/jobs.py:job --compare
"""

import threading


class Model:
    def __init__(self, weights):
        self.weights = weights


def make_task(threshold):
    model = Model([0.2, 0.3, 0.5])

    def task(row):
        return sum(w * x for w, x in zip(model.weights, row, strict=True)) > threshold

    return task


task = make_task(0.5)  # a closure: saved by name it is not found; by value it travels
job = {"task": task, "lock": threading.Lock()}  # a lock travels with nothing
