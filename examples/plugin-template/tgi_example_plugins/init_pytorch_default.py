"""Registers the initializer ``pytorch_default``: PyTorch's default for Linear/Conv weights.

``w ~ U(-b, b)`` with ``b = 1 / sqrt(fan_in)`` (``kaiming_uniform_(a=sqrt(5))``), so
``E[w] = 0`` and ``Var[w] = b^2 / 3 = 1 / (3 fan_in)``. ``fan_in = shape[1] * prod(shape[2:])``.
"""
from __future__ import annotations

import math

from tinygrad_init import Initializer, calculate_fans, hookimpl


class PyTorchDefault(Initializer):
    """w ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""

    name = "pytorch_default"
    min_ndim = 2  # needs a fan_in

    def bound(self, shape):
        fan_in, _ = calculate_fans(shape, self.name)
        return 1.0 / math.sqrt(fan_in)

    def sample(self, shape, rng):
        b = self.bound(shape)
        return rng.uniform(-b, b, size=shape)

    def expected(self, shape):
        b = self.bound(shape)
        return {"mean": 0.0, "var": b * b / 3.0, "low": -b, "high": b}


@hookimpl
def tinygrad_init_add_initializers():
    return {"pytorch_default": PyTorchDefault}
