"""Batch normalization (Ioffe & Szegedy, 2015). Registers the norm ``batch_norm``.

``tgi.norm("batch_norm", C, eps=1e-5, momentum=0.1, affine=True,
track_running_stats=True, momentum_form="pytorch")`` normalizes an input of shape
``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)`` over every axis but the channel axis 1,
exactly as PyTorch's ``BatchNorm1d``/``BatchNorm2d``::

    y = (x - mean) / sqrt(var + eps) * weight + bias

Training mode uses the statistics of the batch (``var`` biased, divided by ``n``,
the number of values per channel) and updates the running statistics:

* ``momentum_form="pytorch"`` (default, ``momentum=0.1``):
  ``running = (1 - momentum) * running + momentum * batch``, with the *unbiased*
  batch variance ``var * n / (n - 1)`` going into ``running_var``.
* ``momentum=None``: cumulative moving average, ``momentum = 1 / num_batches_tracked``
  (PyTorch's convention; the running stats are then the plain average over batches).
* ``momentum_form="keras"`` (default ``momentum=0.99``):
  ``running = momentum * running + (1 - momentum) * batch``, with the *biased* batch
  variance, as ``keras.layers.BatchNormalization`` does. Same update as PyTorch's with
  ``keras_momentum = 1 - torch_momentum`` except for the variance's ``n / (n - 1)``.
  (Keras's ``epsilon`` defaults to ``1e-3``: pass ``eps=1e-3`` to match Keras fully.)

Eval mode normalizes with ``running_mean``/``running_var``; without running
statistics (``track_running_stats=False``) it uses the batch statistics, like PyTorch.
Buffers ``running_mean`` (zeros), ``running_var`` (ones) and ``num_batches_tracked``
(int64 counter of training forwards) are saved by ``state_dict()``.
"""
from __future__ import annotations

import numpy as np

import tinygrad_init as tgi
from tinygrad_init import hookimpl
from tinygrad_init.nn import Module, Parameter
from tinygrad_init.validation import in_range, integer, one_of, positive

NAME = "batch_norm"
_MOMENTUM_DEFAULTS = {"pytorch": 0.1, "keras": 0.99}


class _Default:
    """Marks an argument left out; ``momentum`` then defaults per ``momentum_form``."""

    def __repr__(self) -> str:
        return "<default: 0.1 (pytorch) or 0.99 (keras)>"


DEFAULT = _Default()


class BatchNorm(Module):
    """Batch normalization over axis 1 of ``(N, C, *spatial)`` inputs (see the module doc).

    :param num_features: ``C``, the number of channels.
    :param eps: added to the variance inside the square root (> 0).
    :param momentum: running-statistics momentum in ``[0, 1]``, or ``None`` for a
        cumulative moving average. Default 0.1 (``pytorch``) or 0.99 (``keras``).
    :param affine: learn ``weight`` (gamma, ones) and ``bias`` (beta, zeros).
    :param track_running_stats: keep ``running_mean``/``running_var`` buffers.
    :param momentum_form: ``"pytorch"`` or ``"keras"``: which way momentum weighs.
    :param dtype: dtype of the parameters and running statistics.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=DEFAULT, affine: bool = True,
                 track_running_stats: bool = True, momentum_form: str = "pytorch", dtype=np.float32):
        super().__init__()
        self.num_features = integer(NAME, "num_features", num_features, minimum=1)
        self.eps = positive(NAME, "eps", eps)
        self.momentum_form = one_of(NAME, "momentum_form", momentum_form, ("pytorch", "keras"))
        if momentum is DEFAULT:
            momentum = _MOMENTUM_DEFAULTS[momentum_form]
        self.momentum = None if momentum is None else in_range(NAME, "momentum", momentum, 0.0, 1.0,
                                                               hi_closed=True)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        dtype = np.dtype(dtype)
        c = self.num_features
        self.weight = Parameter(np.ones(c, dtype)) if self.affine else None
        self.bias = Parameter(np.zeros(c, dtype)) if self.affine else None
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(c, dtype))
            self.register_buffer("running_var", np.ones(c, dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))

    def _check(self, x) -> None:
        if x.ndim < 2 or x.shape[1] != self.num_features:
            got = x.shape[1] if x.ndim >= 2 else "no channel axis"
            raise ValueError(f"{NAME}(num_features={self.num_features}): expected {self.num_features} "
                             f"channels in input of shape {tuple(x.shape)} (N, C, *spatial), got {got}")

    def forward(self, x):
        x = x if isinstance(x, tgi.Tensor) else tgi.Tensor(x)
        self._check(x)
        axes = (0, *range(2, x.ndim))
        shape = (1, self.num_features) + (1,) * (x.ndim - 2)
        if self.training or not self.track_running_stats:
            n = x.size // self.num_features
            if n <= 1:
                if x.shape[0] == 0:
                    raise ValueError(f"{NAME}(num_features={self.num_features}): got an empty batch, input "
                                     f"of shape {tuple(x.shape)}")
                raise ValueError(f"{NAME}(num_features={self.num_features}): Expected more than 1 value "
                                 f"per channel when training, got input of shape {tuple(x.shape)}, a batch "
                                 "of one sample; when it is the last batch of an epoch (the training set "
                                 "is one sample more than a multiple of batch_size), choose another "
                                 "batch_size or drop the last batch (drop_last=True in "
                                 "tinygrad_init.datasets.batches); otherwise use a larger batch or eval() mode")
            mean = x.mean(axis=axes, keepdims=True)
            centered = x - mean
            var = (centered * centered).mean(axis=axes, keepdims=True)  # biased, as np.var
            if self.training and self.track_running_stats:
                self._update(mean.data.reshape(-1), var.data.reshape(-1), n)
        else:
            centered = x - tgi.Tensor(self.running_mean.reshape(shape).astype(x.dtype))
            var = tgi.Tensor(self.running_var.reshape(shape).astype(x.dtype))
        # fold weight into the (1, C, 1, 1) scale: one full-size multiply forward and backward
        scale = 1.0 / (var + self.eps).sqrt()
        if self.affine:
            return centered * (scale * self.weight.reshape(*shape)) + self.bias.reshape(*shape)
        return centered * scale

    def _update(self, mean: np.ndarray, var: np.ndarray, n: int) -> None:
        count = int(self.num_batches_tracked) + 1
        self.num_batches_tracked[...] = count
        if self.momentum is None:
            factor = 1.0 / count  # cumulative moving average
        else:
            factor = self.momentum if self.momentum_form == "pytorch" else 1.0 - self.momentum
        if self.momentum_form == "pytorch":
            var = var * (n / (n - 1))  # the running variance is the unbiased one
        self.running_mean[...] = (1.0 - factor) * self.running_mean + factor * mean
        self.running_var[...] = (1.0 - factor) * self.running_var + factor * var

    def example_input_shapes(self, batch: int = 4) -> list[tuple[int, ...]]:
        return [(batch, self.num_features), (batch, self.num_features, 2, 3)]

    def normalization_groups(self, y: np.ndarray) -> np.ndarray:
        """Rows of ``y`` (input-shaped) that are each normalized together: one per channel."""
        return np.moveaxis(np.asarray(y), 1, 0).reshape(self.num_features, -1)

    def extra_repr(self) -> str:
        form = "" if self.momentum_form == "pytorch" else f", momentum_form={self.momentum_form!r}"
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}{form}")


BatchNorm.conformance_examples = [
    {}, {"momentum": None}, {"momentum_form": "keras"}, {"affine": False},
    {"track_running_stats": False},
]


@hookimpl
def tinygrad_init_add_norms():
    return {NAME: BatchNorm}
