"""The median stopping rule (Golovin et al., "Google Vizier", KDD 2017), as Optuna's
``MedianPruner``.

Registers the pruner ``median(n_startup_trials=5, n_warmup_steps=0, interval_steps=1,
n_min_trials=1)``: at a report at ``step``, the trial is pruned when its best reported
value so far is worse than the median of the values that the complete trials reported at
the same ``step``. Not before ``n_startup_trials`` trials are complete, not at steps below
``n_warmup_steps``, only every ``interval_steps`` steps from ``n_warmup_steps``, and only
when at least ``n_min_trials`` complete trials reported at that step. A trial whose
values are all NaN is pruned.
"""
from __future__ import annotations

import math

import numpy as np

from tinygrad_init import hookimpl
from tinygrad_init.search import Pruner
from tinygrad_init.validation import integer


class MedianPruner(Pruner):
    """Prune a trial whose best value so far is worse than the median at its step."""

    name = "median"

    def __init__(self, n_startup_trials=5, n_warmup_steps=0, interval_steps=1, n_min_trials=1):
        self.n_startup_trials = integer("median", "n_startup_trials", n_startup_trials, minimum=0)
        self.n_warmup_steps = integer("median", "n_warmup_steps", n_warmup_steps, minimum=0)
        self.interval_steps = integer("median", "interval_steps", interval_steps, minimum=1)
        self.n_min_trials = integer("median", "n_min_trials", n_min_trials, minimum=1)

    def prune(self, study, trial) -> bool:
        step = trial.intermediate[-1][0]
        complete = [t for t in study.trials if t.status == "complete"]
        if len(complete) < self.n_startup_trials or step < self.n_warmup_steps \
                or (step - self.n_warmup_steps) % self.interval_steps:
            return False
        mine = [study.sign * v for _, v in trial.intermediate if v is not None and not math.isnan(v)]
        if not mine:
            return True
        at = [study.sign * v for t in complete for s, v in t.intermediate
              if s == step and v is not None and not math.isnan(v)]
        return len(at) >= self.n_min_trials and min(mine) > float(np.median(at))


@hookimpl
def tinygrad_init_add_pruners():
    return {"median": MedianPruner}
