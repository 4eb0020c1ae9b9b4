"""A search on a Dask `distributed` cluster gives the same study as in process.

Needs the optional extra `distributed` (skipped, not passed, without it).
"""
import warnings

import pytest

distributed = pytest.importorskip("distributed")

from tinygrad_init.search import run  # noqa: E402
from tinygrad_init.testing.contracts_search_strategy import conformance_space, sphere_objective  # noqa: E402


def summary(study):
    return [(t.number, t.status, t.params, t.value) for t in study.trials]


def test_dask_cluster_gives_the_same_study(tmp_path):
    serial = run(sphere_objective, conformance_space(), strategy="random", n_trials=10, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=None) as cluster:
            address = cluster.scheduler_address.removeprefix("tcp://")
            study = run(sphere_objective, conformance_space(), strategy="random", n_trials=10, seed=4,
                        executor=f"dask://{address}", storage=str(tmp_path / "d.db"))
            with distributed.Client(cluster) as client:
                workers = client.scheduler_info()["workers"]
    assert len(workers) == 2
    assert summary(study) == summary(serial)

