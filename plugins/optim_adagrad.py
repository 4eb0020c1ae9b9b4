"""Registers the optimizer ``adagrad`` (PyTorch's ``torch.optim.Adagrad``).

Update at step ``t`` (1-based)::

    g     = grad + weight_decay * p
    clr   = lr / (1 + (t - 1) * lr_decay)
    sum   = sum + g * g                      (sum_0 = initial_accumulator_value)
    p     = p - clr * g / (sqrt(sum) + eps)  (eps outside the square root)

Defaults: lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10.
"""
from __future__ import annotations

import numpy as np

from tinygrad_init import Optimizer, hookimpl
from tinygrad_init.validation import nonnegative, positive


class Adagrad(Optimizer):
    """Adagrad: per-coordinate lr divided by the root of the summed squared gradients."""

    name = "adagrad"
    defaults = dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10)
    conformance_examples = [{"lr": 0.5}, {"lr": 1.0, "lr_decay": 1e-4, "initial_accumulator_value": 0.1}]

    def validate(self, hp, component):
        hp["lr_decay"] = nonnegative(component, "lr_decay", hp["lr_decay"])
        hp["initial_accumulator_value"] = nonnegative(component, "initial_accumulator_value",
                                                      hp["initial_accumulator_value"])
        hp["eps"] = positive(component, "eps", hp["eps"])

    def init_state(self, data):
        # the group is not known here; the accumulator's start value is added at step 1
        return {"sum": np.zeros_like(data)}

    def update(self, p, g, state, group, step):
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        clr = group["lr"] / (1.0 + (step - 1) * group["lr_decay"])
        s = state["sum"] + group["initial_accumulator_value"] if step == 1 else state["sum"]
        s = s + g * g
        state["sum"] = s
        return p - clr * (g / (np.sqrt(s) + group["eps"]))


@hookimpl
def tinygrad_init_add_optimizers():
    return {"adagrad": Adagrad}
