"""Structural initializers: ``orthogonal``, ``eye``/``identity``, ``dirac``,
``sparse_martens`` and PyTorch-style ``sparse``.

Registers (hook ``tinygrad_init_add_initializers``):

- ``orthogonal(gain=1)``  (Saxe et al. 2014; PyTorch ``orthogonal_``) the shape is
  viewed as (rows, cols) = (shape[0], prod(shape[1:])); A ~ N(0, 1)^(rows x cols)
  (transposed when rows < cols); A = QR; Q *= sign(diag(R)) (makes Q Haar-distributed);
  transposed back; times ``gain``. Rows (rows <= cols) or columns (rows > cols) are
  orthonormal, so W W^T = gain^2 I or W^T W = gain^2 I.
- ``eye(gain=1)`` / ``identity``  2-D only: W[i, i] = gain for i < min(rows, cols),
  0 elsewhere (PyTorch ``eye_``: non-square matrices too).
- ``dirac(groups=1)``  3-, 4- or 5-D conv kernels (PyTorch ``dirac_``): for each group
  g and d < min(out/groups, in), W[g*out/groups + d, d, center...] = 1; a convolution
  with it (padding keeping the size) copies the first channels of the input.
- ``sparse_martens(connections=15, std=1)``  (Martens 2010) each unit (row, over the
  flattened fan-in) has exactly k = min(connections, fan_in) non-zero incoming weights,
  at distinct random positions, drawn from N(0, std^2).
- ``sparse(sparsity, std=0.01)``  2-D only (PyTorch ``sparse_``): W ~ N(0, std^2), then
  in every column exactly ceil(sparsity * rows) randomly chosen rows are set to 0.
"""
from __future__ import annotations

import math

import numpy as np

from tinygrad_init import Initializer, hookimpl
from tinygrad_init.validation import fail, in_range, integer, nonnegative


class Orthogonal(Initializer):
    """W = gain * Q, Q from the sign-corrected QR of a Gaussian (rows, prod(rest)) matrix.

    Declared: mean 0, variance gain^2 / max(rows, cols) (the sum of squares is
    gain^2 * min(rows, cols) over rows*cols entries), bounds [-gain, gain].
    """

    name = "orthogonal"
    min_ndim = 2
    conformance_examples = [{}, {"gain": 2.0}]

    def __init__(self, gain: float = 1.0):
        self.gain = nonnegative(self.name, "gain", gain)

    @staticmethod
    def _dims(shape):
        return shape[0], math.prod(shape[1:])

    def sample(self, shape, rng):
        rows, cols = self._dims(shape)
        a = rng.standard_normal((rows, cols))
        if rows < cols:
            a = a.T
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))  # scales column j by sign(R_jj)
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape)

    def expected(self, shape):
        rows, cols = self._dims(shape)
        return {"mean": 0.0, "var": self.gain ** 2 / max(rows, cols),
                "low": -self.gain, "high": self.gain}


class Eye(Initializer):
    """W[i, j] = gain if i == j else 0 (2-D, any rows x cols). Deterministic."""

    name = "eye"
    min_ndim = max_ndim = 2
    uses_rng = False
    conformance_examples = [{}]

    def __init__(self, gain: float = 1.0):
        self.gain = nonnegative(self.name, "gain", gain)

    def sample(self, shape, rng):
        return self.gain * np.eye(*shape)

    def expected(self, shape):
        p = min(shape) / math.prod(shape)  # fraction of entries on the diagonal
        return {"mean": self.gain * p, "var": self.gain ** 2 * p * (1 - p),
                "low": 0.0, "high": self.gain}


class Identity(Eye):
    """Alias of ``eye``: W[i, i] = gain, 0 elsewhere."""

    name = "identity"


class Dirac(Initializer):
    """Identity-preserving conv kernel (PyTorch ``dirac_``), shapes (out, in, *k) with 1-3 spatial dims.

    W = 0 except W[g*out_g + d, d, k1//2, ..., kn//2] = 1 for each group g < groups and
    d < min(out_g, in), out_g = out/groups.
    """

    name = "dirac"
    min_ndim, max_ndim = 3, 5
    uses_rng = False
    conformance_examples = [{}, {"groups": 2}]

    def __init__(self, groups: int = 1):
        self.groups = integer(self.name, "groups", groups, minimum=1)

    def _check(self, shape):
        if shape[0] % self.groups:
            fail(self.name, "groups", self.groups, f"a divisor of out_channels={shape[0]} (shape {shape})")

    def sample(self, shape, rng):
        self._check(shape)
        out_g = shape[0] // self.groups
        w = np.zeros(shape)
        center = tuple(k // 2 for k in shape[2:])
        for g in range(self.groups):
            for d in range(min(out_g, shape[1])):
                w[(g * out_g + d, d) + center] = 1.0
        return w

    def expected(self, shape):
        self._check(shape)
        ones = self.groups * min(shape[0] // self.groups, shape[1])
        p = ones / math.prod(shape)
        return {"mean": p, "var": p * (1 - p), "low": 0.0, "high": 1.0}


class SparseMartens(Initializer):
    """Martens (2010) sparse init: each row (unit) of the (rows, fan_in) view has exactly
    k = min(connections, fan_in) non-zeros at distinct random columns, each ~ N(0, std^2).

    Declared: mean 0, variance std^2 * k / fan_in.
    """

    name = "sparse_martens"
    min_ndim = 2
    conformance_examples = [{}, {"connections": 3, "std": 0.5}]

    def __init__(self, connections: int = 15, std: float = 1.0):
        self.connections = integer(self.name, "connections", connections, minimum=1)
        self.std = nonnegative(self.name, "std", std)

    def sample(self, shape, rng):
        rows, cols = shape[0], math.prod(shape[1:])
        k = min(self.connections, cols)
        # The first k of a random permutation of each row = k distinct random columns.
        idx = np.argsort(rng.random((rows, cols)), axis=1)[:, :k]
        w = np.zeros((rows, cols))
        np.put_along_axis(w, idx, rng.normal(0.0, self.std, size=(rows, k)), axis=1)
        return w.reshape(shape)

    def expected(self, shape):
        cols = math.prod(shape[1:])
        return {"mean": 0.0, "var": self.std ** 2 * min(self.connections, cols) / cols,
                "low": None, "high": None}


class Sparse(Initializer):
    """PyTorch ``sparse_``: W ~ N(0, std^2), then per column ceil(sparsity*rows) random
    rows zeroed. Declared: mean 0, variance std^2 * (1 - ceil(sparsity*rows)/rows).
    """

    name = "sparse"
    min_ndim = max_ndim = 2
    conformance_examples = [{"sparsity": 0.9}, {"sparsity": 0.1, "std": 1.0}, {"sparsity": 0.0}]

    def __init__(self, sparsity: float, std: float = 0.01):
        self.sparsity = in_range(self.name, "sparsity", sparsity, 0.0, 1.0)
        self.std = nonnegative(self.name, "std", std)

    def sample(self, shape, rng):
        rows, cols = shape
        zeros = math.ceil(self.sparsity * rows)
        w = rng.normal(0.0, self.std, size=shape)
        idx = np.argsort(rng.random((rows, cols)), axis=0)[:zeros]  # per column: distinct rows
        np.put_along_axis(w, idx, 0.0, axis=0)
        return w

    def expected(self, shape):
        rows = shape[0]
        return {"mean": 0.0, "var": self.std ** 2 * (1 - math.ceil(self.sparsity * rows) / rows),
                "low": None, "high": None}


@hookimpl
def tinygrad_init_add_initializers():
    return {"orthogonal": Orthogonal, "eye": Eye, "identity": Identity, "dirac": Dirac,
            "sparse_martens": SparseMartens, "sparse": Sparse}
