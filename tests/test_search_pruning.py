"""Hyperband's early stopping through the runner: in process, on a process pool, on any
executor (the reports reach the driver over a connection), and resume after an interrupt."""
import pickle
from concurrent.futures import Executor, Future

import pytest

from test_search_runner import Interrupt  # noqa: E402 - the tests directory is on sys.path

from tinygrad_init.search import TrialPruned, Uniform, load_study, run

SPACE = {"x": Uniform(0.0, 1.0)}
OPTIONS = {"max_resource": 9}  # eta = 3: brackets 2, 1, 0 of 9, 5, 3 configurations
HB = dict(strategy="random", pruner="hyperband", pruner_options=OPTIONS)
SCHEDULE = [2, 1, 2, 0, 2, 1, 2, 0, 2, 1, 2, 1, 2, 0, 2, 1, 2]  # by hand (test_search_strategies.py)
RUNGS = {2: [1, 3], 1: [3], 0: []}  # the report counts where each bracket is judged (budgets < 9)


def f(params):
    return (params["x"] - 0.3) ** 2


def curve(trial):
    """Reports ``f(params) + 1/epoch`` at epochs 1..budget; stops when pruned. Module level:
    picklable for the process pool."""
    for epoch in range(1, int(trial.budget) + 1):
        value = f(trial.params) + 1.0 / epoch
        trial.report(epoch, value)
        if trial.should_prune():
            raise TrialPruned(f"epoch {epoch}")
    return value


def expected(params_list, schedule):
    """The written rule, run trial after trial: -> [(status, number of reports)]."""
    at_rung, out = {}, []
    for params, bracket in zip(params_list, schedule):
        status, reports = "complete", 9
        for count in RUNGS[bracket]:
            seen = at_rung.setdefault((bracket, count), [])
            seen.append(f(params) + 1.0 / count)
            keep = max(1, len(seen) // 3)
            if sorted(seen).index(seen[-1]) >= keep:  # values are distinct here
                status, reports = "pruned", count
                break
        out.append((status, reports))
    return out


def summary(study):
    return [(t.number, t.status, t.params, t.value, t.budget, t.intermediate) for t in study.trials]


def check_invariants(study):
    pruned = [t for t in study.trials if t.status == "pruned"]
    assert pruned, "some trials must be pruned"
    for t in study.trials:
        assert t.budget == 9
        if t.status == "pruned":  # stopped at a rung of its bracket, value = its last report
            assert len(t.intermediate) in RUNGS[bracket(t)] and t.value == t.intermediate[-1][1]
        else:
            assert t.status == "complete" and len(t.intermediate) == 9
    best_config = min(study.trials, key=lambda t: f(t.params))  # best at every rung: never pruned
    assert best_config.status == "complete" and study.best_trial.number == best_config.number
    assert all(t.status == "complete" for t in study.trials if bracket(t) == 0)


def bracket(t):
    return SCHEDULE[t.number % len(SCHEDULE)]


def test_hyperband_prunes_in_process_by_the_rule():
    study = run(curve, SPACE, n_trials=17, seed=0, **HB)
    assert len(study.trials) == 17
    check_invariants(study)
    got = [(t.status, len(t.intermediate)) for t in study.trials]
    assert got == expected([t.params for t in study.trials], SCHEDULE)
    epochs = sum(len(t.intermediate) for t in study.trials)
    assert epochs < 17 * 9 * 0.75  # early stopping saves training


def test_hyperband_prunes_on_a_process_pool():
    study = run(curve, SPACE, n_trials=34, seed=1, executor="process", workers=2, **HB)
    assert len(study.trials) == 34
    check_invariants(study)


def test_any_executor_prunes_by_the_rule():
    class Inline(Executor):  # an Executor the runner knows nothing about: reports come over the link
        def submit(self, fn, *args):
            fut = Future()
            fut.set_result(fn(*pickle.loads(pickle.dumps(args))))  # as a remote executor, on copies
            return fut

    study = run(curve, SPACE, n_trials=17, seed=0, executor=Inline(), **HB)
    check_invariants(study)
    got = [(t.status, len(t.intermediate)) for t in study.trials]
    assert got == expected([t.params for t in study.trials], SCHEDULE)


def test_objective_that_never_reports_runs_its_full_budget():
    study = run(lambda t: f(t.params) * t.budget, SPACE, n_trials=17, seed=0, **HB)
    assert len(study.trials) == 17 and all(t.status == "complete" for t in study.trials)


def test_resume_with_pruning_gives_the_uninterrupted_study(tmp_path):
    reference = run(Interrupt(-1, curve), SPACE, n_trials=17, seed=0, **HB)
    db = tmp_path / "hb.db"
    obj = Interrupt(9, curve)
    with pytest.raises(KeyboardInterrupt):
        run(obj, SPACE, n_trials=17, seed=0, storage=str(db), **HB)
    half = load_study(db)
    assert [t.status for t in half.trials[:9]] == [t.status for t in reference.trials[:9]]
    assert "pruned" in [t.status for t in half.trials[:9]] and half.trials[9].status == "running"
    obj.calls.clear()
    study = run(obj, SPACE, n_trials=17, seed=0, storage=str(db), **HB)
    assert sorted(obj.calls) == list(range(9, 17))
    # later trials are judged against the rung values of the trials before the interrupt
    assert "pruned" in [t.status for t in study.trials[9:]]
    assert summary(study) == summary(reference)
    assert summary(load_study(db)) == summary(reference)
