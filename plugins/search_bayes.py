"""Bayesian optimization: a Gaussian process with expected improvement.

Registers the search strategy ``bayes`` (``tinygrad_init_add_search_strategies``).

The model works in the unit cube ``[0, 1]^d`` of the space (``Space.to_unit``):
log-scaled dimensions are already in log space there, integer and choice
dimensions are binned by ``Space.from_unit``. Everything is NumPy; the normal
cdf uses ``math.erfc`` (exact to double precision).

Model, per ``ask()``:

* y of the successful trials has its tail of very bad values compressed (``robust_scale``:
  a diverged run's 5e6 among losses near 1 would otherwise flatten everything else), is
  standardized and Yeo-Johnson transformed
  (``fit_yeo_johnson``: ``lambda`` by maximum likelihood on the grid ``YJ_LAMBDAS``), which
  pulls in a long tail of very good or very bad values so a stationary GP fits the rest;
  then scaled to ``(t - q75) / std``, ``q75`` the upper quartile (``PRIOR_MEAN_QUANTILE``):
  the GP's zero prior mean then sits at a mediocre value rather than the average, so EI is
  less drawn to unexplored corners (on Hartmann-6 both changes let more runs reach the
  global minimum);
* GP with a Matern-5/2 ARD kernel
  ``k(x, x') = s2 (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r)``,
  ``r^2 = sum_j (x_j - x'_j)^2 / l_j^2``, plus noise variance
  ``noise = noise_floor + exp(theta_noise)`` on the diagonal;
* hyperparameters ``theta = (log l_1..l_d, log s2, theta_noise)`` maximize the
  log marginal likelihood plus log-normal priors (``log_prior``) inside box
  bounds (``BOUNDS``), with a small projected L-BFGS using the analytic
  gradient, started from the prior means and from random
  points around the prior means (``n_restarts``, drawn from the proposal's ``rng``);
  nothing is carried from one proposal to the next, so a proposal depends only on the
  study's trials and ``(seed, number)``;
* expected improvement (minimization) ``EI = sigma * h(z)``,
  ``z = (y_best - xi - mu) / sigma``, ``h(z) = z Phi(z) + phi(z)``, ranked by
  ``log EI`` computed without underflow (continued fraction of the Mills ratio
  for ``z < -3``);
* EI is maximized over uniform random candidates plus perturbations of the
  best observed points; from the best candidate and a few more drawn with
  probability proportional to EI, projected L-BFGS on log EI (analytic
  gradient of the posterior mean and std) refines the continuous dimensions.

Failed trials (``value`` None or NaN) are left out of the hyperparameter fit;
the GP is then conditioned on them as if they had returned the worst observed
value, and a point equal (after binning) to an evaluated, failed or pending
point is never proposed while anything else is left. Pending points (asked,
not yet finished: the study's ``running`` trials) are fantasized at the worst observed
value ("constant liar", Ginsbourger et al. 2010) without refitting, so parallel trials
spread out. The first ``n_initial`` trials are the points of a scrambled Halton sequence
(number ``number``; the scrambling is fixed by the seed).
"""
from __future__ import annotations

import math

import numpy as np

from tinygrad_init import hookimpl
from tinygrad_init import validation as V
from tinygrad_init.search import Halton, Strategy

SQRT5 = math.sqrt(5.0)
LOG_2PI = math.log(2.0 * math.pi)
_erfc = np.frompyfunc(math.erfc, 1, 1)

# Normal priors (mean, std) on the log hyperparameters; the length-scale mean is lengthscale_prior_mean(d).
PRIORS = {"log_lengthscale_std": 1.0, "log_signal_var": (0.0, 1.0), "log_noise": (math.log(1e-9), 1.0)}
NOISE_FLOOR = 1e-10
# A value more than this many interquartile ranges above the upper quartile is compressed (robust_scale).
OUTLIER_IQRS = 1.0
# Quantile of the observed y that the zero prior mean of the GP stands for (0.5 would be the median).
PRIOR_MEAN_QUANTILE = 0.75
# Grid of Yeo-Johnson parameters searched for the output transform (step 0.05; 1 = identity).
YJ_LAMBDAS = np.linspace(-3.0, 5.0, 161)
# Box bounds of theta = (log l_1..l_d, log s2, log(noise - noise_floor)).
BOUNDS = {"log_lengthscale": (math.log(1e-2), math.log(20.0)), "log_signal_var": (math.log(1e-2), math.log(1e2)),
          "log_noise": (math.log(1e-12), math.log(1.0))}


# --------------------------------------------------------------------------- normal helpers


def norm_cdf(z):
    z = np.asarray(z, dtype=float)
    return 0.5 * _erfc(-z / math.sqrt(2.0)).astype(float)


def norm_logpdf(z):
    return -0.5 * np.asarray(z, dtype=float) ** 2 - 0.5 * LOG_2PI


def _mills_tail(x, terms=40):
    """T(x) = 1/(x + 2/(x + 3/(x + ...))) so that 1 - x*R(x) = T/(x + T), R = Mills ratio.

    Laplace's continued fraction; 40 terms give relative error < 1e-13 for x >= 3.
    """
    tail = np.zeros_like(x)
    if x.size == 0:
        return tail
    for k in range(terms, 1, -1):
        tail = k / (x + tail)
    return 1.0 / (x + tail)


def log_h(z, with_grad=False):
    """log(z Phi(z) + phi(z)), accurate also where the value underflows.

    With ``with_grad`` also returns its derivative ``Phi(z) / h(z)``.
    """
    z = np.asarray(z, dtype=float)
    out, grad = np.empty_like(z), np.empty_like(z)
    hi = z > -3.0
    zh = z[hi]
    cdf = norm_cdf(zh)
    h = zh * cdf + np.exp(norm_logpdf(zh))
    out[hi], grad[hi] = np.log(h), cdf / h
    x = -z[~hi]
    t = _mills_tail(x)
    # Phi(z) = phi(z) R(x), R = 1/(x + t), h(z) = phi(z) t/(x + t), so Phi/h = 1/t
    out[~hi], grad[~hi] = norm_logpdf(x) + np.log(t / (x + t)), 1.0 / t
    return (out, grad) if with_grad else out


def expected_improvement(mu, sigma, best, xi=0.0):
    """EI for minimization: E[max(best - xi - f, 0)] with f ~ N(mu, sigma^2)."""
    sigma = np.asarray(sigma, dtype=float)
    z = (best - xi - np.asarray(mu, dtype=float)) / sigma
    return sigma * np.exp(log_h(z))


def log_expected_improvement(mu, sigma, best, xi=0.0):
    sigma = np.asarray(sigma, dtype=float)
    z = (best - xi - np.asarray(mu, dtype=float)) / sigma
    return np.log(sigma) + log_h(z)


# --------------------------------------------------------------------------- output transform


def robust_scale(y, k=None):
    """``y`` with its tail of bad values pulled in: a value more than ``k`` (``OUTLIER_IQRS``)
    interquartile ranges above the upper quartile ``q75`` becomes ``c + s log1p((y - c) / s)``
    with ``c = q75 + k s``, ``s`` the IQR (or the std). The order is kept; a diverged trial
    (a loss of 5e6 among losses near 0.1) then weighs like a moderately bad one instead of
    flattening every other value (one Tukey fence, the bad side only: good outliers are the
    point of the search)."""
    k = OUTLIER_IQRS if k is None else k
    q25, q75 = np.quantile(y, [0.25, 0.75])
    s = q75 - q25
    s = s if s > 0 else y.std()
    if not s > 0 or not np.isfinite(s):
        return y
    c = q75 + k * s
    return np.where(y > c, c + s * np.log1p(np.maximum(y - c, 0.0) / s), y)


def yeo_johnson(y, lam):
    """Yeo-Johnson (2000) power transform of ``y`` with parameter ``lam`` (scalar or 1-D).

    ``((1 + y)^lam - 1) / lam`` for ``y >= 0`` (``log(1 + y)`` if ``lam = 0``),
    ``-((1 - y)^(2 - lam) - 1) / (2 - lam)`` for ``y < 0`` (``-log(1 - y)`` if ``lam = 2``).
    A 1-D ``lam`` gives one row per value, shape ``(len(lam), len(y))``.
    """
    y = np.asarray(y, float)
    lam = np.asarray(lam, float)
    L = lam[..., None] if lam.ndim else lam
    a = np.log1p(np.abs(y))  # log(1 + |y|); (1 + |y|)^p - 1 = expm1(p a)
    p = np.where(y >= 0, L, 2.0 - L)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(np.abs(p) < 1e-12, a, np.expm1(p * a) / p)
    return np.where(y >= 0, t, -t)


def fit_yeo_johnson(y):
    """``(yeo_johnson(y, lam), lam)`` with ``lam`` maximizing the normal profile log-likelihood
    ``-n/2 log var(t) + (lam - 1) sum sign(y) log(1 + |y|)`` over ``YJ_LAMBDAS``."""
    y = np.asarray(y, float)
    T = yeo_johnson(y, YJ_LAMBDAS)
    var = T.var(axis=1)
    with np.errstate(divide="ignore"):
        ll = -0.5 * len(y) * np.log(var) + (YJ_LAMBDAS - 1.0) * np.sum(np.sign(y) * np.log1p(np.abs(y)))
    ll[~(var > 0)] = -np.inf
    i = int(np.argmax(ll)) if np.isfinite(ll).any() else int(np.argmin(np.abs(YJ_LAMBDAS - 1.0)))
    return T[i], float(YJ_LAMBDAS[i])


# --------------------------------------------------------------------------- kernel and GP


def matern52(X1, X2, lengthscales, signal_var=1.0):
    """Matern-5/2 ARD kernel matrix k(X1[i], X2[j])."""
    A = np.asarray(X1, float) / np.asarray(lengthscales, float)
    B = np.asarray(X2, float) / np.asarray(lengthscales, float)
    # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b (one matrix product); k is smooth in r^2 at 0, so the
    # rounding of nearly equal points is harmless
    r = np.sqrt(np.maximum(np.sum(A * A, 1)[:, None] + np.sum(B * B, 1)[None, :] - 2.0 * A @ B.T, 0.0))
    return signal_var * (1.0 + SQRT5 * r + 5.0 / 3.0 * r * r) * np.exp(-SQRT5 * r)


def _unpack(theta, d, noise_floor):
    ls = np.exp(theta[:d])
    return ls, math.exp(theta[d]), noise_floor + math.exp(theta[d + 1])


def log_marginal_likelihood(theta, X, y, noise_floor=NOISE_FLOOR, D2=None):
    """Log marginal likelihood of a zero-mean GP and its gradient w.r.t. theta.

    ``theta = (log l_1..l_d, log s2, log(noise - noise_floor))``. Returns
    ``(value, grad)``; ``(-inf, nan)`` when the kernel matrix is not positive definite.
    """
    X, y, theta = np.asarray(X, float), np.asarray(y, float), np.asarray(theta, float)
    n, d = X.shape
    if D2 is None:
        D2 = (X[:, None, :] - X[None, :, :]) ** 2
    ls, s2, noise = _unpack(theta, d, noise_floor)
    inv_l2 = 1.0 / (ls * ls)
    r = np.sqrt(D2 @ inv_l2)
    e = np.exp(-SQRT5 * r)
    Kf = s2 * (1.0 + SQRT5 * r + 5.0 / 3.0 * r * r) * e
    K = Kf + noise * np.eye(n)
    try:
        L = np.linalg.cholesky(K)
    except np.linalg.LinAlgError:
        return -np.inf, np.full(d + 2, np.nan)
    Linv = np.linalg.solve(L, np.eye(n))
    Kinv = Linv.T @ Linv
    alpha = Kinv @ y
    value = -0.5 * y @ alpha - np.sum(np.log(np.diag(L))) - 0.5 * n * LOG_2PI
    W = np.outer(alpha, alpha) - Kinv
    G = s2 * (5.0 / 3.0) * (1.0 + SQRT5 * r) * e  # dk/dlog(l_j) = G * D2_j / l_j^2
    grad = np.empty(d + 2)
    grad[:d] = 0.5 * np.einsum("ab,abj->j", W * G, D2) * inv_l2
    grad[d] = 0.5 * np.sum(W * Kf)
    grad[d + 1] = 0.5 * np.trace(W) * math.exp(theta[d + 1])
    return value, grad


def lengthscale_prior_mean(d):
    """Mean of log l_j: l = sqrt(d) / 4, longer in more dimensions (as Hvarfner et al. 2024 argue)."""
    return math.log(0.25) + 0.5 * math.log(d)


def log_prior(theta, d, noise_floor=NOISE_FLOOR):
    """Log prior density of ``theta`` (up to a constant) and its gradient w.r.t. ``theta``.

    Independent normals on the log scale (see ``PRIORS``): ``log l_j ~ N(log(sqrt(d)/4), 1)``,
    ``log s2 ~ N(0, 1)`` (y is scaled to unit variance), ``log(noise - floor) ~ N(log 1e-9, 1)``.
    """
    t = np.asarray(theta, float)
    mu = np.r_[np.full(d, lengthscale_prior_mean(d)), PRIORS["log_signal_var"][0], PRIORS["log_noise"][0]]
    sd = np.r_[np.full(d, PRIORS["log_lengthscale_std"]), PRIORS["log_signal_var"][1], PRIORS["log_noise"][1]]
    z = (t - mu) / sd
    return -0.5 * float(z @ z), -z / sd


def _bounds(d):
    lo = np.array([BOUNDS["log_lengthscale"][0]] * d + [BOUNDS["log_signal_var"][0], BOUNDS["log_noise"][0]])
    hi = np.array([BOUNDS["log_lengthscale"][1]] * d + [BOUNDS["log_signal_var"][1], BOUNDS["log_noise"][1]])
    return lo, hi


def lbfgs_minimize(f, x0, lo, hi, maxiter=40, m=8, gtol=1e-5):
    """Minimize ``f(x) -> (value, grad)`` inside the box [lo, hi] (projected L-BFGS)."""
    x = np.clip(np.asarray(x0, float), lo, hi)
    fx, g = f(x)
    if not np.isfinite(fx):
        return x, fx
    S, Y = [], []
    for _ in range(maxiter):
        free = ~(((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0)))
        gp = np.where(free, g, 0.0)
        if np.max(np.abs(gp)) < gtol:
            break
        q, alphas = gp.copy(), []
        for s, yv in zip(reversed(S), reversed(Y)):
            a = (s @ q) / (yv @ s)
            q -= a * yv
            alphas.append(a)
        q *= (S[-1] @ Y[-1]) / (Y[-1] @ Y[-1]) if S else 1.0 / max(1.0, np.linalg.norm(gp))
        for (s, yv), a in zip(zip(S, Y), reversed(alphas)):
            q += s * (a - (yv @ q) / (yv @ s))
        step = np.where(free, -q, 0.0)
        if step @ gp >= 0:  # not a descent direction: restart from steepest descent
            step, S, Y = -gp / max(1.0, np.linalg.norm(gp)), [], []
        t = 1.0
        for _ in range(25):
            xn = np.clip(x + t * step, lo, hi)
            fn, gn = f(xn)
            if np.isfinite(fn) and fn <= fx + 1e-4 * (g @ (xn - x)):
                break
            t *= 0.5
        else:
            break
        s, yv = xn - x, gn - g
        if s @ yv > 1e-10:
            S.append(s)
            Y.append(yv)
            if len(S) > m:
                S.pop(0)
                Y.pop(0)
        done = fx - fn < 1e-10 * max(1.0, abs(fx))
        x, fx, g = xn, fn, gn
        if done:
            break
    return x, fx


class GaussianProcess:
    """Zero-mean GP on (already scaled) data with fixed hyperparameters ``theta``."""

    def __init__(self, X, y, theta, noise_floor=NOISE_FLOOR):
        self.X, self.y = np.asarray(X, float), np.asarray(y, float)
        self.theta = np.asarray(theta, float)
        d = self.X.shape[1]
        self.lengthscales, self.signal_var, self.noise = _unpack(self.theta, d, noise_floor)
        K = matern52(self.X, self.X, self.lengthscales, self.signal_var) + self.noise * np.eye(len(self.X))
        jitter = 0.0
        while True:
            try:
                L = np.linalg.cholesky(K + jitter * np.eye(len(K)))
                break
            except np.linalg.LinAlgError:  # duplicate fantasies: add the least jitter that works
                jitter = max(1e-10, 10 * jitter)
        self.Linv = np.linalg.solve(L, np.eye(len(K)))
        self.alpha = self.Linv.T @ (self.Linv @ self.y)

    def predict(self, Xs):
        """Posterior mean and standard deviation of the latent function at ``Xs``."""
        k = matern52(Xs, self.X, self.lengthscales, self.signal_var)
        v = k @ self.Linv.T
        var = self.signal_var - np.sum(v * v, axis=1)
        return k @ self.alpha, np.sqrt(np.maximum(var, 1e-12 * self.signal_var))

    def predict_with_grad(self, Xs):
        """Mean, std and their gradients w.r.t. ``Xs`` (shapes (m,), (m,), (m, d), (m, d))."""
        Xs = np.asarray(Xs, float)
        Dl = (Xs[:, None, :] - self.X[None, :, :]) / self.lengthscales  # (m, n, d)
        r = np.sqrt(np.sum(Dl * Dl, axis=-1))
        Delta = Dl / self.lengthscales  # dr/dx = Delta / r
        e = np.exp(-SQRT5 * r)
        k = self.signal_var * (1.0 + SQRT5 * r + 5.0 / 3.0 * r * r) * e
        dk = -(self.signal_var * 5.0 / 3.0 * (1.0 + SQRT5 * r) * e)[:, :, None] * Delta  # dk_i/dx
        v = k @ self.Linv.T
        var = self.signal_var - np.sum(v * v, axis=1)
        floor = 1e-12 * self.signal_var
        sd = np.sqrt(np.maximum(var, floor))
        w = v @ self.Linv  # K^-1 k
        dmu = np.einsum("mnd,n->md", dk, self.alpha)
        dvar = -2.0 * np.einsum("mnd,mn->md", dk, w)
        dsd = np.where((var > floor)[:, None], dvar / (2.0 * sd[:, None]), 0.0)
        return k @ self.alpha, sd, dmu, dsd


def fit_hyperparameters(X, y, rng, theta0=None, n_restarts=2, noise_floor=NOISE_FLOOR, fixed_noise=False):
    """MAP hyperparameters: maximize log marginal likelihood + log prior (L-BFGS, restarts)."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    d = X.shape[1]
    D2 = (X[:, None, :] - X[None, :, :]) ** 2
    lo, hi = _bounds(d)
    if fixed_noise:  # noise pinned at the floor: exp(theta_noise) = 0 by collapsing its bounds
        lo[-1] = hi[-1] = -745.0

    def f(theta):
        lml, g = log_marginal_likelihood(theta, X, y, noise_floor, D2)
        if not np.isfinite(lml):
            return np.inf, g
        lp, gp = log_prior(theta, d, noise_floor)
        if fixed_noise:
            gp[-1] = 0.0
        return -(lml + lp), -(g + gp)

    starts = []
    if theta0 is not None:
        starts.append(np.asarray(theta0, float))
    base = np.r_[np.full(d, lengthscale_prior_mean(d)), PRIORS["log_signal_var"][0], PRIORS["log_noise"][0]]
    if theta0 is None:
        starts.append(base)
    for _ in range(n_restarts):
        starts.append(base + rng.normal(0.0, 1.0, d + 2) * np.r_[np.full(d, 1.0), 0.5, 1.0])
    best_x, best_f = None, np.inf
    for s in starts:
        x, fx = lbfgs_minimize(f, np.clip(s, lo, hi), lo, hi)
        if fx < best_f:
            best_x, best_f = x, fx
    if best_x is None:  # every start failed: fall back to the prior mean with a large noise
        best_x = np.clip(base, lo, hi)
        best_x[-1] = hi[-1]
    return best_x


# --------------------------------------------------------------------------- space helpers


def _dim_list(space):
    dims = space.dims
    return [dims[n] for n in space.names] if isinstance(dims, dict) else list(dims)


class _Projector:
    """Maps unit-cube points to the unit point of the configuration they decode to.

    Continuous dimensions are the identity; a binned dimension (int, choice,
    stepped) uses a lookup table of ``to_unit(from_unit(u))`` on a fine grid.
    """

    TABLE = 2048

    def __init__(self, space):
        self.tables = []
        grid = (np.arange(65) + 0.5) / 65
        for dim in _dim_list(space):
            if max(abs(float(dim.to_unit(dim.from_unit(float(u)))) - u) for u in grid) < 1e-9:
                self.tables.append(None)
            else:
                g = (np.arange(self.TABLE) + 0.5) / self.TABLE
                self.tables.append(np.array([float(dim.to_unit(dim.from_unit(float(u)))) for u in g]))
        self.continuous = np.array([t is None for t in self.tables])

    def __call__(self, U):
        U = np.clip(np.asarray(U, float), 0.0, 1.0)
        for j, table in enumerate(self.tables):
            if table is not None:
                U[:, j] = table[np.minimum((U[:, j] * self.TABLE).astype(int), self.TABLE - 1)]
        return U


# --------------------------------------------------------------------------- the strategy


class BayesSearch(Strategy):
    """GP + expected-improvement search (see the module docstring for the model).

    :param n_initial: quasi-random (scrambled Halton) points before the GP is
        used; default ``max(6, ceil(2.5 d))`` (6 for d <= 2, 15 for d = 6).
    :param xi: exploration margin of EI, in units of the std of y (0 = greedy).
    :param n_candidates: random candidates per proposal for the acquisition search.
    :param noise: ``None`` fits the noise variance (floor ``NOISE_FLOOR`` = 1e-10
        of the scaled variance (1): objectives are usually deterministic, and
        a larger floor blurs the last digits near the optimum); a number fixes it.
    """

    name = "bayes"

    def __init__(self, space, seed=None, n_initial=None, xi=0.0, n_candidates=1000, noise=None):
        super().__init__(space, seed=seed)
        comp = "bayes"
        self.d = len(self.space.names)
        self.n_initial = (max(6, math.ceil(2.5 * self.d)) if n_initial is None
                          else V.integer(comp, "n_initial", n_initial, minimum=1))
        self.xi = V.nonnegative(comp, "xi", xi)
        self.n_candidates = V.integer(comp, "n_candidates", n_candidates, minimum=1)
        self.noise = None if noise is None else V.positive(comp, "noise", noise)
        self.noise_floor = NOISE_FLOOR if noise is None else self.noise
        self.n_refine = 5
        self._project = _Projector(self.space)
        self._halton = Halton(self.d, seed)

    def _unit(self, params):
        return self._project(np.asarray(self.space.to_unit(params), float)[None, :])[0]

    def _design(self, number):
        return self.space.from_unit(self._project(self._halton(number)[None, :])[0])

    def _model(self, X, y, X_extra, rng):
        """Fitted GP on successes + failed and pending points fantasized at the worst y."""
        y = np.asarray(y, float)
        peak = np.max(np.abs(y))
        if peak > 1e150:  # huge (finite) values: scale first so the variance does not overflow
            y = y / peak
        y = robust_scale(y)
        std = y.std()
        if std > 1e-12:  # a Yeo-Johnson transform of the standardized values, lambda fitted
            y, _ = fit_yeo_johnson((y - y.mean()) / std)
            std = y.std()
        std = std if std > 1e-12 else 1.0
        ys = (y - np.quantile(y, PRIOR_MEAN_QUANTILE)) / std
        theta = fit_hyperparameters(X, ys, rng, None, n_restarts=self.n_restarts, noise_floor=self.noise_floor,
                                    fixed_noise=self.noise is not None)
        best = ys.min()
        # failed points, and pending ones (constant liar, max), "return" the worst value seen
        if len(X_extra):
            X = np.vstack([X, X_extra])
            ys = np.r_[ys, np.full(len(X_extra), ys.max())]
        return GaussianProcess(X, ys, theta, self.noise_floor), best

    n_restarts = 1

    def _acquisition(self, gp, best, U, taken):
        mu, sd = gp.predict(U)
        a = log_expected_improvement(mu, sd, best, self.xi)
        if len(taken):
            dup = np.any(np.max(np.abs(U[:, None, :] - taken[None, :, :]), axis=-1) < 1e-9, axis=1)
            a[dup] = -np.inf
        return a

    def _refine(self, gp, best, P):
        """Gradient ascent (projected L-BFGS) of log EI from the rows of ``P`` over the
        continuous dimensions; binned dimensions keep their values."""
        cont = self._project.continuous
        if not cont.any():
            return P
        m = len(P)

        def f(z):
            X = P.copy()
            X[:, cont] = z.reshape(m, -1)
            mu, sd, dmu, dsd = gp.predict_with_grad(X)
            zz = (best - self.xi - mu) / sd
            lh, dlh = log_h(zz, with_grad=True)
            g = dsd / sd[:, None] + dlh[:, None] * (-dmu - zz[:, None] * dsd) / sd[:, None]
            return -np.sum(np.log(sd) + lh), -g[:, cont].ravel()

        n = m * int(cont.sum())
        z, _ = lbfgs_minimize(f, P[:, cont].ravel(), np.zeros(n), np.ones(n), maxiter=20, gtol=1e-6)
        out = P.copy()
        out[:, cont] = z.reshape(m, -1)
        return out

    def _data(self, trials):
        """-> unit points and values of the trials with a value, unit points of the others
        (failed and running)."""
        ok = [t for t in trials if t.value is not None]
        X_ok = np.array([self._unit(t.params) for t in ok]).reshape(-1, self.d)
        X_extra = np.array([self._unit(t.params) for t in trials if t.value is None]).reshape(-1, self.d)
        return X_ok, np.array([t.value for t in ok], float), X_extra

    def model(self, trials, rng=None):
        """``(gp, best)``: the GP that a proposal after ``trials`` uses, and the best scaled y."""
        X_ok, y_ok, X_extra = self._data(trials)
        return self._model(X_ok, y_ok, X_extra, np.random.default_rng(0) if rng is None else rng)

    def propose(self, trials, number):
        X_ok, y_ok, X_extra = self._data(trials)
        if number < self.n_initial or len(y_ok) < 2:
            return self._design(number)
        rng = self.rng
        gp, best = self._model(X_ok, y_ok, X_extra, rng)
        taken = np.vstack([X_ok, X_extra])
        d = self.d
        ls = np.minimum(gp.lengthscales, 1.0)
        # global candidates + perturbations of the best observed points
        anchors = X_ok[np.argsort(y_ok, kind="stable")[:5]]
        local = np.repeat(anchors, 40, axis=0)
        scales = np.tile(np.repeat([0.3, 0.1, 0.03, 0.01], 10), len(anchors))[:, None] * ls
        uniform = rng.random((self.n_candidates, d))
        U = self._project(np.vstack([uniform, local + rng.normal(size=local.shape) * scales]))
        a = self._acquisition(gp, best, U, taken)
        # local-search starts: the best candidate, then a roulette draw (p ~ EI) for diversity
        i0 = int(np.argmax(a))
        if not np.isfinite(a[i0]):  # every candidate is taken (small discrete space)
            return self._design(number)
        p = np.exp(np.where(np.isfinite(a), a - a[i0], -np.inf))
        p[i0] = 0.0
        k = min(self.n_refine - 1, int(np.count_nonzero(p > 0)))
        top = [i0] + (list(rng.choice(len(U), size=k, replace=False, p=p / p.sum())) if k > 0 else [])
        P, pa = U[top], a[top]
        R = self._project(self._refine(gp, best, P))
        ra = self._acquisition(gp, best, R, taken)
        better = ra > pa
        P[better], pa[better] = R[better], ra[better]
        if not np.isfinite(pa.max()):  # every candidate is taken (small discrete space)
            return self._design(number)
        return self.space.from_unit(P[np.argmax(pa)])


def _factory(space, seed=None, n_initial=None, xi=0.0, n_candidates=1000, noise=None):
    return BayesSearch(space, seed=seed, n_initial=n_initial, xi=xi, n_candidates=n_candidates, noise=noise)


_factory.__doc__ = BayesSearch.__doc__
_factory.conformance_examples = [{}, {"n_initial": 3, "n_candidates": 200}]


@hookimpl
def tinygrad_init_add_search_strategies():
    return {"bayes": _factory}
