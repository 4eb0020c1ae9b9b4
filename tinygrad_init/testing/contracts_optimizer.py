"""Conformance checks for optimizer plugins.

``CHECKS[name](component, hparams)`` builds the optimizer with
``component.factory(params, **hparams)`` (``hparams``: one of the factory's
``conformance_examples``) and raises ``AssertionError`` when it misbehaves:

* ``descends_quadratic`` — on ``f(x) = 0.5 * sum(a_i x_i^2)``, ``a`` in [10, 40],
  from a fixed start, the loss falls by more than 90% within 500 steps;
* ``progresses_on_rosenbrock`` — from (-1.5, 2) the Rosenbrock loss (12.5) falls
  below 25% of its start within 1000 steps and stays finite;
* ``resumes_bit_identically`` — N steps in one go equal k steps, ``state_dict``
  through an ``.npz`` (``allow_pickle=False``), a fresh optimizer over fresh
  parameters with the same values, N - k more steps: params and state to the bit;
* ``rejects_negative_lr`` — ``lr=-1`` is a ``ValueError``;
* ``skips_frozen_params`` — a ``requires_grad=False`` parameter with a gradient
  and a parameter whose grad is None are left untouched;
* ``raises_on_nonfinite_grad`` — a NaN gradient raises ``FloatingPointError``
  and no parameter changes.

Gradients are analytic (NumPy), so the checks test the optimizer, not the engine.
Choose ``conformance_examples`` with an ``lr`` that passes both descent checks.
"""
from __future__ import annotations

import io
from typing import Any, Callable

import numpy as np

_A = np.linspace(10.0, 40.0, 8)


def _param(values: Any, requires_grad: bool = True, dtype: Any = np.float64) -> Any:
    from tinygrad_init import Tensor
    return Tensor(np.array(values, dtype=dtype), requires_grad=requires_grad)


def _build(component: Any, params: Any, hparams: dict) -> Any:
    return component.factory(params, **hparams)


def _who(component: Any, hparams: dict) -> str:
    return f"optimizer {component.name!r} ({component.plugin}) with {hparams}"


def _quad(x: np.ndarray) -> tuple[float, np.ndarray]:
    return float(0.5 * np.sum(_A * x * x)), _A * x


def _rosen(x: np.ndarray) -> tuple[float, np.ndarray]:
    a, b = x
    f = (1 - a) ** 2 + 100 * (b - a * a) ** 2
    return float(f), np.array([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])


def _run(opt: Any, p: Any, fn: Callable, steps: int) -> list[float]:
    with np.errstate(all="ignore"):  # a diverging optimizer is reported by the assertion
        return _run_steps(opt, p, fn, steps)


def _run_steps(opt: Any, p: Any, fn: Callable, steps: int) -> list[float]:
    losses = []
    for _ in range(steps):
        f, g = fn(p.data)
        losses.append(f)
        if not np.isfinite(f):
            break
        p.grad = g
        opt.step()
    losses.append(fn(p.data)[0])
    return losses


def descends_quadratic(component: Any, hparams: dict) -> None:
    p = _param(np.linspace(-1.0, 1.0, 8) + 0.1)
    losses = _run(_build(component, [p], hparams), p, _quad, 500)
    best = min(losses[len(losses) // 2:])
    assert np.isfinite(losses[-1]) and best < 0.1 * losses[0], (
        f"{_who(component, hparams)} does not descend the quadratic: loss {losses[0]:.4g} -> "
        f"{losses[-1]:.4g} after 500 steps (needs a > 90% decrease)")


def progresses_on_rosenbrock(component: Any, hparams: dict) -> None:
    p = _param([-1.5, 2.0])
    losses = _run(_build(component, [p], hparams), p, _rosen, 1000)
    assert np.isfinite(losses[-1]) and losses[-1] < 0.25 * losses[0], (
        f"{_who(component, hparams)} makes no progress on Rosenbrock from (-1.5, 2): loss "
        f"{losses[0]:.4g} -> {losses[-1]:.4g} after 1000 steps (needs < 25% of the start)")


def resumes_bit_identically(component: Any, hparams: dict) -> None:
    rng = np.random.default_rng(0)
    start = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(5).astype(np.float32)]
    grads = [[rng.standard_normal(s.shape).astype(np.float32) for s in start] for _ in range(12)]

    def run(opt: Any, ps: list, ts: range) -> None:
        for t in ts:
            for p, g in zip(ps, grads[t]):
                p.grad = g.copy()
            opt.step()

    ref = [_param(s, dtype=np.float32) for s in start]
    ref_opt = _build(component, ref, hparams)
    run(ref_opt, ref, range(12))

    first = [_param(s, dtype=np.float32) for s in start]
    opt = _build(component, first, hparams)
    run(opt, first, range(5))
    buf = io.BytesIO()
    np.savez(buf, **opt.state_dict())
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as npz:
        saved = {k: npz[k] for k in npz.files}
    fresh = [_param(p.data, dtype=np.float32) for p in first]
    opt2 = _build(component, fresh, hparams)
    opt2.load_state_dict(saved)
    run(opt2, fresh, range(5, 12))
    for i, (a, b) in enumerate(zip(ref, fresh)):
        assert np.array_equal(a.data, b.data), (
            f"{_who(component, hparams)}: parameter {i} after resuming from state_dict differs from "
            f"an uninterrupted run (max abs diff {np.max(np.abs(a.data - b.data)):.3g})")
    sa, sb = ref_opt.state_dict(), opt2.state_dict()
    assert sa.keys() == sb.keys(), f"{_who(component, hparams)}: state_dict keys differ after resuming"
    for k in sa:
        assert np.array_equal(sa[k], sb[k]), f"{_who(component, hparams)}: state {k!r} differs after resuming"


def rejects_negative_lr(component: Any, hparams: dict) -> None:
    try:
        _build(component, [_param([1.0, 2.0])], {**hparams, "lr": -1.0})
    except ValueError:
        return
    raise AssertionError(f"{_who(component, hparams)} accepts lr=-1 (must raise ValueError)")


def skips_frozen_params(component: Any, hparams: dict) -> None:
    live, frozen, nograd = _param([1.0, -2.0, 3.0]), _param([1.0, 2.0], requires_grad=False), _param([4.0])
    before = [frozen.data.copy(), nograd.data.copy(), live.data.copy()]
    opt = _build(component, [live, frozen, nograd], hparams)
    for _ in range(3):
        live.grad, frozen.grad, nograd.grad = np.array([0.5, -1.0, 2.0]), np.array([1.0, 1.0]), None
        opt.step()
    assert np.array_equal(frozen.data, before[0]), f"{_who(component, hparams)} updated a frozen parameter"
    assert np.array_equal(nograd.data, before[1]), (
        f"{_who(component, hparams)} updated a parameter whose grad is None")
    assert not np.array_equal(live.data, before[2]), f"{_who(component, hparams)} did not update a live parameter"


def raises_on_nonfinite_grad(component: Any, hparams: dict) -> None:
    a, b = _param([1.0, 2.0]), _param([3.0])
    opt = _build(component, [a, b], hparams)
    a.grad, b.grad = np.array([1.0, 1.0]), np.array([np.nan])
    try:
        opt.step()
    except FloatingPointError:
        assert np.array_equal(a.data, [1.0, 2.0]) and np.array_equal(b.data, [3.0]), (
            f"{_who(component, hparams)} changed parameters in a step that raised on a NaN gradient")
        return
    raise AssertionError(f"{_who(component, hparams)} accepted a NaN gradient (must raise FloatingPointError)")


CHECKS: dict[str, Callable[[Any, dict], None]] = {
    "descends_quadratic": descends_quadratic,
    "progresses_on_rosenbrock": progresses_on_rosenbrock,
    "resumes_bit_identically": resumes_bit_identically,
    "rejects_negative_lr": rejects_negative_lr,
    "skips_frozen_params": skips_frozen_params,
    "raises_on_nonfinite_grad": raises_on_nonfinite_grad,
}
