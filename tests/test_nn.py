import math

import numpy as np
import pytest

import tinygrad_init as tgi
from tinygrad_init import datasets, nn
from tinygrad_init import functional as F
from tinygrad_init.tensor import Tensor


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, d, rng=0)
        self.drop = nn.Dropout(0.5, rng=0)

    def forward(self, x):
        return self.drop(self.fc(x).relu())


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3, np.float32))
        self.fc1 = nn.Linear(3, 4, rng=1)
        self.blocks = [Block(4), Block(4)]
        self.heads = {"a": nn.Linear(4, 2, rng=2), "b": nn.Linear(4, 1, bias=False, rng=3)}
        self.pair = (nn.Parameter(np.zeros(2, np.float32)), nn.Parameter(np.zeros(1, np.float32)))
        self.nothing = None
        self.not_a_param = Tensor(np.zeros(5, np.float32))  # plain Tensors are not parameters
        self.numbers = [1, 2, 3]
        self.register_buffer("count", np.zeros((), np.int64))

    def forward(self, x):
        h = self.fc1(x * self.scale).relu()
        for b in self.blocks:
            h = b(h)
        return self.heads["a"](h)


EXPECTED_NAMES = [
    "scale", "pair.0", "pair.1",  # own parameters first (attribute order), then children's
    "fc1.weight", "fc1.bias",
    "blocks.0.fc.weight", "blocks.0.fc.bias", "blocks.1.fc.weight", "blocks.1.fc.bias",
    "heads.a.weight", "heads.a.bias", "heads.b.weight",
]


# ----------------------------------------------------------------------------- discovery
def test_named_parameters_nested_lists_dicts():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == EXPECTED_NAMES
    assert [p for p in net.parameters()] == [p for _, p in net.named_parameters()]
    assert all(isinstance(p, nn.Parameter) for p in net.parameters())
    assert [n for n, _ in net.named_modules()] == [
        "", "fc1", "blocks.0", "blocks.0.fc", "blocks.0.drop", "blocks.1", "blocks.1.fc",
        "blocks.1.drop", "heads.a", "heads.b"]
    assert [type(m).__name__ for m in net.children()] == ["Linear", "Block", "Block", "Linear",
                                                         "Linear"]
    assert [n for n, _ in net.named_buffers()] == ["count"]


def test_frozen_params_still_listed_and_reassignment_seen():
    net = Net()
    net.fc1.weight.requires_grad = False
    assert "fc1.weight" in dict(net.named_parameters())
    net.fc1 = nn.Linear(3, 4, bias=False, rng=0)  # no cache: the new layer is what counts
    names = [n for n, _ in net.named_parameters()]
    assert "fc1.bias" not in names and names.count("fc1.weight") == 1
    net.blocks.append(Block(4))
    assert "blocks.2.fc.weight" in dict(net.named_parameters())


def test_shared_parameter_listed_once():
    a = nn.Linear(2, 2, rng=0)
    seq = nn.Sequential(a, nn.ReLU(), a)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(seq.modules())) == 3  # seq, a, relu


def test_sequential_container():
    l0, l2 = nn.Linear(3, 4, rng=0), nn.Linear(4, 2, rng=1)
    seq = nn.Sequential(l0, nn.ReLU(), l2)
    assert len(seq) == 3 and seq[0] is l0 and seq[-1] is l2 and list(seq)[1].__class__ is nn.ReLU
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2 and sub[1] is l2
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    ref = np.maximum(x @ l0.weight.data.T + l0.bias.data, 0) @ l2.weight.data.T + l2.bias.data
    np.testing.assert_allclose(seq(x).data, ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="argument 1 is int"):
        nn.Sequential(l0, 3)


def test_repr_like_pytorch():
    seq = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(128, 10), nn.Dropout(0.25), nn.LeakyReLU(0.2), nn.Softmax())
    assert repr(seq) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
        "  (1): ReLU()\n"
        "  (2): MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))\n"
        "  (3): Flatten(start_dim=1, end_dim=-1)\n"
        "  (4): Linear(in_features=128, out_features=10, bias=True)\n"
        "  (5): Dropout(p=0.25)\n"
        "  (6): LeakyReLU(negative_slope=0.2)\n"
        "  (7): Softmax(axis=-1)\n"
        ")")
    assert "(blocks.1): Block(\n    (fc): Linear(" in repr(Net())


# ----------------------------------------------------------------------------- state
def test_state_dict_copies_and_round_trip(tmp_path):
    a, b = Net(), Net()
    for p in b.parameters():
        p.data = p.data + 1.0
    b.count[...] = 7
    sd = b.state_dict()
    assert list(sd) == EXPECTED_NAMES[:3] + ["count"] + EXPECTED_NAMES[3:]
    assert all(type(v) is np.ndarray for v in sd.values())
    sd["fc1.weight"][...] = 123.0  # a copy: the model is untouched
    assert not np.any(b.fc1.weight.data == 123.0)
    sd = b.state_dict()
    np.savez(tmp_path / "m.npz", **sd)
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        a.load_state_dict(dict(z))
    for (n, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.data, pb.data, err_msg=n)
        assert pa.data.dtype == np.float32
    assert int(a.count) == 7
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).data, b(x).data)


def _snapshot(m):
    return {k: v.copy() for k, v in m.state_dict().items()}


def _assert_unchanged(m, snap):
    now = m.state_dict()
    assert list(now) == list(snap)
    for k in snap:
        np.testing.assert_array_equal(now[k], snap[k], err_msg=k)


def test_load_state_dict_errors_leave_model_unchanged():
    net = Net()
    snap = _snapshot(net)
    good = {k: v + 1 for k, v in snap.items()}

    bad_shape = dict(good)
    bad_shape["heads.b.weight"] = np.zeros((2, 4), np.float32)  # the last key: all others valid
    with pytest.raises(ValueError) as e:
        net.load_state_dict(bad_shape)
    msg = str(e.value)
    assert "'heads.b.weight'" in msg and "(2, 4)" in msg and "(1, 4)" in msg
    _assert_unchanged(net, snap)
    with pytest.raises(ValueError, match="heads.b.weight"):
        net.load_state_dict(bad_shape, strict=False)  # shapes are checked even when not strict
    _assert_unchanged(net, snap)

    missing = dict(good)
    del missing["blocks.1.fc.bias"]
    with pytest.raises(KeyError, match="missing keys: 'blocks.1.fc.bias'"):
        net.load_state_dict(missing)
    _assert_unchanged(net, snap)

    extra = dict(good, **{"fc9.weight": np.zeros(3, np.float32)})
    with pytest.raises(KeyError, match="unexpected keys: 'fc9.weight'"):
        net.load_state_dict(extra)
    _assert_unchanged(net, snap)

    junk = dict(good, **{"scale": np.array(["a", "b", "c"])})
    with pytest.raises(ValueError, match="'scale'.*not a numeric array"):
        net.load_state_dict(junk)
    _assert_unchanged(net, snap)

    res = net.load_state_dict(dict(missing, **{"fc9.weight": np.zeros(3)}), strict=False)
    assert res.missing_keys == ["blocks.1.fc.bias"] and res.unexpected_keys == ["fc9.weight"]
    np.testing.assert_array_equal(net.fc1.weight.data, good["fc1.weight"])
    np.testing.assert_array_equal(net.blocks[1].fc.bias.data, snap["blocks.1.fc.bias"])


def test_buffers_loaded_in_place():
    net = Net()
    buf = net.count
    net.load_state_dict(dict(net.state_dict(), count=np.array(5)))
    assert net.count is buf and int(buf) == 5 and buf.dtype == np.int64


# ----------------------------------------------------------------------------- modes
def test_train_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert not net.blocks[1].drop.training and not net.heads["b"].training
    net.train()
    assert all(m.training for m in net.modules())
    net.blocks[0].eval()
    assert not net.blocks[0].drop.training and net.blocks[1].drop.training and net.training


def test_freeze_unfreeze_and_zero_grad():
    net = Net()
    net.eval()
    x = np.ones((2, 3), np.float32)
    net.fc1.freeze()
    assert not net.fc1.weight.requires_grad and not net.fc1.bias.requires_grad
    assert len(net.parameters()) == len(EXPECTED_NAMES)
    net(x).sum().backward()
    assert net.fc1.weight.grad is None and net.heads["a"].weight.grad is not None
    assert net.scale.grad is not None
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.freeze()
    assert not any(p.requires_grad for p in net.parameters())
    net.unfreeze()
    assert all(p.requires_grad for p in net.parameters())


# ----------------------------------------------------------------------------- dropout
def test_dropout_statistics_and_eval_identity():
    p = 0.3
    d = nn.Dropout(p, rng=0)
    x = Tensor(np.ones((200, 500), np.float32))
    y = d(x).data
    kept = y != 0
    n = y.size
    # dropped fraction ~ Binomial(n, p): 5 standard deviations
    assert abs((1 - kept.mean()) - p) < 5 * math.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)  # inverted scaling
    assert abs(y.mean() - 1.0) < 5 * math.sqrt(p / (1 - p) / n)  # expectation preserved
    d.eval()
    assert np.array_equal(d(x).data, x.data)
    assert nn.Dropout(0.0)(x) is x
    a = nn.Dropout(0.5, rng=7)(x).data
    b = nn.Dropout(0.5, rng=7)(x).data
    assert np.array_equal(a, b)


def test_dropout_gradient_uses_mask():
    d = nn.Dropout(0.5, rng=1)
    x = Tensor(np.ones((4, 6), np.float32), requires_grad=True)
    y = d(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)  # d(x*mask)/dx = mask = y for x = 1


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, "0.5", True])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match="Dropout: p="):
        nn.Dropout(p)


# ----------------------------------------------------------------------------- layers
def test_linear_forward_matches_numpy():
    lin = nn.Linear(5, 3, rng=0)
    assert lin.weight.shape == (3, 5) and lin.bias.shape == (3,)
    x = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    ref = x @ lin.weight.data.T + lin.bias.data
    np.testing.assert_allclose(lin(x).data, ref, rtol=1e-5, atol=1e-6)
    x3 = np.random.default_rng(2).normal(size=(2, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(lin(Tensor(x3)).data, x3 @ lin.weight.data.T + lin.bias.data,
                               rtol=1e-5, atol=1e-6)
    assert nn.Linear(5, 3, bias=False).bias is None


def test_layer_shape_errors_name_layer_and_shapes():
    lin = nn.Linear(64, 10)
    with pytest.raises(ValueError) as e:
        lin(np.zeros((32, 63), np.float32))
    assert str(e.value) == ("Linear(in_features=64, out_features=10): input shape (32, 63) "
                            "does not match in_features=64")
    conv = nn.Conv2d(3, 8, 3)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8, kernel_size=\(3, 3\).*input shape "
                                         r"\(2, 1, 8, 8\).*in_channels=3"):
        conv(np.zeros((2, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"input shape \(2, 3, 2, 2\) is too small"):
        conv(np.zeros((2, 3, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"MaxPool2d.*\(4, 4\) is not \(N, C, H, W\)"):
        nn.MaxPool2d(2)(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="Linear: in_features=0"):
        nn.Linear(0, 3)
    with pytest.raises(TypeError, match="Conv2d: kernel_size=2.5"):
        nn.Conv2d(1, 1, 2.5)


@pytest.mark.parametrize("make,fan_in,shape", [
    (lambda: nn.Linear(64, 300, rng=0), 64, (300, 64)),
    (lambda: nn.Conv2d(3, 100, 3, rng=0), 27, (100, 3, 3, 3)),
    (lambda: nn.Conv2d(2, 50, (3, 5), rng=0), 30, (50, 2, 3, 5)),
])
def test_default_init_is_pytorch_uniform(make, fan_in, shape):
    layer = make()
    w, b = layer.weight.data, layer.bias.data
    bound = 1 / math.sqrt(fan_in)
    assert w.shape == shape and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.95 * bound  # fills the interval, not a narrower one
    # U(-a, a): mean 0, variance a^2/3 (5-sigma tolerances on the sample moments)
    n = w.size
    assert abs(w.mean()) < 5 * bound / math.sqrt(3 * n)
    assert abs(w.var() - bound ** 2 / 3) < 5 * bound ** 2 * math.sqrt(4 / 45 / n)


def test_rng_seeding():
    a, b = nn.Linear(4, 3, rng=5), nn.Linear(4, 3, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(a.weight.data, nn.Linear(4, 3, rng=6).weight.data)
    tgi.init.manual_seed(3)
    c = nn.Linear(4, 3)
    tgi.init.manual_seed(3)
    d = nn.Linear(4, 3)
    np.testing.assert_array_equal(c.weight.data, d.weight.data)
    tgi.init.manual_seed(tgi.init.DEFAULT_SEED)


class HalfInit:
    """A user-defined initializer object: init(shape, rng, dtype)."""

    def __call__(self, shape, rng, dtype=np.float32):
        return np.full(shape, 0.5, dtype=dtype)


def test_weight_init_object_and_name():
    lin = nn.Linear(4, 3, weight_init=HalfInit(), bias_init=HalfInit())
    assert np.all(lin.weight.data == 0.5) and np.all(lin.bias.data == 0.5)
    conv = nn.Conv2d(2, 3, 2, weight_init=HalfInit(), bias=False)
    assert conv.weight.shape == (3, 2, 2, 2) and np.all(conv.weight.data == 0.5)
    lin = nn.Linear(4, 3, weight_init="zeros", bias_init=tgi.initializer("zeros"))
    assert np.all(lin.weight.data == 0) and np.all(lin.bias.data == 0)
    assert lin.weight.dtype == np.float32
    lin64 = nn.Linear(4, 3, weight_init="zeros", dtype=np.float64)
    assert lin64.weight.dtype == np.float64 and lin64.bias.dtype == np.float64


def test_conv_and_pool_output_shapes():
    x = np.zeros((2, 3, 9, 7), np.float32)
    for k, s, p, d in [(3, 1, 0, 1), (3, 2, 1, 1), ((2, 3), (2, 1), (1, 0), 1), (3, 1, 2, 2)]:
        conv = nn.Conv2d(3, 5, k, stride=s, padding=p, dilation=d, rng=0)
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = conv.kernel_size, conv.stride, conv.padding, \
            conv.dilation
        oh = (9 + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        ow = (7 + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        assert conv(x).shape == (2, 5, oh, ow)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 4, 3)
    assert nn.AvgPool2d(3, stride=2, padding=1)(x).shape == (2, 3, 5, 4)
    assert nn.Flatten()(x).shape == (2, 3 * 9 * 7)


def test_conv_layer_matches_direct_sum():
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1, rng=0, dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(1, 2, 5, 5))
    y = conv(x).data
    w, b = conv.weight.data, conv.bias.data
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for o in range(3):
        for i in range(3):
            for j in range(3):
                ref = (xp[0, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3] * w[o]).sum() + b[o]
                assert abs(y[0, o, i, j] - ref) < 1e-12


def test_conv_layer_gradcheck():
    from tinygrad_init.testing import gradcheck
    conv = nn.Conv2d(2, 3, 3, stride=1, padding=1, rng=0, dtype=np.float64)
    x = np.random.default_rng(1).normal(size=(2, 2, 4, 4))

    def fn(xt, w, b):
        conv.weight, conv.bias = w, b
        return conv(xt)
    gradcheck(fn, x, conv.weight.data.copy(), conv.bias.data.copy())


def test_linear_layer_gradcheck():
    from tinygrad_init.testing import gradcheck
    lin = nn.Linear(4, 3, rng=0, dtype=np.float64)
    x = np.random.default_rng(1).normal(size=(5, 4))

    def fn(xt, w, b):
        lin.weight, lin.bias = w, b
        return lin(xt).tanh()
    gradcheck(fn, x, lin.weight.data.copy(), lin.bias.data.copy())


def test_activation_modules():
    x = np.array([[-2.0, -0.5, 0.0, 1.5]], np.float32)
    np.testing.assert_allclose(nn.ReLU()(x).data, np.maximum(x, 0))
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(x).data, np.where(x > 0, x, 0.1 * x))
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh(x), rtol=1e-6)
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp(-x)), rtol=1e-6)
    e = np.exp(x - x.max())
    np.testing.assert_allclose(nn.Softmax()(x).data, e / e.sum(), rtol=1e-6)
    assert nn.LeakyReLU().negative_slope == 0.01


# ----------------------------------------------------------------------------- training
def test_mlp_learns_moons_with_manual_sgd():
    X, y = datasets.make_moons(n_samples=200, noise=0.1, seed=0)
    model = nn.Sequential(nn.Linear(2, 16, rng=0), nn.Tanh(), nn.Linear(16, 16, rng=1), nn.Tanh(),
                          nn.Linear(16, 2, rng=2))
    lr = 0.5
    losses = []
    for epoch in range(150):
        loss = F.cross_entropy(model(X), y)
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= lr * p.grad
        losses.append(loss.item())
    assert losses[0] > 0.5  # ~log 2 at the start
    assert losses[-1] < 0.2 * losses[0], losses[::25]
    assert F.accuracy(model(X), y) > 0.95


def test_buffer_registered_before_super_init_and_reassigned():
    class M(nn.Module):
        def __init__(self):
            self.register_buffer("stat", np.zeros(2, np.float32))
            super().__init__()
            self.w = nn.Parameter(np.ones(2, np.float32))

    m = M()
    assert list(m.state_dict()) == ["w", "stat"]
    m.stat = np.full(2, 3.0, np.float32)  # reassigning the attribute is seen
    np.testing.assert_array_equal(m.state_dict()["stat"], [3.0, 3.0])


# ----------------------------------------------------------------------------- PyTorch fixture
REF_PATH = __import__("pathlib").Path(__file__).parent / "data" / "nn_reference.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(REF_PATH, allow_pickle=False) as z:
        return dict(z)


def _check_layer(ref, case, layer, pnames):
    x = Tensor(ref[f"{case}__x"], requires_grad=True)
    for n in pnames:
        getattr(layer, n).data = ref[f"{case}__{n}"].copy()
    out = layer(x)
    np.testing.assert_allclose(out.data, ref[f"{case}__out"], rtol=1e-10, atol=1e-12)
    (out * Tensor(ref[f"{case}__g"])).sum().backward()
    np.testing.assert_allclose(x.grad, ref[f"{case}__grad_x"], rtol=1e-10, atol=1e-12)
    for n in pnames:
        np.testing.assert_allclose(getattr(layer, n).grad, ref[f"{case}__grad_{n}"], rtol=1e-10,
                                   atol=1e-12, err_msg=f"{case} {n}")


def test_linear_matches_pytorch(ref):
    _check_layer(ref, "linear", nn.Linear(5, 3, dtype=np.float64), ["weight", "bias"])


@pytest.mark.parametrize("i", range(4))
def test_conv2d_matches_pytorch(ref, i):
    c = f"conv{i}"
    conv = nn.Conv2d(3, 4, (3, 2), stride=tuple(np.broadcast_to(ref[f"{c}__stride"], 2).tolist()),
                     padding=tuple(np.broadcast_to(ref[f"{c}__padding"], 2).tolist()),
                     dilation=int(ref[f"{c}__dilation"]), dtype=np.float64)
    _check_layer(ref, c, conv, ["weight", "bias"])


def test_pools_match_pytorch(ref):
    _check_layer(ref, "maxpool", nn.MaxPool2d(3, stride=2, padding=1), [])
    _check_layer(ref, "avgpool", nn.AvgPool2d(3, stride=2, padding=1), [])


def test_parameter_names_and_layout_match_pytorch(ref):
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(128, 10, bias=False))
    sd = net.state_dict()
    assert list(sd) == ref["layout__names"].tolist()
    assert [str(v.shape) for v in sd.values()] == ref["layout__shapes"].tolist()
    X, y = datasets.load_digits(images=True)
    assert net(X[:5]).shape == (5, 10)  # digits feed a CNN directly


def test_bias_defaults_to_zeros_once_a_weight_init_is_chosen():
    import tinygrad_init.nn as nn_
    chosen = nn_.Linear(5, 3, weight_init="kaiming_normal", rng=0)
    assert np.array_equal(chosen.bias.data, np.zeros(3, np.float32))
    conv = nn_.Conv2d(2, 4, 3, weight_init="xavier_uniform", rng=0)
    assert np.array_equal(conv.bias.data, np.zeros(4, np.float32))
    default = nn_.Linear(5, 3, rng=0)  # PyTorch's default layer: bias ~ U(+-1/sqrt(5))
    assert np.all(np.abs(default.bias.data) <= 1 / np.sqrt(5)) and np.any(default.bias.data != 0)
    relu_variant = nn_.Linear(5, 3, weight_init="kaiming_normal", bias_init=tgi.initializer("constant", value=0.01), rng=0)
    assert np.allclose(relu_variant.bias.data, 0.01)


# ---- errors that name the layer and the value (issues 20 item 7, 21 item 9) --------------------
def test_flatten_on_1d_input_names_the_layer_and_shape():
    with pytest.raises(ValueError, match=r"Flatten\(start_dim=1, end_dim=-1\): input of shape \(5,\) has no such"):
        nn.Flatten()(Tensor(np.ones(5)))
    assert nn.Flatten(0)(Tensor(np.ones(5))).shape == (5,)


@pytest.mark.parametrize("slope", ["a", None])
def test_leaky_relu_layer_slope_must_be_a_number(slope):
    with pytest.raises(TypeError, match=r"LeakyReLU: negative_slope must be a number, got"):
        nn.LeakyReLU(slope)


def test_softmax_layer_with_a_bad_axis():
    with pytest.raises(ValueError, match=r"softmax: axis 3 is out of bounds for a tensor of shape \(2, 2\)"):
        nn.Softmax(axis=3)(Tensor(np.ones((2, 2))))


def test_weight_init_with_the_wrong_signature_names_the_layer():
    with pytest.raises(TypeError, match=r"Linear\(in_features=3, out_features=4\): weight_init=.* cannot be "
                                        r"called as init\(shape, rng, dtype\)"):
        nn.Linear(3, 4, weight_init=lambda shape: np.ones(shape))

    def broken(shape, rng, dtype):
        raise TypeError("a bug inside the initializer")
    with pytest.raises(TypeError, match="a bug inside the initializer"):  # not reworded
        nn.Linear(3, 4, weight_init=broken)


def test_a_linear_too_large_for_memory_names_the_layer_and_size():
    # 400 TB: more than a 47-bit address space, so allocation fails even with overcommit
    with pytest.raises(MemoryError, match=r"Linear\(in_features=10000000, out_features=10000000\): weight "
                                          r"of shape \(10000000, 10000000\) needs 372,529.0 GiB \(float32\)"):
        nn.Linear(10**7, 10**7)
