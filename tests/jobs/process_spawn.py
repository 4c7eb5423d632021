"""Process(target=..., args=(model,)).start() under spawn."""

import multiprocessing as mp

from models import Model, score

if __name__ == "__main__":
    model = Model(1)
    process = mp.get_context("spawn").Process(target=score, args=(model,))
    process.start()
    process.join()
