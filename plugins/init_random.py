"""Random initializers that ignore fans: ``normal``, ``uniform``, ``trunc_normal``,
``scaled_normal``.

Registers (hook ``tinygrad_init_add_initializers``):

- ``normal(mean=0, std=1)``             w ~ N(mean, std^2)
- ``uniform(a=0, b=1)``                 w ~ U[a, b)
- ``trunc_normal(mean=0, std=1, a=-2, b=2)``
  w ~ N(mean, std^2) conditioned on a <= w <= b. As in PyTorch's
  ``trunc_normal_``, ``a`` and ``b`` are *absolute* bounds (not multiples of
  std; +-inf for a one-sided cut). Sampled exactly: by rejection when the
  interval holds >= 5% of the mass, else by the inverse CDF (Acklam's rational
  approximation refined by one Halley step on ``erfc``).
- ``scaled_normal(scale=0.01)``         w = scale * N(0, 1) -- the course's
  ``0.01*randn`` (too small: activations vanish in deep nets) and, with
  ``scale=10``, ``10*randn`` (too large: saturation / divergence).

All work on any shape (also 0-D and 1-D, so they serve as bias initializers).
"""
from __future__ import annotations

import math

import numpy as np

from tinygrad_init import Initializer, hookimpl
from tinygrad_init.validation import fail, nonnegative, number, positive

_SQRT2 = math.sqrt(2.0)


def _phi(x: float) -> float:  # standard normal pdf
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) if math.isfinite(x) else 0.0


def _cdf(x: float) -> float:  # erfc keeps precision in the lower tail
    return 0.5 * math.erfc(-x / _SQRT2)


def _mass(alpha: float, beta: float) -> float:
    """P(alpha <= Z <= beta) for Z ~ N(0, 1), accurate in both tails."""
    if alpha > 0:
        return _cdf(-alpha) - _cdf(-beta)
    return _cdf(beta) - _cdf(alpha)


# Acklam's inverse normal CDF (relative error < 1.2e-9 before refinement).
_A = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
      1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
_B = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
      6.680131188771972e+01, -1.328068155288572e+01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
      -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
      3.754408661907416e+00)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def _poly(coefs, x):
    out = np.zeros_like(x)
    for c in coefs:
        out = out * x + c
    return out


def ndtri(p: np.ndarray) -> np.ndarray:
    """Inverse of the standard normal CDF, elementwise, for p in (0, 1)."""
    p = np.asarray(p, dtype=np.float64)
    x = np.empty_like(p)
    lo, hi = p < 0.02425, p > 1 - 0.02425
    mid = ~(lo | hi)
    q = p[mid] - 0.5
    r = q * q
    x[mid] = _poly(_A, r) * q / (_poly(_B, r) * r + 1)
    q = np.sqrt(-2 * np.log(p[lo]))
    x[lo] = _poly(_C, q) / (_poly(_D, q) * q + 1)
    q = np.sqrt(-2 * np.log1p(-p[hi]))
    x[hi] = -_poly(_C, q) / (_poly(_D, q) * q + 1)
    # One Halley step with an exact CDF brings it to full double precision.
    e = 0.5 * _erfc(-x / _SQRT2).astype(np.float64) - p
    u = e * math.sqrt(2 * math.pi) * np.exp(x * x / 2)
    return x - u / (1 + x * u / 2)


def standard_truncated(alpha: float, beta: float, size, rng: np.random.Generator) -> np.ndarray:
    """Samples of N(0, 1) conditioned on [alpha, beta]."""
    n = math.prod(size) if isinstance(size, tuple) else int(size)
    z = _mass(alpha, beta)
    if z >= 0.05:  # rejection: exact, vectorized, at most 20 draws per kept sample on average
        out = np.empty(n)
        filled = 0
        while filled < n:
            need = n - filled
            draw = rng.standard_normal(int(need / z * 1.1) + 16)
            keep = draw[(draw >= alpha) & (draw <= beta)][:need]
            out[filled:filled + keep.size] = keep
            filled += keep.size
        return out.reshape(size)
    flip = alpha > 0  # work in the lower tail, where the CDF is accurate
    lo, hi = (-beta, -alpha) if flip else (alpha, beta)
    p_lo, p_hi = _cdf(lo), _cdf(hi)
    u = np.clip(rng.uniform(p_lo, p_hi, size=n), np.nextafter(0, 1), np.nextafter(1, 0))
    x = np.clip(ndtri(u), lo, hi)
    return (-x if flip else x).reshape(size)


def truncated_moments(mean: float, std: float, a: float, b: float) -> tuple[float, float]:
    """Mean and variance of N(mean, std^2) truncated to [a, b]."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    z = _mass(alpha, beta)
    pa, pb = _phi(alpha), _phi(beta)
    ta = alpha * pa if math.isfinite(alpha) else 0.0
    tb = beta * pb if math.isfinite(beta) else 0.0
    m = (pa - pb) / z
    return mean + std * m, std ** 2 * (1 + (ta - tb) / z - m * m)


def _bound(component: str, param: str, value) -> float:
    # like number(), but +-inf is allowed: a one-sided truncation
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
            and math.isinf(value):
        return float(value)
    return number(component, param, value)


class Normal(Initializer):
    """w ~ N(mean, std^2). Declared: mean ``mean``, variance ``std**2``, unbounded."""

    name = "normal"
    conformance_examples = [{}, {"mean": 0.5, "std": 0.02}]

    def __init__(self, mean: float = 0.0, std: float = 1.0):
        self.mean = number(self.name, "mean", mean)
        self.std = nonnegative(self.name, "std", std)

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.std, size=shape)

    def expected(self, shape):
        return {"mean": self.mean, "var": self.std ** 2, "low": None, "high": None}


class Uniform(Initializer):
    """w ~ U[a, b). Declared: mean (a+b)/2, variance (b-a)^2/12, bounds [a, b]."""

    name = "uniform"
    conformance_examples = [{}, {"a": -0.1, "b": 0.3}]

    def __init__(self, a: float = 0.0, b: float = 1.0):
        self.a = number(self.name, "a", a)
        self.b = number(self.name, "b", b)
        if self.b < self.a:
            fail(self.name, "b", b, f">= a={a!r}")

    def sample(self, shape, rng):
        return rng.uniform(self.a, self.b, size=shape)

    def expected(self, shape):
        return {"mean": (self.a + self.b) / 2, "var": (self.b - self.a) ** 2 / 12,
                "low": self.a, "high": self.b}


class TruncNormal(Initializer):
    """w ~ N(mean, std^2) truncated to [a, b] (absolute bounds, PyTorch's ``trunc_normal_``).

    With alpha = (a-mean)/std, beta = (b-mean)/std, Z = Phi(beta) - Phi(alpha):
    E[w] = mean + std * (phi(alpha) - phi(beta)) / Z and
    Var[w] = std^2 * (1 + (alpha*phi(alpha) - beta*phi(beta)) / Z
                      - ((phi(alpha) - phi(beta)) / Z)^2).
    """

    name = "trunc_normal"
    conformance_examples = [{}, {"mean": 0.0, "std": 0.02, "a": -0.04, "b": 0.04},
                            {"mean": 1.0, "std": 1.0, "a": 2.0, "b": 5.0}]

    def __init__(self, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0):
        self.mean = number(self.name, "mean", mean)
        self.std = positive(self.name, "std", std)
        self.a, self.b = _bound(self.name, "a", a), _bound(self.name, "b", b)
        if self.b <= self.a:
            fail(self.name, "b", b, f"> a={a!r}")
        if _mass((self.a - self.mean) / self.std, (self.b - self.mean) / self.std) <= 0:
            fail(self.name, "a, b", (a, b), "an interval of non-zero probability under "
                 f"N({mean!r}, {std!r}^2) in float64")

    def sample(self, shape, rng):
        alpha, beta = (self.a - self.mean) / self.std, (self.b - self.mean) / self.std
        w = self.mean + self.std * standard_truncated(alpha, beta, shape, rng)
        return np.clip(w, self.a, self.b)

    def expected(self, shape):
        m, v = truncated_moments(self.mean, self.std, self.a, self.b)
        return {"mean": m, "var": v, "low": self.a, "high": self.b}


class ScaledNormal(Initializer):
    """w = scale * N(0, 1): mean 0, variance scale^2 (``0.01*randn``, ``10*randn``)."""

    name = "scaled_normal"
    conformance_examples = [{}, {"scale": 10.0}]

    def __init__(self, scale: float = 0.01):
        self.scale = nonnegative(self.name, "scale", scale)

    def sample(self, shape, rng):
        return self.scale * rng.standard_normal(size=shape)

    def expected(self, shape):
        return {"mean": 0.0, "var": self.scale ** 2, "low": None, "high": None}


@hookimpl
def tinygrad_init_add_initializers():
    return {"normal": Normal, "uniform": Uniform, "trunc_normal": TruncNormal,
            "scaled_normal": ScaledNormal}
