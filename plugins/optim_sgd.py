"""Registers the optimizer ``sgd``: stochastic gradient descent with momentum.

PyTorch's ``torch.optim.SGD`` update (``momentum_form="pytorch"``, the default)::

    g = grad + weight_decay * p
    v = g                                   (first step)
    v = momentum * v + (1 - dampening) * g  (later steps)
    g = g + momentum * v  if nesterov else  v
    p = p - lr * g

The course's momentum as an exponentially weighted average
(``momentum_form="ewa"``, ``v_0 = 0``, no bias correction)::

    g = grad + weight_decay * p
    v = momentum * v + (1 - momentum) * g
    p = p - lr * ((1 - momentum) * g + momentum * v  if nesterov else  v)

With ``v_0 = 0`` the EWA velocity is exactly ``(1 - momentum)`` times PyTorch's
(dampening 0) buffer at every step, so EWA with ``lr / (1 - momentum)`` follows
PyTorch with ``lr`` (up to float rounding). Plain and mini-batch SGD are
``momentum=0``: the batch only decides which gradient you pass in.
"""
from __future__ import annotations

import numpy as np

from tinygrad_init import Optimizer, hookimpl
from tinygrad_init.validation import fail, nonnegative, one_of


class SGD(Optimizer):
    """SGD with optional (Nesterov) momentum; see the module docstring for the update."""

    name = "sgd"
    defaults = dict(lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0,
                    momentum_form="pytorch")
    conformance_examples = [{"lr": 1.5e-3}, {"lr": 1e-3, "momentum": 0.9, "nesterov": True},
                            {"lr": 1e-2, "momentum": 0.9, "momentum_form": "ewa", "weight_decay": 1e-4}]

    def validate(self, hp, component):
        hp["momentum"] = nonnegative(component, "momentum", hp["momentum"])
        hp["dampening"] = nonnegative(component, "dampening", hp["dampening"])
        hp["momentum_form"] = one_of(component, "momentum_form", hp["momentum_form"], ("pytorch", "ewa"))
        if not isinstance(hp["nesterov"], bool):
            fail(component, "nesterov", hp["nesterov"], "True or False", TypeError)
        if hp["nesterov"] and (hp["momentum"] <= 0 or hp["dampening"] != 0):
            fail(component, "nesterov", True, "used with momentum > 0 and dampening = 0")
        if hp["momentum_form"] == "ewa":
            if hp["momentum"] >= 1:
                fail(component, "momentum", hp["momentum"], "in [0, 1) with momentum_form='ewa'")
            if hp["dampening"] != 0:
                fail(component, "dampening", hp["dampening"], "0 with momentum_form='ewa'")

    def init_state(self, data):
        return {"momentum_buffer": np.zeros_like(data)}

    def update(self, p, g, state, group, step):
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd != 0:
            g = g + wd * p
        if mu != 0:
            if group["momentum_form"] == "ewa":
                v = mu * state["momentum_buffer"] + (1.0 - mu) * g
                g = (1.0 - mu) * g + mu * v if group["nesterov"] else v
            elif step == 1:
                v = np.array(g)
            else:  # v = mu * buf + (1 - dampening) * g, built in a new array (never in place)
                v = mu * state["momentum_buffer"]
                v += g if group["dampening"] == 0 else (1.0 - group["dampening"]) * g
            if group["momentum_form"] != "ewa":
                g = g + mu * v if group["nesterov"] else v
            state["momentum_buffer"] = v
        step_ = np.asarray(lr * g)  # a new array: subtract into it, not allocate p - lr*g
        return np.subtract(p, step_, out=step_)


    def update_(self, p, g, state, group, step):
        """``update`` in place (the momentum buffer and ``p``), bit for bit the same result."""
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd != 0:
            g = g + wd * p
        if mu != 0:
            v = state["momentum_buffer"]
            if group["momentum_form"] == "ewa":
                v *= mu
                v += (1.0 - mu) * g
                g = (1.0 - mu) * g + mu * v if group["nesterov"] else v
            else:
                if step == 1:
                    v[...] = g
                else:
                    v *= mu
                    v += g if group["dampening"] == 0 else (1.0 - group["dampening"]) * g
                g = g + mu * v if group["nesterov"] else v
        p -= lr * g


@hookimpl
def tinygrad_init_add_optimizers():
    return {"sgd": SGD}
