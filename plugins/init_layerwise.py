"""Data-dependent initializer ``layerwise_pretrain``: greedy layer-wise
unsupervised pretraining with autoencoders.

Registers (hook ``tinygrad_init_add_data_initializers``):

- ``layerwise_pretrain(epochs=10, lr=0.1, batch_size=32, noise=0.0, optimizer="sgd")``
  (Bengio et al. 2007; with ``noise > 0``, denoising autoencoders, Vincent et al.
  2008). For each hidden ``Linear`` layer of a ``Sequential`` model, in order
  (every ``Linear`` but the last, which is the output layer):

  1. ``h`` = the batch passed through the layers before it (already pretrained,
     eval mode);
  2. an autoencoder ``h -> act(layer(h + noise*N(0, 1))) -> decoder -> h_hat``
     is trained to minimize ``mse(h_hat, h)`` for ``epochs`` epochs of shuffled
     mini-batches, with ``tgi.optimizer(optimizer, ..., lr=lr)``. ``act`` is the
     parameter-free module right after the layer in the ``Sequential`` (ReLU,
     Tanh, ...; identity if there is none) and the decoder a temporary
     ``Linear(out, in)`` (Xavier-uniform, zero bias), discarded afterwards;
  3. the layer keeps its trained (encoder) weights and bias.

``apply(model, x, *, rng) -> report``: ``{"layers": [{"name", "shape",
"loss_before", "loss_after", "frozen"}, ...], "epochs", "optimizer"}`` where the
losses are the full-batch reconstruction MSE with the fresh and the trained
decoder. Frozen layers (``requires_grad=False``) are left alone. ``rng`` draws
the decoders, the shuffling and the noise. A batch that does not fit raises
``ValueError`` before anything changes; a failure midway restores the model.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

import tinygrad_init as tgi
from tinygrad_init import hookimpl
from tinygrad_init.functional import mse_loss
from tinygrad_init.nn import Dropout, Linear, Module, Sequential, evaluating
from tinygrad_init.validation import integer, nonnegative, positive


def _check_batch(name: str, model: Any, x: Any) -> np.ndarray:
    if not isinstance(model, Sequential):
        raise TypeError(f"{name}: model must be a tinygrad_init.nn.Sequential (layer order and the "
                        f"activation after each layer are read from it), got {type(model).__name__}")
    arr = x.data if isinstance(x, tgi.Tensor) else x
    try:
        arr = np.asarray(arr, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: the batch must be a numeric array, got {type(x).__name__}") from None
    if arr.ndim < 1 or arr.shape[0] < 1 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: the batch of shape {arr.shape} must be non-empty and finite")
    try:
        _probe(model, arr)
    except Exception as exc:
        raise ValueError(f"{name}: the batch of shape {arr.shape} does not fit the model "
                         f"(nothing was changed): {exc}") from exc
    return arr


def _probe(model: Module, arr: np.ndarray) -> None:
    """One forward pass that changes nothing (eval mode: BatchNorm's statistics stay)."""
    with evaluating(model), tgi.no_grad():
        model(tgi.Tensor(arr))


class LayerwisePretrain:
    """Greedy layer-wise autoencoder pretraining of a Sequential's hidden Linear layers.

    Layer k (input h_k, activation f) minimizes
    ``mean((D(f(W_k (h_k + noise*eps) + b_k)) - h_k)^2)`` over W_k, b_k and a
    temporary linear decoder D; then h_{k+1} is computed with the trained layer.
    """

    name = "layerwise_pretrain"
    conformance_examples = [{"epochs": 2}, {"epochs": 1, "noise": 0.1, "batch_size": 8}]

    def __init__(self, epochs: int = 10, lr: float = 0.1, batch_size: int = 32, noise: float = 0.0,
                 optimizer: str = "sgd"):
        self.epochs = integer(self.name, "epochs", epochs, minimum=1)
        self.lr = positive(self.name, "lr", lr)
        self.batch_size = integer(self.name, "batch_size", batch_size, minimum=1)
        self.noise = nonnegative(self.name, "noise", noise)
        if not isinstance(optimizer, str):
            raise TypeError(f"{self.name}: optimizer={optimizer!r} is invalid: must be an optimizer name")
        self.optimizer = optimizer

    def __repr__(self):
        return (f"layerwise_pretrain(epochs={self.epochs}, lr={self.lr}, batch_size={self.batch_size}, "
                f"noise={self.noise}, optimizer={self.optimizer!r})")

    def __call__(self, model: Module, x: Any, *, rng: Any = None) -> dict:
        arr = _check_batch(self.name, model, x)
        rng = tgi.init.as_generator(rng)
        layers = list(model)
        linear = [i for i, m in enumerate(layers) if isinstance(m, Linear)]
        hidden = linear[:-1]
        if not hidden:
            raise ValueError(f"{self.name}: the model has no hidden Linear layer to pretrain (the "
                             "last Linear is the output layer)")
        saved, modes = model.state_dict(), [(m, m.training) for m in model.modules()]
        try:
            report = [self._layer(model, layers, i, arr, rng) for i in hidden]
        except BaseException:
            model.load_state_dict(saved)
            raise
        finally:
            for m, mode in modes:
                m.training = mode
            model.zero_grad()
        return {"layers": report, "epochs": self.epochs, "optimizer": self.optimizer}

    def _layer(self, model: Sequential, layers: list, i: int, arr: np.ndarray,
               rng: np.random.Generator) -> dict:
        enc = layers[i]
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        act = nxt if (nxt is not None and not isinstance(nxt, Dropout)
                      and not list(nxt.parameters())) else None
        info = {"name": str(i), "shape": tuple(enc.weight.shape), "frozen": not enc.weight.requires_grad}
        model.eval()
        with tgi.no_grad():
            h = Sequential(*layers[:i])(tgi.Tensor(arr)).data if i else arr
        h = np.asarray(h, dtype=enc.weight.dtype).reshape(-1, enc.in_features)  # Linear acts on the last axis
        dec = Linear(enc.out_features, enc.in_features, weight_init="xavier_uniform",
                     bias_init="zeros", rng=rng, dtype=enc.weight.dtype)

        def loss_of(inp, target):
            code = enc(tgi.Tensor(inp))
            if act is not None:
                code = act(code)
            return mse_loss(dec(code), target)

        with tgi.no_grad():
            info["loss_before"] = float(loss_of(h, h).item())
        if info["frozen"]:
            info["loss_after"] = info["loss_before"]
            return info
        params = [enc.weight, dec.weight, dec.bias] + ([enc.bias] if enc.bias is not None else [])
        opt = tgi.optimizer(self.optimizer, params, lr=self.lr)
        n = h.shape[0]
        for _ in range(self.epochs):
            perm = rng.permutation(n)
            for start in range(0, n, self.batch_size):
                hb = h[perm[start:start + self.batch_size]]
                inp = hb + self.noise * rng.standard_normal(hb.shape).astype(hb.dtype) \
                    if self.noise else hb
                loss = loss_of(inp, hb)
                opt.zero_grad()
                loss.backward()
                opt.step()
        with tgi.no_grad():
            info["loss_after"] = float(loss_of(h, h).item())
        if not math.isfinite(info["loss_after"]):
            raise FloatingPointError(f"{self.name}: layer {i} diverged (loss {info['loss_after']}); "
                                     f"lower lr={self.lr}")
        return info


@hookimpl
def tinygrad_init_add_data_initializers():
    return {"layerwise_pretrain": LayerwisePretrain}
