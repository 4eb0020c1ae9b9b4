"""The built-in strategies: manual, grid, random, hyperband (bayes/tpe have their own tests)."""
import json

import numpy as np
import pytest

import tinygrad_init as tgi
from tinygrad_init.registry import get_registry
from tinygrad_init.search import Choice, IntUniform, LogUniform, SearchExhausted, Space, Uniform
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


def test_hyperband_runs_brackets_and_promotes_the_best():
    space = Space({"x": Uniform(0, 1)})
    hb = tgi.search_strategy("hyperband", space, seed=0, max_resource=9, reduction_factor=3)
    log = []
    while True:
        try:
            p = hb.ask()
        except SearchExhausted:
            break
        log.append((p.budget, p["x"]))
        hb.tell(p, p["x"])  # smaller x is better, at any budget
    # bracket s=2: 9 configs at 1, best 3 at 3, best 1 at 9; s=1: 5 at 3, 1 at 9; s=0: 3 at 9
    assert [b for b, _ in log] == [1] * 9 + [3] * 3 + [9] + [3] * 5 + [9] + [9] * 3
    first = sorted(x for _, x in log[:9])
    assert sorted(x for _, x in log[9:12]) == first[:3]
    assert log[12][1] == first[0]
    assert log[18][1] == min(x for _, x in log[13:18])


def test_hyperband_waits_for_a_rung_and_treats_failures_as_worst():
    hb = tgi.search_strategy("hyperband", Space({"x": Uniform(0, 1)}), seed=1, max_resource=3,
                             reduction_factor=3)
    # s=1: 3 configs at budget 1, then 1 at budget 3; s=0: 2 configs at 3
    batch = hb.ask_batch(10)
    assert [p.budget for p in batch] == [1, 1, 1, 3, 3]  # the next bracket fills the batch
    assert hb.ask_batch(1) == []  # nothing until results come
    hb.tell(batch[0], None)
    hb.tell(batch[1], 0.9)
    hb.tell(batch[2], float("nan"))
    promoted = hb.ask()
    assert promoted.budget == 3 and dict(promoted) == dict(batch[1])


def test_hyperband_validates():
    space = Space({"x": Uniform(0, 1)})
    with pytest.raises(ValueError, match="reduction_factor=1"):
        tgi.search_strategy("hyperband", space, reduction_factor=1)
    with pytest.raises(ValueError, match="min_resource=30"):
        tgi.search_strategy("hyperband", space, min_resource=30)
    with pytest.raises(TypeError, match="unknown hyperparameter 'eta'"):
        tgi.search_strategy("hyperband", space, eta=3)


def test_hyperband_total_budget_is_far_below_full_training():
    hb = tgi.search_strategy("hyperband", conformance_space(), seed=0)
    done = drive(hb, 10_000)
    assert len(done) == sum(n for b in hb.table for n, _ in b["rungs"]) == 69
    spent = sum(p.budget for p in done)
    distinct = sum(b["n"] for b in hb.table)  # 49 configurations
    assert spent < distinct * 27 / 3  # far less than training each config to max_resource
