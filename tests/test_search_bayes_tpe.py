"""The ``bayes`` (GP + expected improvement) and ``tpe`` search strategies.

Expected values come from the written formulas (Matern-5/2 kernel, GP log
marginal likelihood, EI as an integral), finite differences, or the problem
itself (a quadratic's known minimum) - never from the code under test.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_init as tgi
from tinygrad_init.search import Choice, IntUniform, LogUniform, Space, Uniform
from tinygrad_init_plugins import search_bayes as B
from tinygrad_init_plugins import search_tpe as T

MIXED = Space({"lr": LogUniform(1e-4, 1.0), "width": IntUniform(8, 64), "act": Choice(["relu", "tanh", "gelu"]),
               "drop": Uniform(0.0, 0.5)})


def mixed_objective(p):
    return ((math.log10(p["lr"]) + 2.0) ** 2 + ((p["width"] - 40) / 20.0) ** 2
            + {"relu": 0.0, "tanh": 0.3, "gelu": 0.1}[p["act"]] + (p["drop"] - 0.1) ** 2)


def drive(strategy, f, n):
    proposals, best = [], math.inf
    for _ in range(n):
        p = strategy.ask()
        proposals.append(dict(p))
        v = f(p)
        strategy.tell(p, v)
        if v is not None and math.isfinite(v):
            best = min(best, v)
    return proposals, best


def build(name, space, seed, **hp):
    return tgi.search_strategy(name, space, seed=seed, **hp)


# --------------------------------------------------------------------------- both strategies


@pytest.mark.parametrize("name,hp", [("bayes", {"n_initial": 4, "n_candidates": 200}), ("tpe", {"n_startup": 4}),
                                     ("tpe", {"n_startup": 4, "multivariate": False})])
def test_proposals_stay_in_space_and_reproduce_by_seed(name, hp):
    runs = [drive(build(name, MIXED, seed, **hp), mixed_objective, 14)[0] for seed in (3, 3, 4)]
    for p in runs[0]:
        assert MIXED.contains(p), p
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_registry_builds_both_and_rejects_bad_hyperparameters():
    space = Space({"x": Uniform(0.0, 1.0)})
    assert isinstance(build("bayes", space, 0), B.BayesSearch)
    assert isinstance(build("tpe", space, 0), T.TPESearch)
    with pytest.raises(ValueError, match="bayes: xi=-1"):
        build("bayes", space, 0, xi=-1.0)
    with pytest.raises(ValueError, match="tpe: gamma=1.5"):
        build("tpe", space, 0, gamma=1.5)
    with pytest.raises(ValueError, match="tpe: n_startup=0"):
        build("tpe", space, 0, n_startup=0)


# --------------------------------------------------------------------------- GP pieces vs formulas


def test_matern52_matches_its_written_formula():
    rng = np.random.default_rng(0)
    X1, X2, ls, s2 = rng.random((4, 3)), rng.random((5, 3)), np.array([0.3, 1.2, 0.7]), 1.7
    K = B.matern52(X1, X2, ls, s2)
    for i in range(4):
        for j in range(5):
            r = math.sqrt(sum(((X1[i, k] - X2[j, k]) / ls[k]) ** 2 for k in range(3)))
            expected = s2 * (1 + math.sqrt(5) * r + 5.0 / 3.0 * r * r) * math.exp(-math.sqrt(5) * r)
            assert K[i, j] == pytest.approx(expected, rel=1e-12)
    assert B.matern52(X1[:1], X1[:1], ls, s2)[0, 0] == pytest.approx(s2)  # k(0) = s2


def _theta(ls, s2, noise, floor):
    return np.r_[np.log(ls), math.log(s2), math.log(noise - floor)]


def test_log_marginal_likelihood_matches_formula_and_finite_differences():
    rng = np.random.default_rng(1)
    X = rng.random((9, 2))
    y = np.sin(4 * X[:, 0]) + X[:, 1] ** 2
    y = (y - y.mean()) / y.std()
    theta = _theta([0.4, 0.9], 1.3, 1e-2, floor=1e-6)
    value, grad = B.log_marginal_likelihood(theta, X, y, noise_floor=1e-6)
    K = B.matern52(X, X, [0.4, 0.9], 1.3) + 1e-2 * np.eye(9)
    expected = -0.5 * y @ np.linalg.solve(K, y) - 0.5 * np.linalg.slogdet(K)[1] - 4.5 * math.log(2 * math.pi)
    assert value == pytest.approx(expected, rel=1e-10)
    h = 1e-6
    numeric = np.array([(B.log_marginal_likelihood(theta + h * e, X, y, noise_floor=1e-6)[0]
                         - B.log_marginal_likelihood(theta - h * e, X, y, noise_floor=1e-6)[0]) / (2 * h)
                        for e in np.eye(len(theta))])
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_gp_posterior_interpolates_with_near_zero_noise():
    rng = np.random.default_rng(2)
    X = rng.random((7, 2))
    y = np.cos(3 * X[:, 0]) - X[:, 1]
    gp = B.GaussianProcess(X, y, np.r_[np.log([0.5, 0.5]), 0.0, -745.0], noise_floor=1e-10)
    mu, sd = gp.predict(X)
    np.testing.assert_allclose(mu, y, atol=1e-6)
    assert np.all(sd < 1e-3)
    # far from the data the posterior reverts to the prior N(0, s2)
    mu_far, sd_far = gp.predict(np.array([[30.0, 30.0]]))
    assert abs(mu_far[0]) < 1e-6 and sd_far[0] == pytest.approx(1.0, rel=1e-6)


def test_gp_mean_and_std_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    X, y = rng.random((8, 3)), rng.normal(size=8)
    gp = B.GaussianProcess(X, y, np.r_[np.log([0.3, 0.6, 0.9]), 0.2, math.log(1e-3)], noise_floor=1e-6)
    Xs = rng.random((4, 3))
    mu, sd, dmu, dsd = gp.predict_with_grad(Xs)
    h = 1e-6
    for j, e in enumerate(np.eye(3) * h):
        (mp, sp), (mm, sm) = gp.predict(Xs + e), gp.predict(Xs - e)
        np.testing.assert_allclose(dmu[:, j], (mp - mm) / (2 * h), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(dsd[:, j], (sp - sm) / (2 * h), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mu,sigma,best", [(0.0, 1.0, 0.0), (1.0, 0.5, 0.2), (-0.3, 2.0, 0.1), (2.5, 0.4, 0.0)])
def test_expected_improvement_matches_its_definition(mu, sigma, best):
    # EI = E[max(best - f, 0)], f ~ N(mu, sigma^2), by quadrature on a fine grid
    f = np.linspace(mu - 12 * sigma, mu + 12 * sigma, 400001)
    dens = np.exp(-0.5 * ((f - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    expected = np.trapezoid(np.maximum(best - f, 0.0) * dens, f)
    assert B.expected_improvement(mu, sigma, best) == pytest.approx(expected, rel=1e-6)
    assert B.log_expected_improvement(mu, sigma, best) == pytest.approx(math.log(expected), abs=1e-6)


def test_log_ei_is_accurate_where_ei_underflows():
    def direct(z):  # h(z) = z Phi(z) + phi(z), fine in double precision down to z ~ -8
        return z * 0.5 * math.erfc(-z / math.sqrt(2)) + math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    for z in (-2.9, -3.0, -3.1, -4.0, -6.0, -8.0):
        assert B.log_h(np.array([z]))[0] == pytest.approx(math.log(direct(z)), abs=1e-9)
    for z in (-40.0, -1e3):  # h(z) ~ phi(z) / z^2 (1 - 3/z^2): EI = 0 in floating point, log EI is not
        asym = -z * z / 2 - 0.5 * math.log(2 * math.pi) - 2 * math.log(-z) + math.log1p(-3 / z ** 2)
        assert B.log_h(np.array([z]))[0] == pytest.approx(asym, rel=1e-6)
    zs = np.array([-50.0, -3.01, -2.99, 0.5])
    val, grad = B.log_h(zs, with_grad=True)
    numeric = (B.log_h(zs + 1e-6) - B.log_h(zs - 1e-6)) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-5)


# --------------------------------------------------------------------------- bayes behaviour


def test_bayes_finds_the_minimum_of_a_1d_quadratic_in_15_evaluations():
    space = Space({"x": Uniform(-2.0, 3.0)})
    for seed in (0, 1, 2):
        _, best = drive(build("bayes", space, seed), lambda p: (p["x"] - 0.7) ** 2, 15)
        assert best < 1e-6, (seed, best)  # |x - 0.7| < 1e-3 on a range of width 5


def yeo_johnson_by_definition(y, lam):
    # Yeo & Johnson (2000), written out case by case
    if y >= 0:
        return math.log(1 + y) if lam == 0 else ((1 + y) ** lam - 1) / lam
    return -math.log(1 - y) if lam == 2 else -((1 - y) ** (2 - lam) - 1) / (2 - lam)


@pytest.mark.parametrize("lam", [-3.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.7, 5.0])
def test_yeo_johnson_matches_its_written_definition(lam):
    ys = [-4.0, -1.0, -0.3, 0.0, 0.2, 1.0, 6.0]
    expected = [yeo_johnson_by_definition(y, lam) for y in ys]
    np.testing.assert_allclose(B.yeo_johnson(ys, lam), expected, rtol=1e-12, atol=1e-15)
    rows = B.yeo_johnson(ys, np.array([lam, 1.0]))  # a vector of lambdas gives one row each
    np.testing.assert_allclose(rows[0], expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rows[1], ys, rtol=1e-12)  # lambda = 1 is the identity


@given(st.lists(st.floats(-6.0, 6.0), min_size=2, max_size=30, unique=True),
       st.floats(-3.0, 5.0))
def test_yeo_johnson_keeps_the_order_of_the_values(ys, lam):
    # an increasing map: the best observation stays the best after the transform (strictly
    # so for values apart by more than rounding)
    t = B.yeo_johnson(ys, lam)
    order = np.argsort(ys)
    gaps = np.diff(np.asarray(ys)[order])
    assert np.all(np.diff(t[order])[gaps > 1e-6] > 0)
    assert np.all(np.diff(t[order]) >= 0)


def test_fit_yeo_johnson_maximizes_the_profile_likelihood_and_removes_skew():
    rng = np.random.default_rng(0)

    def skew(v):
        return float(np.mean((v - v.mean()) ** 3) / v.std() ** 3)

    def profile_ll(y, lam):  # normal log-likelihood of the transformed values + log Jacobian
        t = np.array([yeo_johnson_by_definition(v, lam) for v in y])
        return -0.5 * len(y) * math.log(t.var()) + (lam - 1) * sum(math.copysign(math.log1p(abs(v)), v) for v in y)

    for y, direction in [(rng.normal(size=300), 0), (-rng.lognormal(0.0, 0.8, 300), 1),
                         (rng.lognormal(0.0, 0.8, 300), -1)]:
        y = (y - y.mean()) / y.std()
        t, lam = B.fit_yeo_johnson(y)
        grid = [float(v) for v in B.YJ_LAMBDAS]
        lls = [profile_ll(y, v) for v in grid]
        assert lam == grid[int(np.argmax(lls))]
        np.testing.assert_allclose(t, [yeo_johnson_by_definition(v, lam) for v in y], rtol=1e-10, atol=1e-12)
        if direction == 0:
            assert abs(lam - 1.0) < 0.3  # already normal: nearly the identity
        else:  # a long tail below (the minima of an objective) is pulled in by lam > 1, one above by lam < 1
            assert (lam - 1.0) * direction > 0.3
            assert abs(skew(t)) < 0.25 * abs(skew(y))


def test_bayes_model_targets_are_transformed_and_centred_on_the_upper_quartile():
    # y -> Yeo-Johnson of (y - mean) / std, lambda fitted; then (t - q75(t)) / std(t): far from
    # the data the posterior reverts to the zero prior mean, the upper quartile of t
    space = Space({"x": Uniform(0.0, 1.0), "y": Uniform(0.0, 1.0)})
    s = build("bayes", space, 0, n_initial=8)
    drive(s, lambda p: (p["x"] - 0.3) ** 2 - 2.0 * p["y"] + math.exp(6 * p["x"]), 12)
    y = np.array([t.value for t in s.trials if t.value is not None])
    y = B.robust_scale(y)  # (tested on its own below)
    t, _ = B.fit_yeo_johnson((y - y.mean()) / y.std())
    expected = (t - np.quantile(t, 0.75)) / t.std()
    gp, best = s.model(s.trials)
    np.testing.assert_allclose(gp.y[:len(y)], expected, rtol=1e-12, atol=1e-12)
    assert np.quantile(gp.y[:len(y)], 0.75) == pytest.approx(0.0, abs=1e-12)
    mu_far, _ = gp.predict(np.array([[40.0, 40.0]]))
    assert mu_far[0] == pytest.approx(0.0, abs=1e-9)
    assert best == gp.y[int(np.argmin(y))] == gp.y[:len(y)].min()


def test_bayes_on_a_constant_objective_keeps_proposing_distinct_points():
    # all values equal: nothing to standardize or transform; the GP must still be finite
    space = Space({"x": Uniform(0.0, 1.0), "y": Uniform(0.0, 1.0)})
    s = build("bayes", space, 0, n_initial=3)
    props, _ = drive(s, lambda p: 2.5, 10)
    gp, best = s.model(s.trials)
    assert np.all(np.isfinite(gp.y)) and best == 0.0
    assert len({tuple(sorted(p.items())) for p in props}) == 10


@pytest.mark.filterwarnings("error")
def test_bayes_with_huge_finite_values_still_converges_without_numpy_warnings():
    # values around 1e200: the variance of y would overflow without scaling first
    space = Space({"x": Uniform(0.0, 1.0), "y": Uniform(0.0, 1.0)})
    s = build("bayes", space, 0, n_initial=4)
    _, best = drive(s, lambda p: 1e200 * ((p["x"] - 0.3) ** 2 + (p["y"] - 0.6) ** 2 + 0.01), 14)
    assert best / 1e200 < 0.0105  # the minimum is 0.01 (x 1e200)


def test_bayes_handles_failed_trials():
    space = Space({"x": Uniform(0.0, 1.0), "y": Uniform(0.0, 1.0)})

    def f(p):  # fails on the right half; the minimum of the rest is at (0.3, 0.6)
        return None if p["x"] > 0.5 else (p["x"] - 0.3) ** 2 + (p["y"] - 0.6) ** 2

    s = build("bayes", space, 0, n_initial=6)
    props, best = drive(s, f, 25)
    assert best < 1e-3
    units = np.array([space.to_unit(p) for p in props])
    dists = np.linalg.norm(units[:, None] - units[None], axis=-1) + np.eye(len(units))
    assert dists.min() > 1e-6  # nothing proposed twice, failed points included
    failed = sum(p["x"] > 0.5 for p in props[6:])
    assert failed <= 4  # it learns to stay out of the failing region

    allfail = build("bayes", space, 1, n_initial=3)
    props, _ = drive(allfail, lambda p: float("nan"), 8)
    assert len({tuple(sorted(p.items())) for p in props}) == 8


def test_bayes_ask_batch_spreads_out():
    space = Space({"x": Uniform(0.0, 1.0), "y": Uniform(0.0, 1.0)})
    s = build("bayes", space, 0, n_initial=8)
    drive(s, lambda p: (p["x"] - 0.2) ** 2 + (p["y"] - 0.7) ** 2, 10)
    batch = s.ask_batch(4)
    assert len(batch) == 4 and all(space.contains(p) for p in batch)
    U = np.array([space.to_unit(p) for p in batch])
    d = np.linalg.norm(U[:, None] - U[None], axis=-1)[np.triu_indices(4, 1)]
    assert d.min() > 0.05, d  # (fantasizing at the GP mean instead put two within 0.003)
    for p in batch:
        s.tell(p, (p["x"] - 0.2) ** 2 + (p["y"] - 0.7) ** 2)
    assert not [t for t in s.trials if t.status == 'running']


def test_bayes_on_a_discrete_space_does_not_repeat_itself():
    space = Space({"k": IntUniform(1, 4), "c": Choice(["a", "b"])})  # 8 configurations
    props, _ = drive(build("bayes", space, 0, n_initial=3), lambda p: p["k"] + (p["c"] == "b"), 8)
    assert len({(p["k"], p["c"]) for p in props}) == 8


@pytest.mark.filterwarnings("error")
def test_bayes_goes_on_quietly_once_a_discrete_space_is_used_up():
    space = Space({"k": IntUniform(1, 3), "c": Choice(["a", "b"])})  # 6 configurations
    props, _ = drive(build("bayes", space, 0, n_initial=2), lambda p: p["k"] + (p["c"] == "b"), 9)
    assert len({(p["k"], p["c"]) for p in props[:6]}) == 6  # all of them first
    assert all(space.contains(p) for p in props[6:])  # then repeats, without NumPy warnings


# --------------------------------------------------------------------------- tpe behaviour


def test_tpe_parzen_estimator_is_a_normalized_density():
    rng = np.random.default_rng(0)
    est = T.ParzenEstimator(rng.random((6, 1)), [0], T.default_weights(6), 1.0)
    x = np.linspace(0, 1, 20001)[:, None]
    assert np.trapezoid(np.exp(est.log_pdf(x)), x[:, 0]) == pytest.approx(1.0, abs=1e-6)
    cat = T.ParzenEstimator(np.array([[0.0], [2.0], [2.0]]), [3], np.ones(3), 1.0)
    p = np.exp(cat.log_pdf(np.array([[0], [1], [2]])))
    assert p.sum() == pytest.approx(1.0) and p[2] > p[0] > p[1]


def test_tpe_gamma_and_weights_follow_the_written_rules():
    # Optuna's default_gamma: min(ceil(0.1 n), 25); ours by default: min(ceil(0.2 n), 25)
    assert [T.default_gamma(n, T.OPTUNA_GAMMA_FRACTION) for n in (1, 10, 11, 100, 300)] == [1, 1, 2, 10, 25]
    assert [T.default_gamma(n) for n in (1, 5, 6, 40, 124, 126)] == [1, 1, 2, 8, 25, 25]
    np.testing.assert_allclose(T.default_weights(3), [1, 1, 1])
    w = T.default_weights(30)
    assert len(w) == 30 and w[0] == pytest.approx(1 / 30) and np.all(w[-25:] == 1) and np.all(np.diff(w) >= 0)


def test_tpe_beats_random_search_on_a_quadratic():
    space = Space({f"x{i}": Uniform(-1.0, 1.0) for i in range(3)})

    def f(p):
        return sum((p[f"x{i}"] - 0.3 * i) ** 2 for i in range(3))

    tpe = [drive(build("tpe", space, seed), f, 40)[1] for seed in range(5)]
    rnd = []
    for seed in range(5):  # uniform random search with the same budget
        rng = np.random.default_rng(100 + seed)
        rnd.append(min(f(space.sample(rng)) for _ in range(40)))
    assert np.mean(tpe) < 0.5 * np.mean(rnd), (tpe, rnd)


def test_tpe_failed_trials_count_as_bad():
    space = Space({"x": Uniform(0.0, 1.0)})
    s = build("tpe", space, 0, n_startup=5)
    props, best = drive(s, lambda p: None if p["x"] > 0.6 else (p["x"] - 0.2) ** 2, 30)
    assert best < 1e-3
    assert sum(p["x"] > 0.6 for p in props[10:]) <= 6


def test_robust_scale_compresses_only_the_bad_tail_beyond_one_iqr():
    y = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 100.0, -50.0])
    # quartiles (linear interpolation) 0.5 and 3.5, IQR 3: the fence is 3.5 + 3 = 6.5
    out = B.robust_scale(y)
    assert out[-1] == -50.0 and list(out[:5]) == [0.0, 1.0, 2.0, 3.0, 4.0]  # good outliers stay
    assert out[5] == pytest.approx(6.5 + 3.0 * math.log1p((100.0 - 6.5) / 3.0), rel=1e-12)
    assert list(B.robust_scale(np.full(4, 2.0))) == [2.0] * 4  # no spread: unchanged


def test_bayes_is_not_derailed_by_a_diverged_trial():
    # the learning rate x momentum of an SGD run: past an effective step lr / (1 - m) of 2 the run
    # diverges to a finite but enormous loss (5e6), as the search_lr config's raw val_loss does
    space = Space({"lr": LogUniform(1e-3, 1.0), "m": Uniform(0.0, 0.95)})

    def loss(p):
        eff = p["lr"] / (1 - p["m"])
        return 5e6 if eff > 2.0 else 0.05 + (math.log10(eff) - math.log10(0.6)) ** 2

    regrets, randoms, diverged = [], [], 0
    for seed in range(3):
        props, best = drive(build("bayes", space, seed), loss, 20)
        regrets.append(best - 0.05)
        diverged += sum(loss(p) == 5e6 for p in props)
        randoms.append(drive(build("random", space, seed), loss, 20)[1] - 0.05)
    assert diverged > 0  # the diverged region is hit
    # without the robust scaling the values near 0.05 were flattened by 5e6: median regret 0.0076
    assert np.median(regrets) < 1e-3 and np.median(regrets) < np.median(randoms) / 10
