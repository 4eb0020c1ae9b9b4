"""Registers the optimizers ``adamax``, ``nadam`` and ``radam`` (PyTorch's
``torch.optim.Adamax``/``NAdam``/``RAdam``). ``t`` is the 1-based step.

adamax (lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)::

    g = grad + weight_decay * p
    m = beta1 * m + (1 - beta1) * g
    u = max(beta2 * u, |g| + eps)
    p = p - lr / (1 - beta1**t) * m / u

nadam (lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3)::

    g    = grad + weight_decay * p
    mu_t = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay));  mu_{t+1} likewise
    prod = prod * mu_t                            (prod_0 = 1, kept in the state)
    m    = beta1 * m + (1 - beta1) * g
    v    = beta2 * v + (1 - beta2) * g * g
    d    = sqrt(v / (1 - beta2**t)) + eps
    p    = p - lr * (1 - mu_t) / (1 - prod) * g / d
           - lr * mu_{t+1} / (1 - prod * mu_{t+1}) * m / d

radam (lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)::

    g      = grad + weight_decay * p
    m, v   as in adam;  mhat = m / (1 - beta1**t)
    rho_inf = 2 / (1 - beta2) - 1
    rho_t  = rho_inf - 2 t beta2**t / (1 - beta2**t)
    if rho_t > 5:
        r  = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        p  = p - lr * mhat * r * sqrt(1 - beta2**t) / (sqrt(v) + eps)
    else:
        p  = p - lr * mhat                        (un-adapted momentum step)
"""
from __future__ import annotations

import math

import numpy as np

from tinygrad_init import Optimizer, hookimpl
from tinygrad_init.validation import betas, nonnegative, positive


def _betas(component, hp):
    hp["betas"] = betas(component, hp["betas"])
    hp["eps"] = positive(component, "eps", hp["eps"])


class Adamax(Optimizer):
    """Adamax: Adam with the infinity norm in place of the root mean square."""

    name = "adamax"
    defaults = dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    conformance_examples = [{"lr": 0.1}, {"lr": 0.1, "weight_decay": 1e-4}]

    def validate(self, hp, component):
        _betas(component, hp)

    def init_state(self, data):
        return {"exp_avg": np.zeros_like(data), "exp_inf": np.zeros_like(data)}

    def update(self, p, g, state, group, step):
        (b1, b2), eps = group["betas"], group["eps"]
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        m = b1 * state["exp_avg"] + (1.0 - b1) * g
        u = np.maximum(b2 * state["exp_inf"], np.abs(g) + eps)
        state["exp_avg"], state["exp_inf"] = m, u
        return p - group["lr"] / (1.0 - b1 ** step) * (m / u)


class NAdam(Optimizer):
    """NAdam: Adam with Nesterov momentum and Dozat's momentum-decay schedule mu_t."""

    name = "nadam"
    defaults = dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3)
    conformance_examples = [{"lr": 1e-2}, {"lr": 1e-2, "weight_decay": 1e-4, "momentum_decay": 1e-2}]

    def validate(self, hp, component):
        _betas(component, hp)
        hp["momentum_decay"] = nonnegative(component, "momentum_decay", hp["momentum_decay"])

    def init_state(self, data):
        return {"exp_avg": np.zeros_like(data), "exp_avg_sq": np.zeros_like(data),
                "mu_product": np.ones((), dtype=np.float64)}

    def update(self, p, g, state, group, step):
        lr, (b1, b2), eps, psi = group["lr"], group["betas"], group["eps"], group["momentum_decay"]
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        mu = b1 * (1.0 - 0.5 * 0.96 ** (step * psi))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
        prod = float(state["mu_product"]) * mu
        state["mu_product"] = np.array(prod, dtype=np.float64)
        m = b1 * state["exp_avg"] + (1.0 - b1) * g
        v = b2 * state["exp_avg_sq"] + (1.0 - b2) * (g * g)
        state["exp_avg"], state["exp_avg_sq"] = m, v
        d = np.sqrt(v / (1.0 - b2 ** step)) + eps
        p = p - (lr * (1.0 - mu) / (1.0 - prod)) * (g / d)
        return p - (lr * mu_next / (1.0 - prod * mu_next)) * (m / d)


class RAdam(Optimizer):
    """RAdam: Adam whose adaptive step is rectified by the variance term r_t (threshold 5)."""

    name = "radam"
    defaults = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    conformance_examples = [{"lr": 1e-2}, {"lr": 1e-2, "weight_decay": 1e-4}]

    def validate(self, hp, component):
        _betas(component, hp)

    def init_state(self, data):
        return {"exp_avg": np.zeros_like(data), "exp_avg_sq": np.zeros_like(data)}

    def update(self, p, g, state, group, step):
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        m = b1 * state["exp_avg"] + (1.0 - b1) * g
        v = b2 * state["exp_avg_sq"] + (1.0 - b2) * (g * g)
        state["exp_avg"], state["exp_avg_sq"] = m, v
        bc2 = 1.0 - b2 ** step
        mhat = m / (1.0 - b1 ** step)
        rho_inf = 2.0 / (1.0 - b2) - 1.0
        rho_t = rho_inf - 2.0 * step * (b2 ** step) / bc2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            return p - mhat * lr * (math.sqrt(bc2) / (np.sqrt(v) + eps)) * rect
        return p - mhat * lr


@hookimpl
def tinygrad_init_add_optimizers():
    return {"adamax": Adamax, "nadam": NAdam, "radam": RAdam}
