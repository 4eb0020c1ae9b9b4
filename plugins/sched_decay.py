"""Decay schedules: registers ``constant``, ``step``, ``multistep``, ``exponential``,
``inverse_time``, ``inverse_sqrt`` and ``polynomial`` (kind ``schedule``).

Every schedule is a pure function of the step counter ``t`` (or epoch counter, when the
trainer steps it per epoch): ``s(t) -> lr``. ``t = 0`` is the value of the first update,
PyTorch's lr right after constructing the scheduler. The base learning rate is ``lr0``
(default 0.1) everywhere. Formulas (``docs/conventions.md``, "Learning-rate schedules"):

- constant:      lr0 * factor if t < total_iters else lr0        (PyTorch ConstantLR)
- step:          lr0 * gamma ** (t // step_size)                  (PyTorch StepLR)
- multistep:     lr0 * gamma ** #{m in milestones: m <= t}        (PyTorch MultiStepLR)
- exponential:   lr0 * gamma ** t                                 (PyTorch ExponentialLR)
- inverse_time:  lr0 / (1 + decay_rate * p), p = t / decay_steps, floored if staircase
                                                                  (Keras InverseTimeDecay)
- inverse_sqrt:  lr0 * k / sqrt(t + 1)                            (the course's k/sqrt(epoch_num))
- polynomial:    (lr0 - end_lr) * (1 - min(t, T) / T) ** power + end_lr
                                                (PyTorch PolynomialLR, Keras PolynomialDecay)
"""
from __future__ import annotations

import bisect
import math
from typing import Any, Sequence

from tinygrad_init import Schedule, hookimpl
from tinygrad_init import validation as V


def _gamma(name: str, gamma: Any) -> float:
    # gamma > 1 would grow without bound (inf at large steps): a decay schedule decays.
    return V.in_range(name, "gamma", gamma, 0.0, 1.0, lo_closed=False, hi_closed=True)


class Constant(Schedule):
    """``lr0``; with ``factor``/``total_iters`` PyTorch's ConstantLR: ``lr0 * factor`` for
    ``t < total_iters``, then ``lr0``."""

    name, hparams = "constant", ("lr0", "factor", "total_iters")
    conformance_examples = [{}, {"lr0": 0.05, "factor": 0.5, "total_iters": 10}]

    def __init__(self, lr0: float = 0.1, factor: float = 1.0, total_iters: int = 0):
        self.lr0 = V.nonnegative(self.name, "lr0", lr0)
        self.factor = V.in_range(self.name, "factor", factor, 0.0, 1.0, hi_closed=True)
        self.total_iters = V.integer(self.name, "total_iters", total_iters, 0)

    def value(self, t: int) -> float:
        return self.lr0 * self.factor if t < self.total_iters else self.lr0


class StepDecay(Schedule):
    """Staircase decay: ``lr0 * gamma ** (t // step_size)`` (PyTorch StepLR)."""

    name, hparams = "step", ("lr0", "step_size", "gamma")
    conformance_examples = [{"step_size": 30}, {"lr0": 1.0, "step_size": 1, "gamma": 0.5}]

    def __init__(self, lr0: float = 0.1, *, step_size: int, gamma: float = 0.1):
        self.lr0 = V.nonnegative(self.name, "lr0", lr0)
        self.step_size = V.integer(self.name, "step_size", step_size, 1)
        self.gamma = _gamma(self.name, gamma)

    def value(self, t: int) -> float:
        return self.lr0 * self.gamma ** (t // self.step_size)


class MultiStep(Schedule):
    """``lr0 * gamma ** n`` with ``n`` the number of milestones ``<= t`` (PyTorch
    MultiStepLR; a repeated milestone decays by ``gamma`` once per repetition)."""

    name, hparams = "multistep", ("lr0", "milestones", "gamma")
    conformance_examples = [{"milestones": [30, 80]}, {"lr0": 0.5, "milestones": [1, 1, 5], "gamma": 0.5}]

    def __init__(self, lr0: float = 0.1, *, milestones: Sequence[int], gamma: float = 0.1):
        self.lr0 = V.nonnegative(self.name, "lr0", lr0)
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
            V.fail(self.name, "milestones", milestones, "a sorted list of integers >= 1", TypeError)
        ms = [V.integer(self.name, "milestones", m, 1) for m in milestones]
        if ms != sorted(ms):
            V.fail(self.name, "milestones", list(milestones), "sorted in increasing order")
        self.milestones = ms
        self.gamma = _gamma(self.name, gamma)

    def value(self, t: int) -> float:
        return self.lr0 * self.gamma ** bisect.bisect_right(self.milestones, t)


class Exponential(Schedule):
    """``lr0 * gamma ** t`` (PyTorch ExponentialLR; the course's ``0.95**epoch * lr0``)."""

    name, hparams = "exponential", ("lr0", "gamma")
    conformance_examples = [{}, {"lr0": 1.0, "gamma": 0.5}]

    def __init__(self, lr0: float = 0.1, gamma: float = 0.95):
        self.lr0 = V.nonnegative(self.name, "lr0", lr0)
        self.gamma = _gamma(self.name, gamma)

    def value(self, t: int) -> float:
        return self.lr0 * self.gamma ** t


class InverseTime(Schedule):
    """``lr0 / (1 + decay_rate * t / decay_steps)``; ``t / decay_steps`` floored when
    ``staircase`` (Keras InverseTimeDecay; the course's ``lr0 / (1 + decay_rate * epoch)``)."""

    name, hparams = "inverse_time", ("lr0", "decay_rate", "decay_steps", "staircase")
    conformance_examples = [{}, {"lr0": 0.2, "decay_rate": 0.5, "decay_steps": 10, "staircase": True}]

    def __init__(self, lr0: float = 0.1, decay_rate: float = 1.0, decay_steps: float = 1,
                 staircase: bool = False):
        self.lr0 = V.nonnegative(self.name, "lr0", lr0)
        self.decay_rate = V.nonnegative(self.name, "decay_rate", decay_rate)
        self.decay_steps = V.positive(self.name, "decay_steps", decay_steps)
        if not isinstance(staircase, bool):
            V.fail(self.name, "staircase", staircase, "True or False", TypeError)
        self.staircase = staircase

    def value(self, t: int) -> float:
        p = t / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.lr0 / (1.0 + self.decay_rate * p)


class InverseSqrt(Schedule):
    """``lr0 * k / sqrt(t + 1)``: the course's ``k / sqrt(epoch_num) * lr0`` with
    ``epoch_num = t + 1`` counted from 1, so step 0 gives ``k * lr0`` (finite)."""

    name, hparams = "inverse_sqrt", ("lr0", "k")
    conformance_examples = [{}, {"lr0": 0.01, "k": 2.0}]

    def __init__(self, lr0: float = 0.1, k: float = 1.0):
        self.lr0 = V.nonnegative(self.name, "lr0", lr0)
        self.k = V.positive(self.name, "k", k)

    def value(self, t: int) -> float:
        return self.lr0 * self.k / math.sqrt(t + 1)


class Polynomial(Schedule):
    """``(lr0 - end_lr) * (1 - min(t, T) / T) ** power + end_lr`` with ``T = total_steps``;
    ``end_lr = 0`` is PyTorch's PolynomialLR, otherwise Keras PolynomialDecay (no cycling).
    Stays at ``end_lr`` after ``total_steps``."""

    name, hparams = "polynomial", ("lr0", "total_steps", "end_lr", "power")
    conformance_examples = [{"total_steps": 100}, {"lr0": 0.5, "total_steps": 7, "end_lr": 0.01, "power": 2.0}]

    def __init__(self, lr0: float = 0.1, *, total_steps: int, end_lr: float = 0.0, power: float = 1.0):
        self.lr0 = V.nonnegative(self.name, "lr0", lr0)
        self.total_steps = V.integer(self.name, "total_steps", total_steps, 1)
        self.end_lr = V.nonnegative(self.name, "end_lr", end_lr)
        self.power = V.positive(self.name, "power", power)

    def value(self, t: int) -> float:
        frac = 1.0 - min(t, self.total_steps) / self.total_steps
        return (self.lr0 - self.end_lr) * frac ** self.power + self.end_lr


@hookimpl
def tinygrad_init_add_schedules():
    return {"constant": Constant, "step": StepDecay, "multistep": MultiStep,
            "exponential": Exponential, "inverse_time": InverseTime,
            "inverse_sqrt": InverseSqrt, "polynomial": Polynomial}
