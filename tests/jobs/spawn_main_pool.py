"""Pool.map of a function defined under the main guard: under spawn the worker dies and
Pool.map would wait forever."""

import multiprocessing as mp

if __name__ == "__main__":
    def square(x):
        return x * x

    with mp.Pool(2) as pool:
        print(pool.map(square, [1, 2, 3]))
