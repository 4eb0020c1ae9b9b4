"""The normalization plugins: batch_norm, layer_norm, group_norm, instance_norm, rms_norm.

Expected values come from the written definitions (NumPy, below) and from PyTorch
numbers recorded in tests/data/norm_reference.npz by tests/data/make_norm_reference.py.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_init as tgi
from tinygrad_init.registry import Component
from tinygrad_init.testing import contracts_norm

REF = np.load(Path(__file__).parent / "data" / "norm_reference.npz", allow_pickle=False)
CASES = sorted(k[: -len("__spec")] for k in REF.files if k.endswith("__spec"))
RTOL, ATOL = 1e-5, 1e-6  # float32 rounding (measured worst: rtol 1.1e-6 at atol 1e-6)
NORMS = ["batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm"]


def T(a, requires_grad=False):
    return tgi.Tensor(np.asarray(a), requires_grad=requires_grad)


def rand(*shape, seed=0, loc=1.5, scale=2.5, dtype=np.float64):
    return (np.random.default_rng(seed).normal(loc, scale, shape)).astype(dtype)


# ------------------------------------------------------------------ written definitions (NumPy)

def np_batch_norm(x, w=None, b=None, eps=1e-5, mean=None, var=None):
    axes = (0, *range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes) if mean is None else mean
    var = x.var(axis=axes) if var is None else var
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if w is not None:
        y = y * w.reshape(shape) + b.reshape(shape)
    return y


def np_layer_norm(x, k, w=None, b=None, eps=1e-5):
    axes = tuple(range(x.ndim - k, x.ndim))
    y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return y if w is None else y * w + (0 if b is None else b)


def np_group_norm(x, groups, w=None, b=None, eps=1e-5):
    n, c = x.shape[:2]
    g = x.reshape(n, groups, -1)
    y = ((g - g.mean(axis=2, keepdims=True)) / np.sqrt(g.var(axis=2, keepdims=True) + eps)).reshape(x.shape)
    if w is not None:
        shape = (1, c) + (1,) * (x.ndim - 2)
        y = y * w.reshape(shape) + b.reshape(shape)
    return y


def np_instance_norm(x, eps=1e-5):
    axes = tuple(range(2, x.ndim))
    return (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)


def np_rms_norm(x, k, w=None, eps=None):
    eps = np.finfo(x.dtype).eps if eps is None else eps
    axes = tuple(range(x.ndim - k, x.ndim))
    y = x / np.sqrt((x * x).mean(axis=axes, keepdims=True) + eps)
    return y if w is None else y * w


# ------------------------------------------------------------------ PyTorch fixture


def _build_from_spec(case):
    spec = json.loads(str(REF[f"{case}__spec"]))
    nf = spec["num_features"]
    m = tgi.norm(spec["norm"], tuple(nf) if isinstance(nf, list) else nf, **spec["hparams"])
    for name, p in m.named_parameters():
        p.data[...] = REF[f"{case}__init__{name}"]
    return spec, m


@pytest.mark.parametrize("case", CASES)
def test_matches_pytorch(case):
    """Outputs, input/weight/bias gradients and buffers after every train step and one eval
    forward equal PyTorch's to float32 rounding."""
    spec, m = _build_from_spec(case)
    phases = [f"step{i + 1}" for i in range(spec["steps"])] + ["eval"]
    torch_buffers = {k.split("__")[2] for k in REF.files if k.startswith(f"{case}__eval__")} - {
        "x", "g", "out", "grad_x", "grad_weight", "grad_bias"}
    assert {n for n, _ in m.named_buffers()} == torch_buffers
    assert {n for n, _ in m.named_parameters()} == {k.split("__")[2] for k in REF.files
                                                    if k.startswith(f"{case}__init__")}
    for phase in phases:
        m.train(phase != "eval")
        key = lambda what: REF[f"{case}__{phase}__{what}"]  # noqa: E731
        x = T(key("x"), requires_grad=True)
        y = m(x)
        assert y.dtype == np.float32
        np.testing.assert_allclose(y.data, key("out"), rtol=RTOL, atol=ATOL, err_msg=f"{case} {phase} out")
        y.backward(key("g"))
        np.testing.assert_allclose(x.grad, key("grad_x"), rtol=RTOL, atol=ATOL,
                                   err_msg=f"{case} {phase} grad x")
        for name, p in m.named_parameters():
            np.testing.assert_allclose(p.grad, key("grad_" + name), rtol=RTOL, atol=ATOL,
                                       err_msg=f"{case} {phase} grad {name}")
        m.zero_grad()
        for name, buf in m.named_buffers():
            if name == "num_batches_tracked":
                if spec["norm"] == "batch_norm":  # PyTorch's instance norm never counts
                    assert int(buf) == int(key(name))
                continue
            np.testing.assert_allclose(buf, key(name), rtol=RTOL, atol=ATOL, err_msg=f"{case} {phase} {name}")


@pytest.mark.parametrize("case", CASES)
def test_repr_like_pytorch(case):
    spec, m = _build_from_spec(case)
    torch_repr = re.sub(r"^(BatchNorm|InstanceNorm)[123]d", r"\1", spec["torch"])
    if spec["norm"] != "layer_norm":  # the only one of ours that has a `bias` switch
        torch_repr = re.sub(r", bias=(True|False)", "", torch_repr)
    assert repr(m) == torch_repr


# ------------------------------------------------------------------ formulas (NumPy definitions)


@given(n=st.integers(2, 5), c=st.integers(1, 4), hw=st.sampled_from([(), (3,), (2, 3)]),
       seed=st.integers(0, 2**16))
def test_batch_norm_train_formula(n, c, hw, seed):
    x = rand(n, c, *hw, seed=seed)
    m = tgi.norm("batch_norm", c, dtype=np.float64)
    w, b = rand(c, seed=seed + 1), rand(c, seed=seed + 2)
    m.weight.data[...], m.bias.data[...] = w, b
    np.testing.assert_allclose(m(T(x)).data, np_batch_norm(x, w, b), rtol=1e-10, atol=1e-10)


@given(shape=st.sampled_from([(4, 6), (2, 3, 6), (2, 2, 3, 6)]), k=st.sampled_from([1, 2]),
       seed=st.integers(0, 2**16))
def test_layer_and_rms_norm_formulas(shape, k, seed):
    x = rand(*shape, seed=seed)
    ns = shape[len(shape) - k:]
    ln = tgi.norm("layer_norm", ns, dtype=np.float64)
    ln.weight.data[...], ln.bias.data[...] = rand(*ns, seed=seed + 1), rand(*ns, seed=seed + 2)
    np.testing.assert_allclose(ln(T(x)).data, np_layer_norm(x, k, ln.weight.data, ln.bias.data),
                               rtol=1e-10, atol=1e-10)
    rms = tgi.norm("rms_norm", ns, dtype=np.float64)
    rms.weight.data[...] = rand(*ns, seed=seed + 3)
    np.testing.assert_allclose(rms(T(x)).data, np_rms_norm(x, k, rms.weight.data), rtol=1e-10, atol=1e-10)


def test_rms_norm_default_eps_is_the_input_dtypes_machine_epsilon():
    x = np.full((2, 4), 1e-4)  # mean square 1e-8: eps matters
    for dtype in (np.float32, np.float64):
        y = tgi.norm("rms_norm", 4, dtype=dtype, elementwise_affine=False)(T(x.astype(dtype))).data
        expected = 1e-4 / np.sqrt(1e-8 + np.finfo(dtype).eps)
        np.testing.assert_allclose(y, expected, rtol=1e-5)
    y = tgi.norm("rms_norm", 4, eps=1e-2, elementwise_affine=False)(T(x.astype(np.float32))).data
    np.testing.assert_allclose(y, 1e-4 / np.sqrt(1e-8 + 1e-2), rtol=1e-5)


@given(c=st.sampled_from([4, 6, 12]), groups=st.sampled_from([1, 2]), hw=st.sampled_from([(), (3,), (2, 2)]),
       seed=st.integers(0, 2**16))
def test_group_and_instance_norm_formulas(c, groups, hw, seed):
    x = rand(3, c, *hw, seed=seed)
    gn = tgi.norm("group_norm", c, num_groups=groups, dtype=np.float64)
    gn.weight.data[...], gn.bias.data[...] = rand(c, seed=seed + 1), rand(c, seed=seed + 2)
    np.testing.assert_allclose(gn(T(x)).data, np_group_norm(x, groups, gn.weight.data, gn.bias.data),
                               rtol=1e-10, atol=1e-10)
    if hw:
        inn = tgi.norm("instance_norm", c, dtype=np.float64)
        np.testing.assert_allclose(inn(T(x)).data, np_instance_norm(x), rtol=1e-10, atol=1e-10)
        # instance norm == group norm with one channel per group
        gc = tgi.norm("group_norm", c, num_groups=c, affine=False, dtype=np.float64)
        np.testing.assert_allclose(inn(T(x)).data, gc(T(x)).data, rtol=1e-12, atol=1e-12)


def test_group_norm_default_num_groups_rule():
    # the largest divisor of C that is at most 32 (Wu & He's G = 32, clipped to a divisor)
    for c, g in [(64, 32), (32, 32), (48, 24), (100, 25), (6, 6), (7, 7), (1, 1), (96, 32), (66, 22)]:
        assert tgi.norm("group_norm", c).num_groups == g


# ------------------------------------------------------------------ running statistics


def _batches(k=4, shape=(6, 3, 2, 2)):
    return [rand(*shape, seed=10 + i, loc=i - 1.0, scale=1.0 + i, dtype=np.float32) for i in range(k)]


def _batch_stats(x):
    axes = (0, 2, 3)
    n = x.size // x.shape[1]
    return x.mean(axis=axes, dtype=np.float64), x.var(axis=axes, dtype=np.float64), n


def test_running_stats_pytorch_form():
    m = tgi.norm("batch_norm", 3)
    rm, rv = np.zeros(3), np.ones(3)
    for i, x in enumerate(_batches()):
        m(T(x))
        mu, var, n = _batch_stats(x)
        rm = 0.9 * rm + 0.1 * mu
        rv = 0.9 * rv + 0.1 * var * n / (n - 1)  # unbiased
        np.testing.assert_allclose(m.running_mean, rm, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(m.running_var, rv, rtol=1e-5, atol=1e-6)
        assert int(m.num_batches_tracked) == i + 1


def test_running_stats_cumulative_average_when_momentum_is_none():
    m = tgi.norm("batch_norm", 3, momentum=None)
    xs = _batches()
    for x in xs:
        m(T(x))
    stats = [_batch_stats(x) for x in xs]
    np.testing.assert_allclose(m.running_mean, np.mean([s[0] for s in stats], axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.running_var, np.mean([s[1] * s[2] / (s[2] - 1) for s in stats], axis=0),
                               rtol=1e-5)
    assert int(m.num_batches_tracked) == len(xs)


def test_running_stats_keras_form():
    m = tgi.norm("batch_norm", 3, momentum_form="keras")
    assert m.momentum == 0.99  # Keras's default
    rm, rv = np.zeros(3), np.ones(3)
    for x in _batches():
        m(T(x))
        mu, var, _ = _batch_stats(x)
        rm = 0.99 * rm + 0.01 * mu
        rv = 0.99 * rv + 0.01 * var  # Keras uses the biased batch variance
        np.testing.assert_allclose(m.running_mean, rm, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(m.running_var, rv, rtol=1e-5, atol=1e-6)


def test_keras_momentum_is_one_minus_torch_momentum():
    keras = tgi.norm("batch_norm", 3, momentum_form="keras", momentum=0.7)
    torch_like = tgi.norm("batch_norm", 3, momentum=0.3)
    for x in _batches():
        keras(T(x)), torch_like(T(x))
    np.testing.assert_allclose(keras.running_mean, torch_like.running_mean, rtol=1e-6, atol=1e-7)
    # the variances differ only by the unbiasing factor n/(n-1) of the batch term
    assert not np.allclose(keras.running_var, torch_like.running_var, rtol=1e-4)


def test_instance_norm_running_stats_average_instance_stats():
    m = tgi.norm("instance_norm", 3, track_running_stats=True, momentum=0.25)
    x = _batches(1)[0]
    m(T(x))
    inst_mean = x.mean(axis=(2, 3), dtype=np.float64)
    inst_var = x.var(axis=(2, 3), ddof=1, dtype=np.float64)
    np.testing.assert_allclose(m.running_mean, 0.25 * inst_mean.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.running_var, 0.75 + 0.25 * inst_var.mean(axis=0), rtol=1e-5)


def test_eval_uses_running_stats_and_leaves_them_alone():
    m = tgi.norm("batch_norm", 3, dtype=np.float64)
    for x in _batches():
        m(T(x.astype(np.float64)))
    before = m.state_dict()
    m.eval()
    x = rand(5, 3, 2, 2, seed=99)
    y = m(T(x)).data
    np.testing.assert_allclose(y, np_batch_norm(x, m.weight.data, m.bias.data, 1e-5,
                                                m.running_mean, m.running_var), rtol=1e-12)
    assert not np.allclose(y, np_batch_norm(x, m.weight.data, m.bias.data))  # not batch stats
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])  # eval forwards do not count
    # a batch of one is fine in eval mode
    assert m(T(x[:1, :, :1, :1])).shape == (1, 3, 1, 1)


def test_train_false_switches_back_and_forth():
    m = tgi.norm("batch_norm", 3, dtype=np.float64)
    seq = tgi.nn.Sequential(m)
    for x in _batches():
        seq(T(x.astype(np.float64)))
    x = rand(6, 3, 2, 2, seed=5)
    seq.train(False)
    assert not m.training
    np.testing.assert_allclose(m(T(x)).data, np_batch_norm(x, None, None, 1e-5, m.running_mean,
                                                           m.running_var), rtol=1e-12)
    seq.train()
    assert m.training
    np.testing.assert_allclose(m(T(x)).data, np_batch_norm(x), rtol=1e-10, atol=1e-12)


def test_without_running_stats_eval_uses_batch_stats():
    m = tgi.norm("batch_norm", 3, track_running_stats=False, dtype=np.float64)
    assert m.state_dict().keys() == {"weight", "bias"}
    x = rand(6, 3, 2, 2, seed=3)
    m.eval()
    np.testing.assert_allclose(m(T(x)).data, np_batch_norm(x), rtol=1e-10, atol=1e-12)
    inn = tgi.norm("instance_norm", 3, dtype=np.float64).eval()
    np.testing.assert_allclose(inn(T(x)).data, np_instance_norm(x), rtol=1e-10, atol=1e-12)


def test_state_dict_round_trip_restores_buffers():
    m = tgi.norm("batch_norm", 3)
    for x in _batches():
        m(T(x))
    sd = m.state_dict()
    assert set(sd) == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
    assert sd["num_batches_tracked"].dtype == np.int64 and int(sd["num_batches_tracked"]) == 4
    fresh = tgi.norm("batch_norm", 3)
    assert not np.array_equal(fresh.running_mean, sd["running_mean"])
    fresh.load_state_dict(sd)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v, sd[k])
    x = rand(4, 3, 2, 2, seed=8, dtype=np.float32)
    np.testing.assert_array_equal(fresh.eval()(T(x)).data, m.eval()(T(x)).data)
    # training continues counting from the restored counter
    fresh.train()(T(x))
    assert int(fresh.num_batches_tracked) == 5


def test_affine_false_has_no_parameters():
    assert tgi.norm("batch_norm", 4, affine=False).parameters() == []
    assert tgi.norm("group_norm", 4, num_groups=2, affine=False).parameters() == []
    assert tgi.norm("instance_norm", 4).parameters() == []  # PyTorch default affine=False
    assert tgi.norm("layer_norm", 4, elementwise_affine=False).parameters() == []
    assert tgi.norm("rms_norm", 4, elementwise_affine=False).parameters() == []
    assert [n for n, _ in tgi.norm("layer_norm", 4, bias=False).named_parameters()] == ["weight"]
    assert [n for n, _ in tgi.norm("rms_norm", 4).named_parameters()] == ["weight"]
    bn = tgi.norm("batch_norm", 4)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(bn.weight.data, np.ones(4))  # gamma
    np.testing.assert_array_equal(bn.bias.data, np.zeros(4))  # beta
    assert tgi.norm("batch_norm", 4, affine=False).state_dict().keys() == {
        "running_mean", "running_var", "num_batches_tracked"}


def test_gradients_flow_to_the_affine_parameters():
    m = tgi.norm("batch_norm", 3)
    x = _batches(1)[0]
    m(T(x)).sum().backward()
    np.testing.assert_allclose(m.bias.grad, np.full(3, x.size / 3))  # d sum / d beta = values/channel
    np.testing.assert_allclose(m.weight.grad, 0, atol=1e-4)  # sum of x_hat over a channel is 0


# ------------------------------------------------------------------ bad input and hyperparameters


def test_channel_mismatch_message():
    with pytest.raises(ValueError, match=re.escape(
            "batch_norm(num_features=16): expected 16 channels in input of shape (8, 15)")) as e:
        tgi.norm("batch_norm", 16)(T(np.zeros((8, 15))))
    assert "got 15" in str(e.value)
    for name, shape in [("group_norm", (2, 15, 3)), ("instance_norm", (2, 15, 3))]:
        with pytest.raises(ValueError, match=rf"{name}\(num_features=16\).*got 15"):
            tgi.norm(name, 16)(T(np.zeros(shape)))
    for name in ("layer_norm", "rms_norm"):
        with pytest.raises(ValueError, match=rf"{name}\(normalized_shape=\(16,\)\).*\(8, 15\)"):
            tgi.norm(name, 16)(T(np.zeros((8, 15))))
    with pytest.raises(ValueError, match="at least one spatial axis"):
        tgi.norm("instance_norm", 4)(T(np.zeros((2, 4))))


def test_batch_of_one_in_training():
    m = tgi.norm("batch_norm", 16)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training") as e:
        m(T(np.zeros((1, 16))))
    assert "batch_norm" in str(e.value) and "(1, 16)" in str(e.value)
    assert int(m.num_batches_tracked) == 0  # nothing was updated
    assert m(T(np.ones((1, 16, 2, 2)))).shape == (1, 16, 2, 2)  # 4 values per channel: fine (PyTorch too)
    with pytest.raises(ValueError, match="Expected more than 1 spatial element when training"):
        tgi.norm("instance_norm", 3)(T(np.zeros((2, 3, 1, 1))))


@pytest.mark.parametrize("name", NORMS)
@pytest.mark.parametrize("eps", [0, -1e-5])
def test_eps_must_be_positive(name, eps):
    with pytest.raises(ValueError, match=rf"{name}: eps={eps!r} is invalid"):
        tgi.norm(name, 4, eps=eps)


@pytest.mark.parametrize("name", ["batch_norm", "instance_norm"])
@pytest.mark.parametrize("momentum", [-0.1, 1.5, float("nan")])
def test_momentum_outside_unit_interval(name, momentum):
    with pytest.raises(ValueError, match=rf"{name}: momentum=.* is invalid"):
        tgi.norm(name, 4, momentum=momentum)


def test_momentum_bounds_are_allowed():
    for m in (0.0, 1.0):
        tgi.norm("batch_norm", 4, momentum=m)
        tgi.norm("batch_norm", 4, momentum=m, momentum_form="keras")


def test_other_bad_hyperparameters():
    with pytest.raises(ValueError, match=r"group_norm: num_groups=4 is invalid: must be a divisor of the "
                                         r"number of channels num_features=6"):
        tgi.norm("group_norm", 6, num_groups=4)
    with pytest.raises(ValueError, match=r"batch_norm: momentum_form='tf' is invalid"):
        tgi.norm("batch_norm", 4, momentum_form="tf")
    with pytest.raises(ValueError, match=r"batch_norm: num_features=0 is invalid"):
        tgi.norm("batch_norm", 0)
    with pytest.raises(TypeError, match=r"layer_norm: normalized_shape=2.5 is invalid"):
        tgi.norm("layer_norm", 2.5)
    with pytest.raises(TypeError, match=r"unknown hyperparameter 'momentun'.*did you mean 'momentum'"):
        tgi.norm("batch_norm", 4, momentun=0.1)


# ------------------------------------------------------------------ conformance kit


def _case(name, factory):
    return Component("norm", name, factory, "test[test]")




def _subclass(name, **methods):
    cls = tgi.registry.get_registry().get("norm", "batch_norm").factory
    return type(name, (cls,), methods)


def test_contract_catches_a_norm_that_does_not_normalize():
    bad = _subclass("NoNorm", forward=lambda self, x: x * 1.0)
    with pytest.raises(AssertionError, match="normalized"):
        contracts_norm.CHECKS["normalized_statistics"](_case("nonorm", bad), {})


def test_contract_catches_a_norm_that_ignores_channel_mismatch():
    cls = tgi.registry.get_registry().get("norm", "layer_norm").factory

    def forward(self, x):
        x = x if isinstance(x, tgi.Tensor) else tgi.Tensor(x)
        return (x - x.mean(axis=-1, keepdims=True)) / (x.var(axis=-1, keepdims=True) + 1e-5).sqrt()
    bad = type("Lax", (cls,), {"forward": forward})
    with pytest.raises(AssertionError, match="ValueError"):
        contracts_norm.CHECKS["channel_mismatch"](_case("lax", bad), {})


def test_contract_catches_running_stats_that_are_not_buffers():
    cls = tgi.registry.get_registry().get("norm", "batch_norm").factory

    def init(self, num_features, **hp):
        cls.__init__(self, num_features, **hp)
        rm, rv = self.running_mean, self.running_var
        self._buffer_names = ["num_batches_tracked"]  # running stats forgotten by state_dict
        self.running_mean, self.running_var = rm, rv
    bad = type("Forgetful", (cls,), {"__init__": init})
    with pytest.raises(AssertionError, match="state_dict"):
        contracts_norm.CHECKS["state_dict_round_trip"](_case("forgetful", bad), {})


def test_contract_catches_a_wrong_gradient():
    cls = tgi.registry.get_registry().get("norm", "layer_norm").factory

    def forward(self, x):
        y = cls.forward(self, x)
        # a value that is right but whose gradient is dropped: detach the weight's path
        return y.detach() * 0.0 + y.detach() + (y - y.detach()) * 0.5
    bad = type("HalfGrad", (cls,), {"forward": forward})
    with pytest.raises(AssertionError, match="grad"):
        contracts_norm.CHECKS["gradcheck_train"](_case("halfgrad", bad), {})
