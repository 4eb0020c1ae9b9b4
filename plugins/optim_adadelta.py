"""Registers the optimizer ``adadelta`` (PyTorch's ``torch.optim.Adadelta``).

Update::

    g     = grad + weight_decay * p
    v     = rho * v + (1 - rho) * g * g
    delta = sqrt(u + eps) / sqrt(v + eps) * g      (eps inside both square roots)
    u     = rho * u + (1 - rho) * delta * delta
    p     = p - lr * delta

Defaults: lr=1.0, rho=0.9, eps=1e-6, weight_decay=0; ``v`` and ``u`` start at 0.
"""
from __future__ import annotations

import numpy as np

from tinygrad_init import Optimizer, hookimpl
from tinygrad_init.validation import in_range, positive


class Adadelta(Optimizer):
    """Adadelta: a unit-correct step from the ratio of two running RMS values."""

    name = "adadelta"
    defaults = dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0)
    conformance_examples = [{}, {"lr": 0.1, "rho": 0.95, "eps": 1e-4, "weight_decay": 1e-4}]

    def validate(self, hp, component):
        hp["rho"] = in_range(component, "rho", hp["rho"], 0.0, 1.0, hi_closed=True)
        hp["eps"] = positive(component, "eps", hp["eps"])

    def init_state(self, data):
        return {"square_avg": np.zeros_like(data), "acc_delta": np.zeros_like(data)}

    def update(self, p, g, state, group, step):
        rho, eps = group["rho"], group["eps"]
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        v = rho * state["square_avg"] + (1.0 - rho) * (g * g)
        delta = np.sqrt(state["acc_delta"] + eps) / np.sqrt(v + eps) * g
        state["square_avg"] = v
        state["acc_delta"] = rho * state["acc_delta"] + (1.0 - rho) * (delta * delta)
        return p - group["lr"] * delta


@hookimpl
def tinygrad_init_add_optimizers():
    return {"adadelta": Adadelta}
