"""Registers the optimizers ``adam`` and ``adamw`` (PyTorch's ``torch.optim.Adam``/``AdamW``).

Adam at step ``t`` (1-based)::

    g  = grad + weight_decay * p        (adam: L2 coupled into the gradient)
    p  = p * (1 - lr * weight_decay)    (adamw instead: decoupled decay, before the step)
    m  = beta1 * m + (1 - beta1) * g
    v  = beta2 * v + (1 - beta2) * g * g
    vmax = max(vmax, v);  v' = vmax if amsgrad else v
    p  = p - lr / (1 - beta1**t) * m / (sqrt(v') / sqrt(1 - beta2**t) + eps)

eps is added *outside* the square root and *after* the bias correction of ``v``.
``bias_correction=False`` drops both ``1 - beta**t`` factors (then Adam with
``beta1=0`` is exactly RMSprop with ``alpha=beta2``).

Defaults: adam lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
amsgrad=False; adamw the same but weight_decay=1e-2.
"""
from __future__ import annotations

import math

import numpy as np

from tinygrad_init import Optimizer, hookimpl
from tinygrad_init.validation import betas, fail, positive


def _flag(component, name, value):
    if not isinstance(value, bool):
        fail(component, name, value, "True or False", TypeError)
    return value


class Adam(Optimizer):
    """Adam (optionally AMSGrad) with L2 weight decay added to the gradient."""

    name = "adam"
    decoupled = False
    defaults = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                    bias_correction=True)
    conformance_examples = [{"lr": 1e-2}, {"lr": 1e-2, "amsgrad": True, "weight_decay": 1e-4}]

    def validate(self, hp, component):
        hp["betas"] = betas(component, hp["betas"])
        hp["eps"] = positive(component, "eps", hp["eps"])
        _flag(component, "amsgrad", hp["amsgrad"])
        _flag(component, "bias_correction", hp["bias_correction"])

    def init_state(self, data):
        return {"exp_avg": np.zeros_like(data), "exp_avg_sq": np.zeros_like(data),
                "max_exp_avg_sq": np.zeros_like(data)}

    def update(self, p, g, state, group, step):
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if wd != 0:
            if self.decoupled:
                p = p * (1.0 - lr * wd)
            else:
                g = g + wd * p
        m = b1 * state["exp_avg"] + (1.0 - b1) * g
        v = b2 * state["exp_avg_sq"] + (1.0 - b2) * (g * g)
        state["exp_avg"], state["exp_avg_sq"] = m, v
        if group["amsgrad"]:
            v = np.maximum(state["max_exp_avg_sq"], v)
            state["max_exp_avg_sq"] = v
        if group["bias_correction"]:
            step_size = lr / (1.0 - b1 ** step)
            denom = np.sqrt(v) / math.sqrt(1.0 - b2 ** step) + eps
        else:
            step_size, denom = lr, np.sqrt(v) + eps
        return p - step_size * (m / denom)


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay ``p *= 1 - lr * weight_decay``."""

    name = "adamw"
    decoupled = True
    defaults = {**Adam.defaults, "weight_decay": 1e-2}
    conformance_examples = [{"lr": 1e-2}, {"lr": 1e-2, "amsgrad": True}]


@hookimpl
def tinygrad_init_add_optimizers():
    return {"adam": Adam, "adamw": AdamW}
