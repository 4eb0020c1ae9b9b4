"""The built-in strategies: manual, grid, random, hyperband (bayes/tpe have their own tests)."""
import json
import pickle

import numpy as np
import pytest

import tinygrad_init as tgi
from tinygrad_init.registry import get_registry
from tinygrad_init.search import Choice, IntUniform, LogUniform, SearchExhausted, Space, Trial, Uniform
from tinygrad_init.testing.contracts_search_strategy import CHECKS, conformance_space, sphere

MINE = ["manual", "grid", "random", "hyperband"]


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


@pytest.mark.parametrize("name, hp", [("random", {}), ("hyperband", {"max_resource": 9})])
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


def test_grid_resumes_from_told_points():
    space = Space({"a": IntUniform(0, 3), "b": Choice(["x", "y"])})
    full = drive(tgi.search_strategy("grid", space), 100)
    fresh = tgi.search_strategy("grid", space)
    for p in full[:5]:  # a restart tells the finished points without asking
        fresh.tell(p, 1.0)
    assert [key(p) for p in drive(fresh, 100)] == [key(p) for p in full[5:]]


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
    # a restart tells finished configurations; the rest follows, duplicates kept
    fresh = tgi.search_strategy("manual", space, configs=configs)
    fresh.tell(configs[0], 1.0)
    assert drive(fresh, 10) == configs[1:]


def test_random_matches_space_sample():
    space = conformance_space()
    s = tgi.search_strategy("random", space, seed=3)
    rng = np.random.default_rng(3)
    assert [s.ask() for _ in range(5)] == [space.sample(rng) for _ in range(5)]


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
    hb = tgi.search_strategy("hyperband", Space({"x": Uniform(0, 1)}), max_resource=27, reduction_factor=3)
    got = [(b["s"], b["n"], b["r"], b["rungs"]) for b in hb.table]
    assert got == li_table(27, 3)
    # the numbers, spelled out: brackets s = 3..0
    assert [b["n"] for b in hb.table] == [27, 12, 6, 4]
    assert [b["r"] for b in hb.table] == [1, 3, 9, 27]
    assert hb.table[0]["rungs"] == [(27, 1), (9, 3), (3, 9), (1, 27)]
    assert hb.table[1]["rungs"] == [(12, 3), (4, 9), (1, 27)]
    # R = 81: Li et al.'s Table 1 (n = 81, 34, 15, 8, 5)
    hb81 = tgi.search_strategy("hyperband", Space({"x": Uniform(0, 1)}), max_resource=81)
    assert [b["n"] for b in hb81.table] == [81, 34, 15, 8, 5]


# max_resource=9, eta=3: brackets s = 2, 1, 0 with n = 9, 5, 3 configurations. Smooth weighted
# round-robin by n, worked out by hand (current weights += n, take the largest, subtract 17):
SCHEDULE_9 = [2, 1, 2, 0, 2, 1, 2, 0, 2, 1, 2, 1, 2, 0, 2, 1, 2]


def test_hyperband_assigns_brackets_in_proportion_with_the_full_budget():
    space = conformance_space()
    hb = tgi.search_strategy("hyperband", space, seed=4, max_resource=9, iterations=2)
    got = drive(hb, 1000)
    assert [p.bracket for p in got] == SCHEDULE_9 * 2  # iterations = cycles of the bracket table
    assert [SCHEDULE_9.count(s) for s in (2, 1, 0)] == [b["n"] for b in hb.table] == [9, 5, 3]
    assert all(p.budget == 9 for p in got)  # every trial may train up to max_resource
    rng = np.random.default_rng(4)
    assert [dict(p) for p in got] == [space.sample(rng) for _ in range(34)]  # random configurations
    with pytest.raises(SearchExhausted, match="34 configurations"):
        hb.ask()
    p = pickle.loads(pickle.dumps(got[1]))
    assert (p, p.budget, p.bracket) == (got[1], 9, 1)


def judge(hb, reports, trials=None):
    """Feed ``(trial number, bracket, value)`` reports in order; -> should_prune of each.
    ``trials`` ({number: Trial}) carries the trials' reports over calls."""
    trials, out = {} if trials is None else trials, []
    for number, bracket, value in reports:
        t = trials.setdefault(number, Trial(number, {"x": 0.5}, 9, bracket=bracket))
        t.report(len(t.intermediate), value)  # no strategy attached: only recorded
        out.append(hb.should_prune(t, t.intermediate[-1][0], t.intermediate[-1][1]))
    return out


def test_hyperband_prunes_outside_the_best_third_at_a_rung():
    hb = tgi.search_strategy("hyperband", Space({"x": Uniform(0, 1)}), max_resource=9)
    # bracket 2 is judged at its 1st and 3rd reports (budgets 1, 3; 9 is the end).
    # 9 trials at the 1st rung, in arrival order; keep the best max(1, floor(m / 3)) of the m so far:
    values = [5, 3, 8, 1, 4, 9, 2, 7, 6]
    # m=1 keep 1 {5}; m=2 keep 1 {3}: 3 goes on; m=3 {3}: 8 out; m=4 {1}: 1 on; m=5 {1}: 4 out;
    # m=6 keep 2 {1,3}: 9 out; m=7 {1,2}: 2 on; m=8 {1,2}: 7 out; m=9 keep 3 {1,2,3}: 6 out
    trials = {}
    assert judge(hb, [(i, 2, v) for i, v in enumerate(values)], trials) == [
        False, False, True, False, True, True, False, True, True]
    # survivors 0, 1, 3, 6: a 2nd report never prunes (even a bad one), the 3rd is the next rung:
    # m=1 {4}; m=2 keep 1 {2}: 2 on; m=3 keep 1 {2}: 3 out; trial 6 is still at its 2nd report
    assert judge(hb, [(0, 2, 100.0), (1, 2, 100.0), (3, 2, 100.0), (0, 2, 4), (1, 2, 2), (3, 2, 3),
                      (6, 2, 1e9)], trials) == [False] * 3 + [False, False, True, False]
    assert judge(hb, [(6, 2, 1)], trials) == [False]  # m=4 keep 1: 1 is the best at the 3rd report
    assert [len(trials[i].intermediate) for i in (0, 1, 3, 6)] == [3, 3, 3, 3]
    # other brackets have their own rungs: bracket 1 is judged at its 3rd report only, bracket 0 never
    assert judge(hb, [(20, 1, 50.0), (21, 1, 60.0), (20, 1, 50.0), (21, 1, 60.0), (20, 1, 50.0),
                      (21, 1, 60.0)], trials) == [False] * 5 + [True]
    assert judge(hb, [(30, 0, 1e9)] * 9) == [False] * 9
    # the decision state is a picklable board: a copy gives the same answers
    copy = pickle.loads(pickle.dumps(hb.pruning_board()))
    assert copy.report(40, 2, 1, 2.5) is hb.pruning_board().report(40, 2, 1, 2.5) is False


def test_hyperband_ranks_failures_worst_and_ties_by_arrival():
    hb = tgi.search_strategy("hyperband", Space({"x": Uniform(0, 1)}), max_resource=3)
    # bracket 1 is judged at its 1st report: NaN first (alone: kept), 5 beats NaN, None is worst,
    # a 5 tied with an earlier 5 loses; 4 joins (m=5, keep 1): the best
    assert judge(hb, [(0, 1, float("nan")), (1, 1, 5.0), (2, 1, None), (3, 1, 5.0), (4, 1, 4.0)]) == [
        False, False, True, True, False]


def test_hyperband_validates():
    space = Space({"x": Uniform(0, 1)})
    with pytest.raises(ValueError, match="reduction_factor=1"):
        tgi.search_strategy("hyperband", space, reduction_factor=1)
    with pytest.raises(ValueError, match="min_resource=30"):
        tgi.search_strategy("hyperband", space, min_resource=30)
    with pytest.raises(TypeError, match="unknown hyperparameter 'eta'"):
        tgi.search_strategy("hyperband", space, eta=3)
