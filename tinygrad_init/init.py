"""Host side of initialization: the ``Initializer`` base class, fans, gains, seeding.

The initializers themselves are plugins (``plugins/init_*.py``); this module holds
what every one of them shares, so a third-party initializer is a small subclass::

    class MyUniform(tgi.Initializer):
        '''w ~ U(-c, c).'''
        name = "my_uniform"
        def __init__(self, c=1.0):
            self.c = c
        def sample(self, shape, rng):
            return rng.uniform(-self.c, self.c, size=shape)
        def expected(self, shape):
            return {"mean": 0.0, "var": self.c ** 2 / 3, "low": -self.c, "high": self.c}

Conventions (PyTorch's): weights are laid out ``(out, in, *kernel)``, so for a
shape ``s`` with at least two dimensions ``fan_in = s[1] * prod(s[2:])`` and
``fan_out = s[0] * prod(s[2:])``.
"""
from __future__ import annotations

import math
import operator
from typing import Any, Iterable

import numpy as np

__all__ = ["Initializer", "calculate_fans", "calculate_gain", "manual_seed", "GAIN_NONLINEARITIES",
           "FAN_MODES", "fan", "default_generator", "as_generator", "normalize_shape", "DEFAULT_SEED"]

# Like torch's default CPU generator, the process starts from a fixed seed, so a
# script that never seeds is still reproducible run to run.
DEFAULT_SEED = 0
_default_rng: np.random.Generator | None = None


def default_generator() -> np.random.Generator:
    """The generator used when a layer or initializer is given ``rng=None``.

    Created on first use from ``DEFAULT_SEED``; ``manual_seed(seed)`` replaces it.
    """
    global _default_rng
    if _default_rng is None:
        _default_rng = np.random.default_rng(DEFAULT_SEED)
    return _default_rng


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator (``torch.manual_seed``'s role) and return it."""
    global _default_rng
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed={seed!r} is invalid: must be an integer >= 0")
    _default_rng = np.random.default_rng(int(seed))
    return _default_rng


def as_generator(rng: Any) -> np.random.Generator:
    """``np.random.Generator`` -> itself; int seed -> a new generator; None -> default."""
    if rng is None:
        return default_generator()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng={rng!r} is invalid: a seed must be >= 0")
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {rng!r} "
                    "(np.random.RandomState is not accepted: use np.random.default_rng(seed))")


def normalize_shape(shape: Any, who: str = "initializer") -> tuple[int, ...]:
    """``3`` -> ``(3,)``; a sequence of non-negative ints -> a tuple; else ``ValueError``."""
    try:
        dims = (operator.index(shape),)
    except TypeError:
        try:
            dims = tuple(operator.index(d) for d in shape)
        except TypeError:
            raise TypeError(f"{who}: shape={shape!r} is invalid: must be an int or a sequence "
                            "of ints") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{who}: shape={shape!r} is invalid: dimensions must be >= 0")
    return dims


def calculate_fans(shape: Iterable[int], name: str = "calculate_fans") -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape`` in PyTorch's layout.

    ``fan_in = shape[1] * prod(shape[2:])``, ``fan_out = shape[0] * prod(shape[2:])``:
    a ``Linear`` weight ``(out, in)`` has fans ``(in, out)``; a ``Conv2d`` weight
    ``(out_ch, in_ch, kh, kw)`` has ``(in_ch*kh*kw, out_ch*kh*kw)``.

    :raises ValueError: for a shape with fewer than two dimensions (naming ``name``,
        the initializer that asked, and the shape).
    """
    shape = normalize_shape(shape, name)
    if len(shape) < 2:
        raise ValueError(f"{name}: fan_in and fan_out cannot be computed for shape {shape} "
                         f"({len(shape)}-D): it needs at least 2 dimensions (out, in, *kernel)")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


FAN_MODES = ("fan_in", "fan_out", "fan_avg")


def fan(shape: Iterable[int], mode: str, name: str = "fan") -> float:
    """The fan that ``mode`` (``fan_in``/``fan_out``/``fan_avg``) selects for ``shape``."""
    if mode not in FAN_MODES:
        raise ValueError(f"{name}: mode={mode!r} is invalid: must be one of "
                         + ", ".join(repr(m) for m in FAN_MODES))
    fan_in, fan_out = calculate_fans(shape, name)
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


_GAIN_ONE = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
             "conv_transpose3d", "sigmoid")
GAIN_NONLINEARITIES = _GAIN_ONE + ("tanh", "relu", "leaky_relu", "selu")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for ``nonlinearity`` (PyTorch's ``nn.init.calculate_gain``).

    ============================================  ===============================
    nonlinearity                                  gain
    ============================================  ===============================
    linear, conv{1,2,3}d, conv_transpose{1,2,3}d  1
    sigmoid                                       1
    tanh                                          5/3
    relu                                          sqrt(2)
    leaky_relu                                    sqrt(2 / (1 + slope**2)), slope = param or 0.01
    selu                                          3/4
    ============================================  ===============================

    :raises ValueError: an unknown nonlinearity (the message lists the allowed
        names) or a ``param`` for leaky_relu that is not a number.
    """
    if nonlinearity in _GAIN_ONE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, bool) or not isinstance(param, (int, float, np.integer, np.floating)) \
                or not math.isfinite(param):
            raise ValueError(f"calculate_gain: param={param!r} is invalid: the negative slope of "
                             "leaky_relu must be a finite number")
        else:
            slope = float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: nonlinearity={nonlinearity!r} is invalid: must be one of "
                     + ", ".join(GAIN_NONLINEARITIES))


class Initializer:
    """Base class of per-tensor initializers: ``init(shape, rng, dtype) -> ndarray``.

    Subclasses implement

    - ``sample(shape, rng) -> ndarray`` (float64 is fine; the base casts), drawing
      every random number from ``rng``;
    - ``expected(shape) -> {"mean", "var", "low", "high"}``: what the formula
      promises per entry (``None`` for a statistic not declared). The conformance
      kit tests the samples against it.

    and may set

    - ``name``: used in error messages (the registry name by convention);
    - ``min_ndim`` / ``max_ndim``: the shapes it accepts (e.g. 2 for fan-based
      initializers, ``max_ndim = 2`` for ``eye``); others raise ``ValueError``;
    - ``uses_rng = False`` for deterministic initializers (constants, eye, dirac).
    """

    name: str = "initializer"
    min_ndim: int = 0
    max_ndim: int | None = None
    uses_rng: bool = True

    def __call__(self, shape: Any, rng: Any = None, dtype: Any = np.float32) -> np.ndarray:
        shape = normalize_shape(shape, self.name)
        self.check_shape(shape)
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"{self.name}: dtype={dtype!r} is invalid: must be a NumPy float dtype") from None
        if not np.issubdtype(dt, np.floating):
            raise TypeError(f"{self.name}: dtype={dtype!r} is invalid: must be a floating dtype "
                            "(float32 or float64)")
        rng = as_generator(rng)
        if math.prod(shape) == 0:  # PyTorch: initializing a zero-element tensor is a no-op
            return np.zeros(shape, dtype=dt)
        out = np.asarray(self.sample(shape, rng))
        if out.shape != shape:
            raise RuntimeError(f"{self.name}: sample() returned shape {out.shape}, expected {shape}")
        return out.astype(dt, copy=False)

    def supports(self, shape: Any) -> bool:
        """Whether ``shape`` has a number of dimensions this initializer accepts."""
        n = len(normalize_shape(shape, self.name))
        return n >= self.min_ndim and (self.max_ndim is None or n <= self.max_ndim)

    def check_shape(self, shape: tuple[int, ...]) -> None:
        if self.supports(shape):
            return
        if self.max_ndim is None:
            need = f"at least {self.min_ndim}"
        elif self.max_ndim == self.min_ndim:
            need = f"exactly {self.min_ndim}"
        else:
            need = f"{self.min_ndim} to {self.max_ndim}"
        why = " (fan_in/fan_out need (out, in, *kernel))" if self.min_ndim == 2 and self.max_ndim is None else ""
        raise ValueError(f"{self.name}: shape {shape} has {len(shape)} dimension(s); "
                         f"it needs {need}{why}")

    def fans(self, shape: Any) -> tuple[int, int]:
        return calculate_fans(shape, self.name)

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement sample(shape, rng)")

    def expected(self, shape: Any) -> dict[str, float | None]:
        return {"mean": None, "var": None, "low": None, "high": None}

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{self.name}({hp})"
