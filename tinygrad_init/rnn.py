"""Recurrent layers (``RNN``, ``GRU``, ``LSTM`` and their cells) and ``Embedding``.

Definitions, weight layout and defaults are PyTorch's (exported as ``nn.RNN`` ... ``nn.Embedding``):

- RNN:  ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``, ``act`` tanh or relu.
- GRU:  gates stacked ``r, z, n``: ``r = s(x W_ir + b_ir + h W_hr + b_hr)``,
  ``z = s(...)``, ``n = tanh(x W_in + b_in + r * (h W_hn + b_hn))``, ``h' = (1-z) n + z h``.
- LSTM: gates stacked ``i, f, g, o``: ``c' = f c + i g``, ``h' = o tanh(c')``.

``weight_ih_l{k}`` is ``(gates*hidden, in)``, ``weight_hh_l{k}`` ``(gates*hidden, hidden)``,
biases ``(gates*hidden,)``; the reverse direction has the suffix ``_reverse``. Every weight and
bias defaults to ``U(-1/sqrt(hidden), 1/sqrt(hidden))``.

A whole sequence of one layer and one direction is one fused op (``rnn_sequence``): the input
projection of all steps is one matrix product, the loop over steps runs in NumPy, and backward
is hand-written backpropagation through time. A cell is the same op over one step.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .nn import Module, Parameter, _as_tensor, _count, _generator, _init_array
from .tensor import Tensor, concatenate, op, stack

__all__ = ["RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell", "Embedding", "rnn_sequence"]

_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}


def _sig(a: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * a)  # the logistic function, with no overflow warning


# -- per-mode kernels: forward over the steps, then backward through time -----------------------
# forward(gi, s0, w_hh, b_hh, steps) -> (out, saved); gi is x W_ih^T + b_ih for every step.
# backward(g, saved, w_hh, steps) -> (d gi, d gh, h before each step, d s0), gh = h W_hh^T + b_hh.
def _rnn_forward(gi, s0, w_hh, b_hh, steps, relu):
    out = np.empty_like(gi)
    hprev = np.empty_like(gi)
    h, wt = s0, w_hh.T
    for t in steps:
        hprev[t] = h
        a = gi[t] + h @ wt + b_hh
        h = np.maximum(a, 0) if relu else np.tanh(a)
        out[t] = h
    return out, (out, hprev, relu)


def _rnn_backward(g, saved, w_hh, steps):
    out, hprev, relu = saved
    da = (out > 0).astype(out.dtype) if relu else 1 - out * out
    dh = np.zeros_like(out[0])
    for t in reversed(steps):
        d = (dh + g[t]) * da[t]
        da[t] = d
        dh = d @ w_hh
    return da, da, hprev, dh


def _gru_forward(gi, s0, w_hh, b_hh, steps):
    T, B, G = gi.shape
    H = G // 3
    hprev = np.empty((T, B, H), gi.dtype)
    out, n, hn = np.empty_like(hprev), np.empty_like(hprev), np.empty_like(hprev)
    rz = np.empty((T, B, 2 * H), gi.dtype)
    h, wt = s0, w_hh.T
    for t in steps:
        hprev[t] = h
        gh = h @ wt + b_hh
        r_z = rz[t] = _sig(gi[t, :, :2 * H] + gh[:, :2 * H])
        hn[t] = gh[:, 2 * H:]
        nt = n[t] = np.tanh(gi[t, :, 2 * H:] + r_z[:, :H] * hn[t])
        h = out[t] = nt + r_z[:, H:] * (h - nt)
    return out, (hprev, rz, n, hn)


def _gru_backward(g, saved, w_hh, steps):
    hprev, rz, n, hn = saved
    H = n.shape[-1]
    drz = rz * (1 - rz)
    dn_da = 1 - n * n
    dgi = np.empty(rz.shape[:2] + (3 * H,), rz.dtype)
    dgh = np.empty_like(dgi)
    dh = np.zeros_like(n[0])
    for t in reversed(steps):
        dh = dh + g[t]
        z = rz[t, :, H:]
        dan = dh * (1 - z) * dn_da[t]
        dgi[t, :, :H] = dan * hn[t]
        dgi[t, :, H:2 * H] = dh * (hprev[t] - n[t])
        dgi[t, :, :2 * H] *= drz[t]
        dgi[t, :, 2 * H:] = dan
        dgh[t, :, :2 * H] = dgi[t, :, :2 * H]
        dgh[t, :, 2 * H:] = dan * rz[t, :, :H]
        dh = dh * z + dgh[t] @ w_hh
    return dgi, dgh, hprev, dh


def _lstm_forward(gi, s0, w_hh, b_hh, steps):
    T, B, G = gi.shape
    H = G // 4
    out = np.empty((T, B, 2 * H), gi.dtype)  # [h, c] of every step
    hprev = np.empty((T, B, H), gi.dtype)
    cprev, tc = np.empty_like(hprev), np.empty_like(hprev)
    gates = np.empty_like(gi)
    h, c, wt = s0[:, :H], s0[:, H:], w_hh.T
    for t in steps:
        hprev[t], cprev[t] = h, c
        a = gi[t] + h @ wt + b_hh
        s = _sig(a)
        s[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])
        gates[t] = s
        c = out[t, :, H:] = s[:, H:2 * H] * c + s[:, :H] * s[:, 2 * H:3 * H]
        tct = tc[t] = np.tanh(c)
        h = out[t, :, :H] = s[:, 3 * H:] * tct
    return out, (hprev, cprev, gates, tc)


def _lstm_backward(g, saved, w_hh, steps):
    hprev, cprev, gates, tc = saved
    H = tc.shape[-1]
    dact = gates * (1 - gates)
    dact[..., 2 * H:3 * H] = 1 - gates[..., 2 * H:3 * H] ** 2
    dtc = 1 - tc * tc
    da = np.empty_like(gates)
    dh, dc = np.zeros_like(tc[0]), np.zeros_like(tc[0])
    for t in reversed(steps):
        dh = dh + g[t, :, :H]
        s = gates[t]
        dc = dc + g[t, :, H:] + dh * s[:, 3 * H:] * dtc[t]
        d = da[t]
        d[:, :H] = dc * s[:, 2 * H:3 * H]
        d[:, H:2 * H] = dc * cprev[t]
        d[:, 2 * H:3 * H] = dc * s[:, :H]
        d[:, 3 * H:] = dh * tc[t]
        d *= dact[t]
        dc = dc * s[:, H:2 * H]
        dh = d @ w_hh
    return da, da, hprev, np.concatenate([dh, dc], axis=-1)


_KERNELS = {
    "rnn_tanh": (lambda *a: _rnn_forward(*a, relu=False), _rnn_backward),
    "rnn_relu": (lambda *a: _rnn_forward(*a, relu=True), _rnn_backward),
    "gru": (_gru_forward, _gru_backward),
    "lstm": (_lstm_forward, _lstm_backward),
}


@op(name="rnn_sequence")
def rnn_sequence(x, s0, w_ih, w_hh, b_ih, b_hh, *, mode, reverse=False):
    """One layer and direction over a whole sequence, as one node.

    ``x`` is ``(T, B, in)``, ``s0`` the initial state ``(B, S)`` (``S = hidden``, or
    ``2*hidden`` for the LSTM: ``[h0, c0]``). Returns every step's state ``(T, B, S)`` (the
    LSTM's is ``[h_t, c_t]``), in time order also when ``reverse`` (the steps run T-1 .. 0).
    """
    T, B, I = x.shape
    G = w_ih.shape[0]
    gi = (x.reshape(T * B, I) @ w_ih.T).reshape(T, B, G) + b_ih
    steps = range(T - 1, -1, -1) if reverse else range(T)
    forward, back = _KERNELS[mode]
    out, saved = forward(gi, s0, w_hh, b_hh, steps)

    def backward(g):
        dgi, dgh, hprev, ds0 = back(g, saved, w_hh, steps)
        dgi2, dgh2 = dgi.reshape(T * B, G), dgh.reshape(T * B, G)
        dx = (dgi2 @ w_ih).reshape(x.shape)
        return (dx, ds0, dgi2.T @ x.reshape(T * B, I), dgh2.T @ hprev.reshape(T * B, -1),
                dgi2.sum(0), dgh2.sum(0))
    return out, backward


# -- parameters and their initialization --------------------------------------------------------
def _gate_blocks(who: str, which: str, init: Any, shape: tuple, gates: int, rng, dtype,
                 bound: float) -> np.ndarray:
    """A stacked weight: each gate's (hidden, n) block is initialized on its own."""
    if init is None:
        return _init_array(who, which, None, shape, rng, dtype, bound)
    h = shape[0] // gates
    return np.concatenate([_init_array(who, which, init, (h, shape[1]), rng, dtype, bound)
                           for _ in range(gates)])


def _make_params(owner: Module, who: str, suffix: str, in_size: int, hidden: int, gates: int,
                 bias: bool, inits: dict, rng, dtype) -> None:
    """``weight_ih``/``weight_hh``/``bias_ih``/``bias_hh`` + suffix on ``owner``, in PyTorch's
    order. Default U(-1/sqrt(hidden), 1/sqrt(hidden)); with a weight init the biases default to
    zeros (as in ``Linear``); ``forget_bias`` sets the LSTM's forget slice of ``bias_ih`` and
    zeroes it in ``bias_hh`` (their sum is what counts)."""
    bound = 1.0 / math.sqrt(hidden)
    G = gates * hidden
    w_ih, w_hh = inits["weight_ih_init"], inits["weight_hh_init"]
    setattr(owner, "weight_ih" + suffix, Parameter(
        _gate_blocks(who, "weight_ih_init", w_ih, (G, in_size), gates, rng, dtype, bound)))
    setattr(owner, "weight_hh" + suffix, Parameter(
        _gate_blocks(who, "weight_hh_init", w_hh, (G, hidden), gates, rng, dtype, bound)))
    if not bias:
        setattr(owner, "bias_ih" + suffix, None)
        setattr(owner, "bias_hh" + suffix, None)
        return
    b_init = inits["bias_init"]
    if b_init is None and (w_ih is not None or w_hh is not None):
        b_init = "zeros"
    b = [_init_array(who, "bias_init", b_init, (G,), rng, dtype, bound) for _ in range(2)]
    fb = inits.get("forget_bias")
    if fb is not None:
        b[0][hidden:2 * hidden], b[1][hidden:2 * hidden] = fb, 0
    setattr(owner, "bias_ih" + suffix, Parameter(b[0]))
    setattr(owner, "bias_hh" + suffix, Parameter(b[1]))


def _check_inits(who: str, mode: str, forget_bias: Any, **inits: Any) -> dict:
    if forget_bias is not None:
        if mode != "lstm":
            raise ValueError(f"{who}: forget_bias={forget_bias!r} is invalid: only the LSTM has "
                             "a forget gate")
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float, np.number)) \
                or not math.isfinite(forget_bias):
            raise ValueError(f"{who}: forget_bias={forget_bias!r} is invalid: must be a finite "
                             "number")
    return {**inits, "forget_bias": forget_bias}


def _step_args(p: Module, suffix: str, zeros: np.ndarray) -> tuple:
    b_ih, b_hh = getattr(p, "bias_ih" + suffix), getattr(p, "bias_hh" + suffix)
    return (getattr(p, "weight_ih" + suffix), getattr(p, "weight_hh" + suffix),
            zeros if b_ih is None else b_ih, zeros if b_hh is None else b_hh)


def _float_dtype(*ts: Tensor) -> np.dtype:
    return np.result_type(*[t.dtype for t in ts])


class _Recurrent(Module):
    """What layers and cells share: sizes, bias flag, the checked initializers, the name."""

    mode = ""

    def _setup(self, input_size: int, hidden_size: int, bias: bool, forget_bias: Any,
               **inits: Any) -> dict:
        name = type(self).__name__
        self.input_size = _count(name, "input_size", input_size)
        self.hidden_size = _count(name, "hidden_size", hidden_size)
        self.bias = bool(bias)
        return _check_inits(name, self.mode, forget_bias, **inits)

    def _name(self) -> str:
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size})"


def _rnn_mode(who: str, nonlinearity: Any) -> str:
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{who}: nonlinearity={nonlinearity!r} is invalid; allowed: tanh, relu")
    return f"rnn_{nonlinearity}"


# -- full layers ------------------------------------------------------------------------------
class _RNNBase(_Recurrent):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 weight_ih_init: Any = None, weight_hh_init: Any = None, bias_init: Any = None,
                 forget_bias: Any = None, rng: Any = None, dtype: Any = np.float32):
        super().__init__()
        inits = self._setup(input_size, hidden_size, bias, forget_bias, weight_ih_init=weight_ih_init,
                            weight_hh_init=weight_hh_init, bias_init=bias_init)
        name = type(self).__name__
        self.num_layers = _count(name, "num_layers", num_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"{name}: dropout={dropout!r} is invalid: must be a number in [0, 1)")
        self.dropout = float(dropout)
        self.batch_first, self.bidirectional = bool(batch_first), bool(bidirectional)
        self._drop_rng = None if rng is None else _generator(rng)  # None: the default, at call time
        rng = _generator(rng)
        D = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else self.hidden_size * D
            for d in range(D):
                _make_params(self, self._name(), f"_l{layer}" + ("_reverse" if d else ""), in_size,
                             self.hidden_size, _GATES[self.mode], self.bias, inits, rng, dtype)

    def _state(self, hx: Any, B: int, dtype, batched: bool) -> list:
        """Per (layer, direction): the initial state as a Tensor or ndarray ``(B, S)``."""
        D, H = 2 if self.bidirectional else 1, self.hidden_size
        n = self.num_layers * D
        parts = hx if self.mode == "lstm" and hx is not None else (hx,)
        if self.mode == "lstm" and hx is not None and (not isinstance(hx, tuple) or len(hx) != 2):
            raise ValueError(f"{self._name()}: hx must be a tuple (h0, c0), got {type(hx).__name__}")
        want = (n, B, H) if batched else (n, H)
        ts = []
        for label, p in zip(("h0", "c0"), parts):
            if p is None:
                ts.append(None)
                continue
            p = _as_tensor(p)
            if tuple(p.shape) != want:
                raise ValueError(f"{self._name()}: {label} has shape {tuple(p.shape)}, expected "
                                 f"{want} (num_layers*num_directions, batch, hidden_size)")
            ts.append(p if batched else p.reshape(n, 1, H))
        if all(t is None for t in ts):
            return [np.zeros((B, H * (2 if self.mode == "lstm" else 1)), dtype)] * n
        if any(t is None for t in ts):
            raise ValueError(f"{self._name()}: hx must hold both h0 and c0 (or be None), got None for one")
        if len(ts) == 1:
            return [ts[0][k] for k in range(n)]
        return [concatenate([ts[0][k], ts[1][k]], axis=-1) for k in range(n)]

    def forward(self, x: Any, hx: Any = None) -> tuple:
        """``x``: ``(T, B, input_size)`` (``(B, T, input_size)`` with ``batch_first``) or
        unbatched ``(T, input_size)``. Returns ``(output, h_n)`` (LSTM: ``(output, (h_n,
        c_n))``): ``output`` holds the last layer's ``h_t`` of every step (both directions
        concatenated), ``h_n`` ``(num_layers*num_directions, B, hidden)`` the last states."""
        x = _as_tensor(x)
        batched = x.ndim == 3
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ValueError(f"{self._name()}: input shape {tuple(x.shape)} does not match "
                             f"({'batch, seq' if self.batch_first else 'seq, batch'}, "
                             f"input_size={self.input_size}) or (seq, input_size)")
        if x.dtype.kind != "f":
            x = x.astype(np.float32)
        if not batched:
            x = x.reshape(x.shape[0], 1, x.shape[1])
        elif self.batch_first:
            x = x.transpose(1, 0, 2)
        T, B = x.shape[0], x.shape[1]
        if T < 1:
            raise ValueError(f"{self._name()}: the input sequence is empty (shape {tuple(x.shape)})")
        dtype = _float_dtype(x, self.weight_ih_l0)
        states = self._state(hx, B, dtype, batched)
        zeros = np.zeros(_GATES[self.mode] * self.hidden_size, dtype)
        D, H = 2 if self.bidirectional else 1, self.hidden_size
        last_h, last_c = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                seq = rnn_sequence(x, states[layer * D + d], *_step_args(self, suffix, zeros),
                                   mode=self.mode, reverse=bool(d))
                end = seq[0 if d else T - 1]
                if self.mode == "lstm":
                    outs.append(seq[:, :, :H])
                    last_h.append(end[:, :H])
                    last_c.append(end[:, H:])
                else:
                    outs.append(seq)
                    last_h.append(end)
            x = outs[0] if D == 1 else concatenate(outs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                drop_rng = self._drop_rng if self._drop_rng is not None else _generator(None)
                mask = (drop_rng.random(x.shape) >= self.dropout) / (1.0 - self.dropout)
                x = x * mask.astype(x.dtype)
        out = x.reshape(T, D * H) if not batched else x.transpose(1, 0, 2) if self.batch_first else x
        h_n = stack(last_h) if batched else stack(last_h).reshape(len(last_h), H)
        if self.mode != "lstm":
            return out, h_n
        c_n = stack(last_c) if batched else stack(last_c).reshape(len(last_c), H)
        return out, (h_n, c_n)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    """Elman RNN, ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (``nonlinearity`` "tanh" or
    "relu"). Arguments as ``torch.nn.RNN`` plus the initializers: ``weight_ih_init`` /
    ``weight_hh_init`` (a name or initializer object, applied to each gate's block),
    ``bias_init``, ``rng``, ``dtype``. ``RNN(1, 100, nonlinearity="relu",
    weight_hh_init="identity")`` is Le et al.'s IRNN."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", **kwargs: Any):
        self.mode = _rnn_mode("RNN", nonlinearity)
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, **kwargs)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")


class GRU(_RNNBase):
    """Gated recurrent unit (gates stacked r, z, n; PyTorch's equations, with ``b_hn`` inside
    ``r * (...)``). Arguments as :class:`RNN` (no ``nonlinearity``)."""

    mode = "gru"


class LSTM(_RNNBase):
    """Long short-term memory (gates stacked i, f, g, o). Arguments as :class:`RNN` (no
    ``nonlinearity``) plus ``forget_bias``: when set, the forget slice of every ``bias_ih``
    is that value and of ``bias_hh`` zero (Jozefowicz et al. 2015 use 1). ``hx`` is
    ``(h0, c0)``; returns ``(output, (h_n, c_n))``."""

    mode = "lstm"


# -- cells ------------------------------------------------------------------------------------
class _CellBase(_Recurrent):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 weight_ih_init: Any = None, weight_hh_init: Any = None, bias_init: Any = None,
                 forget_bias: Any = None, rng: Any = None, dtype: Any = np.float32):
        super().__init__()
        inits = self._setup(input_size, hidden_size, bias, forget_bias, weight_ih_init=weight_ih_init,
                            weight_hh_init=weight_hh_init, bias_init=bias_init)
        _make_params(self, self._name(), "", self.input_size, self.hidden_size, _GATES[self.mode],
                     self.bias, inits, _generator(rng), dtype)

    def forward(self, x: Any, hx: Any = None) -> Any:
        """``x``: ``(B, input_size)`` or ``(input_size,)``; ``hx`` ``(B, hidden)`` (LSTM: a
        tuple ``(h, c)``) or None for zeros. Returns ``h'`` (LSTM: ``(h', c')``)."""
        x = _as_tensor(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{self._name()}: input shape {tuple(x.shape)} does not match "
                             f"(batch, input_size={self.input_size}) or (input_size,)")
        if x.dtype.kind != "f":
            x = x.astype(np.float32)
        batched = x.ndim == 2
        xb = x.reshape(1, *(x.shape if batched else (1, x.shape[0])))
        B, H = xb.shape[1], self.hidden_size
        dtype = _float_dtype(x, self.weight_ih)
        lstm = self.mode == "lstm"
        if hx is None:
            s0 = np.zeros((B, 2 * H if lstm else H), dtype)
        else:
            if lstm and (not isinstance(hx, tuple) or len(hx) != 2 or any(p is None for p in hx)):
                raise ValueError(f"{self._name()}: hx must be a tuple (h, c) of arrays, got {hx!r:.60}")
            parts = [_as_tensor(p) for p in (hx if lstm else (hx,))]
            want = (B, H) if batched else (H,)
            for label, p in zip(("h", "c"), parts):
                if tuple(p.shape) != want:
                    raise ValueError(f"{self._name()}: {label} has shape {tuple(p.shape)}, "
                                     f"expected {want}")
            parts = [p.reshape(B, H) for p in parts]
            s0 = concatenate(parts, axis=-1) if lstm else parts[0]
        zeros = np.zeros(_GATES[self.mode] * H, dtype)
        s = rnn_sequence(xb, s0, *_step_args(self, "", zeros), mode=self.mode)[0]
        if not batched:
            s = s.reshape(s.shape[-1])
        if not lstm:
            return s
        return s[..., :H], s[..., H:]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """One step of :class:`RNN` (``nonlinearity`` "tanh" or "relu")."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", **kwargs: Any):
        self.mode = _rnn_mode("RNNCell", nonlinearity)
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, **kwargs)


class GRUCell(_CellBase):
    """One step of :class:`GRU`."""

    mode = "gru"


class LSTMCell(_CellBase):
    """One step of :class:`LSTM`; returns ``(h', c')``."""

    mode = "lstm"


# -- embedding --------------------------------------------------------------------------------
@op(name="embedding")
def _embedding(weight, *, index, padding_idx):
    def backward(g):
        dw = np.zeros_like(weight)
        np.add.at(dw, index.reshape(-1), g.reshape(-1, weight.shape[1]))
        if padding_idx is not None:
            dw[padding_idx] = 0
        return dw
    return weight[index], backward


class Embedding(Module):
    """A lookup table: ``Embedding(n, d)(idx)`` is ``weight[idx]``, ``weight`` ``(n, d)``
    ~ N(0, 1) (PyTorch's default; ``weight_init`` overrides). ``padding_idx``: that row starts
    at zero and gets no gradient. Indices are an integer array of any shape."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 weight_init: Any = None, rng: Any = None, dtype: Any = np.float32):
        super().__init__()
        self.num_embeddings = _count("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = _count("Embedding", "embedding_dim", embedding_dim)
        n = self.num_embeddings
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)) \
                    or not -n <= padding_idx < n:
                raise ValueError(f"Embedding: padding_idx={padding_idx!r} is invalid: must be an "
                                 f"integer in [-{n}, {n})")
            padding_idx = int(padding_idx) % n
        self.padding_idx = padding_idx
        shape = (n, self.embedding_dim)
        rng = _generator(rng)
        w = rng.standard_normal(shape).astype(dtype) if weight_init is None else \
            _init_array(self._name(), "weight_init", weight_init, shape, rng, dtype, 0.0)
        if padding_idx is not None:
            w[padding_idx] = 0
        self.weight = Parameter(w)

    def _name(self) -> str:
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"

    def forward(self, idx: Any) -> Tensor:
        arr = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
        if arr.dtype.kind not in "iu":
            if arr.dtype.kind == "f" and arr.size and np.all(arr == np.round(arr)):
                arr = arr.astype(np.int64)
            else:
                raise TypeError(f"{self._name()}: indices must be integers, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= self.num_embeddings):
            bad = arr.min() if arr.min() < 0 else arr.max()
            raise IndexError(f"{self._name()}: index {int(bad)} is out of range [0, "
                             f"{self.num_embeddings})")
        return _embedding(self.weight, index=arr, padding_idx=self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")
