"""Record PyTorch's recurrent layers for tests/test_rnn.py (torch is never needed at test time).

    .venv/bin/pip install torch==2.13.0
    .venv/bin/python tests/data/make_rnn_reference.py

For every case a float64 torch layer is built from a fixed seed; stored per case (key
``case/name``): its state dict (PyTorch's names), the input ``x``, the initial state(s) when the
case has them, the outputs, fixed cotangents ``v_*`` and the gradients of
``sum(out * v_out) + sum(h_n * v_h) (+ sum(c_n * v_c))`` with respect to every parameter
(``grad.<name>``), ``x`` and the initial states.
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch

# name, torch class, constructor kwargs, input shape, give initial state
CASES = [
    ("rnn_tanh", "RNN", {"input_size": 3, "hidden_size": 4}, (5, 2, 3), False),
    ("rnn_relu_h0", "RNN", {"input_size": 3, "hidden_size": 4, "nonlinearity": "relu"}, (5, 2, 3), True),
    ("rnn_2layer_bi_bf", "RNN", {"input_size": 3, "hidden_size": 4, "num_layers": 2,
                                 "bidirectional": True, "batch_first": True}, (2, 6, 3), True),
    ("rnn_nobias", "RNN", {"input_size": 2, "hidden_size": 3, "bias": False}, (4, 3, 2), False),
    ("gru", "GRU", {"input_size": 3, "hidden_size": 4}, (5, 2, 3), False),
    ("gru_bi_h0", "GRU", {"input_size": 1, "hidden_size": 6, "bidirectional": True,
                          "batch_first": True}, (3, 40, 1), True),
    ("gru_3layer", "GRU", {"input_size": 3, "hidden_size": 2, "num_layers": 3}, (4, 2, 3), True),
    ("lstm", "LSTM", {"input_size": 3, "hidden_size": 4}, (5, 2, 3), False),
    ("lstm_2layer_bi_h0", "LSTM", {"input_size": 3, "hidden_size": 4, "num_layers": 2,
                                   "bidirectional": True}, (6, 3, 3), True),
    ("lstm_unbatched", "LSTM", {"input_size": 3, "hidden_size": 5}, (7, 3), True),
    ("rnncell", "RNNCell", {"input_size": 3, "hidden_size": 4}, (2, 3), True),
    ("rnncell_relu", "RNNCell", {"input_size": 3, "hidden_size": 4, "nonlinearity": "relu"}, (2, 3), True),
    ("grucell", "GRUCell", {"input_size": 3, "hidden_size": 4}, (2, 3), True),
    ("lstmcell", "LSTMCell", {"input_size": 3, "hidden_size": 4}, (2, 3), True),
]


def record(name, cls, kw, xshape, with_state, out):
    torch.manual_seed(sum(map(ord, name)))  # a seed that is the same in every run
    m = getattr(torch.nn, cls)(**kw).double()
    rng = np.random.default_rng(len(name))
    for k, v in m.state_dict().items():
        out[f"{name}/{k}"] = v.numpy().copy()
    x = torch.tensor(rng.standard_normal(xshape), requires_grad=True)
    H = kw["hidden_size"]
    cell = cls.endswith("Cell")
    lstm = cls.startswith("LSTM")
    if cell:
        sshape = (xshape[0], H)
    else:
        n = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
        batch = xshape[0] if kw.get("batch_first") else xshape[1]
        sshape = (n, batch, H) if len(xshape) == 3 else (n, H)
    states = []
    if with_state:
        states = [torch.tensor(rng.standard_normal(sshape), requires_grad=True)
                  for _ in range(2 if lstm else 1)]
        for label, s in zip(("h0", "c0"), states):
            out[f"{name}/{label}"] = s.detach().numpy().copy()
    hx = (tuple(states) if lstm else states[0]) if states else None
    res = m(x, hx)
    if cell:
        outs = {"h": res[0], "c": res[1]} if lstm else {"h": res}
    else:
        o, hn = res
        outs = {"out": o, "h": hn[0], "c": hn[1]} if lstm else {"out": o, "h": hn}
    loss = 0
    for k, t in outs.items():
        v = rng.standard_normal(tuple(t.shape))
        out[f"{name}/{k}"] = t.detach().numpy().copy()
        out[f"{name}/v_{k}"] = v
        loss = loss + (t * torch.tensor(v)).sum()
    loss.backward()
    out[f"{name}/x"] = x.detach().numpy().copy()
    out[f"{name}/grad.x"] = x.grad.numpy().copy()
    for label, s in zip(("h0", "c0"), states):
        out[f"{name}/grad.{label}"] = s.grad.numpy().copy()
    for k, p in m.named_parameters():
        out[f"{name}/grad.{k}"] = p.grad.numpy().copy()
    out[f"{name}/kwargs"] = np.array(json.dumps({"cls": cls, **kw}))


def main():
    out = {}
    for case in CASES:
        record(*case, out)
    path = os.path.join(os.path.dirname(__file__), "rnn_reference.npz")
    np.savez_compressed(path, **out)
    print(f"wrote {len(CASES)} cases to {path} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
