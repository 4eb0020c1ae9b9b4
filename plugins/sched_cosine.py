"""Cosine annealing: registers ``cosine`` and ``cosine_restarts`` (kind ``schedule``).

- cosine:           eta_min + (lr0 - eta_min) * (1 + cos(pi * t / T_max)) / 2
  The closed form of PyTorch's CosineAnnealingLR. Like PyTorch it is not clamped: past
  ``T_max`` the cosine rises again (period ``2 * T_max``). To hold ``eta_min`` after
  ``T_max``, put ``constant(lr0=eta_min)`` after it with ``sequential``.
- cosine_restarts:  SGDR (PyTorch CosineAnnealingWarmRestarts): the same cosine over
  periods of length ``T_0, T_0*T_mult, T_0*T_mult**2, ...``, restarting at ``lr0``.

``t = 0`` is the value of the first update (PyTorch's lr at construction); base lr ``lr0``.
"""
from __future__ import annotations

import math

from tinygrad_init import Schedule, hookimpl
from tinygrad_init import validation as V


def _cos(lr0: float, eta_min: float, t_cur: float, period: float) -> float:
    return eta_min + (lr0 - eta_min) * (1.0 + math.cos(math.pi * t_cur / period)) / 2.0


class Cosine(Schedule):
    """``eta_min + (lr0 - eta_min) * (1 + cos(pi * t / T_max)) / 2`` (CosineAnnealingLR)."""

    name, hparams = "cosine", ("lr0", "T_max", "eta_min")
    conformance_examples = [{"T_max": 100}, {"lr0": 0.5, "T_max": 7, "eta_min": 0.01}]

    def __init__(self, lr0: float = 0.1, *, T_max: int, eta_min: float = 0.0):
        self.lr0 = V.nonnegative(self.name, "lr0", lr0)
        self.T_max = V.integer(self.name, "T_max", T_max, 1)
        self.eta_min = V.nonnegative(self.name, "eta_min", eta_min)

    def value(self, t: int) -> float:
        return _cos(self.lr0, self.eta_min, t, self.T_max)


class CosineRestarts(Schedule):
    """SGDR: period ``i`` lasts ``T_i = T_0 * T_mult**i`` steps; within it
    ``eta_min + (lr0 - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2`` with ``T_cur`` the
    steps since the last restart (PyTorch CosineAnnealingWarmRestarts)."""

    name, hparams = "cosine_restarts", ("lr0", "T_0", "T_mult", "eta_min")
    conformance_examples = [{"T_0": 10}, {"lr0": 0.5, "T_0": 3, "T_mult": 2, "eta_min": 0.001}]

    def __init__(self, lr0: float = 0.1, *, T_0: int, T_mult: int = 1, eta_min: float = 0.0):
        self.lr0 = V.nonnegative(self.name, "lr0", lr0)
        self.T_0 = V.integer(self.name, "T_0", T_0, 1)
        self.T_mult = V.integer(self.name, "T_mult", T_mult, 1)
        self.eta_min = V.nonnegative(self.name, "eta_min", eta_min)

    def period(self, t: int) -> tuple[int, int]:
        """``(T_cur, T_i)``: steps since the last restart and the current period length.
        Exact integer arithmetic (PyTorch's log-based form can round at period edges)."""
        if self.T_mult == 1:
            return t % self.T_0, self.T_0
        start, length = 0, self.T_0
        while t >= start + length:  # at most log_T_mult(t) iterations
            start, length = start + length, length * self.T_mult
        return t - start, length

    def value(self, t: int) -> float:
        t_cur, t_i = self.period(t)
        return _cos(self.lr0, self.eta_min, t_cur, t_i)


@hookimpl
def tinygrad_init_add_schedules():
    return {"cosine": Cosine, "cosine_restarts": CosineRestarts}
