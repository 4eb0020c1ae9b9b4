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



def test_hyperband_prunes_trials_running_on_dask_by_the_rule():
    # the trials run on the cluster's workers; their reports reach the driver over its link
    from test_search_pruning import HB, SCHEDULE, SPACE, check_invariants, curve, expected

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                                      dashboard_address=None) as cluster:
            address = cluster.scheduler_address.removeprefix("tcp://")
            study = run(curve, SPACE, n_trials=17, seed=0, executor=f"dask://{address}", workers=1, **HB)
    check_invariants(study)  # some pruned, each at a rung of its bracket; the best one complete
    assert [(t.status, len(t.intermediate)) for t in study.trials] == expected(
        [t.params for t in study.trials], SCHEDULE)  # one trial at a time: exactly the serial rule
