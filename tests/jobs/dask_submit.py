"""Client.submit(score, model) on a local Dask cluster (127.0.0.1, one worker)."""

from dask.distributed import Client, LocalCluster
from models import Model, score

if __name__ == "__main__":
    model = Model(1)
    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        print(client.submit(score, model).result())
