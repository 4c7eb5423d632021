"""A DataLoader whose spawned workers cannot load its dataset: its class is defined under
the main guard. Each worker dies, and the DataLoader says only that it exited
unexpectedly."""

import torch
from torch.utils.data import DataLoader, Dataset

if __name__ == "__main__":
    class Rows(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return torch.tensor(float(i))

    loader = DataLoader(Rows(), batch_size=2, num_workers=1, multiprocessing_context="spawn")
    for batch in loader:
        print(batch)
