"""Data-dependent initializers: lsuv, pretrained, layerwise_pretrain (issue #4)."""
import numpy as np
import pytest

import tinygrad_init as tgi
from tinygrad_init import nn
from tinygrad_init.registry import Component
from tinygrad_init.testing import contracts_data_initializer as contracts

pytestmark = pytest.mark.filterwarnings("ignore::tinygrad_init.registry.PluginLoadWarning")


def mlp(seed=0, sizes=(6, 16, 8, 3), act=nn.Tanh):
    rng = np.random.default_rng(seed)
    mods = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        mods.append(nn.Linear(a, b, rng=rng))
        if i < len(sizes) - 2:
            mods.append(act())
    return nn.Sequential(*mods)


def batch(n=128, d=6, seed=1, scale=3.0):
    return (1.0 + scale * np.random.default_rng(seed).standard_normal((n, d))).astype(np.float32)


def forward_vars(model, x):
    """Variance of each Linear's output, by hand from the weights (tanh in between)."""
    sd = model.state_dict()
    h, out = x.astype(np.float64), []
    for i in range(0, len(model), 2):
        z = h @ sd[f"{i}.weight"].T + sd[f"{i}.bias"]
        out.append(z.var())
        h = np.tanh(z)
    return out


def same_state(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------- lsuv


@pytest.mark.parametrize("tol", [0.1, 0.01])
def test_lsuv_gives_unit_variance_outputs(tol):
    model, x = mlp(), batch()
    report = tgi.data_initializer("lsuv", tol=tol, max_iter=20)(model, x, rng=np.random.default_rng(0))
    assert [r["name"] for r in report["layers"]] == ["0", "2", "4"]
    for v, r in zip(forward_vars(model, x), report["layers"]):
        assert abs(v - 1.0) < tol and r["converged"]
        assert r["var_after"] == pytest.approx(v, rel=1e-4)


def test_lsuv_starts_orthogonal_and_only_rescales():
    model, x = mlp(), batch()
    tgi.data_initializer("lsuv")(model, x, rng=np.random.default_rng(0))
    w = model.state_dict()["0.weight"].astype(np.float64)  # (16, 6): orthonormal columns, scaled
    gram = w.T @ w
    np.testing.assert_allclose(gram, gram[0, 0] * np.eye(6), atol=1e-5 * gram[0, 0])


def test_lsuv_without_init_keeps_directions():
    model, x = mlp(), batch()
    before = model.state_dict()
    tgi.data_initializer("lsuv", init=None)(model, x, rng=np.random.default_rng(0))
    after = model.state_dict()
    for k in before:
        if k.endswith("bias"):
            np.testing.assert_array_equal(after[k], before[k])  # biases untouched
        else:
            c = after[k].ravel() @ before[k].ravel() / (before[k].ravel() @ before[k].ravel())
            np.testing.assert_allclose(after[k], c * before[k], rtol=1e-5, atol=1e-7)


def test_lsuv_respects_max_iter():
    model, x = mlp(), batch(scale=50.0)
    report = tgi.data_initializer("lsuv", init=None, max_iter=1, tol=1e-6)(model, x, rng=0)
    assert all(r["iterations"] <= 1 for r in report["layers"])


class OutOfOrder(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8, 3, rng=0)  # declared first, runs last
        self.conv = nn.Conv2d(2, 4, 3, padding=1, rng=1)
        self.body = nn.Linear(4 * 5 * 5, 8, rng=2)

    def forward(self, x):
        h = self.conv(x).relu()
        return self.head(self.body(h.reshape(h.shape[0], -1)).relu())


def test_lsuv_forward_order_and_conv():
    x = np.random.default_rng(0).standard_normal((16, 2, 5, 5)).astype(np.float32) * 4
    model = OutOfOrder()
    report = tgi.data_initializer("lsuv", tol=0.05, max_iter=30)(model, x, rng=0)
    assert [r["name"] for r in report["layers"]] == ["conv", "body", "head"]
    assert [r["type"] for r in report["layers"]] == ["Conv2d", "Linear", "Linear"]
    with tgi.no_grad():
        assert abs(model.conv(tgi.Tensor(x)).data.var() - 1) < 0.05
    assert "forward" not in vars(model.conv)  # the temporary hook is gone


def test_lsuv_bad_input_changes_nothing():
    model = mlp()
    before = model.state_dict()
    with pytest.raises(ValueError, match="lsuv.*does not fit"):
        tgi.data_initializer("lsuv")(model, batch(d=5), rng=0)
    assert same_state(before, model.state_dict())
    with pytest.raises(ValueError, match="lsuv: tol=0"):
        tgi.data_initializer("lsuv", tol=0)
    with pytest.raises(ValueError, match="lsuv: max_iter=0"):
        tgi.data_initializer("lsuv", max_iter=0)


def test_data_initializers_leave_batchnorm_statistics_alone():
    x = batch()
    for name, hp in [("lsuv", {}), ("layerwise_pretrain", {"epochs": 1}),
                     ("pretrained", {"source": {}})]:
        model = nn.Sequential(nn.Linear(6, 16, rng=0), tgi.norm("batch_norm", 16), nn.ReLU(),
                              nn.Linear(16, 3, rng=1))
        model[2].eval()  # a per-module mode the initializer must keep; BatchNorm is training
        buffers = dict(model.named_buffers())
        before = {k: v.copy() for k, v in buffers.items()}
        tgi.data_initializer(name, **hp)(model, x, rng=0)
        after = dict(model.named_buffers())
        for k in before:
            np.testing.assert_array_equal(after[k], before[k], err_msg=f"{name}: {k}")
        assert model.training and model[1].training and not model[2].training, name


# --------------------------------------------------------------------- pretrained


def test_pretrained_npz_roundtrip(tmp_path):
    src, dst = mlp(seed=1), mlp(seed=2)
    path = tmp_path / "weights.npz"
    np.savez(path, **src.state_dict())
    report = tgi.data_initializer("pretrained", source=str(path))(dst, batch(), rng=0)
    assert same_state(src.state_dict(), dst.state_dict())
    assert report["loaded"] == list(src.state_dict()) and report["source"] == str(path)
    assert report["skipped"] == report["missing"] == report["mismatched"] == []


def test_pretrained_partial_report(tmp_path):
    src = mlp(seed=1, sizes=(6, 16, 8, 5)).state_dict()  # a different head: fine-tuning
    src["extra.weight"] = np.ones((2, 2), np.float32)
    del src["2.bias"]
    model = mlp(seed=2)
    before = model.state_dict()
    report = tgi.data_initializer("pretrained", source=src)(model, None, rng=0)
    assert report["loaded"] == ["0.weight", "0.bias", "2.weight"]
    assert report["skipped"] == ["extra.weight"]
    assert report["missing"] == ["2.bias"]
    assert report["mismatched"] == [("4.weight", (5, 8), (3, 8)), ("4.bias", (5,), (3,))]
    after = model.state_dict()
    for k in report["loaded"]:
        np.testing.assert_array_equal(after[k], src[k])
    for k in ("2.bias", "4.weight", "4.bias"):
        np.testing.assert_array_equal(after[k], before[k])


def test_pretrained_casts_and_accepts_a_module():
    model = mlp(seed=2)
    src = {k: v.astype(np.float64) for k, v in mlp(seed=1).state_dict().items()}
    tgi.data_initializer("pretrained", source=src)(model, None)
    assert all(v.dtype == np.float32 for v in model.state_dict().values())
    report = tgi.data_initializer("pretrained", source=mlp(seed=3))(model, None)
    assert same_state(model.state_dict(), mlp(seed=3).state_dict()) and len(report["loaded"]) == 6


def test_pretrained_strict(tmp_path):
    src = mlp(seed=1, sizes=(6, 16, 8, 5)).state_dict()
    model = mlp(seed=2)
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"strict=True.*4\.weight"):
        tgi.data_initializer("pretrained", source=src, strict=True)(model, None)
    assert same_state(before, model.state_dict())
    ok = tgi.data_initializer("pretrained", source=mlp(seed=1).state_dict(), strict=True)(model, None)
    assert len(ok["loaded"]) == 6


def test_pretrained_missing_and_corrupt_files(tmp_path):
    model = mlp()
    before = model.state_dict()
    missing = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        tgi.data_initializer("pretrained", source=missing)(model, None)
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 definitely not a zip archive")
    with pytest.raises(ValueError, match="corrupt.npz"):
        tgi.data_initializer("pretrained", source=corrupt)(model, None)
    npy = tmp_path / "single.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(ValueError, match="single.npy"):
        tgi.data_initializer("pretrained", source=npy)(model, None)
    with pytest.raises(ValueError, match="pretrained.*does not fit"):
        tgi.data_initializer("pretrained", source=mlp(seed=5))(model, batch(d=7))
    assert same_state(before, model.state_dict())
    with pytest.raises(TypeError, match="pretrained: source=3"):
        tgi.data_initializer("pretrained", source=3)


# --------------------------------------------------------------------- layerwise pretraining


def test_layerwise_pretrain_trains_hidden_layers_only():
    model, x = mlp(sizes=(6, 16, 8, 3)), batch(scale=1.0)
    before = model.state_dict()
    report = tgi.data_initializer("layerwise_pretrain", epochs=5, lr=0.1)(model, x, rng=0)
    assert [r["name"] for r in report["layers"]] == ["0", "2"]
    for r in report["layers"]:
        assert r["loss_after"] < r["loss_before"]
    after = model.state_dict()
    for k in ("0.weight", "0.bias", "2.weight", "2.bias"):
        assert not np.array_equal(after[k], before[k])
    for k in ("4.weight", "4.bias"):  # the output layer is not pretrained
        np.testing.assert_array_equal(after[k], before[k])
    assert all(p.grad is None for p in model.parameters())


def test_layerwise_linear_autoencoder_finds_the_subspace():
    # Data on a 3-D subspace of R^8: a 3-unit linear autoencoder reconstructs it (PCA).
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((512, 3)) @ rng.standard_normal((3, 8))).astype(np.float32)
    model = nn.Sequential(nn.Linear(8, 3, rng=1), nn.Linear(3, 2, rng=2))
    report = tgi.data_initializer("layerwise_pretrain", epochs=60, lr=0.02, optimizer="adam",
                                  batch_size=64)(model, x, rng=0)
    (r,) = report["layers"]
    assert r["loss_after"] < 0.01 * r["loss_before"]


def test_layerwise_noise_frozen_and_errors():
    x = batch(scale=1.0)
    a, b = mlp(), mlp()
    tgi.data_initializer("layerwise_pretrain", epochs=1, noise=0.3)(a, x, rng=3)
    tgi.data_initializer("layerwise_pretrain", epochs=1, noise=0.3)(b, x, rng=3)
    assert same_state(a.state_dict(), b.state_dict())
    c = mlp()
    c[0].freeze()
    before = c.state_dict()
    report = tgi.data_initializer("layerwise_pretrain", epochs=1)(c, x, rng=3)
    assert report["layers"][0]["frozen"]
    np.testing.assert_array_equal(c.state_dict()["0.weight"], before["0.weight"])
    with pytest.raises(TypeError, match="layerwise_pretrain.*Sequential"):
        tgi.data_initializer("layerwise_pretrain")(OutOfOrder(), x, rng=0)
    with pytest.raises(ValueError, match="layerwise_pretrain: lr=-1"):
        tgi.data_initializer("layerwise_pretrain", lr=-1)
    with pytest.raises(ValueError, match="no hidden Linear"):
        tgi.data_initializer("layerwise_pretrain")(nn.Sequential(nn.Linear(6, 2)), x, rng=0)


# --------------------------------------------------------------------- the contract itself


def fake(apply_factory):
    return Component("data_initializer", "fake", apply_factory, "test[fake]")


def test_contract_catches_a_data_initializer_that_changes_the_model_before_checking():
    def factory():
        def apply(model, x, *, rng):
            for p in model.parameters():
                p.data = p.data * 0.5
            model(tgi.Tensor(x))  # fails only now, too late
            return {}
        return apply
    with pytest.raises(AssertionError, match="changed the model"):
        contracts.CHECKS["bad_batch"](fake(factory), {})


def test_contract_catches_nondeterminism_and_missing_report():
    def unseeded():
        def apply(model, x, *, rng):
            model[0].weight.data = np.random.standard_normal(model[0].weight.shape).astype(np.float32)
            return {}
        return apply
    with pytest.raises(AssertionError, match="same rng seed"):
        contracts.CHECKS["determinism"](fake(unseeded), {})

    def no_report():
        return lambda model, x, *, rng: None
    with pytest.raises(AssertionError, match="report dict"):
        contracts.CHECKS["report"](fake(no_report), {})


