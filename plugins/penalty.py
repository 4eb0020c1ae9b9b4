"""L1/L2 weight penalties (a callback): ``penalty(l1=0.0, l2=0.0)``.

The penalised loss is ``loss + l1 * sum|w| + l2 / 2 * sum w**2`` over the weights
(parameters with ``ndim >= 2``: biases and norm scales are left out). The callback adds
the penalty's gradient, ``l1 * sign(w) + l2 * w``, to each weight's gradient after
``backward`` (hook ``after_backward``, ``tryfirst`` so that gradient clipping sees it),
without building the penalty into the graph. The logged loss is the data loss.
``Trainer(l1=..., l2=...)`` and the config's ``train.l1``/``train.l2`` add this callback;
``[[callbacks]] name = "penalty"`` does too.
"""
from __future__ import annotations

import numpy as np

from tinygrad_init import hookimpl
from tinygrad_init.validation import nonnegative


class Penalty:
    name = "penalty"
    conformance_examples = [{}, {"l1": 1e-4, "l2": 1e-3}]

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = nonnegative(self.name, "l1", l1)
        self.l2 = nonnegative(self.name, "l2", l2)

    @hookimpl(tryfirst=True)
    def tinygrad_init_after_backward(self, trainer):
        if not (self.l1 or self.l2):
            return
        for p in trainer.model.parameters():
            if p.data.ndim < 2 or not p.requires_grad:
                continue
            g = np.zeros_like(p.data) if p.grad is None else p.grad
            if self.l1:
                g = g + self.l1 * np.sign(p.data)
            if self.l2:
                g = g + self.l2 * p.data
            p.grad = g.astype(p.data.dtype, copy=False)

    def __repr__(self):
        return f"Penalty(l1={self.l1}, l2={self.l2})"


@hookimpl
def tinygrad_init_add_callbacks():
    return {"penalty": Penalty}
