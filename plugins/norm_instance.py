"""Instance normalization (Ulyanov, Vedaldi & Lempitsky, 2016). Registers the norm ``instance_norm``.

``tgi.norm("instance_norm", C, eps=1e-5, affine=False, track_running_stats=False,
momentum=0.1)`` (PyTorch ``InstanceNorm2d``'s defaults) normalizes each channel of
each sample of an ``(N, C, *spatial)`` input (at least one spatial axis: ``(N, C, L)``
or ``(N, C, H, W)``) over its spatial positions::

    y = (x - mean_nc) / sqrt(var_nc + eps) * weight[c] + bias[c]

with the biased variance. ``affine=True`` learns ``weight`` (ones) and ``bias`` (zeros).
With ``track_running_stats=True`` training also updates
``running = (1 - momentum) * running + momentum * batch_stat`` where ``batch_stat`` is
the per-instance mean / *unbiased* variance averaged over the batch (what PyTorch
does), and eval mode normalizes with the running statistics; otherwise eval mode uses
the instance statistics too. ``num_batches_tracked`` counts training forwards (PyTorch
registers it but leaves it at 0 for instance norm).
"""
from __future__ import annotations

import numpy as np

import tinygrad_init as tgi
from tinygrad_init import hookimpl
from tinygrad_init.nn import Module, Parameter
from tinygrad_init.validation import in_range, integer, positive

NAME = "instance_norm"


class InstanceNorm(Module):
    """Instance normalization of ``(N, C, *spatial)`` inputs (see the module doc).

    :param num_features: ``C``, the number of channels.
    :param eps: added to the variance inside the square root (> 0).
    :param affine: learn a per-channel ``weight`` (ones) and ``bias`` (zeros).
    :param track_running_stats: keep ``running_mean``/``running_var`` and use them in eval.
    :param momentum: running-statistics momentum in ``[0, 1]`` (PyTorch convention).
    :param dtype: dtype of the parameters and running statistics.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, affine: bool = False,
                 track_running_stats: bool = False, momentum: float = 0.1, dtype=np.float32):
        super().__init__()
        self.num_features = c = integer(NAME, "num_features", num_features, minimum=1)
        self.eps = positive(NAME, "eps", eps)
        self.momentum = in_range(NAME, "momentum", momentum, 0.0, 1.0, hi_closed=True)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        dtype = np.dtype(dtype)
        self.weight = Parameter(np.ones(c, dtype)) if self.affine else None
        self.bias = Parameter(np.zeros(c, dtype)) if self.affine else None
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(c, dtype))
            self.register_buffer("running_var", np.ones(c, dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))

    def forward(self, x):
        x = x if isinstance(x, tgi.Tensor) else tgi.Tensor(x)
        if x.ndim < 2 or x.shape[1] != self.num_features:
            got = x.shape[1] if x.ndim >= 2 else "no channel axis"
            raise ValueError(f"{NAME}(num_features={self.num_features}): expected {self.num_features} "
                             f"channels in input of shape {tuple(x.shape)} (N, C, *spatial), got {got}")
        if x.ndim < 3:
            raise ValueError(f"{NAME}(num_features={self.num_features}): expected an input of shape "
                             f"(N, C, *spatial) with at least one spatial axis, got {tuple(x.shape)}")
        axes = tuple(range(2, x.ndim))
        shape = (1, self.num_features) + (1,) * (x.ndim - 2)
        if self.training or not self.track_running_stats:
            n = int(np.prod(x.shape[2:]))  # values per instance
            if n <= 1:
                raise ValueError(f"{NAME}(num_features={self.num_features}): Expected more than 1 "
                                 f"spatial element when training, got input of shape {tuple(x.shape)}")
            mean = x.mean(axis=axes, keepdims=True)
            centered = x - mean
            var = (centered * centered).mean(axis=axes, keepdims=True)  # biased, as np.var
            if self.training and self.track_running_stats:
                m = self.momentum
                count = int(self.num_batches_tracked) + 1
                self.num_batches_tracked[...] = count
                bm = mean.data.reshape(x.shape[0], -1).mean(axis=0)
                bv = (var.data.reshape(x.shape[0], -1) * (n / (n - 1))).mean(axis=0)
                self.running_mean[...] = (1.0 - m) * self.running_mean + m * bm
                self.running_var[...] = (1.0 - m) * self.running_var + m * bv
        else:
            centered = x - tgi.Tensor(self.running_mean.reshape(shape).astype(x.dtype))
            var = tgi.Tensor(self.running_var.reshape(shape).astype(x.dtype))
        scale = 1.0 / (var + self.eps).sqrt()
        if self.affine:
            scale = scale * self.weight.reshape(*shape)
        y = centered * scale
        return y + self.bias.reshape(*shape) if self.affine else y

    def example_input_shapes(self, batch: int = 4) -> list[tuple[int, ...]]:
        return [(batch, self.num_features, 3), (batch, self.num_features, 2, 3)]

    def normalization_groups(self, y: np.ndarray) -> np.ndarray:
        """Rows of ``y`` (input-shaped) that are each normalized together: one per (sample, channel)."""
        y = np.asarray(y)
        return y.reshape(y.shape[0] * self.num_features, -1)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


InstanceNorm.conformance_examples = [{}, {"affine": True, "track_running_stats": True}]


@hookimpl
def tinygrad_init_add_norms():
    return {NAME: InstanceNorm}
