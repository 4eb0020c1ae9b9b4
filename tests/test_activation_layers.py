"""Activation modules (nn) and config layer types for the activations of issue 13."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_init as tgi
from tinygrad_init import nn
from tinygrad_init.experiment import ConfigError, build_model, check as validate
from tinygrad_init.tensor import Tensor
from tinygrad_init.testing import gradcheck

X = np.linspace(-4, 4, 17)
SIG = 1 / (1 + np.exp(-X))
SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
ROWS = [  # module, PyTorch's formula at X
    (nn.SiLU(), X * SIG),
    (nn.ELU(0.5), np.where(X > 0, X, 0.5 * (np.exp(X) - 1))),
    (nn.SELU(), SELU_S * np.where(X > 0, X, SELU_A * (np.exp(X) - 1))),
    (nn.CELU(alpha=2.0), np.maximum(0, X) + np.minimum(0, 2 * (np.exp(X / 2) - 1))),
    (nn.Softplus(beta=2.0, threshold=4.0), np.where(2 * X > 4, X, np.log1p(np.exp(2 * X)) / 2)),
    (nn.Mish(), X * np.tanh(np.log1p(np.exp(X)))),
    (nn.Hardswish(), X * np.clip(X + 3, 0, 6) / 6),
    (nn.Hardsigmoid(), np.clip(X + 3, 0, 6) / 6),
    (nn.ReLU6(), np.clip(X, 0, 6)),
    (nn.Hardtanh(-2.0, 2.0), np.clip(X, -2, 2)),
    (nn.LogSigmoid(), np.log(SIG)),
    (nn.Softsign(), X / (1 + np.abs(X))),
    (nn.GELU(approximate="tanh"), 0.5 * X * (1 + np.tanh(np.sqrt(2 / np.pi) * (X + 0.044715 * X ** 3)))),
]


@pytest.mark.parametrize("mod,want", ROWS, ids=[type(r[0]).__name__ for r in ROWS])
def test_activation_modules(mod, want):
    np.testing.assert_allclose(mod(Tensor(X)).data, want, rtol=1e-12, atol=1e-15)
    assert mod.parameters() == []


def test_prelu_is_learnable_per_channel():
    m = nn.PReLU(3)
    assert m.weight.shape == (3,) and np.all(m.weight.data == 0.25)
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    x = np.array([[[-1.0, 2.0]], [[-3.0, 4.0]], [[-5.0, -6.0]]]).reshape(1, 3, 2)
    out = m(Tensor(x))
    np.testing.assert_allclose(out.data, np.where(x > 0, x, 0.25 * x))
    out.sum().backward()
    np.testing.assert_allclose(m.weight.grad, [-1.0, -3.0, -11.0])  # sum of x where x < 0
    gradcheck(lambda a, w: a.prelu(w), np.array([[-1.0, 2.0, -0.5]]), np.array([0.1, 0.2, 0.3]))


def test_bad_options_name_the_layer():
    with pytest.raises(ValueError, match="GELU: gelu: approximate='fast' is invalid"):
        nn.GELU("fast")
    with pytest.raises(TypeError, match=r"ELU: unknown option 'beta' \(options: alpha\)"):
        nn.ELU(beta=1.0)
    with pytest.raises(TypeError, match="Softplus: beta='x' is not a number"):
        nn.Softplus(beta="x")
    with pytest.raises(ValueError, match="CELU: celu: alpha=0 is invalid"):
        nn.CELU(0.0)


def test_activations_are_config_layer_types():
    layers = [{"type": "linear", "out": 4}, {"type": "selu"}, {"type": "linear", "out": 4},
              {"type": "gelu", "approximate": "tanh"}, {"type": "linear", "out": 4},
              {"type": "prelu", "num_parameters": 4}, {"type": "elu", "alpha": 0.5},
              {"type": "softplus", "beta": 2.0}, {"type": "linear", "out": 2}]
    cfg = validate({"model": {"layers": layers}})
    model = build_model(cfg["model"], (3,))
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "SELU", "Linear", "GELU", "Linear", "PReLU", "ELU", "Softplus", "Linear"]
    assert model[3].approximate == "tanh" and model[6].alpha == 0.5
    assert "4.weight" in dict(model.named_parameters()) or "5.weight" in dict(model.named_parameters())
    assert model(Tensor(np.ones((2, 3)))).shape == (2, 2)
    with pytest.raises(ConfigError, match="model.layers.1"):
        build_model(validate({"model": {"layers": [{"type": "linear", "out": 2},
                                                   {"type": "elu", "beta": 1.0}]}})["model"], (3,))


def test_a_toml_config_with_the_new_activations_builds_and_backpropagates(tmp_path):
    from tinygrad_init import experiment
    cfg = tmp_path / "selu.toml"
    cfg.write_text('''
[data]
name = "moons"
n_samples = 64

[model]
layers = [
  { type = "linear", out = 8, weight_init = "lecun_normal" },
  { type = "selu" },
  { type = "linear", out = 8 },
  { type = "prelu", num_parameters = 8 },
  { type = "linear", out = 8 },
  { type = "gelu", approximate = "tanh" },
  { type = "linear", out = 2 },
]

[train]
epochs = 2
batch_size = 16
''')
    conf = experiment.load_config(cfg)
    model = experiment.build_model(conf["model"], (2,))
    assert [type(m).__name__ for m in model][1::2] == ["SELU", "PReLU", "GELU"]
    slope = model[3].weight.data.copy()
    x = Tensor(np.random.default_rng(0).standard_normal((16, 2)))
    loss = tgi.F.cross_entropy(model(x), np.arange(16) % 2)
    loss.backward()
    assert model[3].weight.grad is not None and model[3].weight.grad.shape == (8,)
    assert np.array_equal(model[3].weight.data, slope)
