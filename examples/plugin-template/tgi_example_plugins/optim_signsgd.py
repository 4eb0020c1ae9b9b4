"""Registers the optimizer ``signsgd`` (signSGD with momentum, "Signum"; Bernstein et al. 2018).

Update, per parameter, with gradient ``g``::

    m = momentum * m + (1 - momentum) * g        (m = 0 before the first step)
    p = p - lr * (sign(m) + weight_decay * p)

With ``momentum=0`` this is plain signSGD: every coordinate moves by exactly lr.
"""
from __future__ import annotations

import numpy as np

from tinygrad_init import Optimizer, hookimpl
from tinygrad_init.validation import in_range


class SignSGD(Optimizer):
    """signSGD / Signum: step by the sign of a gradient average."""

    name = "signsgd"
    defaults = dict(lr=1e-3, momentum=0.9, weight_decay=0.0)
    # what the conformance kit builds it with (the quadratic and Rosenbrock checks)
    conformance_examples = [{"lr": 1e-2}, {"lr": 1e-2, "momentum": 0.0}]

    def validate(self, hp, component):
        hp["momentum"] = in_range(component, "momentum", hp["momentum"], 0.0, 1.0)

    def init_state(self, data):
        return {"momentum_buffer": np.zeros_like(data)}

    def update(self, p, g, state, group, step):
        mu, lr, wd = group["momentum"], group["lr"], group["weight_decay"]
        m = mu * state["momentum_buffer"] + (1.0 - mu) * g
        state["momentum_buffer"] = m  # rebind, never modify in place
        return p - lr * (np.sign(m) + wd * p)


@hookimpl
def tinygrad_init_add_optimizers():
    return {"signsgd": SignSGD}
