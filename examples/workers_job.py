"""A job for workers that run another Python: will its task load there?

    picklecheck examples/workers_job.py:job -b cloudpickle --python /srv/workers/venv/bin/python

cloudpickle sends ``score`` by value: its bytecode, which only the same Python version
runs (on another one it fails to load, or loads and crashes the worker when called).
``os.path.join`` travels by name, and any version has it.
"""

import os


def make_scorer(weight):
    def score(row):
        return sum(x * weight for x in row)

    return score


job = {"score": make_scorer(0.5), "rows": [[1, 2], [3, 4]], "join": os.path.join}
