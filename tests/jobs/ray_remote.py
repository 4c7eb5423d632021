"""train.remote(model) on a local Ray instance; the model also holds a ref and an actor
handle, which Ray sends fine, and Ray is shut down before the diagnosis is made."""

import ray
from models import Model


@ray.remote
class Counter:
    def add(self, k):
        return k


@ray.remote
def train(model):
    return model.n


if __name__ == "__main__":
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        model = Model(1)
        model.rows = ray.put([1, 2, 3])
        model.counter = Counter.remote()
        print(ray.get(train.remote(model)))
    finally:
        ray.shutdown()
