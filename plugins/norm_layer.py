"""Layer normalization (Ba, Kiros & Hinton, 2016). Registers the norm ``layer_norm``.

``tgi.norm("layer_norm", normalized_shape, eps=1e-5, elementwise_affine=True,
bias=True)`` normalizes each sample over its trailing ``normalized_shape`` axes
(an int ``D`` means the last axis, of size ``D``), as PyTorch's ``nn.LayerNorm``::

    y = (x - mean) / sqrt(var + eps) * weight + bias

with ``mean`` and the biased ``var`` over the normalized axes. ``weight`` (ones) and
``bias`` (zeros) have shape ``normalized_shape``; ``bias=False`` drops the bias,
``elementwise_affine=False`` both. No running statistics: train and eval agree.
"""
from __future__ import annotations

import numpy as np

import tinygrad_init as tgi
from tinygrad_init import hookimpl
from tinygrad_init.nn import Module, Parameter
from tinygrad_init.validation import positive, shape

NAME = "layer_norm"


class LayerNorm(Module):
    """Layer normalization over the trailing ``normalized_shape`` axes (see the module doc).

    :param num_features: ``normalized_shape``: an int (last axis) or a tuple of ints.
    :param eps: added to the variance inside the square root (> 0).
    :param elementwise_affine: learn ``weight`` (ones) and, with ``bias``, ``bias`` (zeros).
    :param bias: learn the additive ``bias`` (only with ``elementwise_affine``).
    :param dtype: dtype of the parameters.
    """

    def __init__(self, num_features, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype=np.float32):
        super().__init__()
        self.normalized_shape = shape(NAME, "normalized_shape", num_features)
        self.eps = positive(NAME, "eps", eps)
        self.elementwise_affine = bool(elementwise_affine)
        dtype = np.dtype(dtype)
        self.weight = Parameter(np.ones(self.normalized_shape, dtype)) if self.elementwise_affine else None
        self.bias = (Parameter(np.zeros(self.normalized_shape, dtype))
                     if self.elementwise_affine and bias else None)

    def forward(self, x):
        x = x if isinstance(x, tgi.Tensor) else tgi.Tensor(x)
        k = len(self.normalized_shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k:]) != self.normalized_shape:
            raise ValueError(f"{NAME}(normalized_shape={self.normalized_shape}): expected an input whose "
                             f"trailing dimensions are {self.normalized_shape}, got shape {tuple(x.shape)}")
        axes = tuple(range(x.ndim - k, x.ndim))
        centered = x - x.mean(axis=axes, keepdims=True)
        var = (centered * centered).mean(axis=axes, keepdims=True)  # biased, as np.var
        y = centered * (1.0 / (var + self.eps).sqrt())
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y

    def example_input_shapes(self, batch: int = 4) -> list[tuple[int, ...]]:
        return [(batch, *self.normalized_shape), (batch, 2, *self.normalized_shape)]

    def normalization_groups(self, y: np.ndarray) -> np.ndarray:
        """Rows of ``y`` (input-shaped) that are each normalized together: one per sample/position."""
        return np.asarray(y).reshape(-1, int(np.prod(self.normalized_shape)))

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


LayerNorm.conformance_examples = [{}, {"elementwise_affine": False}, {"bias": False}]


@hookimpl
def tinygrad_init_add_norms():
    return {NAME: LayerNorm}
