"""The built-in strategies (manual, grid, random; bayes/tpe have their own tests) and pruners
(hyperband, successive_halving, median)."""
import json
import pickle

import numpy as np
import pytest

import tinygrad_init as tgi
from tinygrad_init.registry import get_registry
from types import SimpleNamespace

from tinygrad_init.search import Observed, Choice, IntUniform, LogUniform, SearchExhausted, Space, Trial, Uniform
from tinygrad_init.testing.contracts_search_strategy import CHECKS, conformance_space, sphere

MINE = ["manual", "grid", "random"]


def drive(strategy, n, objective=lambda p: 1.0):
    out = []
    for _ in range(n):
        try:
            p = strategy.ask()
        except SearchExhausted:
            break
        out.append(p)
        strategy.tell(p, objective(p))
    return out


def key(p):
    return json.dumps(dict(p), sort_keys=True)


@pytest.mark.parametrize("name", MINE)
def test_contract_checks(name):
    comp = get_registry().get("search_strategy", name)
    examples = getattr(comp.factory, "conformance_examples", [{}])
    for hp in examples:
        for check in CHECKS.values():
            check(comp, hp)


@pytest.mark.parametrize("name, hp", [("random", {})])
def test_reproducible_by_seed(name, hp):
    runs = [[key(p) for p in drive(tgi.search_strategy(name, conformance_space(), seed=s, **hp), 20, sphere)]
            for s in (7, 7, 8)]
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_grid_covers_product_exactly_once():
    space = Space({"lr": LogUniform(1e-3, 1, step=10), "x": Uniform(0, 1), "act": Choice(["relu", "tanh"])})
    s = tgi.search_strategy("grid", space, n=3)
    got = drive(s, 1000)
    assert len(got) == 4 * 3 * 2
    assert sorted(map(key, got)) == sorted(map(key, space.grid(3)))
    with pytest.raises(SearchExhausted):
        s.ask()


def test_grid_and_manual_propose_from_the_trials_they_are_given():
    space = Space({"a": IntUniform(0, 3), "b": Choice(["x", "y"])})
    full = drive(tgi.search_strategy("grid", space), 100)
    fresh = tgi.search_strategy("grid", space)  # a resume: the study's trials are all it knows
    done = [Observed(i, dict(p), "complete", 1.0) for i, p in enumerate(full[:5])]
    assert fresh(done, 5) == full[5] and fresh(done[:2] + done[3:], 5) == full[2]
    configs = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 1, "b": "x"}]
    manual = tgi.search_strategy("manual", space, configs=configs)
    assert manual([Observed(0, configs[0], "running", None)], 1) == configs[1]
    assert manual([Observed(0, configs[0], "failed", None), Observed(1, configs[1], "complete", 1.0)], 2) == configs[2]


def test_grid_needs_n_or_step():
    with pytest.raises(ValueError, match=r"grid: dimension 'x'.*needs n"):
        tgi.search_strategy("grid", Space({"x": Uniform(0, 1)}))
    with pytest.raises(ValueError, match="grid: n=0"):
        tgi.search_strategy("grid", Space({"x": Uniform(0, 1)}), n=0)


def test_manual_order_validation_and_exhaustion():
    space = Space({"lr": LogUniform(1e-4, 1), "act": Choice(["relu", "tanh"])})
    configs = [{"lr": 0.1, "act": "relu"}, {"lr": 0.01, "act": "tanh"}, {"lr": 0.1, "act": "relu"}]
    s = tgi.search_strategy("manual", space, configs=configs)
    assert drive(s, 10) == configs
    with pytest.raises(SearchExhausted, match="all 3"):
        s.ask()
    with pytest.raises(ValueError, match=r"configs\[1\]: lr=5 is outside"):
        tgi.search_strategy("manual", space, configs=[configs[0], {"lr": 5, "act": "relu"}])
    with pytest.raises(ValueError, match="configs=\\[\\]"):
        tgi.search_strategy("manual", space, configs=[])


def test_random_matches_space_sample():
    space = conformance_space()
    s = tgi.search_strategy("random", space, seed=3)
    # proposal i draws from its own generator, seeded from (seed, i)
    assert [s.ask() for _ in range(5)] == [space.sample(np.random.default_rng([3, i])) for i in range(5)]


# --------------------------------------------------------------------------- hyperband


def li_table(R, eta):
    """Li et al. (2018), Algorithm 1, written out independently."""
    s_max = 0
    while eta ** (s_max + 1) <= R:
        s_max += 1
    B = (s_max + 1) * R
    rows = []
    for s in range(s_max, -1, -1):
        n = -(-B * eta ** s // (R * (s + 1)))  # ceil, integers
        r = R // eta ** s
        rows.append((s, n, r, [(n // eta ** i, r * eta ** i) for i in range(s + 1)]))
    return rows


def test_hyperband_bracket_arithmetic_matches_li_et_al():
    hb = tgi.pruner("hyperband", max_resource=27, reduction_factor=3)
    got = [(b["s"], b["n"], b["r"], b["rungs"]) for b in hb.table]
    assert got == li_table(27, 3)
    # the numbers, spelled out: brackets s = 3..0
    assert [b["n"] for b in hb.table] == [27, 12, 6, 4]
    assert [b["r"] for b in hb.table] == [1, 3, 9, 27]
    assert hb.table[0]["rungs"] == [(27, 1), (9, 3), (3, 9), (1, 27)]
    assert hb.table[1]["rungs"] == [(12, 3), (4, 9), (1, 27)]
    # R = 81: Li et al.'s Table 1 (n = 81, 34, 15, 8, 5)
    assert [b["n"] for b in tgi.pruner("hyperband", max_resource=81).table] == [81, 34, 15, 8, 5]
    sh = tgi.pruner("successive_halving", max_resource=27)
    assert [b["s"] for b in sh.table] == [3] and sh.rungs == {3: [1, 3, 9]} and sh.budget == 27


# max_resource=9, eta=3: brackets s = 2, 1, 0 with n = 9, 5, 3 configurations. Smooth weighted
# round-robin by n, worked out by hand (current weights += n, take the largest, subtract 17):
SCHEDULE_9 = [2, 1, 2, 0, 2, 1, 2, 0, 2, 1, 2, 1, 2, 0, 2, 1, 2]


def test_hyperband_assigns_brackets_by_trial_number_in_proportion():
    hb = tgi.pruner("hyperband", max_resource=9)
    assert [hb.bracket(i) for i in range(34)] == SCHEDULE_9 * 2
    assert [SCHEDULE_9.count(s) for s in (2, 1, 0)] == [b["n"] for b in hb.table] == [9, 5, 3]
    assert hb.budget == 9  # every trial may train up to max_resource


def judge(hb, reports, study=None):
    """Feed ``(trial number, value)`` reports in order to ``hb.prune`` over a study holding
    the trials; -> the answers. Trial ``n`` is in bracket ``hb.bracket(n)``."""
    study = study or SimpleNamespace(trials={}, sign=1.0)
    out = []
    for number, value in reports:
        t = study.trials.setdefault(number, Trial(number, {"x": 0.5}, 9))
        t.report(len(t.intermediate), value)  # no driver attached: only recorded
        out.append(hb.prune(SimpleNamespace(trials=list(study.trials.values()), sign=study.sign), t))
    return out


def test_hyperband_prunes_outside_the_best_third_at_a_rung():
    hb = tgi.pruner("hyperband", max_resource=9)
    two = [i for i in range(40) if hb.bracket(i) == 2]  # trials of bracket 2: judged at reports 1, 3
    # 9 trials at the 1st rung, in arrival order; keep the best max(1, floor(m / 3)) of the m so far:
    values = [5, 3, 8, 1, 4, 9, 2, 7, 6]
    # m=1 keep 1 {5}; m=2 keep 1 {3}: 3 goes on; m=3 {3}: 8 out; m=4 {1}: 1 on; m=5 {1}: 4 out;
    # m=6 keep 2 {1,3}: 9 out; m=7 {1,2}: 2 on; m=8 {1,2}: 7 out; m=9 keep 3 {1,2,3}: 6 out
    study = SimpleNamespace(trials={}, sign=1.0)
    assert judge(hb, [(two[i], v) for i, v in enumerate(values)], study) == [
        False, False, True, False, True, True, False, True, True]
    # survivors 0, 1, 3, 6: a 2nd report never prunes (even a bad one), the 3rd is the next rung:
    # m=1 {4}; m=2 keep 1 {2}: 2 on; m=3 keep 1 {2}: 3 out; trial 6 is still at its 2nd report
    a, b, c, d = (two[i] for i in (0, 1, 3, 6))
    assert judge(hb, [(a, 100.0), (b, 100.0), (c, 100.0), (a, 4), (b, 2), (c, 3), (d, 1e9)], study) == [
        False] * 3 + [False, False, True, False]
    assert judge(hb, [(d, 1)], study) == [False]  # m=4 keep 1: 1 is the best at the 3rd report
    # other brackets have their own rungs: bracket 1 is judged at its 3rd report only, bracket 0 never
    one = [i for i in range(40) if hb.bracket(i) == 1][:2]
    assert judge(hb, [(one[0], 50.0), (one[1], 60.0)] * 3) == [False] * 5 + [True]
    zero = [i for i in range(40) if hb.bracket(i) == 0][0]
    assert judge(hb, [(zero, 1e9)] * 9) == [False] * 9
    # maximizing: the study's sign turns the order round
    up = SimpleNamespace(trials={}, sign=-1.0)
    assert judge(hb, [(two[i], -v) for i, v in enumerate(values)], up) == [
        False, False, True, False, True, True, False, True, True]


def test_hyperband_ranks_failures_worst_and_ties_by_arrival():
    hb = tgi.pruner("hyperband", max_resource=3)
    one = [i for i in range(20) if hb.bracket(i) == 1]  # judged at its 1st report
    # NaN first (alone: kept), 5 beats NaN, None is worst, a 5 tied with an earlier 5 loses;
    # 4 joins (m=5, keep 1): the best
    reports = [float("nan"), 5.0, None, 5.0, 4.0]
    assert judge(hb, list(zip(one, reports))) == [False, False, True, True, False]


def test_median_pruner_follows_the_median_stopping_rule():
    med = tgi.pruner("median", n_startup_trials=2)
    done = [Trial(i, {}, status="complete", intermediate=[(s, v + 1.0 / s) for s in (1, 2, 3)])
            for i, v in enumerate([0.0, 1.0, 2.0])]  # the median at step s: 1 + 1/s
    study = SimpleNamespace(trials=done, sign=1.0)
    t = Trial(3, {})
    assert [(t.report(1, 2.5), med.prune(study, t))[1],   # 2.5 > 2.0: pruned
            med.prune(study, Trial(4, {}, intermediate=[(1, 1.9)])),  # best 1.9 < 2.0: goes on
            med.prune(study, Trial(5, {}, intermediate=[(1, 1.9), (2, 1.6)])),  # best 1.6 > 1.5: pruned
            med.prune(study, Trial(6, {}, intermediate=[(1, float("nan"))]))] == [True, False, True, True]
    assert not tgi.pruner("median", n_startup_trials=4).prune(study, t)  # 3 complete < 4: never
    assert not tgi.pruner("median", n_warmup_steps=2, n_startup_trials=0).prune(study, t)  # step 1 < 2
    up = SimpleNamespace(trials=[Trial(d.number, {}, status="complete", intermediate=[(s, -v) for s, v in
                                                                                       d.intermediate]) for d in done],
                         sign=-1.0)
    assert med.prune(up, Trial(3, {}, intermediate=[(1, -2.5)])) and not med.prune(up, Trial(4, {}, intermediate=[(1, -1.9)]))


def test_pruners_validate():
    with pytest.raises(ValueError, match="reduction_factor=1"):
        tgi.pruner("hyperband", reduction_factor=1)
    with pytest.raises(ValueError, match="min_resource=30"):
        tgi.pruner("hyperband", min_resource=30)
    with pytest.raises(TypeError, match="unknown hyperparameter 'eta'"):
        tgi.pruner("hyperband", eta=3)
    with pytest.raises(ValueError, match="interval_steps=0"):
        tgi.pruner("median", interval_steps=0)


@pytest.mark.parametrize("name", ["hyperband", "successive_halving", "median"])
def test_pruner_contract_checks(name):
    from tinygrad_init.testing.contracts_pruner import CHECKS as PRUNER_CHECKS

    comp = get_registry().get("pruner", name)
    for hp in getattr(comp.factory, "conformance_examples", [{}]):
        for check in PRUNER_CHECKS.values():
            check(comp, hp)
