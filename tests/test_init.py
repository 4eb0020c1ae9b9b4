"""Per-tensor initializers against their written definitions (issue #4).

Expected values are computed here from the published formulas (PyTorch's
``torch.nn.init`` docs, Glorot & Bengio 2010, He et al. 2015, Keras's
VarianceScaling, Saxe et al. 2014, Martens 2010), never read back from the code.
"""
import math
import warnings

import numpy as np
import pytest

import tinygrad_init as tgi
from tinygrad_init.init import as_generator, default_generator, manual_seed
from tinygrad_init.registry import Component, PluginRegistry
from tinygrad_init.testing import contracts_initializer as contracts

# other helpers' plugins may not exist yet; their load warnings are not this file's business
pytestmark = pytest.mark.filterwarnings("ignore::tinygrad_init.registry.PluginLoadWarning")

CONV = (64, 32, 3, 3)  # fan_in = 32*9 = 288, fan_out = 64*9 = 576
DENSE = (300, 200)  # fan_in = 200, fan_out = 300


def init(name, **hp):
    return tgi.initializer(name, **hp)


def draw(name, shape, seed=0, dtype=np.float64, **hp):
    return init(name, **hp)(shape, np.random.default_rng(seed), dtype=dtype)


def phi(x):
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def Phi(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def assert_std(x, std, sigmas=6):
    # sample std of n i.i.d. normals: standard error ~ std / sqrt(2n)
    n = x.size
    assert abs(x.std() - std) <= sigmas * std / math.sqrt(2 * n), (x.std(), std)
    assert abs(x.mean()) <= sigmas * std / math.sqrt(n)


# --------------------------------------------------------------------- fans and gains


@pytest.mark.parametrize("shape, fans", [
    ((7, 5), (5, 7)),  # Linear weight (out, in)
    ((64, 32, 3, 3), (288, 576)),  # Conv2d (out, in, kh, kw)
    ((8, 4, 5), (20, 40)),  # Conv1d
    ((2, 3, 2, 2, 2), (24, 16)),  # Conv3d
])
def test_calculate_fans_pytorch_layout(shape, fans):
    receptive = math.prod(shape[2:])
    assert fans == (shape[1] * receptive, shape[0] * receptive)
    assert tgi.calculate_fans(shape) == fans


@pytest.mark.parametrize("shape", [(), (5,)])
def test_fans_need_two_dims_and_errors_name_initializer_and_shape(shape):
    with pytest.raises(ValueError, match=r"calculate_fans.*needs at least 2"):
        tgi.calculate_fans(shape)
    for name in ("xavier_uniform", "kaiming_normal", "lecun_normal", "variance_scaling",
                 "orthogonal", "sparse_martens"):
        with pytest.raises(ValueError, match=rf"{name}: shape {re_shape(shape)}"):
            init(name)(shape, np.random.default_rng(0))


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("nonlinearity, param, gain", [
    ("linear", None, 1.0), ("conv1d", None, 1.0), ("conv2d", None, 1.0), ("conv3d", None, 1.0),
    ("conv_transpose1d", None, 1.0), ("conv_transpose2d", None, 1.0),
    ("conv_transpose3d", None, 1.0), ("sigmoid", None, 1.0), ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)), ("selu", None, 0.75),
    ("leaky_relu", None, math.sqrt(2 / (1 + 0.01 ** 2))),
    ("leaky_relu", 0.2, math.sqrt(2 / (1 + 0.2 ** 2))),
    ("leaky_relu", 0, math.sqrt(2)),
    ("leaky_relu", math.sqrt(5), math.sqrt(1 / 3)),
])
def test_calculate_gain_table(nonlinearity, param, gain):
    assert tgi.calculate_gain(nonlinearity, param) == pytest.approx(gain, rel=1e-15)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="swish.*linear.*tanh.*relu.*leaky_relu.*selu"):
        tgi.calculate_gain("swish")
    with pytest.raises(ValueError, match="param"):
        tgi.calculate_gain("leaky_relu", "0.1")
    with pytest.raises(ValueError, match="param"):
        tgi.calculate_gain("leaky_relu", True)


# --------------------------------------------------------------------- constants


@pytest.mark.parametrize("name, hp, value", [("zeros", {}, 0.0), ("ones", {}, 1.0),
                                             ("constant", {"value": 0.5}, 0.5),
                                             ("constant", {"value": 0.01}, 0.01)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constants(name, hp, value, dtype):
    w = init(name, **hp)((3, 4, 2), np.random.default_rng(0), dtype=dtype)
    assert w.dtype == dtype and w.shape == (3, 4, 2)
    assert np.all(w == dtype(value))


def two_layer_mlp_training(weight_init, steps=30, seed=0):
    """Train x -> tanh(x W1^T + b1) W2^T + b2 on a regression task with plain SGD."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 5))
    y = np.sin(x @ rng.standard_normal((5, 1)))
    w1 = tgi.Tensor(weight_init((8, 5), rng, dtype=np.float64), requires_grad=True)
    b1 = tgi.Tensor(np.zeros(8), requires_grad=True)
    w2 = tgi.Tensor(weight_init((1, 8), rng, dtype=np.float64), requires_grad=True)
    b2 = tgi.Tensor(np.zeros(1), requires_grad=True)
    start = (w1.data.copy(), w2.data.copy())
    for _ in range(steps):
        h = (tgi.Tensor(x) @ w1.T + b1).tanh()
        loss = ((h @ w2.T + b2 - tgi.Tensor(y)) ** 2).mean()
        for p in (w1, b1, w2, b2):
            p.grad = None
        loss.backward()
        for p in (w1, b1, w2, b2):
            p.data -= 0.1 * p.grad
    return start, w1.data, w2.data


def test_constant_weights_do_not_break_symmetry():
    (w1_0, w2_0), w1, w2 = two_layer_mlp_training(init("constant", value=0.3))
    assert not np.allclose(w1, w1_0) and not np.allclose(w2, w2_0)  # it did train
    # ...yet every hidden unit still has the same incoming and outgoing weights
    np.testing.assert_allclose(w1, np.broadcast_to(w1[:1], w1.shape), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(w2, np.broadcast_to(w2[:, :1], w2.shape), rtol=1e-12, atol=1e-12)


def test_random_weights_break_symmetry():
    _, w1, w2 = two_layer_mlp_training(init("xavier_uniform"))
    assert np.ptp(w1, axis=0).min() > 1e-3 and np.ptp(w2) > 1e-3


# --------------------------------------------------------------------- random family


def test_normal_uniform_scaled_normal_are_their_formulas():
    rng = np.random.default_rng(7)
    ref = rng.normal(0.5, 0.02, size=(5, 6))
    np.testing.assert_array_equal(draw("normal", (5, 6), seed=7, mean=0.5, std=0.02), ref)
    ref = np.random.default_rng(7).uniform(-0.1, 0.3, size=(5, 6))
    np.testing.assert_array_equal(draw("uniform", (5, 6), seed=7, a=-0.1, b=0.3), ref)
    for scale in (0.01, 10.0):  # the course's 0.01*randn and randn*10
        ref = scale * np.random.default_rng(7).standard_normal((5, 6))
        np.testing.assert_array_equal(draw("scaled_normal", (5, 6), seed=7, scale=scale), ref)


def truncated_normal_moments(mean, std, a, b):
    al, be = (a - mean) / std, (b - mean) / std
    z = Phi(be) - Phi(al)
    m = mean + std * (phi(al) - phi(be)) / z
    v = std ** 2 * (1 + (al * phi(al) - be * phi(be)) / z - ((phi(al) - phi(be)) / z) ** 2)
    return m, v


@pytest.mark.parametrize("mean, std, a, b", [
    (0.0, 1.0, -2.0, 2.0),  # PyTorch's defaults: absolute bounds
    (0.0, 0.02, -0.04, 0.04),  # ViT-style
    (1.0, 1.0, 2.0, 5.0),  # one-sided, off-centre
    (0.0, 1.0, 3.0, 3.5),  # deep in the tail (inverse-CDF path)
    (0.0, 1.0, -3.5, -3.0),
])
def test_trunc_normal(mean, std, a, b):
    x = draw("trunc_normal", (200, 250), mean=mean, std=std, a=a, b=b)
    assert a <= x.min() and x.max() <= b
    m, v = truncated_normal_moments(mean, std, a, b)
    n = x.size
    assert abs(x.mean() - m) <= 6 * math.sqrt(v / n)
    # Var(s^2) ~ (kurtosis - 1) v^2 / n; a truncated normal's kurtosis is below the exponential's 9
    assert abs(x.var() - v) <= 6 * v * math.sqrt(8 / n)
    # it is not just clipping: nothing piles up on the bounds
    assert np.mean(x == a) + np.mean(x == b) < 1e-3


def test_trunc_normal_expected_matches_formula():
    e = init("trunc_normal", mean=1.0, std=2.0, a=0.0, b=3.0).expected((4, 4))
    m, v = truncated_normal_moments(1.0, 2.0, 0.0, 3.0)
    assert e == pytest.approx({"mean": m, "var": v, "low": 0.0, "high": 3.0}, rel=1e-12)


# --------------------------------------------------------------------- variance scaling


@pytest.mark.parametrize("shape", [DENSE, CONV])
def test_uniform_bounds(shape):
    fi, fo = tgi.calculate_fans(shape)
    cases = [
        ("xavier_uniform", {}, math.sqrt(6 / (fi + fo))),
        ("xavier_uniform", {"gain": 2.0}, 2.0 * math.sqrt(6 / (fi + fo))),
        ("kaiming_uniform", {}, math.sqrt(2) * math.sqrt(3 / fi)),  # a=0 leaky_relu: gain sqrt(2)
        ("kaiming_uniform", {"a": math.sqrt(5)}, 1 / math.sqrt(fi)),  # PyTorch's Linear default
        ("kaiming_uniform", {"mode": "fan_out", "nonlinearity": "tanh"}, 5 / 3 * math.sqrt(3 / fo)),
        ("kaiming_uniform", {"gain": 3.0}, 3.0 * math.sqrt(3 / fi)),
        ("lecun_uniform", {}, math.sqrt(3 / fi)),
        ("variance_scaling", {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"},
         math.sqrt(3 * 2.0 / ((fi + fo) / 2))),
    ]
    for name, hp, bound in cases:
        ini = init(name, **hp)
        x = ini(shape, np.random.default_rng(3), dtype=np.float64)
        assert np.abs(x).max() <= bound, (name, hp)
        assert np.abs(x).max() >= bound * (1 - 20 / x.size), (name, hp)  # reaches the bound
        e = ini.expected(shape)
        assert e["low"] == pytest.approx(-bound) and e["high"] == pytest.approx(bound)
        assert e["var"] == pytest.approx(bound ** 2 / 3)
        assert abs(x.var() - bound ** 2 / 3) <= 6 * math.sqrt(0.8 / x.size) * bound ** 2 / 3


@pytest.mark.parametrize("shape", [DENSE, CONV])
def test_normal_stds(shape):
    fi, fo = tgi.calculate_fans(shape)
    cases = [
        ("xavier_normal", {}, math.sqrt(2 / (fi + fo))),
        ("xavier_normal", {"gain": 5 / 3}, 5 / 3 * math.sqrt(2 / (fi + fo))),
        ("kaiming_normal", {}, math.sqrt(2 / fi)),
        ("kaiming_normal", {"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(2 / fo)),
        ("kaiming_normal", {"a": 0.2}, math.sqrt(2 / (1 + 0.04)) / math.sqrt(fi)),
        ("lecun_normal", {}, math.sqrt(1 / fi)),
        ("variance_scaling", {"distribution": "untruncated_normal", "mode": "fan_out", "scale": 3.0},
         math.sqrt(3.0 / fo)),
    ]
    for name, hp, std in cases:
        ini = init(name, **hp)
        assert ini.expected(shape)["var"] == pytest.approx(std ** 2)
        assert_std(ini(shape, np.random.default_rng(4), dtype=np.float64), std)


def test_calibrated_normal_is_randn_over_sqrt_fan_in():
    ref = np.random.default_rng(5).standard_normal(CONV) / math.sqrt(32 * 9)
    np.testing.assert_allclose(draw("calibrated_normal", CONV, seed=5), ref, rtol=1e-15)


def test_keras_truncated_normal_constant_and_variance():
    # std of N(0,1) truncated to [-2, 2], from the truncated-normal variance formula
    c = math.sqrt(1 - 4 * phi(2) / (Phi(2) - Phi(-2)))
    assert c == pytest.approx(0.87962566103423978, rel=1e-14)
    fi = 32 * 9
    ini = init("variance_scaling", scale=2.0)  # Keras he_normal
    s = math.sqrt(2.0 / fi) / c
    x = ini(CONV, np.random.default_rng(6), dtype=np.float64)
    assert np.abs(x).max() <= 2 * s and np.abs(x).max() > 1.99 * s
    assert abs(x.var() - 2.0 / fi) <= 6 * math.sqrt(2 / x.size) * 2.0 / fi
    assert ini.expected(CONV) == pytest.approx({"mean": 0.0, "var": 2.0 / fi, "low": -2 * s, "high": 2 * s})


@pytest.mark.parametrize("name, hp, param, value", [
    ("xavier_uniform", {"mode": "fan_sum"}, "mode", "'fan_sum'"),
    ("kaiming_normal", {"nonlinearity": "swish"}, "nonlinearity", "'swish'"),
    ("kaiming_uniform", {"mode": "avg"}, "mode", "'avg'"),
    ("variance_scaling", {"distribution": "normal"}, "distribution", "'normal'"),
    ("variance_scaling", {"scale": -1.0}, "scale", "-1.0"),
    ("normal", {"std": -0.1}, "std", "-0.1"),
    ("scaled_normal", {"scale": -10}, "scale", "-10"),
    ("trunc_normal", {"std": 0.0}, "std", "0.0"),
    ("trunc_normal", {"a": 2.0, "b": -2.0}, "b", "-2.0"),
    ("uniform", {"a": 1.0, "b": 0.0}, "b", "0.0"),
    ("sparse", {"sparsity": 1.0}, "sparsity", "1.0"),
    ("sparse", {"sparsity": -0.1}, "sparsity", "-0.1"),
    ("sparse_martens", {"connections": 0}, "connections", "0"),
    ("orthogonal", {"gain": -1.0}, "gain", "-1.0"),
    ("dirac", {"groups": 0}, "groups", "0"),
])
def test_bad_hyperparameters_name_initializer_parameter_value(name, hp, param, value):
    with pytest.raises(ValueError) as err:
        init(name, **hp)
    msg = str(err.value)
    assert name in msg and param in msg and value in msg, msg


def test_unknown_keyword_and_unknown_name():
    with pytest.raises(TypeError, match="xavier_uniform.*nonlinearity"):
        init("xavier_uniform", nonlinearity="relu")
    with pytest.raises(LookupError, match="xavier_uniform"):
        init("xavier_unifrom")


# --------------------------------------------------------------------- structural


@pytest.mark.parametrize("shape", [(6, 6), (4, 9), (9, 4), (8, 3, 3, 3), (16, 2, 3)])
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_orthogonal(shape, gain):
    w = draw("orthogonal", shape, gain=gain).reshape(shape[0], -1)
    rows, cols = w.shape
    gram = w @ w.T if rows <= cols else w.T @ w
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(min(rows, cols)), atol=1e-12)


def test_orthogonal_is_sign_corrected():
    # Haar-distributed Q has E[Q_00] = 0; a bare Householder QR gives Q_00 < 0 always.
    q00 = np.array([draw("orthogonal", (4, 4), seed=s)[0, 0] for s in range(400)])
    assert abs(q00.mean()) < 6 * 0.5 / math.sqrt(400)
    assert (q00 > 0).mean() > 0.35


def test_orthogonal_rejects_1d():
    with pytest.raises(ValueError, match=r"orthogonal: shape \(5,\)"):
        draw("orthogonal", (5,))


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4)])
def test_eye_and_identity(shape):
    for name in ("eye", "identity"):
        np.testing.assert_array_equal(draw(name, shape), np.eye(*shape))
    with pytest.raises(ValueError, match="eye: shape"):
        draw("eye", (2, 2, 2))


def conv_same(x, w):
    return tgi.Tensor(x).conv2d(tgi.Tensor(w), padding=(w.shape[2] // 2, w.shape[3] // 2)).data


def test_dirac_preserves_identity_through_conv():
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 7))
    for k in (1, 3, 5):
        np.testing.assert_allclose(conv_same(x, draw("dirac", (4, 4, k, k))), x, atol=1e-12)
    # more outputs than inputs: the first ones copy the inputs, the rest are 0
    y = conv_same(x, draw("dirac", (6, 4, 3, 3)))
    np.testing.assert_allclose(y[:, :4], x, atol=1e-12)
    assert np.all(y[:, 4:] == 0)
    # fewer outputs: a copy of the first channels
    np.testing.assert_allclose(conv_same(x, draw("dirac", (2, 4, 3, 3))), x[:, :2], atol=1e-12)


def test_dirac_groups_and_shapes():
    w = draw("dirac", (4, 2, 3, 3), groups=2)  # PyTorch dirac_(groups=2)
    centre = w[:, :, 1, 1]
    np.testing.assert_array_equal(centre, [[1, 0], [0, 1], [1, 0], [0, 1]])
    assert w.sum() == 4
    w1 = draw("dirac", (3, 3, 5))  # Conv1d
    np.testing.assert_array_equal(w1[:, :, 2], np.eye(3))
    with pytest.raises(ValueError, match="dirac: shape"):
        draw("dirac", (3, 3))
    with pytest.raises(ValueError, match="dirac: groups=2"):
        draw("dirac", (3, 3, 3, 3), groups=2)


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("rows", [7, 10, 100])
def test_sparse_zeros_per_column_exact(sparsity, rows):
    w = draw("sparse", (rows, 13), sparsity=sparsity, std=1.0)
    zeros = (w == 0).sum(axis=0)
    assert np.all(zeros == math.ceil(sparsity * rows))


def test_sparse_std_and_shape_errors():
    w = draw("sparse", (400, 300), sparsity=0.5, std=0.01)
    nz = w[w != 0]
    assert_std(nz, 0.01)
    with pytest.raises(ValueError, match="sparse: shape"):
        draw("sparse", (4, 4, 3), sparsity=0.5)


@pytest.mark.parametrize("shape, connections, k", [((50, 100), 15, 15), ((20, 8), 15, 8),
                                                   ((16, 8, 3, 3), 15, 15), ((10, 40), 1, 1)])
def test_sparse_martens_connections_per_unit_exact(shape, connections, k):
    w = draw("sparse_martens", shape, connections=connections).reshape(shape[0], -1)
    assert np.all((w != 0).sum(axis=1) == k)


def test_sparse_martens_weights_are_normal():
    w = draw("sparse_martens", (2000, 100), std=0.5)
    assert_std(w[w != 0], 0.5)
    cols = (w != 0).sum(axis=0)  # positions uniform over inputs: 2000*15/100 = 300 each
    assert abs(cols.mean() - 300) < 1e-9 and cols.min() > 200


# --------------------------------------------------------------------- common behaviour


@pytest.mark.parametrize("name, hp", [("zeros", {}), ("normal", {}), ("xavier_uniform", {}),
                                      ("orthogonal", {}), ("sparse", {"sparsity": 0.5})])
def test_dtype_shape_and_seed(name, hp):
    ini = init(name, **hp)
    a = ini((6, 5), np.random.default_rng(1))
    assert a.dtype == np.float32 and a.shape == (6, 5)
    b = ini((6, 5), np.random.default_rng(1), dtype=np.float64)
    assert b.dtype == np.float64
    np.testing.assert_array_equal(a, b.astype(np.float32))
    with pytest.raises(TypeError, match=name):
        ini((6, 5), np.random.default_rng(1), dtype=np.int32)
    assert ini((0, 5), np.random.default_rng(1)).shape == (0, 5)


def test_default_generator_and_manual_seed():
    manual_seed(3)
    a = init("normal")((4,))
    ref = np.random.default_rng(3).standard_normal(4)
    np.testing.assert_allclose(a, ref.astype(np.float32))
    assert as_generator(None) is default_generator()
    np.testing.assert_array_equal(init("normal")((4,), 11), init("normal")((4,), np.random.default_rng(11)))
    with pytest.raises(TypeError, match="rng"):
        init("normal")((4,), np.random.RandomState(0))
    with pytest.raises(ValueError, match="seed"):
        manual_seed(-1)


# --------------------------------------------------------------------- the contract itself


def fake_component(factory):
    return Component("initializer", "fake", factory, "test[fake]")


class WrongVariance(tgi.Initializer):
    """Declares U(-1, 1)'s variance but draws U(-1.2, 1.2)."""
    name = "fake"

    def sample(self, shape, rng):
        return rng.uniform(-1.2, 1.2, size=shape)

    def expected(self, shape):
        return {"mean": 0.0, "var": 1 / 3, "low": None, "high": None}


class GlobalRng(tgi.Initializer):
    name = "fake"

    def sample(self, shape, rng):
        return np.random.standard_normal(shape)

    def expected(self, shape):
        return {"mean": 0.0, "var": 1.0, "low": None, "high": None}


class OutOfBounds(WrongVariance):
    def expected(self, shape):
        return {"mean": 0.0, "var": 1.44 / 3, "low": -1.0, "high": 1.0}


class NoFanCheck(tgi.Initializer):
    name = "fake"
    min_ndim = 0  # claims to accept 1-D but then fails with a bare NumPy error

    def sample(self, shape, rng):
        return rng.standard_normal(shape) / math.sqrt(shape[1])

    def expected(self, shape):
        return {"mean": 0.0, "var": 1 / shape[1], "low": None, "high": None}


@pytest.mark.parametrize("factory, check, message", [
    (WrongVariance, "statistics", "variance"),
    (GlobalRng, "determinism", "same seed"),
    (OutOfBounds, "statistics", "declared (low|high)"),
])
def test_contract_catches_broken_initializers(factory, check, message):
    with pytest.raises(AssertionError, match=message):
        contracts.CHECKS[check](fake_component(factory), {})


def test_contract_passes_a_correct_third_party_initializer():
    class Good(WrongVariance):
        def expected(self, shape):
            return {"mean": 0.0, "var": 1.44 / 3, "low": -1.2, "high": 1.2}
    for check in contracts.CHECKS.values():
        check(fake_component(Good), {})


def builtin_cases():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comps = PluginRegistry().components("initializer")
    mine = {n: c for n, c in comps.items() if c.plugin.startswith("tinygrad-init[init_")}
    for name, comp in mine.items():
        for i, hp in enumerate(getattr(comp.factory, "conformance_examples", [{}])):
            yield pytest.param(comp, hp, id=f"{name}-{i}")




# --------------------------------------------------------------------- recorded PyTorch numbers

REF_PATH = __import__("pathlib").Path(__file__).with_name("data") / "init_reference.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(REF_PATH, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    import json
    return data, json.loads(str(data["spec"]))


def test_matches_pytorch_gains_and_fans(ref):
    data, spec = ref
    for nl, p in spec["gains"]:
        key = f"gain__{nl}" + ("" if p is None else f"__{p}")
        assert tgi.calculate_gain(nl, p) == pytest.approx(float(data[key]), rel=1e-15), key
    for i, shape in enumerate(spec["shapes"]):
        assert tgi.calculate_fans(tuple(shape)) == tuple(data[f"fans__{i}"]), shape


def test_matches_pytorch_eye_and_dirac(ref):
    data, spec = ref
    for i, shape in enumerate(spec["eye"]):
        np.testing.assert_array_equal(draw("eye", tuple(shape)), data[f"eye__{i}"])
    for i, (shape, groups) in enumerate(spec["dirac"]):
        np.testing.assert_array_equal(draw("dirac", tuple(shape), groups=groups), data[f"dirac__{i}"])


def test_matches_pytorch_sample_statistics(ref):
    """Our declared moments/bounds describe torch's own draws (same formulas, same defaults)."""
    data, spec = ref
    for case, (name, hp, shape) in spec["stats"].items():
        mean, var, lo, hi = data[f"stats__{case}"]
        e = init(name, **hp).expected(tuple(shape))
        n = math.prod(shape)
        kurt = 3.0 / (1 - math.ceil(0.9 * shape[0]) / shape[0]) if name == "sparse" else 3.0
        assert abs(mean - e["mean"]) <= 6 * math.sqrt(e["var"] / n), case
        assert abs(var - e["var"]) <= 6 * e["var"] * math.sqrt((kurt - 1) / n), (case, var, e["var"])
        if e["low"] is not None:
            assert lo >= e["low"] - 1e-12 and hi <= e["high"] + 1e-12, case
            if "uniform" in name:  # and torch reaches our bounds (uniform density)
                width = e["high"] - e["low"]
                assert lo - e["low"] < 50 * width / n and e["high"] - hi < 50 * width / n, case
    zeros = data["sparse_zeros__0"]
    ours = (draw("sparse", tuple(spec["stats"]["sparse"][2]), sparsity=0.9) == 0).sum(axis=0)
    np.testing.assert_array_equal(np.sort(ours), np.sort(zeros))


def test_layers_take_initializer_names_and_objects():
    lin = tgi.nn.Linear(6, 4, weight_init="orthogonal", bias_init=init("constant", value=0.01), rng=0)
    w = lin.weight.data.astype(np.float64)
    np.testing.assert_allclose(w @ w.T, np.eye(4), atol=1e-6)
    assert np.all(lin.bias.data == np.float32(0.01))
    conv = tgi.nn.Conv2d(3, 3, 3, padding=1, weight_init="dirac", bias_init="zeros")
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(conv(tgi.Tensor(x)).data, x, atol=1e-6)


@pytest.mark.parametrize("a, b", [(0.0, math.inf), (-math.inf, -3.0), (3.0, math.inf)])
def test_trunc_normal_one_sided(a, b):
    x = draw("trunc_normal", (400, 500), a=a, b=b)
    assert a <= x.min() and x.max() <= b
    # half-normal / tail moments: E = phi(c)/Q(c) beyond the cut c (mirrored for the lower tail)
    c = a if math.isfinite(a) else -b
    m = phi(c) / (1 - Phi(c))
    v = 1 + c * m - m * m
    sign = 1 if math.isfinite(a) else -1
    assert abs(x.mean() - sign * m) <= 6 * math.sqrt(v / x.size)
    assert abs(x.var() - v) <= 6 * v * math.sqrt(8 / x.size)  # kurtosis < 9


# Keras's names, with Keras's definitions (keras.initializers: HeNormal = VarianceScaling(2.0,
# "fan_in", "truncated_normal"), GlorotNormal = VarianceScaling(1.0, "fan_avg", ...), ...;
# truncated normals cut at 2 stddev with stddev = sqrt(scale / n) / 0.87962566103423978).
KERAS = {  # name -> (scale, fan of CONV, truncated)
    "he_normal": (2.0, 288, True), "he_uniform": (2.0, 288, False),
    "glorot_normal": (1.0, (288 + 576) / 2, True), "glorot_uniform": (1.0, (288 + 576) / 2, False),
    "lecun_normal": (1.0, 288, True), "lecun_uniform": (1.0, 288, False),
}


@pytest.mark.parametrize("name", sorted(KERAS))
def test_keras_initializer_names_follow_keras(name):
    scale, n, truncated = KERAS[name]
    x = draw(name, CONV, seed=11)
    var = scale / n
    assert abs(x.mean()) <= 6 * math.sqrt(var / x.size)
    kurt_var = (2 if truncated else 0.8) * var ** 2  # Var(x^2) <= 2 var^2 for both
    assert abs(x.var() - var) <= 6 * math.sqrt(kurt_var / x.size)
    if truncated:
        s = math.sqrt(var) / 0.87962566103423978
        assert 1.99 * s < np.abs(x).max() <= 2 * s  # cut at two (corrected) standard deviations
    else:
        limit = math.sqrt(3 * var)
        assert 0.999 * limit < np.abs(x).max() <= limit
    with pytest.raises(TypeError, match=rf"initializer '{name}': unknown hyperparameter 'seed'"):
        init(name, seed=1)  # Keras's seed is the rng here: init(shape, rng)


def test_keras_uniform_names_equal_the_pytorch_ones():
    np.testing.assert_array_equal(draw("glorot_uniform", CONV, seed=3), draw("xavier_uniform", CONV, seed=3))
    np.testing.assert_array_equal(draw("he_uniform", CONV, seed=3),
                                  draw("kaiming_uniform", CONV, seed=3, nonlinearity="relu"))
