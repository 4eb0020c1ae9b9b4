"""Data-dependent initializer ``pretrained``: load weights from a checkpoint.

Registers (hook ``tinygrad_init_add_data_initializers``):

- ``pretrained(source, strict=False)``  ``source`` is a path to an ``.npz`` file
  (``np.savez(path, **model.state_dict())``, read with ``allow_pickle=False``), a
  state dict ``{name: array}``, or a ``Module`` (its ``state_dict()``). Every key
  present in both the source and the model with the same shape is loaded (cast to
  the model's dtype) -- the usual start of fine-tuning.

``apply(model, x=None, *, rng=None) -> report`` with ``report = {"source": ...,
"loaded": [keys], "skipped": [keys in the source the model does not have],
"missing": [model keys the source lacks], "mismatched": [(key, source_shape,
model_shape)]}``. ``strict=True`` makes anything not loaded an error. The batch
``x`` is optional; when given, the model must accept it (else ``ValueError``).
All or nothing: a missing or corrupt file, a non-numeric array, a strict
violation or a batch that does not fit raises before the model changes, naming
the path or key.
"""
from __future__ import annotations

import os
import zipfile
from typing import Any, Mapping

import numpy as np

import tinygrad_init as tgi
from tinygrad_init import hookimpl
from tinygrad_init.nn import Module, evaluating


def _read(source: Any, who: str) -> tuple[str, dict[str, np.ndarray]]:
    if isinstance(source, Module):
        return f"<{type(source).__name__} state_dict>", source.state_dict()
    if isinstance(source, Mapping):
        out = {}
        for k, v in source.items():
            if not isinstance(k, str):
                raise TypeError(f"{who}: state dict keys must be strings, got {k!r}")
            out[k] = np.asarray(v.data if isinstance(v, tgi.Tensor) else v)
        return "<state dict>", out
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{who}: no such file: {path!r} (the model was not changed)")
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{who}: cannot read {path!r} as an .npz archive: {exc} "
                             "(the model was not changed)") from None
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError(f"{who}: {path!r} is a single .npy array, not an .npz archive of "
                             "named arrays (the model was not changed)")
        try:
            with data:
                return path, {k: np.array(data[k]) for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
            raise ValueError(f"{who}: cannot read {path!r} as an .npz archive: {exc} "
                             "(the model was not changed)") from None
    raise TypeError(f"{who}: source must be a path to an .npz file, a state dict or a Module, "
                    f"got {type(source).__name__}")


def _probe(model: Module, arr: np.ndarray) -> None:
    """One forward pass that changes nothing (eval mode: BatchNorm's statistics stay)."""
    with evaluating(model), tgi.no_grad():
        model(tgi.Tensor(arr))


class Pretrained:
    """Copy every array of ``source`` whose key and shape match the model's.

    ``source``: ``.npz`` path, state dict or Module; read when applied, so the
    same initializer reloads a file that was rewritten.
    """

    name = "pretrained"

    def __init__(self, source: Any, strict: bool = False):
        if not isinstance(source, (str, os.PathLike, Mapping, Module)):
            raise TypeError(f"{self.name}: source={source!r} is invalid: must be a path to an .npz "
                            "file, a state dict or a Module")
        if not isinstance(strict, bool):
            raise TypeError(f"{self.name}: strict={strict!r} is invalid: must be True or False")
        self.source, self.strict = source, strict

    def __repr__(self):
        src = os.fspath(self.source) if isinstance(self.source, (str, os.PathLike)) else \
            f"<{type(self.source).__name__}>"
        return f"pretrained(source={src!r}, strict={self.strict})"

    def __call__(self, model: Module, x: Any = None, *, rng: Any = None) -> dict:
        who = self.name
        if not isinstance(model, Module):
            raise TypeError(f"{who}: model must be a tinygrad_init.nn.Module, got {type(model).__name__}")
        label, arrays = _read(self.source, who)
        if x is not None:
            arr = x.data if isinstance(x, tgi.Tensor) else np.asarray(x)
            try:
                _probe(model, np.asarray(arr, dtype=np.float32))
            except Exception as exc:
                raise ValueError(f"{who}: the batch of shape {np.shape(arr)} does not fit the "
                                 f"model (nothing was loaded): {exc}") from exc
        own = model.state_dict()
        loaded, mismatched = [], []
        for key, cur in own.items():
            if key in arrays:
                if arrays[key].shape == cur.shape:
                    loaded.append(key)
                else:
                    mismatched.append((key, tuple(arrays[key].shape), tuple(cur.shape)))
        skipped = [k for k in arrays if k not in own]
        missing = [k for k in own if k not in arrays]
        for key in loaded:
            if arrays[key].dtype.kind not in "biuf":
                raise ValueError(f"{who}: {label}: array {key!r} has dtype {arrays[key].dtype}, not "
                                 "a number (the model was not changed)")
        if self.strict and (skipped or missing or mismatched):
            parts = [f"{what}: {items}" for what, items in
                     (("not in the model", skipped), ("missing from the source", missing),
                      ("shape mismatch (key, source, model)", mismatched)) if items]
            raise ValueError(f"{who}(strict=True): {label}: " + "; ".join(parts)
                             + " (the model was not changed)")
        model.load_state_dict({k: arrays[k] for k in loaded}, strict=False)
        return {"source": label, "loaded": loaded, "skipped": skipped, "missing": missing,
                "mismatched": mismatched}


def _examples():
    # State dicts for the conformance kit's example model (6 -> 16 -> 8 -> 3 MLP, see
    # tinygrad_init.testing.contracts_data_initializer): an exact match, and one with
    # an extra key and a mismatched head, as when fine-tuning.
    from tinygrad_init import nn
    rng = np.random.default_rng(7)
    exact = nn.Sequential(nn.Linear(6, 16, rng=rng), nn.Tanh(), nn.Linear(16, 8, rng=rng),
                          nn.ReLU(), nn.Linear(8, 3, rng=rng)).state_dict()
    partial = dict(exact, **{"4.weight": np.ones((5, 8), np.float32), "extra.bias": np.zeros(2)})
    return [{"source": exact}, {"source": partial}]


Pretrained.conformance_examples = _examples


@hookimpl
def tinygrad_init_add_data_initializers():
    return {"pretrained": Pretrained}
