"""joblib.Parallel over models with the multiprocessing backend: its pool pickles each
task with pickle in a thread of its own, and joblib drops that error's traceback."""

from joblib import Parallel, delayed
from models import Model, score

if __name__ == "__main__":
    models = [Model(i) for i in range(2)]
    print(Parallel(n_jobs=2, backend="multiprocessing")(delayed(score)(model)
                                                        for model in models))
