"""Conformance checks for initializers (kind ``initializer``).

``CHECKS[name](component, hparams)`` builds ``component.factory(**hparams)`` and
raises ``AssertionError`` naming the initializer when it misbehaves. Every check
is seeded and deterministic. The shapes tried are a 2-D weight ``(256, 128)`` and
a conv kernel ``(64, 32, 3, 3)``, each if the initializer ``supports()`` it (else
``(4096,)`` or ``(32, 16, 5)``).

Statistical tolerances come from the sample size n (samples treated as i.i.d.):

- mean:  |m - mu| <= 6 * sqrt(var / n)
- var:   |s^2 - var| <= 6 * sqrt((mu4 - var^2) / n), mu4 the fourth central
  moment, estimated from the sample and floored at 1.8 var^2 (the uniform
  distribution's, the smallest kurtosis of the distributions used here)
- bounds: every sample in [low, high] (up to float rounding).

A statistic declared as variance 0 must hold exactly.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

PRIMARY_SHAPES = ((256, 128), (64, 32, 3, 3))
FALLBACK_SHAPES = ((4096,), (32, 16, 5))
SIGMAS = 6.0
KEYS = ("mean", "var", "low", "high")


def _build(component: Any, hparams: dict) -> Any:
    return component.factory(**hparams)


def _label(component: Any, hparams: dict) -> str:
    hp = ", ".join(f"{k}={v!r}" for k, v in hparams.items())
    return f"initializer {component.name!r}({hp})"


def _supports(init: Any, shape: tuple) -> bool:
    sup = getattr(init, "supports", None)
    if sup is not None:
        return bool(sup(shape))
    try:
        init(shape, np.random.default_rng(0))
    except (ValueError, TypeError):
        return False
    return True


def shapes_for(init: Any) -> list[tuple]:
    """The example shapes the checks use for ``init``."""
    shapes = [s for s in PRIMARY_SHAPES if _supports(init, s)]
    if not shapes:
        shapes = [s for s in FALLBACK_SHAPES if _supports(init, s)]
    return shapes


def _shapes(init: Any, label: str) -> list[tuple]:
    shapes = shapes_for(init)
    assert shapes, (f"{label} supports none of the example shapes "
                    f"{PRIMARY_SHAPES + FALLBACK_SHAPES}")
    return shapes


def check_shape_and_dtype(component: Any, hparams: dict) -> None:
    """Exact shape; float32 and float64 honoured; finite values; the default dtype is float32."""
    init, label = _build(component, hparams), _label(component, hparams)
    for shape in _shapes(init, label):
        for dtype in (np.float32, np.float64):
            out = init(shape, np.random.default_rng(1), dtype=dtype)
            assert isinstance(out, np.ndarray), f"{label} returned {type(out).__name__}, not an ndarray"
            assert out.shape == shape, f"{label}: shape {out.shape} returned for requested {shape}"
            assert out.dtype == np.dtype(dtype), f"{label}: dtype {out.dtype} returned for requested {np.dtype(dtype)}"
            assert np.all(np.isfinite(out)), f"{label}: non-finite values for shape {shape}"
        out = init(shape, np.random.default_rng(1))
        assert out.dtype == np.float32, f"{label}: default dtype is {out.dtype}, expected float32"


def check_determinism(component: Any, hparams: dict) -> None:
    """Same seed -> the same array (so no hidden global RNG); different seeds differ
    unless the initializer declares ``uses_rng = False`` (then they must not)."""
    init, label = _build(component, hparams), _label(component, hparams)
    uses_rng = getattr(init, "uses_rng", True)
    for shape in _shapes(init, label):
        a = init(shape, np.random.default_rng(123), dtype=np.float64)
        np.random.seed(999)  # a global RNG must not matter
        b = init(shape, np.random.default_rng(123), dtype=np.float64)
        assert np.array_equal(a, b), f"{label}: the same seed gave different arrays for shape {shape}"
        c = init(shape, np.random.default_rng(124), dtype=np.float64)
        if uses_rng:
            assert not np.array_equal(a, c), (f"{label}: seeds 123 and 124 gave identical arrays for "
                                              f"shape {shape} (set uses_rng = False if it is deterministic)")
        else:
            assert np.array_equal(a, c), (f"{label} declares uses_rng = False but different seeds "
                                          f"gave different arrays for shape {shape}")


def _expected(init: Any, shape: tuple, label: str) -> dict:
    exp = getattr(init, "expected", None)
    assert callable(exp), f"{label} has no expected(shape) (subclass tinygrad_init.Initializer)"
    e = exp(shape)
    assert isinstance(e, dict) and set(KEYS) <= set(e), \
        f"{label}: expected({shape}) must return a dict with keys {KEYS}, got {e!r}"
    return e


def check_declared_statistics(component: Any, hparams: dict) -> None:
    """Samples match ``expected(shape)``: mean, variance, bounds (see module docstring)."""
    init, label = _build(component, hparams), _label(component, hparams)
    for shape in _shapes(init, label):
        e = _expected(init, shape, label)
        x = init(shape, np.random.default_rng(2024), dtype=np.float64).ravel()
        n = x.size
        mu, var, lo, hi = (e[k] for k in KEYS)
        if var is not None:
            assert var >= 0, f"{label}: declared variance {var} < 0 for shape {shape}"
        if lo is not None and hi is not None:
            assert lo <= hi, f"{label}: declared low {lo} > high {hi} for shape {shape}"
        scale = max(1.0, abs(mu or 0.0), math.sqrt(var) if var else 0.0)
        if mu is not None:
            if var == 0:
                assert np.allclose(x, mu, rtol=1e-12, atol=1e-12 * scale), \
                    f"{label}: declared constant {mu} but got values in [{x.min()}, {x.max()}] for {shape}"
            else:
                v = var if var is not None else float(x.var())
                tol = SIGMAS * math.sqrt(v / n) + 1e-9 * scale
                m = float(x.mean())
                assert abs(m - mu) <= tol, (f"{label}: sample mean {m:.6g} vs declared {mu:.6g} for shape "
                                            f"{shape} (tolerance {tol:.3g} = {SIGMAS:g} standard errors, n={n})")
        if var is not None and var > 0:
            center = mu if mu is not None else float(x.mean())
            s2 = float(x.var())
            mu4 = max(float(np.mean((x - center) ** 4)), 1.8 * var ** 2)
            tol = SIGMAS * math.sqrt((mu4 - var ** 2) / n) + 1e-9 * var
            assert abs(s2 - var) <= tol, (f"{label}: sample variance {s2:.6g} vs declared {var:.6g} for "
                                          f"shape {shape} (tolerance {tol:.3g}, n={n})")
        eps = 1e-12 * scale
        if lo is not None:
            assert x.min() >= lo - eps, f"{label}: sample {x.min()!r} below declared low {lo!r} for {shape}"
        if hi is not None:
            assert x.max() <= hi + eps, f"{label}: sample {x.max()!r} above declared high {hi!r} for {shape}"
        if lo is not None or hi is not None:
            x32 = init(shape, np.random.default_rng(2024), dtype=np.float32)
            if lo is not None:
                assert x32.min() >= np.float32(lo), f"{label}: float32 sample below low {lo!r} for {shape}"
            if hi is not None:
                assert x32.max() <= np.float32(hi), f"{label}: float32 sample above high {hi!r} for {shape}"


def check_rejects_bad_shapes(component: Any, hparams: dict) -> None:
    """Shapes with too few/many dimensions, negative dims and non-float dtypes raise
    ``ValueError``/``TypeError`` naming the initializer."""
    init, label = _build(component, hparams), _label(component, hparams)
    name = getattr(init, "name", component.name)
    bad: list[tuple] = [(-1, 3)]
    lo, hi = getattr(init, "min_ndim", 0), getattr(init, "max_ndim", None)
    if lo > 0:
        bad.append((3,) * (lo - 1))
    if hi is not None:
        bad.append((3,) * (hi + 1))
    for shape in bad:
        try:
            init(shape, np.random.default_rng(0))
        except (ValueError, TypeError) as exc:
            assert name in str(exc), f"{label}: the error for shape {shape} does not name it: {exc}"
        else:
            raise AssertionError(f"{label} accepted the invalid shape {shape}")
    shape = _shapes(init, label)[0]
    try:
        init(shape, np.random.default_rng(0), dtype=np.int64)
    except (ValueError, TypeError) as exc:
        assert name in str(exc), f"{label}: the error for dtype int64 does not name it: {exc}"
    else:
        raise AssertionError(f"{label} accepted dtype int64 (initializers return float arrays)")


CHECKS: dict[str, Callable[[Any, dict], None]] = {
    "shape_dtype": check_shape_and_dtype,
    "determinism": check_determinism,
    "statistics": check_declared_statistics,
    "bad_input": check_rejects_bad_shapes,
}
