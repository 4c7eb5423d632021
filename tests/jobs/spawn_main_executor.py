"""ProcessPoolExecutor.map of a function defined under the main guard: under spawn the
worker dies and the pool breaks with no cause."""

from concurrent.futures import ProcessPoolExecutor

if __name__ == "__main__":
    def square(x):
        return x * x

    with ProcessPoolExecutor(max_workers=2) as executor:
        print(list(executor.map(square, [1, 2, 3])))
