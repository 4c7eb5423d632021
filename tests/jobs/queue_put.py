"""mp.Queue.put of a model: the feeder thread drops it and prints a traceback."""

import multiprocessing as mp
import time

from models import Model

if __name__ == "__main__":
    queue = mp.Queue()
    queue.put(Model(1))
    time.sleep(0.5)
    print("done")
