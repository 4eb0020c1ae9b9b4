"""Cyclical learning rates: registers ``cyclic`` (kind ``schedule``), PyTorch CyclicLR.

With ``total = step_size_up + step_size_down``, ``cycle = floor(1 + t / total)`` and
``x = 1 + t / total - cycle`` (position in the cycle, 0..1)::

    scale = x / r            if x <= r,  r = step_size_up / total
            (x - 1) / (r - 1) otherwise
    lr    = base_lr + (max_lr - base_lr) * scale * amp

``amp`` is 1 (``triangular``), ``0.5 ** (cycle - 1)`` (``triangular2``: the amplitude halves
every cycle) or ``gamma ** t`` (``exp_range``). Defaults follow Smith's paper / Keras CLR
(base_lr 0.001, max_lr 0.006) and PyTorch (step_size_up 2000). ``t = 0`` is the value of
the first update, ``base_lr``. Momentum cycling is not part of a schedule.
"""
from __future__ import annotations

import math

from tinygrad_init import Schedule, hookimpl
from tinygrad_init import validation as V


class Cyclic(Schedule):
    """PyTorch CyclicLR's lr at step ``t`` (see the module docstring)."""

    name = "cyclic"
    hparams = ("base_lr", "max_lr", "step_size_up", "step_size_down", "mode", "gamma")
    conformance_examples = [{}, {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "step_size_down": 5,
                                 "mode": "triangular2"},
                            {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4, "mode": "exp_range",
                             "gamma": 0.99}]

    def __init__(self, base_lr: float = 0.001, max_lr: float = 0.006, step_size_up: int = 2000,
                 step_size_down: int | None = None, mode: str = "triangular", gamma: float = 1.0):
        n = self.name
        self.base_lr = V.nonnegative(n, "base_lr", base_lr)
        self.max_lr = V.nonnegative(n, "max_lr", max_lr)
        self.step_size_up = V.integer(n, "step_size_up", step_size_up, 1)
        self.step_size_down = (self.step_size_up if step_size_down is None
                               else V.integer(n, "step_size_down", step_size_down, 1))
        self.mode = V.one_of(n, "mode", mode, ("triangular", "triangular2", "exp_range"))
        self.gamma = V.in_range(n, "gamma", gamma, 0.0, 1.0, lo_closed=False, hi_closed=True)

    def value(self, t: int) -> float:
        total = float(self.step_size_up + self.step_size_down)
        ratio = self.step_size_up / total
        cycle = math.floor(1 + t / total)
        x = 1.0 + t / total - cycle
        scale = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        if self.mode == "triangular":
            amp = 1.0
        elif self.mode == "triangular2":
            amp = 0.5 ** (cycle - 1)  # = PyTorch's 1 / 2**(cycle-1), without overflow at huge t
        else:
            amp = self.gamma ** t
        return self.base_lr + (self.max_lr - self.base_lr) * scale * amp


@hookimpl
def tinygrad_init_add_schedules():
    return {"cyclic": Cyclic}
