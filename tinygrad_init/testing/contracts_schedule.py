"""Conformance checks for learning-rate schedules (kind ``schedule``).

``CHECKS[name](component, hparams)`` builds ``component.factory(**hparams)`` and raises
``AssertionError`` naming the schedule when it misbehaves:

- ``finite``: ``s(t)`` is a real number, finite and ``>= 0`` for every step 0..1000 and
  at the large steps 10**4, 10**6 and 10**9.
- ``deterministic``: two fresh builds give bit-identical values, and so does calling one
  instance out of order (steps shuffled with a fixed seed): a schedule is a pure function.
- ``resumable``: the value at step ``k`` of a fresh instance equals the value at ``k`` of
  an instance that has evaluated ``0..k-1`` first (resuming is restoring the counter).
- ``rejects_negative_step``: ``s(-1)`` raises ``ValueError``.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

STEPS = range(0, 1001)
LARGE_STEPS = (10**4, 10**6, 10**9)
RESUME_AT = (1, 7, 50, 333, 1000)


def _label(component: Any, hparams: dict) -> str:
    hp = ", ".join(f"{k}={v!r}" for k, v in hparams.items())
    return f"schedule {component.name!r}({hp})"


def _build(component: Any, hparams: dict) -> Any:
    s = component.factory(**hparams)
    assert callable(s), f"{_label(component, hparams)}: the factory returned {s!r}, which is not callable"
    return s


def _values(s: Any, steps: Any) -> list[float]:
    return [s(t) for t in steps]


def check_finite(component: Any, hparams: dict) -> None:
    label = _label(component, hparams)
    s = _build(component, hparams)
    for t in [*STEPS, *LARGE_STEPS]:
        v = s(t)
        assert isinstance(v, (Real, np.floating)) and not isinstance(v, bool), \
            f"{label}: s({t}) = {v!r} is not a real number"
        assert math.isfinite(v) and v >= 0, f"{label}: s({t}) = {v!r}; must be finite and >= 0"


def check_deterministic(component: Any, hparams: dict) -> None:
    label = _label(component, hparams)
    steps = [*range(0, 301), *LARGE_STEPS]
    a, b = _values(_build(component, hparams), steps), _values(_build(component, hparams), steps)
    for t, x, y in zip(steps, a, b):
        assert x == y or (x != x and y != y), f"{label}: two fresh builds differ at step {t}: {x!r} != {y!r}"
    s = _build(component, hparams)
    order = np.random.default_rng(0).permutation(len(steps))
    shuffled = {steps[i]: s(steps[i]) for i in order}
    for t, x in zip(steps, a):
        assert shuffled[t] == x, (f"{label}: not a pure function of the step: s({t}) = {shuffled[t]!r} "
                                  f"when steps are visited out of order, {x!r} in order")


def check_resumable(component: Any, hparams: dict) -> None:
    label = _label(component, hparams)
    for k in RESUME_AT:
        s = _build(component, hparams)
        _values(s, range(k))
        continued = s(k)
        fresh = _build(component, hparams)(k)
        assert continued == fresh, (f"{label}: at step {k} a fresh instance gives {fresh!r} but one that "
                                    f"evaluated steps 0..{k - 1} first gives {continued!r}")


def check_rejects_negative_step(component: Any, hparams: dict) -> None:
    label = _label(component, hparams)
    s = _build(component, hparams)
    try:
        v = s(-1)
    except ValueError:
        return
    raise AssertionError(f"{label}: s(-1) returned {v!r}; a negative step must raise ValueError")


CHECKS = {
    "finite": check_finite,
    "deterministic": check_deterministic,
    "resumable": check_resumable,
    "rejects_negative_step": check_rejects_negative_step,
}
