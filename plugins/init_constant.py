"""Constant initializers: ``zeros``, ``ones``, ``constant(value)``.

Registers (hook ``tinygrad_init_add_initializers``):

- ``zeros``            w = 0 everywhere (the default bias initializer)
- ``ones``             w = 1 everywhere
- ``constant(value)``  w = value everywhere; ``constant(value=0.01)`` is the
  "small positive bias" variant some use in front of ReLUs so that every unit
  starts active.

Used for *weights*, every one of these fails to break symmetry: all units of a
layer compute the same function and receive the same gradient, so they stay
identical through training (``tests/test_init.py`` shows it on a 2-layer MLP).
They draw no random numbers (``uses_rng = False``).
"""
from __future__ import annotations

import numpy as np

from tinygrad_init import Initializer, hookimpl
from tinygrad_init.validation import number


class Constant(Initializer):
    """w[i] = value for every entry. Mean ``value``, variance 0."""

    name = "constant"
    uses_rng = False
    conformance_examples = [{"value": 0.5}, {"value": -2.0}, {"value": 0.01}]

    def __init__(self, value: float = 0.0):
        self.value = number(self.name, "value", value)

    def sample(self, shape, rng):
        return np.full(shape, self.value, dtype=np.float64)

    def expected(self, shape):
        return {"mean": self.value, "var": 0.0, "low": self.value, "high": self.value}


class Zeros(Constant):
    """w[i] = 0 for every entry."""

    name = "zeros"
    conformance_examples = [{}]

    def __init__(self):
        super().__init__(0.0)

    def __repr__(self):
        return "zeros()"


class Ones(Constant):
    """w[i] = 1 for every entry."""

    name = "ones"
    conformance_examples = [{}]

    def __init__(self):
        super().__init__(1.0)

    def __repr__(self):
        return "ones()"


@hookimpl
def tinygrad_init_add_initializers():
    return {"zeros": Zeros, "ones": Ones, "constant": Constant}
