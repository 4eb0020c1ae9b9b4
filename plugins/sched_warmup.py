"""Warmup schedules: registers ``linear_warmup`` and ``one_cycle`` (kind ``schedule``).

- linear_warmup:  lr0 * (start_factor + (end_factor - start_factor) * min(t, T) / T),
  ``T = warmup_steps`` (PyTorch LinearLR; ``total_iters`` is accepted as PyTorch's name for
  ``warmup_steps``). With ``end_factor < start_factor`` it is a linear decay.
- one_cycle:      PyTorch OneCycleLR's lr (momentum cycling is not part of a schedule):
  from ``max_lr / div_factor`` up to ``max_lr`` over ``pct_start * total_steps - 1`` steps,
  then down to ``max_lr / div_factor / final_div_factor`` at step ``total_steps - 1``
  (``three_phase``: up, back down to the initial lr, then down to the minimum), annealing
  by cosine or linearly. PyTorch raises past ``total_steps``; this schedule holds the final
  value from ``total_steps - 1`` on.

``t = 0`` is the value of the first update (PyTorch's lr at construction).
"""
from __future__ import annotations

import math

from tinygrad_init import Schedule, hookimpl
from tinygrad_init import validation as V


class LinearWarmup(Schedule):
    """``lr0 * (start_factor + (end_factor - start_factor) * min(t, T) / T)`` with
    ``T = warmup_steps`` (alias ``total_iters``, PyTorch LinearLR; default 5)."""

    name, hparams = "linear_warmup", ("lr0", "warmup_steps", "start_factor", "end_factor")
    conformance_examples = [{}, {"lr0": 0.5, "warmup_steps": 100, "start_factor": 0.0},
                            {"lr0": 0.1, "total_iters": 30, "start_factor": 1.0, "end_factor": 0.1}]

    def __init__(self, lr0: float = 0.1, warmup_steps: int | None = None,
                 start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int | None = None):
        self.lr0 = V.nonnegative(self.name, "lr0", lr0)
        if warmup_steps is not None and total_iters is not None and warmup_steps != total_iters:
            V.fail(self.name, "total_iters", total_iters,
                   f"left out or equal to warmup_steps={warmup_steps!r} (it is PyTorch's name for it)")
        steps = warmup_steps if warmup_steps is not None else total_iters
        which = "warmup_steps" if warmup_steps is not None or total_iters is None else "total_iters"
        self.warmup_steps = V.integer(self.name, which, 5 if steps is None else steps, 1)
        self.start_factor = V.nonnegative(self.name, "start_factor", start_factor)
        self.end_factor = V.nonnegative(self.name, "end_factor", end_factor)

    @property
    def total_iters(self) -> int:
        return self.warmup_steps

    def value(self, t: int) -> float:
        frac = min(t, self.warmup_steps) / self.warmup_steps
        return self.lr0 * (self.start_factor + (self.end_factor - self.start_factor) * frac)


class OneCycle(Schedule):
    """PyTorch OneCycleLR's learning rate at step ``t`` (see the module docstring)."""

    name = "one_cycle"
    hparams = ("max_lr", "total_steps", "pct_start", "anneal_strategy", "div_factor",
                "final_div_factor", "three_phase")
    conformance_examples = [{"max_lr": 0.1, "total_steps": 100},
                            {"max_lr": 1.0, "total_steps": 20, "anneal_strategy": "linear",
                             "three_phase": True, "pct_start": 0.25}]

    def __init__(self, max_lr: float, total_steps: int, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False):
        n = self.name
        self.max_lr = V.nonnegative(n, "max_lr", max_lr)
        self.total_steps = V.integer(n, "total_steps", total_steps, 2)
        self.pct_start = V.in_range(n, "pct_start", pct_start, 0.0, 1.0, lo_closed=False, hi_closed=False)
        self.anneal_strategy = V.one_of(n, "anneal_strategy", anneal_strategy, ("cos", "linear"))
        self.div_factor = V.positive(n, "div_factor", div_factor)
        self.final_div_factor = V.positive(n, "final_div_factor", final_div_factor)
        if not isinstance(three_phase, bool):
            V.fail(n, "three_phase", three_phase, "True or False", TypeError)
        self.three_phase = three_phase
        self.initial_lr = self.max_lr / self.div_factor
        self.min_lr = self.initial_lr / self.final_div_factor
        # (end_step, start_lr, end_lr), exactly PyTorch's phase table
        up = float(self.pct_start * self.total_steps) - 1
        if three_phase:
            self.phases = [(up, self.initial_lr, self.max_lr),
                           (float(2 * self.pct_start * self.total_steps) - 2, self.max_lr, self.initial_lr),
                           (self.total_steps - 1, self.initial_lr, self.min_lr)]
        else:
            self.phases = [(up, self.initial_lr, self.max_lr), (self.total_steps - 1, self.max_lr, self.min_lr)]
        prev = 0.0
        for end, _, _ in self.phases:
            if not end > prev:
                V.fail(n, "pct_start", pct_start,
                       f"such that every phase has a positive length with total_steps={total_steps} "
                       f"(phase ends {[p[0] for p in self.phases]})")
            prev = end

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def value(self, t: int) -> float:
        if t >= self.total_steps - 1:
            return self._anneal(*self.phases[-1][1:], 1.0)
        start_step = 0.0
        for i, (end_step, lo, hi) in enumerate(self.phases):
            if t <= end_step or i == len(self.phases) - 1:
                return self._anneal(lo, hi, (t - start_step) / (end_step - start_step))
            start_step = end_step
        raise AssertionError("unreachable")


@hookimpl
def tinygrad_init_add_schedules():
    return {"linear_warmup": LinearWarmup, "one_cycle": OneCycle}
