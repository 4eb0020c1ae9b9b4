"""RNN/GRU/LSTM, their cells and Embedding: PyTorch's values (recorded in float64 by
tests/data/make_rnn_reference.py), parameter names, per-gate initializers, errors."""
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st

import tinygrad_init as tgi
from tinygrad_init import nn
from tinygrad_init.rnn import rnn_sequence
from tinygrad_init.testing import check_op

REF = np.load(Path(__file__).parent / "data" / "rnn_reference.npz")
CASES = sorted({k.split("/")[0] for k in REF.files})


def _case(name):
    return {k.split("/", 1)[1]: REF[k] for k in REF.files if k.startswith(name + "/")}


@pytest.mark.parametrize("name", CASES)
def test_matches_pytorch_outputs_and_gradients(name):
    r = _case(name)
    kw = json.loads(str(r["kwargs"]))
    cls = getattr(nn, kw.pop("cls"))
    m = cls(**kw, dtype=np.float64)
    names = [n for n, _ in m.named_parameters()]
    assert names == [k for k in r if k.startswith(("weight", "bias"))]  # PyTorch's names, in order
    m.load_state_dict({n: r[n] for n in names})
    x = tgi.Tensor(r["x"], requires_grad=True)
    states = [tgi.Tensor(r[k], requires_grad=True) for k in ("h0", "c0") if k in r]
    lstm = cls in (nn.LSTM, nn.LSTMCell)
    hx = (tuple(states) if lstm else states[0]) if states else None
    res = m(x, hx)
    if isinstance(m, (nn.RNNCell, nn.GRUCell, nn.LSTMCell)):
        outs = {"h": res[0], "c": res[1]} if lstm else {"h": res}
    else:
        outs = {"out": res[0], "h": res[1][0], "c": res[1][1]} if lstm else {"out": res[0], "h": res[1]}
    loss = None
    for k, t in outs.items():
        np.testing.assert_allclose(t.numpy(), r[k], rtol=1e-10, atol=1e-12, err_msg=k)
        term = (t * r[f"v_{k}"]).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    np.testing.assert_allclose(x.grad, r["grad.x"], rtol=1e-9, atol=1e-12)
    for k, s in zip(("h0", "c0"), states):
        np.testing.assert_allclose(s.grad, r[f"grad.{k}"], rtol=1e-9, atol=1e-12, err_msg=k)
    for n, p in m.named_parameters():
        np.testing.assert_allclose(p.grad, r[f"grad.{n}"], rtol=1e-9, atol=1e-12, err_msg=n)


def test_one_node_per_sequence_and_float32_stays_float32():
    m = nn.GRU(3, 4)
    x = np.random.default_rng(0).standard_normal((40, 2, 3)).astype(np.float32)
    out, h = m(x)
    assert out._op == "rnn_sequence" and out.dtype == np.float32
    h.sum().backward()
    assert all(p.grad.dtype == np.float32 for p in m.parameters())


@st.composite
def _sequence_inputs(draw):
    mode = draw(st.sampled_from(["rnn_tanh", "rnn_relu", "gru", "lstm"]))
    T, B, I, H = (draw(st.integers(1, n)) for n in (4, 3, 3, 3))
    G, S = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}[mode] * H, 2 * H if mode == "lstm" else H
    shapes = ((T, B, I), (B, S), (G, I), (G, H), (G,), (G,))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    arrays = tuple(rng.standard_normal(s) for s in shapes)
    return arrays, {"mode": mode, "reverse": draw(st.booleans())}


def test_check_op_on_the_fused_sequence_op():
    check_op(rnn_sequence, 6, inputs=_sequence_inputs(), max_examples=40)


def test_default_init_is_uniform_one_over_sqrt_hidden():
    m = nn.LSTM(5, 16, num_layers=2, bidirectional=True, rng=0)
    vals = np.concatenate([p.data.ravel() for p in m.parameters()])
    assert np.abs(vals).max() <= 0.25 and np.abs(vals).max() > 0.24
    assert abs(vals.mean()) < 0.01 and abs(vals.var() - 0.25 ** 2 / 3) < 0.002
    assert m.weight_ih_l1.shape == (64, 32) and m.weight_hh_l1_reverse.shape == (64, 16)


def test_weight_hh_init_is_applied_per_gate():
    m = nn.GRU(3, 5, weight_hh_init="orthogonal", rng=0)
    w = m.weight_hh_l0.numpy()
    for k in range(3):
        block = w[5 * k:5 * (k + 1)]
        np.testing.assert_allclose(block @ block.T, np.eye(5), atol=1e-5)
    assert not np.allclose(w[:5], w[5:10])  # each gate draws its own matrix
    assert np.all(m.bias_ih_l0.numpy() == 0)  # a chosen weight init makes the biases zeros, as in Linear
    irnn = nn.RNN(1, 4, nonlinearity="relu", weight_hh_init="identity", rng=0)
    np.testing.assert_array_equal(irnn.weight_hh_l0.numpy(), np.eye(4))


def test_forget_bias_sets_the_sum_of_the_forget_slices():
    m = nn.LSTM(2, 3, num_layers=2, forget_bias=1.0, rng=0)
    for layer in (0, 1):
        b_ih, b_hh = getattr(m, f"bias_ih_l{layer}").numpy(), getattr(m, f"bias_hh_l{layer}").numpy()
        np.testing.assert_array_equal(b_ih[3:6], 1.0)
        np.testing.assert_array_equal(b_hh[3:6], 0.0)
        assert np.all(b_ih[:3] != 1.0)  # the other gates keep PyTorch's default
    cell = nn.LSTMCell(2, 3, forget_bias=2.0)
    np.testing.assert_array_equal(cell.bias_ih.numpy()[3:6] + cell.bias_hh.numpy()[3:6], 2.0)
    with pytest.raises(ValueError, match="GRU: forget_bias=1.0 is invalid: only the LSTM"):
        nn.GRU(2, 3, forget_bias=1.0)


def test_dropout_between_layers_only_in_training():
    x = np.random.default_rng(0).standard_normal((6, 4, 3))
    m = nn.GRU(3, 8, num_layers=2, dropout=0.5, dtype=np.float64, rng=0)
    plain = nn.GRU(3, 8, num_layers=2, dtype=np.float64)
    plain.load_state_dict(m.state_dict())
    a, b = m(x)[0].numpy(), m(x)[0].numpy()
    assert not np.allclose(a, b)
    m.eval()
    np.testing.assert_allclose(m(x)[0].numpy(), plain(x)[0].numpy())
    one = nn.GRU(3, 8, dropout=0.5, dtype=np.float64, rng=0)  # one layer: nothing to drop between
    np.testing.assert_allclose(one(x)[0].numpy(), one(x)[0].numpy())


def test_bad_input_names_the_layer_and_shapes():
    m = nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"LSTM\(3, 4\): input shape \(5, 2, 7\) does not match"):
        m(np.zeros((5, 2, 7)))
    with pytest.raises(ValueError, match=r"h0 has shape \(1, 2, 4\), expected \(2, 2, 4\)"):
        m(np.zeros((5, 2, 3)), (np.zeros((1, 2, 4)), np.zeros((2, 2, 4))))
    with pytest.raises(ValueError, match="hx must be a tuple"):
        m(np.zeros((5, 2, 3)), np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match="hx must hold both h0 and c0"):
        m(np.zeros((5, 2, 3)), (np.zeros((2, 2, 4)), None))
    with pytest.raises(ValueError, match=r"LSTMCell\(3, 4\): hx must be a tuple \(h, c\) of arrays"):
        nn.LSTMCell(3, 4)(np.zeros((2, 3)), (np.zeros((2, 4)), None))
    with pytest.raises(ValueError, match=r"GRUCell\(3, 4\): h has shape \(3, 4\), expected \(2, 4\)"):
        nn.GRUCell(3, 4)(np.zeros((2, 3)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="nonlinearity='sigmoid' is invalid; allowed: tanh, relu"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout=1.5 is invalid"):
        nn.GRU(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="size mismatch for 'weight_hh_l0'"):
        nn.GRU(3, 4).load_state_dict({**nn.GRU(3, 4).state_dict(), "weight_hh_l0": np.zeros((12, 3))})


def test_embedding_lookup_gradient_and_padding():
    e = nn.Embedding(5, 3, padding_idx=1, rng=0)
    np.testing.assert_array_equal(e.weight.numpy()[1], 0)
    idx = np.array([[0, 1, 1], [4, 0, 0]])
    out = e(idx)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.numpy(), e.weight.numpy()[idx])
    out.sum().backward()
    np.testing.assert_array_equal(e.weight.grad[:, 0], [3, 0, 0, 0, 1])  # repeats add; padding gets none
    with pytest.raises(IndexError, match=r"Embedding\(5, 3\): index 5 is out of range \[0, 5\)"):
        e(np.array([5]))
    with pytest.raises(TypeError, match="indices must be integers"):
        e(np.array([0.5]))
    w = nn.Embedding(1000, 4, rng=0).weight.numpy()
    assert abs(w.std() - 1) < 0.05  # N(0, 1), PyTorch's default


def test_rnn_init_example_quick_run(tmp_path):
    import os
    import re
    import subprocess
    import sys

    root = Path(__file__).parents[1]
    png = tmp_path / "rnn_init.png"
    env = {**os.environ, "NO_COLOR": "1", "OPENBLAS_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, str(root / "examples" / "rnn_init.py"), "--quick", "--plot", str(png)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "adding problem, length 20: validation MSE after 2 epochs" in out
    for setup in (r"ReLU RNN, W_hh identity \(IRNN\)", r"ReLU RNN, W_hh ~ N\(0, 0\.001\^2\)",
                  "tanh RNN, W_hh orthogonal", r"tanh RNN, W_hh ~ N\(0, 1/hidden\)",
                  "LSTM, forget bias 1", "LSTM, forget bias 0"):
        cell = r"(\d+\.\d{4}|diverged) \((ep \d+|-)\)"
        assert re.search(rf"│ {setup}\s+│\s+{cell} │\s+{cell} │", out), setup
    assert out.count("epoch   2/2  train_loss") == 12  # the rich logger, for every run
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rnn_module_can_be_imported_before_nn():
    import subprocess
    import sys

    code = "from tinygrad_init.rnn import GRU; from tinygrad_init import nn; assert nn.GRU is GRU"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
