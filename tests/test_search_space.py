"""Search-space semantics: distributions, bounds, grids, unit maps, validation."""
import json
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinygrad_init.search import Choice, IntUniform, LogUniform, Space, Uniform


def ks_uniform(samples, lo, hi):
    """Kolmogorov-Smirnov statistic of samples against U(lo, hi)."""
    x = np.sort((np.asarray(samples) - lo) / (hi - lo))
    n = len(x)
    i = np.arange(1, n + 1)
    return max(np.max(i / n - x), np.max(x - (i - 1) / n))


N = 4000
KS_CRIT = 1.63 / math.sqrt(N)  # alpha = 0.01


def test_loguniform_is_uniform_in_log_space():
    d = LogUniform(1e-4, 1.0)
    rng = np.random.default_rng(0)
    s = np.array([d.sample(rng) for _ in range(N)])
    assert s.min() >= 1e-4 and s.max() <= 1.0
    assert ks_uniform(np.log(s), math.log(1e-4), 0.0) < KS_CRIT
    # and it is not uniform on the linear scale (the check can fail)
    assert ks_uniform(s, 1e-4, 1.0) > 10 * KS_CRIT


def test_uniform_is_uniform():
    d = Uniform(-2.0, 3.0)
    rng = np.random.default_rng(1)
    s = [d.sample(rng) for _ in range(N)]
    assert ks_uniform(s, -2.0, 3.0) < KS_CRIT
    assert all(isinstance(v, float) for v in s)


def test_int_bounds_inclusive_and_uniform():
    d = IntUniform(1, 3)
    rng = np.random.default_rng(2)
    s = np.array([d.sample(rng) for _ in range(3000)])
    assert set(s.tolist()) == {1, 2, 3}
    freq = np.bincount(s)[1:] / len(s)
    assert np.all(np.abs(freq - 1 / 3) < 0.04)
    assert IntUniform(5, 5).sample(rng) == 5


def test_int_log_masses():
    # value k gets the log-uniform mass of [k - 0.5, k + 0.5] on [lo - 0.5, hi + 0.5]
    d = IntUniform(1, 8, log=True)
    rng = np.random.default_rng(3)
    s = np.array([d.sample(rng) for _ in range(20000)])
    k = np.arange(1, 9)
    expected = np.log((k + 0.5) / (k - 0.5)) / math.log(8.5 / 0.5)
    freq = np.bincount(s, minlength=9)[1:] / len(s)
    assert np.all(np.abs(freq - expected) < 0.015), (freq, expected)


def test_grids():
    assert np.allclose(LogUniform(1e-4, 1.0, step=10).grid(), [1e-4, 1e-3, 1e-2, 1e-1, 1.0], rtol=1e-12)
    assert np.allclose(LogUniform(1e-3, 1.0).grid(4), [1e-3, 1e-2, 1e-1, 1.0], rtol=1e-12)
    assert LogUniform(0.5, 5.0, step=2).grid() == [0.5, 1.0, 2.0, 4.0]  # 8 > hi is left out
    assert Uniform(0.0, 1.0, step=0.25).grid() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert Uniform(0.0, 1.0).grid(5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert IntUniform(1, 10, step=3).grid() == [1, 4, 7, 10]
    assert IntUniform(1, 64, log=True, step=2).grid() == [1, 2, 4, 8, 16, 32, 64]
    assert IntUniform(2, 5).grid() == [2, 3, 4, 5]
    assert Choice(["a", "b"]).grid(7) == ["a", "b"]
    with pytest.raises(ValueError, match="needs n"):
        Uniform(0, 1).grid()


def test_space_grid_is_the_product():
    space = Space({"a": Choice(["x", "y"]), "b": IntUniform(0, 2), "lr": LogUniform(1e-2, 1, step=10)})
    g = space.grid()
    assert len(g) == 2 * 3 * 3
    assert len({json.dumps(p, sort_keys=True) for p in g}) == len(g)
    assert g[0] == {"a": "x", "b": 0, "lr": 0.01} and g[-1]["a"] == "y"  # first dim slowest
    assert all(space.contains(p) for p in g)


def test_step_sampling_stays_on_grid():
    rng = np.random.default_rng(4)
    d = LogUniform(1e-4, 1.0, step=10)
    vals = {d.sample(rng) for _ in range(200)}
    assert vals <= set(d.grid()) and len(vals) == 5
    u = Uniform(0.0, 1.0, step=0.5)
    assert {u.sample(rng) for _ in range(100)} == {0.0, 0.5, 1.0}
    assert u.contains(0.5) and not u.contains(0.3)


@pytest.mark.parametrize("make, match", [
    (lambda: Uniform(1.0, 1.0), "lo=1.0, hi=1.0"),
    (lambda: Uniform(2.0, 1.0), "inverted"),
    (lambda: LogUniform(0.0, 1.0), "lo=0.0"),
    (lambda: LogUniform(-1.0, 1.0), "log-scale"),
    (lambda: IntUniform(3, 1), "inverted"),
    (lambda: IntUniform(0, 4, log=True), "lo >= 1"),
    (lambda: Choice([]), "at least one"),
    (lambda: Choice(["a", "a"]), "distinct"),
    (lambda: Uniform(0.0, 1.0, step=0), "step=0"),
    (lambda: Uniform(0.0, 1.0, step=-0.1), "step=-0.1"),
    (lambda: LogUniform(1e-3, 1.0, step=1.0), "factor"),
    (lambda: Uniform(0.0, float("nan")), "finite"),
])
def test_bad_dimensions(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_errors_name_the_dimension():
    with pytest.raises(ValueError, match=r"dimension 'lr' \(loguniform\): lo=-1"):
        Space.from_dict({"lr": {"type": "loguniform", "lo": -1, "hi": 1}})
    with pytest.raises(ValueError, match=r"dimension 'act'.*type='chioce'"):
        Space.from_dict({"act": {"type": "chioce", "options": ["a"]}})
    with pytest.raises(ValueError, match=r"dimension 'x'.*missing field 'hi'"):
        Space.from_dict({"x": {"type": "uniform", "lo": 0}})
    with pytest.raises(ValueError, match=r"dimension 'x'.*unknown field 'log'"):
        Space.from_dict({"x": {"type": "uniform", "lo": 0, "hi": 1, "log": True}})
    space = Space({"lr": LogUniform(1e-3, 1)})
    with pytest.raises(ValueError, match=r"lr=5 is outside dimension 'lr'"):
        space.check({"lr": 5})
    with pytest.raises(ValueError, match="missing dimension 'lr'"):
        space.check({})


def test_to_dict_round_trip_and_identity():
    space = Space({"lr": LogUniform(1e-4, 1, step=10), "x": Uniform(0, 1), "n": IntUniform(1, 9, log=True),
                   "c": Choice(["a", 1, True, None])})
    d = json.loads(json.dumps(space.to_dict()))
    assert Space.from_dict(d) == space and Space.from_dict(d).to_dict() == space.to_dict()
    assert Space({"lr": LogUniform(1e-4, 0.5, step=10), "x": Uniform(0, 1), "n": IntUniform(1, 9, log=True),
                  "c": Choice(["a", 1, True, None])}).to_dict() != space.to_dict()
    assert space.names == ["lr", "x", "n", "c"] and len(space) == 4


def test_choice_keeps_true_and_one_apart():
    c = Choice([1, True])
    assert c.index(True) == 1 and c.index(1) == 0
    assert c.to_unit(1) == 0.25 and c.to_unit(True) == 0.75
    assert not Choice(["a"]).contains(["a"])


@given(st.floats(0, 1))
def test_unit_round_trip_continuous(u):
    for d in (Uniform(-3.0, 5.0), LogUniform(1e-5, 10.0)):
        x = d.from_unit(u)
        assert d.contains(x)
        assert d.to_unit(x) == pytest.approx(u, abs=1e-9)


@given(st.floats(0, 1))
def test_unit_maps_discrete_bins(u):
    c = Choice(["a", "b", "c", "d"])
    assert c.from_unit(u) == ["a", "b", "c", "d"][min(int(u * 4), 3)]
    i = IntUniform(0, 4)
    v = i.from_unit(u)
    assert 0 <= v <= 4 and i.from_unit(i.to_unit(v)) == v
    il = IntUniform(1, 100, log=True)
    w = il.from_unit(u)
    assert 1 <= w <= 100 and il.from_unit(il.to_unit(w)) == w


def test_space_unit_vector():
    space = Space({"x": Uniform(0, 10), "c": Choice(["a", "b"])})
    u = space.to_unit({"x": 2.5, "c": "b"})
    assert u.dtype == np.float64 and np.allclose(u, [0.25, 0.75])
    assert space.from_unit([0.25, 0.75]) == {"x": 2.5, "c": "b"}
    with pytest.raises(ValueError, match="2 coordinates"):
        space.from_unit([0.5])
