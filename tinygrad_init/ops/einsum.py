"""``einsum`` with gradients: explicit (``'ij,jk->ik'``) and implicit (``'ij,jk'``) forms,
``...``, repeated indices (traces and diagonals) and indices summed inside one operand."""
from __future__ import annotations

import string
from typing import Any

import numpy as np

from ..tensor import Tensor, op


def _parse(spec: str, shapes: list) -> tuple:
    """-> (one letter string per operand, output letters); ``...`` is spelled out in unused
    capitals, and every index must have one size (no broadcasting of size-1 axes)."""
    spec = spec.replace(" ", "")
    lhs, arrow, out = spec.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"einsum: {spec!r} has {len(ins)} operands but {len(shapes)} were given")
    spare = [c for c in string.ascii_uppercase if c not in spec]
    nell = max([len(s) - len(t.replace("...", "")) for t, s in zip(ins, shapes) if "..." in t],
               default=0)
    ell = "".join(spare[:nell])
    letters = []
    for t, s in zip(ins, shapes):
        if any(c not in string.ascii_letters for c in t.replace("...", "")) or t.count("...") > 1:
            raise ValueError(f"einsum: bad subscripts {t!r} in {spec!r}")
        k = len(s) - len(t.replace("...", ""))
        if "..." in t:
            t = t.replace("...", ell[nell - k:] if k else "")
        if len(t) != len(s):
            raise ValueError(f"einsum: subscripts {t!r} don't match an operand of shape {s}")
        letters.append(t)
    if arrow:
        out = out.replace("...", ell)
    else:
        flat = "".join(letters)
        out = ell + "".join(sorted(c for c in set(flat) if flat.count(c) == 1 and c not in ell))
    sizes: dict = {}
    for t, s in zip(letters, shapes):
        for c, n in zip(t, s):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: index {c!r} has sizes {sizes[c]} and {n} in {spec!r} "
                                 f"(shapes {', '.join(map(str, shapes))})")
    if any(c not in sizes for c in out) or len(set(out)) != len(out):
        raise ValueError(f"einsum: output subscripts {out!r} in {spec!r} must be distinct "
                         f"indices of the operands")
    return letters, out


@op(name="einsum")
def _einsum(*arrays: np.ndarray, letters: list, out: str) -> tuple:
    res = np.einsum(",".join(letters) + "->" + out, *arrays, optimize=len(arrays) > 2)

    def back(g: np.ndarray) -> tuple:
        grads = []
        for i, (a, t) in enumerate(zip(arrays, letters)):
            others = [j for j in range(len(arrays)) if j != i]
            u = "".join(dict.fromkeys(t))  # t's distinct letters, in order
            keep = "".join(c for c in u if c in out or any(c in letters[j] for j in others))
            gk = np.einsum(",".join([out] + [letters[j] for j in others]) + "->" + keep, g,
                           *[arrays[j] for j in others], optimize=len(others) > 1)
            z = np.zeros_like(a)
            view = np.einsum(f"{t}->{u}", z)  # a writeable view: the diagonal for repeats
            view[...] = _place(gk, keep, u)
            grads.append(z)
        return tuple(grads)
    return res, back


def _place(gk: np.ndarray, keep: str, u: str) -> np.ndarray:
    """``gk`` (letters ``keep``) arranged for letters ``u``: size-1 axes for the letters it
    lacks (they broadcast: an index summed inside one operand)."""
    gk = np.expand_dims(gk, tuple(range(gk.ndim, gk.ndim + len(u) - len(keep))))
    order = keep + "".join(c for c in u if c not in keep)
    return gk.transpose([order.index(c) for c in u])


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """NumPy/PyTorch ``einsum``; every float operand gets its gradient (the einsum of the
    output's gradient with the other operands)."""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string, got {type(subscripts).__name__}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    shapes = [np.shape(o.data if isinstance(o, Tensor) else o) for o in operands]
    letters, out = _parse(subscripts, shapes)
    return _einsum(*operands, letters=letters, out=out)
