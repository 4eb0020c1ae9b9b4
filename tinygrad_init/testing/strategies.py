"""Hypothesis strategies for testing ops, layers and plugins with ``gradcheck``.

- ``shapes()``: array shapes (tuples of ints).
- ``broadcastable_shapes()``: pairs of shapes that broadcast against each other.
- ``arrays(shape, ...)``: float arrays whose values stay away from kinks (relu/abs at 0, clip
  bounds), optionally positive (log, sqrt) and pairwise distinct (max, min, max_pool), so
  finite differences are valid.

Example::

    from hypothesis import given
    from tinygrad_init.testing import arrays, gradcheck, shapes

    @given(arrays(shapes(), avoid=(0.0,)))
    def test_my_relu(x):
        assert gradcheck(lambda t: t.relu(), x)
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def shapes(min_dims: int = 0, max_dims: int = 4, min_side: int = 1,
           max_side: int = 5) -> st.SearchStrategy[tuple]:
    """Shapes with ``min_dims..max_dims`` axes of length ``min_side..max_side``."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def broadcastable_shapes(min_dims: int = 0, max_dims: int = 4, min_side: int = 1,
                         max_side: int = 5) -> st.SearchStrategy[tuple]:
    """Pairs ``(shape_a, shape_b)`` that broadcast together (size-1 and missing axes included)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=min_dims, max_dims=max_dims, min_side=min_side,
        max_side=max_side).map(lambda b: b.input_shapes)


def _separate(x: np.ndarray, avoid: Sequence[float], margin: float, sep: float | None) -> np.ndarray:
    flat = x.reshape(-1)
    for k in avoid:  # push values out of (k - margin, k + margin), to the side they were on
        near = np.abs(flat - k) < margin
        flat[near] = np.where(flat[near] >= k, k + margin, k - margin)
    if sep is not None and flat.size > 1:
        order = np.argsort(flat, kind="stable")
        v = flat[order]
        for i in range(1, v.size):  # walk up: keep gaps >= sep, jump over kink zones
            if v[i] < v[i - 1] + sep:
                v[i] = v[i - 1] + sep
            for k in avoid:
                if abs(v[i] - k) < margin:
                    v[i] = k + margin
        flat[order] = v
    return flat.reshape(x.shape)


def arrays(shape: Any, dtype: Any = np.float64, *, min_value: float = -3.0,
           max_value: float = 3.0, avoid: Sequence[float] = (), margin: float = 1e-3,
           positive: bool = False, distinct: bool = False,
           separation: float = 1e-4) -> st.SearchStrategy[np.ndarray]:
    """Float arrays suitable for finite differences.

    ``shape``: a tuple or a strategy of tuples. Values are drawn in ``[min_value, max_value]``
    (float64, then cast to ``dtype``), then:

    - every value within ``margin`` of a point in ``avoid`` (e.g. ``(0.0,)`` for relu/abs,
      ``(lo, hi)`` for clip) is moved to distance ``margin`` on its own side;
    - ``positive=True`` raises ``min_value`` to ``margin`` (log, sqrt, pow bases);
    - ``distinct=True`` makes all values pairwise at least ``separation`` apart (no ties for
      max/min/max_pool; the default 1e-4 is 100x gradcheck's eps). Spreading may push the
      largest values up to ``size * separation`` above ``max_value``.
    """
    if positive:
        min_value = max(min_value, margin)
    shape_st = shape if isinstance(shape, st.SearchStrategy) else st.just(tuple(shape))
    elements = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False, width=64)
    avoid = tuple(float(a) for a in avoid)
    sep = separation if distinct else None
    return shape_st.flatmap(lambda s: hnp.arrays(np.float64, s, elements=elements)).map(
        lambda x: _separate(np.array(x, dtype=np.float64), avoid, margin, sep).astype(dtype))
