"""train.remote(model) on a local Ray instance."""

import ray
from models import Model


@ray.remote
def train(model):
    return model.n


if __name__ == "__main__":
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        model = Model(1)
        print(ray.get(train.remote(model)))
    finally:
        ray.shutdown()
