"""Write ``examples/model.pkl``: what a training script leaves behind (README, ``inspect``).

The script defines its model class in ``__main__``, so the pickle refers to
``__main__.Model``, which no other program has. ``picklecheck inspect
examples/model.pkl`` says so without loading the file. Run it again with
``python examples/write_model_pkl.py`` to rewrite the file.
"""

import collections
import pathlib
import pickle


class Model:
    def __init__(self) -> None:
        self.weights = [0.5, -1.25]
        self.vocabulary = collections.OrderedDict(a=0, b=1)


if __name__ == "__main__":
    path = pathlib.Path(__file__).with_name("model.pkl")
    path.write_bytes(pickle.dumps(Model(), protocol=4))
    print(f"wrote {path}")
