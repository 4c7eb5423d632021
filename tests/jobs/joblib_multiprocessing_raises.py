"""joblib's multiprocessing backend, with a task that raises on its own: no pickling
failure, and nothing of picklecheck's in the traceback."""

from joblib import Parallel, delayed


def boom(x):
    raise ValueError(f"bad input {x}")


if __name__ == "__main__":
    Parallel(n_jobs=2, backend="multiprocessing")(delayed(boom)(i) for i in range(2))
