"""Registers the optimizer ``rmsprop`` (PyTorch's ``torch.optim.RMSprop``).

Update::

    g  = grad + weight_decay * p
    v  = alpha * v + (1 - alpha) * g * g
    if centered:  gbar = alpha * gbar + (1 - alpha) * g;  d = sqrt(v - gbar * gbar) + eps
    else:         d = sqrt(v) + eps                      (eps outside the square root)
    if momentum > 0:  b = momentum * b + g / d;  p = p - lr * b
    else:             p = p - lr * g / d

Defaults: lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False.
``v``, ``gbar`` and ``b`` start at 0 (no bias correction).
"""
from __future__ import annotations

import numpy as np

from tinygrad_init import Optimizer, hookimpl
from tinygrad_init.validation import fail, in_range, nonnegative, positive


class RMSprop(Optimizer):
    """RMSprop: divide by the root of an exponentially weighted average of squared gradients."""

    name = "rmsprop"
    defaults = dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False)
    conformance_examples = [{"lr": 1e-2}, {"lr": 1e-3, "momentum": 0.9, "centered": True}]

    def validate(self, hp, component):
        hp["alpha"] = in_range(component, "alpha", hp["alpha"], 0.0, 1.0)
        hp["eps"] = positive(component, "eps", hp["eps"])
        hp["momentum"] = nonnegative(component, "momentum", hp["momentum"])
        if not isinstance(hp["centered"], bool):
            fail(component, "centered", hp["centered"], "True or False", TypeError)

    def init_state(self, data):
        return {"square_avg": np.zeros_like(data), "grad_avg": np.zeros_like(data),
                "momentum_buffer": np.zeros_like(data)}

    def update(self, p, g, state, group, step):
        a, eps, mu = group["alpha"], group["eps"], group["momentum"]
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        v = a * state["square_avg"] + (1.0 - a) * (g * g)
        state["square_avg"] = v
        if group["centered"]:
            gbar = a * state["grad_avg"] + (1.0 - a) * g
            state["grad_avg"] = gbar
            d = np.sqrt(v - gbar * gbar) + eps
        else:
            d = np.sqrt(v) + eps
        if mu > 0:
            b = mu * state["momentum_buffer"] + g / d
            state["momentum_buffer"] = b
            return p - group["lr"] * b
        return p - group["lr"] * (g / d)


@hookimpl
def tinygrad_init_add_optimizers():
    return {"rmsprop": RMSprop}
