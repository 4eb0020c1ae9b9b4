"""Group normalization (Wu & He, 2018). Registers the norm ``group_norm``.

``tgi.norm("group_norm", C, num_groups=None, eps=1e-5, affine=True)`` splits the
``C`` channels of an ``(N, C, *spatial)`` input into ``num_groups`` groups of
``C // num_groups`` consecutive channels and normalizes each sample's group over
its channels and spatial positions, as PyTorch's ``nn.GroupNorm(num_groups, C)``::

    y = (x - mean_group) / sqrt(var_group + eps) * weight[c] + bias[c]

with the biased variance; ``weight`` (ones) and ``bias`` (zeros) are per channel.
``num_groups`` must divide ``C``. PyTorch requires ``num_groups``; here it defaults to
the paper's ``G = 32`` clipped to a divisor: the largest divisor of ``C`` that is at
most 32 (``C = 64 -> 32``, ``C = 48 -> 24``, ``C = 6 -> 6``). ``num_groups=1`` is a
layer norm over ``(C, *spatial)``; ``num_groups=C`` an instance norm.
No running statistics: train and eval agree.
"""
from __future__ import annotations

import numpy as np

import tinygrad_init as tgi
from tinygrad_init import hookimpl
from tinygrad_init.nn import Module, Parameter
from tinygrad_init.validation import fail, integer, positive

NAME = "group_norm"
DEFAULT_GROUPS = 32


def default_num_groups(num_channels: int) -> int:
    """The largest divisor of ``num_channels`` that is at most 32."""
    return max(g for g in range(1, min(DEFAULT_GROUPS, num_channels) + 1) if num_channels % g == 0)


class GroupNorm(Module):
    """Group normalization of ``(N, C, *spatial)`` inputs (see the module doc).

    :param num_features: ``C``, the number of channels.
    :param num_groups: how many groups the channels are split into; must divide ``C``.
        ``None``: the largest divisor of ``C`` that is at most 32.
    :param eps: added to the variance inside the square root (> 0).
    :param affine: learn a per-channel ``weight`` (ones) and ``bias`` (zeros).
    :param dtype: dtype of the parameters.
    """

    def __init__(self, num_features: int, num_groups: int | None = None, eps: float = 1e-5,
                 affine: bool = True, dtype=np.float32):
        super().__init__()
        self.num_channels = integer(NAME, "num_features", num_features, minimum=1)
        if num_groups is None:
            num_groups = default_num_groups(self.num_channels)
        self.num_groups = integer(NAME, "num_groups", num_groups, minimum=1)
        if self.num_channels % self.num_groups:
            fail(NAME, "num_groups", num_groups, f"a divisor of the number of channels "
                 f"num_features={self.num_channels}")
        self.eps = positive(NAME, "eps", eps)
        self.affine = bool(affine)
        dtype = np.dtype(dtype)
        self.weight = Parameter(np.ones(self.num_channels, dtype)) if self.affine else None
        self.bias = Parameter(np.zeros(self.num_channels, dtype)) if self.affine else None

    def forward(self, x):
        x = x if isinstance(x, tgi.Tensor) else tgi.Tensor(x)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            got = x.shape[1] if x.ndim >= 2 else "no channel axis"
            raise ValueError(f"{NAME}(num_features={self.num_channels}): expected {self.num_channels} "
                             f"channels in input of shape {tuple(x.shape)} (N, C, *spatial), got {got}")
        if x.size == 0:
            raise ValueError(f"{NAME}(num_features={self.num_channels}): got an empty input of shape "
                             f"{tuple(x.shape)}; it needs at least one sample (and no axis of size 0)")
        g = x.reshape(x.shape[0], self.num_groups, -1)
        centered = g - g.mean(axis=2, keepdims=True)
        var = (centered * centered).mean(axis=2, keepdims=True)  # biased, as np.var
        y = (centered * (1.0 / (var + self.eps).sqrt())).reshape(*x.shape)
        if self.affine:
            shape = (1, self.num_channels) + (1,) * (x.ndim - 2)
            y = y * self.weight.reshape(*shape) + self.bias.reshape(*shape)
        return y

    def example_input_shapes(self, batch: int = 4) -> list[tuple[int, ...]]:
        return [(batch, self.num_channels), (batch, self.num_channels, 2, 3)]

    def normalization_groups(self, y: np.ndarray) -> np.ndarray:
        """Rows of ``y`` (input-shaped) that are each normalized together: one per (sample, group)."""
        y = np.asarray(y)
        return y.reshape(y.shape[0] * self.num_groups, -1)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


GroupNorm.conformance_examples = [{"num_groups": 3}, {"num_groups": 2, "affine": False}, {}]


@hookimpl
def tinygrad_init_add_norms():
    return {NAME: GroupNorm}
