"""Pool.map over models, one of which holds a lock, a lambda and a generator."""

import multiprocessing as mp

from models import Model, score

if __name__ == "__main__":
    models = [1, 2, 3, Model(4)]
    with mp.Pool(2) as pool:
        print(pool.map(score, models, chunksize=1))
