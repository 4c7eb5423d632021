"""A job that fails inside multiprocessing: try `picklecheck run examples/failing_job.py`.

Each Experiment carries a lock, a callback lambda and a live generator, none of which
pickle; Pool.map must pickle every experiment to send it to a worker.
"""

import multiprocessing
import threading


class Experiment:
    def __init__(self, name, rate):
        self.name = name
        self.rate = rate
        self.lock = threading.Lock()
        self.on_result = lambda score: print(name, score)
        self.samples = (rate * i for i in range(10))


def run_experiment(experiment):
    return experiment.rate * 2


if __name__ == "__main__":
    experiments = [Experiment(f"lr={rate}", rate) for rate in (0.1, 0.01, 0.001)]
    with multiprocessing.Pool(2) as pool:
        print(pool.map(run_experiment, experiments))
