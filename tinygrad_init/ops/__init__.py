"""Op breadth: comparisons, shape, reductions, math, activations, indexing and einsum.

Every op here is made with the public op mechanism (``tinygrad_init.op``), exactly the way a
user makes theirs; the modules attach their ops to ``Tensor`` as methods where PyTorch has
them (imported at the bottom of ``tinygrad_init/tensor.py``). The op table is docs/ops.md.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def axes(name: str, axis: Any, ndim: int) -> tuple:
    """``axis`` (None, an int or a sequence) as a tuple of axes in ``0..ndim-1``; an axis out
    of range is a ValueError naming the op, the axis and ``ndim``."""
    if axis is None:
        return tuple(range(ndim))
    out = []
    for a in (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis):
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{name}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ValueError(f"{name}: axis {a} is out of bounds for a tensor with {ndim} "
                             f"dimensions")
        out.append(int(a) % ndim)
    return tuple(out)


from .. import tensor as _tensor  # noqa: E402,F401  (loads the engine, which attaches every op module)
