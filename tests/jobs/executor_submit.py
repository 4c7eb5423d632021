"""ProcessPoolExecutor.submit(score, model) and result()."""

from concurrent.futures import ProcessPoolExecutor

from models import Model, score

if __name__ == "__main__":
    model = Model(1)
    with ProcessPoolExecutor(max_workers=1) as executor:
        future = executor.submit(score, model, scale=2)
        print(future.result())
