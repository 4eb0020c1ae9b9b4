"""Registers the optimizer ``lion`` (Chen et al. 2023, "Symbolic Discovery of
Optimization Algorithms"; not in torch.optim, so the paper's Algorithm 2).

Update::

    c = beta1 * m + (1 - beta1) * g
    p = p * (1 - lr * weight_decay) - lr * sign(c)   (decoupled decay, as AdamW)
    m = beta2 * m + (1 - beta2) * g

Defaults: lr=1e-4, betas=(0.9, 0.99), weight_decay=0. Every coordinate moves by
exactly lr per step, so Lion wants a 3-10x smaller lr than AdamW.
"""
from __future__ import annotations

import numpy as np

from tinygrad_init import Optimizer, hookimpl
from tinygrad_init.validation import betas


class Lion(Optimizer):
    """Lion: the sign of an interpolated momentum, with decoupled weight decay."""

    name = "lion"
    defaults = dict(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0)
    conformance_examples = [{"lr": 3e-3}, {"lr": 3e-3, "weight_decay": 1e-2}]

    def validate(self, hp, component):
        hp["betas"] = betas(component, hp["betas"])

    def init_state(self, data):
        return {"exp_avg": np.zeros_like(data)}

    def update(self, p, g, state, group, step):
        lr, (b1, b2), wd = group["lr"], group["betas"], group["weight_decay"]
        m = state["exp_avg"]
        c = b1 * m + (1.0 - b1) * g
        if wd != 0:
            p = p * (1.0 - lr * wd)
        state["exp_avg"] = b2 * m + (1.0 - b2) * g
        return p - lr * np.sign(c)


@hookimpl
def tinygrad_init_add_optimizers():
    return {"lion": Lion}
