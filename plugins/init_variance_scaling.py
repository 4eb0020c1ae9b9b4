"""Variance-scaled initializers: Glorot/Xavier, He/Kaiming, LeCun, the CS231n
1/sqrt(n) calibration, and Keras's general ``variance_scaling``.

Registers (hook ``tinygrad_init_add_initializers``). Fans follow PyTorch's layout
``(out, in, *kernel)``: ``fan_in = shape[1]*prod(shape[2:])``,
``fan_out = shape[0]*prod(shape[2:])``, ``fan_avg = (fan_in + fan_out)/2``;
``mode`` picks one of them (``n`` below).

- ``xavier_uniform(gain=1, mode="fan_avg")``       U(-b, b), b = gain*sqrt(3/n)
- ``xavier_normal(gain=1, mode="fan_avg")``        N(0, gain^2/n)
- ``kaiming_uniform(a=0, mode="fan_in", nonlinearity="leaky_relu", gain=None)``
                                                   U(-b, b), b = gain*sqrt(3/n)
- ``kaiming_normal(a=0, mode="fan_in", nonlinearity="leaky_relu", gain=None)``
                                                   N(0, gain^2/n)
- ``lecun_uniform(gain=1, mode="fan_in")``         U(-b, b), b = gain*sqrt(3/n)
- ``lecun_normal(gain=1, mode="fan_in")``          N(0, gain^2/n) truncated at 2 sd (Keras, JAX)
- ``calibrated_normal(gain=1, mode="fan_in")``     randn(shape) * gain / sqrt(n)
- ``variance_scaling(scale=1, mode="fan_in", distribution="truncated_normal")``
                                                   Keras: variance scale/n

With fan_avg, ``xavier_uniform``'s bound is ``gain*sqrt(6/(fan_in+fan_out))`` and
``xavier_normal``'s std ``gain*sqrt(2/(fan_in+fan_out))`` (Glorot & Bengio 2010).
Kaiming's gain is ``calculate_gain(nonlinearity, a)`` unless ``gain`` is given:
PyTorch's defaults ``a=0, nonlinearity="leaky_relu"`` give sqrt(2) (He et al. 2015).
``variance_scaling`` has Keras's semantics: ``truncated_normal`` draws
N(0, s^2) truncated at +-2s with s = sqrt(scale/n)/0.87962566103423978 (the std of a
standard normal truncated at +-2), so the variance is exactly scale/n;
``untruncated_normal`` N(0, scale/n); ``uniform`` U(+-sqrt(3*scale/n)).

Keras's names are accepted with Keras's definitions (no hyperparameters, as in Keras):
``he_normal`` = ``variance_scaling(2, "fan_in", "truncated_normal")``, ``he_uniform`` =
``variance_scaling(2, "fan_in", "uniform")``, ``glorot_normal`` =
``variance_scaling(1, "fan_avg", "truncated_normal")``, ``glorot_uniform`` =
``variance_scaling(1, "fan_avg", "uniform")``; ``lecun_normal`` and ``lecun_uniform`` are
Keras's (and JAX's) too.
"""
from __future__ import annotations

import math

import numpy as np

from tinygrad_init import Initializer, calculate_gain, hookimpl
from tinygrad_init.init import FAN_MODES, GAIN_NONLINEARITIES, fan
from tinygrad_init.validation import nonnegative, number, one_of, positive

DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")
TRUNC_STD_CORRECTION = 0.87962566103423978  # std of N(0, 1) truncated to [-2, 2]


class _Scaled(Initializer):
    """Shared: ``std(shape) = gain / sqrt(fan(mode))``; uniform or normal around it."""

    min_ndim = 2
    uniform = False
    truncated = False  # normal truncated at +-2 sd, the sd corrected so the variance is std^2
    default_mode = "fan_in"

    def _set(self, gain: float, mode: str) -> None:
        self.gain = nonnegative(self.name, "gain", gain)
        self.mode = one_of(self.name, "mode", mode, FAN_MODES)

    def fan(self, shape) -> float:
        return fan(shape, self.mode, self.name)

    def std(self, shape) -> float:
        return self.gain / math.sqrt(self.fan(shape))

    def sample(self, shape, rng):
        std = self.std(shape)
        if self.uniform:
            bound = math.sqrt(3.0) * std
            return rng.uniform(-bound, bound, size=shape)
        if self.truncated:
            out = np.empty(math.prod(shape))
            filled = 0
            while filled < out.size:  # rejection from N(0, 1) on [-2, 2]: ~95% accepted
                need = out.size - filled
                z = rng.standard_normal(int(need * 1.1) + 16)
                z = z[np.abs(z) <= 2.0][:need]
                out[filled:filled + z.size] = z
                filled += z.size
            return (std / TRUNC_STD_CORRECTION * out).reshape(shape)
        return rng.normal(0.0, std, size=shape)

    def expected(self, shape):
        std = self.std(shape)
        if self.uniform:
            bound = math.sqrt(3.0) * std
            return {"mean": 0.0, "var": std ** 2, "low": -bound, "high": bound}
        if self.truncated:
            s = std / TRUNC_STD_CORRECTION
            return {"mean": 0.0, "var": std ** 2, "low": -2 * s, "high": 2 * s}
        return {"mean": 0.0, "var": std ** 2, "low": None, "high": None}


class XavierUniform(_Scaled):
    """Glorot uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)) (mode fan_avg)."""

    name = "xavier_uniform"
    uniform = True
    conformance_examples = [{}, {"gain": 2.0, "mode": "fan_in"}]

    def __init__(self, gain: float = 1.0, mode: str = "fan_avg"):
        self._set(gain, mode)


class XavierNormal(_Scaled):
    """Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)) (mode fan_avg)."""

    name = "xavier_normal"
    conformance_examples = [{}, {"gain": 5 / 3, "mode": "fan_out"}]

    def __init__(self, gain: float = 1.0, mode: str = "fan_avg"):
        self._set(gain, mode)


class KaimingUniform(_Scaled):
    """He uniform: U(-b, b), b = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).

    PyTorch's defaults: ``a=0``, ``mode="fan_in"``, ``nonlinearity="leaky_relu"``
    (so gain = sqrt(2 / (1 + 0^2)) = sqrt(2)). ``gain=`` overrides the computed gain.
    ``kaiming_uniform(a=math.sqrt(5))`` is PyTorch's default ``Linear``/``Conv`` weight
    init: b = 1/sqrt(fan_in).
    """

    name = "kaiming_uniform"
    uniform = True
    conformance_examples = [{}, {"a": math.sqrt(5)}, {"mode": "fan_out", "nonlinearity": "relu"}]

    def __init__(self, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                 gain: float | None = None):
        self.a = number(self.name, "a", a)
        self.nonlinearity = one_of(self.name, "nonlinearity", nonlinearity, GAIN_NONLINEARITIES)
        self._set(calculate_gain(nonlinearity, self.a) if gain is None else gain, mode)


class KaimingNormal(KaimingUniform):
    """He normal: N(0, std^2), std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a)."""

    name = "kaiming_normal"
    uniform = False
    conformance_examples = [{}, {"nonlinearity": "tanh", "mode": "fan_avg"}]


class LecunUniform(_Scaled):
    """LeCun uniform: U(-b, b), b = gain * sqrt(3 / fan_in) (variance gain^2/fan_in)."""

    name = "lecun_uniform"
    uniform = True
    conformance_examples = [{}]

    def __init__(self, gain: float = 1.0, mode: str = "fan_in"):
        self._set(gain, mode)


class LecunNormal(_Scaled):
    """LeCun normal as in Keras and JAX: variance gain^2 / fan_in, a normal truncated at
    +-2 sd (sd = gain / sqrt(fan_in) / 0.87962566103423978); ``gain=1`` is
    ``variance_scaling(1.0, "fan_in", "truncated_normal")``. The untruncated
    N(0, 1/fan_in) is ``calibrated_normal``."""

    name = "lecun_normal"
    truncated = True
    conformance_examples = [{}, {"gain": 2.0, "mode": "fan_avg"}]

    def __init__(self, gain: float = 1.0, mode: str = "fan_in"):
        self._set(gain, mode)


class CalibratedNormal(_Scaled):
    """CS231n's variance calibration: w = randn(shape) * gain / sqrt(fan_in).

    Keeps the variance of a linear unit's output equal to that of its input.
    """

    name = "calibrated_normal"
    conformance_examples = [{}]

    def __init__(self, gain: float = 1.0, mode: str = "fan_in"):
        self._set(gain, mode)

    def sample(self, shape, rng):
        return rng.standard_normal(size=shape) * (self.gain / math.sqrt(self.fan(shape)))


class VarianceScaling(_Scaled):
    """Keras ``VarianceScaling``: variance ``scale / n``, n the fan ``mode`` selects.

    - ``truncated_normal``: N(0, s^2) truncated to [-2s, 2s] with
      s = sqrt(scale / n) / 0.87962566103423978, so the variance is scale / n;
    - ``untruncated_normal``: N(0, scale / n);
    - ``uniform``: U(-l, l), l = sqrt(3 * scale / n).

    ``scale`` plays the role of gain^2 (``scale=2`` is He).
    """

    name = "variance_scaling"
    conformance_examples = [{}, {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"},
                            {"scale": 0.5, "mode": "fan_out", "distribution": "untruncated_normal"}]

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal"):
        self.scale = positive(self.name, "scale", scale)
        self.distribution = one_of(self.name, "distribution", distribution, DISTRIBUTIONS)
        self._set(math.sqrt(self.scale), mode)
        self.uniform = self.distribution == "uniform"
        self.truncated = self.distribution == "truncated_normal"

    def __repr__(self):
        return (f"variance_scaling(scale={self.scale!r}, mode={self.mode!r}, "
                f"distribution={self.distribution!r})")


class _KerasName(VarianceScaling):
    """A Keras initializer by its Keras name: ``variance_scaling`` with Keras's arguments
    (``keras``), taking no hyperparameters, as Keras's own (whose only argument is a seed)."""

    keras: tuple = ()
    conformance_examples = [{}]

    def __init__(self):
        super().__init__(*self.keras)

    def __repr__(self):
        return f"{self.name}()"


class HeNormal(_KerasName):
    """Keras ``HeNormal``: ``variance_scaling(2, "fan_in", "truncated_normal")``."""
    name, keras = "he_normal", (2.0, "fan_in", "truncated_normal")


class HeUniform(_KerasName):
    """Keras ``HeUniform``: ``variance_scaling(2, "fan_in", "uniform")`` (= ``kaiming_uniform(nonlinearity="relu")``)."""
    name, keras = "he_uniform", (2.0, "fan_in", "uniform")


class GlorotNormal(_KerasName):
    """Keras ``GlorotNormal``: ``variance_scaling(1, "fan_avg", "truncated_normal")``."""
    name, keras = "glorot_normal", (1.0, "fan_avg", "truncated_normal")


class GlorotUniform(_KerasName):
    """Keras ``GlorotUniform``: ``variance_scaling(1, "fan_avg", "uniform")`` (= ``xavier_uniform()``)."""
    name, keras = "glorot_uniform", (1.0, "fan_avg", "uniform")


@hookimpl
def tinygrad_init_add_initializers():
    return {"xavier_uniform": XavierUniform, "xavier_normal": XavierNormal,
            "kaiming_uniform": KaimingUniform, "kaiming_normal": KaimingNormal,
            "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
            "calibrated_normal": CalibratedNormal, "variance_scaling": VarianceScaling,
            "he_normal": HeNormal, "he_uniform": HeUniform, "glorot_normal": GlorotNormal,
            "glorot_uniform": GlorotUniform}
