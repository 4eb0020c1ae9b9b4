"""Root-mean-square normalization (Zhang & Sennrich, 2019). Registers the norm ``rms_norm``.

``tgi.norm("rms_norm", normalized_shape, eps=None, elementwise_affine=True)``
rescales each sample over its trailing ``normalized_shape`` axes by its root mean
square, without centering, as PyTorch's ``nn.RMSNorm``::

    y = x / sqrt(mean(x ** 2) + eps) * weight

``eps=None`` means the machine epsilon of the input's dtype (``np.finfo(dtype).eps``,
like ``torch.finfo(x.dtype).eps``). ``weight`` (ones) has shape ``normalized_shape``;
there is no bias. No running statistics: train and eval agree.
"""
from __future__ import annotations

import numpy as np

import tinygrad_init as tgi
from tinygrad_init import hookimpl
from tinygrad_init.nn import Module, Parameter
from tinygrad_init.validation import positive, shape

NAME = "rms_norm"


class RMSNorm(Module):
    """RMS normalization over the trailing ``normalized_shape`` axes (see the module doc).

    :param num_features: ``normalized_shape``: an int (last axis) or a tuple of ints.
    :param eps: added to the mean square inside the square root (> 0), or ``None`` for
        ``np.finfo(input dtype).eps``.
    :param elementwise_affine: learn ``weight`` (ones).
    :param dtype: dtype of the parameters.
    """

    def __init__(self, num_features, eps: float | None = None, elementwise_affine: bool = True,
                 dtype=np.float32):
        super().__init__()
        self.normalized_shape = shape(NAME, "normalized_shape", num_features)
        self.eps = None if eps is None else positive(NAME, "eps", eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.weight = (Parameter(np.ones(self.normalized_shape, np.dtype(dtype)))
                       if self.elementwise_affine else None)

    def forward(self, x):
        x = x if isinstance(x, tgi.Tensor) else tgi.Tensor(x)
        k = len(self.normalized_shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k:]) != self.normalized_shape:
            raise ValueError(f"{NAME}(normalized_shape={self.normalized_shape}): expected an input whose "
                             f"trailing dimensions are {self.normalized_shape}, got shape {tuple(x.shape)}")
        eps = float(np.finfo(x.dtype).eps) if self.eps is None else self.eps
        ms = (x * x).mean(axis=tuple(range(x.ndim - k, x.ndim)), keepdims=True)
        y = x * (1.0 / (ms + eps).sqrt())
        return y * self.weight if self.weight is not None else y

    def example_input_shapes(self, batch: int = 4) -> list[tuple[int, ...]]:
        return [(batch, *self.normalized_shape), (batch, 2, *self.normalized_shape)]

    def normalization_groups(self, y: np.ndarray) -> np.ndarray:
        """Rows of ``y`` (input-shaped) that are each normalized together: one per sample/position."""
        return np.asarray(y).reshape(-1, int(np.prod(self.normalized_shape)))

    normalization_centers = False  # RMS norm rescales only: rows have mean square 1, not mean 0

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


RMSNorm.conformance_examples = [{}, {"elementwise_affine": False}, {"eps": 1e-6}]


@hookimpl
def tinygrad_init_add_norms():
    return {NAME: RMSNorm}
