"""joblib.Parallel over models with the loky backend."""

from joblib import Parallel, delayed
from models import Model, score

if __name__ == "__main__":
    models = [Model(i) for i in range(2)]
    print(Parallel(n_jobs=2)(delayed(score)(model) for model in models))
