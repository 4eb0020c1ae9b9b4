"""Schedule composition: registers ``sequential`` and ``chained`` (kind ``schedule``).

- sequential(schedules, milestones, continuous=False): PyTorch SequentialLR. Schedule ``i``
  runs on ``[m_i, m_{i+1})`` (``m_0 = 0``) and its own step counter restarts at 0 at its
  milestone: ``value(t) = c_i * s_i(t - m_i)``. Without ``continuous`` every ``c_i = 1``
  (PyTorch). It is *continuous at the join* ``m_i`` when ``s_i(0)`` equals the value the
  previous schedule would have had there, ``c_{i-1} * s_{i-1}(m_i - m_{i-1})``;
  ``continuous=True`` picks ``c_i`` so that this holds (it rescales the later schedule).
- chained(schedules, lr0=None): PyTorch ChainedScheduler, a product of factors:
  ``value(t) = lr0 * prod_i s_i(t) / b_i``, where ``b_i`` is schedule ``i``'s base lr (its
  ``lr0`` attribute; ``s_i(0)`` for a schedule without one) and ``lr0`` defaults to ``b_0``.

A sub-schedule is a schedule object (any pure callable ``step -> lr``), a registered name,
a ``(name, {hparams})`` pair or a ``{"name": ..., **hparams}`` dict (what TOML configs give),
resolved with ``tgi.schedule``.
"""
from __future__ import annotations

import bisect
from typing import Any, Sequence

import tinygrad_init as tgi
from tinygrad_init import Schedule, hookimpl
from tinygrad_init import validation as V


def resolve(component: str, index: int, spec: Any) -> Any:
    """Turn a sub-schedule spec into a schedule (see the module docstring)."""
    where = f"{component}: schedules[{index}]"
    try:
        if isinstance(spec, str):
            return tgi.schedule(spec)
        if isinstance(spec, dict):
            if "name" not in spec:
                raise ValueError(f"the spec {spec!r} has no 'name' key")
            hp = {k: v for k, v in spec.items() if k != "name"}
            return tgi.schedule(spec["name"], **hp)
        if isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str) \
                and isinstance(spec[1], dict):
            return tgi.schedule(spec[0], **spec[1])
        if callable(spec):
            return spec
    except (ValueError, TypeError, LookupError) as exc:
        raise type(exc)(f"{where}: {exc}") from exc
    raise TypeError(f"{where}={spec!r} is invalid: must be a schedule, a schedule name, a "
                    "(name, {hparams}) pair or a {'name': ..., **hparams} dict")


def _schedules(component: str, schedules: Any) -> list[Any]:
    if isinstance(schedules, (str, dict)) or not isinstance(schedules, (list, tuple)) or not schedules:
        V.fail(component, "schedules", schedules, "a non-empty list of schedules or schedule specs",
               TypeError if not isinstance(schedules, (list, tuple)) else ValueError)
    return [resolve(component, i, s) for i, s in enumerate(schedules)]


class Sequential(Schedule):
    """One schedule after another, each restarting its step counter at its milestone."""

    name, hparams = "sequential", ("schedules", "milestones", "continuous")
    conformance_examples = [
        {"schedules": [{"name": "linear_warmup", "lr0": 0.1, "warmup_steps": 5, "start_factor": 0.1},
                       {"name": "cosine", "lr0": 0.1, "T_max": 95}], "milestones": [5]},
        {"schedules": [("constant", {"lr0": 0.1}), ("exponential", {"lr0": 0.5, "gamma": 0.9}),
                       "inverse_sqrt"], "milestones": [3, 10], "continuous": True},
    ]

    def __init__(self, schedules: Sequence[Any], milestones: Sequence[int], continuous: bool = False):
        n = self.name
        self.schedules = _schedules(n, schedules)
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
            V.fail(n, "milestones", milestones, "a list of integers", TypeError)
        ms = [V.integer(n, "milestones", m, 1) for m in milestones]
        if any(b <= a for a, b in zip(ms, ms[1:])):
            V.fail(n, "milestones", list(milestones), "strictly increasing")
        if len(ms) != len(self.schedules) - 1:
            V.fail(n, "milestones", list(milestones),
                   f"one fewer than the schedules ({len(self.schedules)} schedules, so {len(self.schedules) - 1} milestones)")
        self.milestones = ms
        if not isinstance(continuous, bool):
            V.fail(n, "continuous", continuous, "True or False", TypeError)
        self.continuous = continuous
        # scales[i]: c_i (all 1 without `continuous`); computed once, so the schedule stays pure
        scales = [1.0]
        for i in range(1, len(self.schedules)):
            if not continuous:
                scales.append(1.0)
                continue
            start = self.milestones[i - 2] if i >= 2 else 0
            before = scales[-1] * float(self.schedules[i - 1](self.milestones[i - 1] - start))
            first = float(self.schedules[i](0))
            if first == 0.0 and before != 0.0:
                raise ValueError(f"{n}: continuous=True cannot rescale schedules[{i}] "
                                 f"({self.schedules[i]!r}): its value at step 0 is 0")
            scales.append(1.0 if first == 0.0 else before / first)
        self.scales = scales

    def value(self, t: int) -> float:
        i = bisect.bisect_right(self.milestones, t)
        start = self.milestones[i - 1] if i else 0
        return self.scales[i] * float(self.schedules[i](t - start))


class Chained(Schedule):
    """The product of the schedules' factors: ``lr0 * prod_i s_i(t) / b_i``."""

    name, hparams = "chained", ("schedules", "lr0")
    conformance_examples = [
        {"schedules": [{"name": "linear_warmup", "lr0": 0.1, "warmup_steps": 4, "start_factor": 0.5},
                       {"name": "exponential", "lr0": 0.1, "gamma": 0.9}]},
        {"schedules": [("step", {"lr0": 0.1, "step_size": 10, "gamma": 0.5}),
                       ("cosine", {"lr0": 1.0, "T_max": 50})], "lr0": 0.3},
    ]

    def __init__(self, schedules: Sequence[Any], lr0: float | None = None):
        self.schedules = _schedules(self.name, schedules)
        bases = []
        for i, s in enumerate(self.schedules):
            b = getattr(s, "lr0", None)
            b = float(s(0)) if not isinstance(b, (int, float)) or isinstance(b, bool) else float(b)
            if not b > 0.0:
                raise ValueError(f"{self.name}: schedules[{i}] ({s!r}) has base lr {b!r}; its factors "
                                 "s(t) / base need a base lr > 0")
            bases.append(b)
        self.bases = bases
        self.lr0 = bases[0] if lr0 is None else V.nonnegative(self.name, "lr0", lr0)

    def value(self, t: int) -> float:
        value = self.lr0
        for s, b in zip(self.schedules, self.bases):
            value *= float(s(t)) / b
        return value


@hookimpl
def tinygrad_init_add_schedules():
    return {"sequential": Sequential, "chained": Chained}
