"""A remote function whose closure holds more than Ray exports (FUNCTION_SIZE_ERROR_THRESHOLD,
95 MiB): Ray refuses it as the task is submitted."""

import ray


def build():
    lookup = bytes(100 * 2**20)

    def score(i):
        return lookup[i]

    return score


if __name__ == "__main__":
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        score = ray.remote(build())
        print(ray.get(score.remote(3)))
    finally:
        ray.shutdown()
