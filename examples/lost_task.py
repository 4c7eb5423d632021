"""A task a worker cannot load: try `picklecheck run --start-method spawn examples/lost_task.py`.

``square`` is defined under the main guard. It pickles fine (by reference to
``__main__.square``), but a worker started with spawn or forkserver imports the script
as ``__mp_main__`` without running that block, so it has no ``square``: the worker
dies and, without picklecheck, ``Pool.map`` waits forever.
"""

import multiprocessing as mp

if __name__ == "__main__":
    def square(x):
        return x * x

    with mp.Pool(2) as pool:
        print(pool.map(square, [1, 2, 3]))
