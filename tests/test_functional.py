import numpy as np
import pytest

from tinygrad_init import functional as F
from tinygrad_init import nn
from tinygrad_init.tensor import Tensor
from tinygrad_init.testing import gradcheck


def np_log_softmax(z):
    z = np.asarray(z, np.float64)
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def np_softmax(z):
    return np.exp(np_log_softmax(z))


def np_sigmoid(x):
    return 1 / (1 + np.exp(-np.asarray(x, np.float64)))


RNG = np.random.default_rng(0)
Z = RNG.normal(size=(6, 4)) * 2
T = np.array([0, 3, 1, 1, 2, 0])


# ----------------------------------------------------------------------------- cross-entropy
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_formula(reduction):
    per = -np_log_softmax(Z)[np.arange(6), T]  # logsumexp(z) - z[t]
    ref = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    out = F.cross_entropy(Tensor(Z), T, reduction=reduction)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, ref, rtol=1e-12)
    out32 = F.cross_entropy(Tensor(Z.astype(np.float32)), T, reduction=reduction)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32.data, ref, rtol=1e-5)


def test_cross_entropy_gradient_formula_and_gradcheck():
    z = Tensor(Z, requires_grad=True)
    F.cross_entropy(z, T).backward()
    onehot = np.eye(4)[T]
    np.testing.assert_allclose(z.grad, (np_softmax(Z) - onehot) / 6, rtol=1e-10, atol=1e-14)
    gradcheck(lambda z: F.cross_entropy(z, T), Z)
    gradcheck(lambda z: F.cross_entropy(z, T, reduction="none"), Z)


def test_cross_entropy_stable_for_huge_logits():
    z = np.array([[1e4, 0.0, -1e4], [1e4, 1e4 - 1.0, 0.0], [-1e4, -1e4, -1e4]])
    t = np.array([1, 1, 2])
    ref = np.array([1e4, 1.0 + np.log1p(np.exp(-1.0)), np.log(3.0)])
    for dtype in (np.float64, np.float32):
        zt = Tensor(z.astype(dtype), requires_grad=True)
        out = F.cross_entropy(zt, t, reduction="none")
        assert np.isfinite(out.data).all()
        np.testing.assert_allclose(out.data, ref, rtol=1e-6)
        out.sum().backward()
        assert np.isfinite(zt.grad).all()
        np.testing.assert_allclose(zt.grad, np_softmax(z) - np.eye(3)[t], atol=1e-6)


def test_cross_entropy_target_errors():
    z = Tensor(np.zeros((3, 10), np.float32))
    with pytest.raises(ValueError, match=r"target 10 is out of range for num_classes=10"):
        F.cross_entropy(z, np.array([0, 10, 2]))
    with pytest.raises(ValueError, match=r"target -1 is out of range for num_classes=10"):
        F.cross_entropy(z, np.array([-1, 0, 2]))
    with pytest.raises(ValueError, match=r"target 1.5 is not an integer.*num_classes=10"):
        F.cross_entropy(z, np.array([0.0, 1.5, 2.0]))
    with pytest.raises(ValueError, match=r"targets shape \(4,\).*\(3,\)"):
        F.cross_entropy(z, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"logits shape \(10,\)"):
        F.cross_entropy(Tensor(np.zeros(10)), np.array([1]))
    with pytest.raises(ValueError, match="reduction='avg'"):
        F.cross_entropy(z, np.array([0, 1, 2]), reduction="avg")
    # integral floats and Tensor targets are accepted
    a = F.cross_entropy(z, Tensor(np.array([0.0, 1.0, 2.0]))).item()
    np.testing.assert_allclose(a, np.log(10), rtol=1e-6)


# ----------------------------------------------------------------------------- BCE
def test_bce_with_logits_matches_formula_and_is_stable():
    x = np.array([-30.0, -3.0, -0.5, 0.0, 0.7, 4.0, 25.0])
    y = np.array([0.0, 1.0, 0.3, 1.0, 0.0, 1.0, 0.5])
    ref = np.logaddexp(0.0, x) - x * y  # softplus(x) - x*y, accurate in float64
    out = F.binary_cross_entropy_with_logits(Tensor(x), y, reduction="none")
    np.testing.assert_allclose(out.data, ref, rtol=1e-12)
    s = np_sigmoid(x[1:-1])  # the textbook form, where it is itself accurate
    naive = -(y[1:-1] * np.log(s) + (1 - y[1:-1]) * np.log(1 - s))
    np.testing.assert_allclose(out.data[1:-1], naive, rtol=1e-9)
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(Tensor(x), y).data, ref.mean())
    # huge logits: the naive formula gives inf/nan, the stable one |x| or 0
    big = Tensor(np.array([1e4, -1e4, 1e4, -1e4], np.float32), requires_grad=True)
    yb = np.array([0.0, 1.0, 1.0, 0.0])
    out = F.binary_cross_entropy_with_logits(big, yb, reduction="none")
    np.testing.assert_allclose(out.data, [1e4, 1e4, 0.0, 0.0])
    out.sum().backward()
    np.testing.assert_allclose(big.grad, [1.0, -1.0, 0.0, 0.0])


def test_bce_with_logits_gradient():
    x = np.array([[-2.0, 0.0, 0.0], [0.3, 5.0, -0.1]])  # includes x = 0 exactly
    y = np.array([[1.0, 0.0, 1.0], [0.5, 0.0, 1.0]])
    xt = Tensor(x, requires_grad=True)
    F.binary_cross_entropy_with_logits(xt, y).backward()
    np.testing.assert_allclose(xt.grad, (np_sigmoid(x) - y) / x.size, rtol=1e-10)
    gradcheck(lambda t: F.binary_cross_entropy_with_logits(t, y, reduction="none"),
              x + np.array([[0, 0.01, -0.02], [0, 0, 0]]))  # keep the numeric step off 0


def test_bce_errors():
    with pytest.raises(ValueError, match=r"logits shape \(3,\) and targets shape \(2,\)"):
        F.binary_cross_entropy_with_logits(Tensor(np.zeros(3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        F.binary_cross_entropy_with_logits(Tensor(np.zeros(2)), np.array([0.0, 2.0]))


# ----------------------------------------------------------------------------- regression
def test_mse_and_l1():
    a = RNG.normal(size=(3, 4))
    b = RNG.normal(size=(3, 4))
    np.testing.assert_allclose(F.mse_loss(Tensor(a), b).data, ((a - b) ** 2).mean())
    np.testing.assert_allclose(F.mse_loss(Tensor(a), b, reduction="sum").data, ((a - b) ** 2).sum())
    np.testing.assert_allclose(F.l1_loss(Tensor(a), b).data, np.abs(a - b).mean())
    np.testing.assert_allclose(F.l1_loss(Tensor(a), Tensor(b), reduction="none").data,
                               np.abs(a - b))
    t = Tensor(a, requires_grad=True)
    F.mse_loss(t, b).backward()
    np.testing.assert_allclose(t.grad, 2 * (a - b) / a.size)
    t = Tensor(a, requires_grad=True)
    F.l1_loss(t, b).backward()
    np.testing.assert_allclose(t.grad, np.sign(a - b) / a.size)
    gradcheck(lambda u: F.mse_loss(u, b), a)
    gradcheck(lambda u: F.l1_loss(u, b, reduction="sum"), a)
    with pytest.raises(ValueError, match=r"input shape \(3, 4\) and target shape \(4,\)"):
        F.mse_loss(Tensor(a), np.zeros(4))


# ----------------------------------------------------------------------------- penalties
def test_penalties_values_and_gradients():
    w = np.array([[1.0, -2.0], [0.5, 0.0]])
    b = np.array([-3.0, 0.25])
    pw, pb = nn.Parameter(w), nn.Parameter(b)
    l1 = F.l1_penalty([pw, pb])
    l2 = F.l2_penalty([pw, pb])
    np.testing.assert_allclose(l1.item(), np.abs(w).sum() + np.abs(b).sum())
    np.testing.assert_allclose(l2.item(), (w ** 2).sum() + (b ** 2).sum())  # no 1/2
    (l1 + l2).backward()
    np.testing.assert_allclose(pw.grad, np.sign(w) + 2 * w)
    np.testing.assert_allclose(pb.grad, np.sign(b) + 2 * b)
    lin = nn.Linear(3, 2, rng=0)
    expected = sum((p.data.astype(np.float64) ** 2).sum() for p in (lin.weight, lin.bias))
    np.testing.assert_allclose(F.l2_penalty(lin).item(), expected, rtol=1e-5)
    assert F.l2_penalty([]).item() == 0.0
    with pytest.raises(TypeError, match="item 0 is ndarray"):
        F.l1_penalty([w])


def test_l2_penalty_matches_sgd_weight_decay():
    # PyTorch SGD(weight_decay=wd) adds wd*w to the gradient == gradient of 0.5*wd*l2_penalty
    w = nn.Parameter(np.array([0.3, -1.2, 2.0]))
    wd = 0.1
    (0.5 * wd * F.l2_penalty([w])).backward()
    np.testing.assert_allclose(w.grad, wd * w.data)


# ----------------------------------------------------------------------------- metrics
def test_accuracy():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 1.0, 5.0], [9.0, 0.0, 0.0]])
    assert F.accuracy(Tensor(logits), np.array([0, 1, 0, 0])) == 0.75
    assert isinstance(F.accuracy(logits, [0, 1, 2, 0]), float)
    assert F.accuracy(np.array([-1.0, 2.0, 0.5]), np.array([0, 1, 0])) == 2 / 3
    with pytest.raises(ValueError, match="different numbers of samples"):
        F.accuracy(logits, np.array([0, 1]))


# ----------------------------------------------------------------------------- wrappers
def test_functional_conv_and_pool_wrappers():
    x = RNG.normal(size=(2, 3, 6, 6))
    w = RNG.normal(size=(4, 3, 3, 3))
    b = RNG.normal(size=4)
    np.testing.assert_array_equal(F.conv2d(x, w, b, stride=2, padding=1).data,
                                  Tensor(x).conv2d(Tensor(w), Tensor(b), stride=2, padding=1).data)
    np.testing.assert_array_equal(F.max_pool2d(Tensor(x), 2).data, Tensor(x).max_pool2d(2).data)
    np.testing.assert_array_equal(F.avg_pool2d(x, 3, stride=1, padding=1).data,
                                  Tensor(x).avg_pool2d(3, stride=1, padding=1).data)
    gradcheck(lambda a, k, c: F.conv2d(a, k, c, padding=1), x[:1, :, :4, :4], w, b)


def test_functional_dropout_and_activations():
    x = Tensor(np.ones((10, 10), np.float32))
    assert F.dropout(x, 0.5, training=False) is x
    y = F.dropout(x, 0.5, rng=0).data
    assert set(np.unique(y)) <= {0.0, 2.0}
    np.testing.assert_allclose(F.log_softmax(Tensor(Z), axis=1).data, np_log_softmax(Z))
    np.testing.assert_allclose(F.softmax(Tensor(Z), axis=1).data, np_softmax(Z))


# ----------------------------------------------------------------------------- PyTorch fixture
REF_PATH = __import__("pathlib").Path(__file__).parent / "data" / "nn_reference.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(REF_PATH, allow_pickle=False) as z:
        return dict(z)


@pytest.mark.parametrize("case,fn,kw", [
    ("ce_mean", F.cross_entropy, {}), ("ce_sum", F.cross_entropy, {"reduction": "sum"}),
    ("ce_none", F.cross_entropy, {"reduction": "none"}),
    ("bce_mean", F.binary_cross_entropy_with_logits, {}),
    ("bce_none", F.binary_cross_entropy_with_logits, {"reduction": "none"}),
    ("mse", F.mse_loss, {}), ("l1", F.l1_loss, {}),
])
def test_losses_match_pytorch(ref, case, fn, kw):
    x = Tensor(ref[f"{case}__x"], requires_grad=True)
    out = fn(x, ref[f"{case}__target"], **kw)
    # atol: torch returns 0 for BCE(x=-500, y=0) where the exact value (ours) is 7e-218
    np.testing.assert_allclose(out.data, ref[f"{case}__out"], rtol=1e-12, atol=1e-200)
    (out * Tensor(ref[f"{case}__g"])).sum().backward()
    np.testing.assert_allclose(x.grad, ref[f"{case}__grad_x"], rtol=1e-10, atol=1e-15)


# ---- errors that name the thing and the value (issues 20 item 7, 21 item 9) --------------------
@pytest.mark.parametrize("loss", [F.mse_loss, F.l1_loss])
def test_string_targets_are_refused_by_name(loss):
    with pytest.raises(TypeError, match=rf"{loss.__name__}: target must be numbers, got dtype <U1"):
        loss(Tensor(np.ones(2)), np.array(["a", "b"]))


@pytest.mark.parametrize("logits,targets", [((4, 2), (4,)), ((4, 1), (4, 3)), ((4,), (4, 3))])
def test_bce_shape_mismatch_says_one_target_per_logit(logits, targets):
    with pytest.raises(ValueError, match=rf"logits shape \({logits[0]}, ?{logits[1] if len(logits) > 1 else ''}\) "
                                         r"and targets shape .* differ; it takes one target in \[0, 1\] per logit"):
        F.binary_cross_entropy_with_logits(Tensor(np.ones(logits)), np.ones(targets))


@pytest.mark.parametrize("y,bad,where", [([0.0, 1.5, 1.0], "1.5", "1"), ([[0.0, -0.5]], "-0.5", r"\(0, 1\)"),
                                         ([0.0, np.nan], "nan", "1")])
def test_bce_names_the_target_outside_0_1(y, bad, where):
    y = np.array(y)
    with pytest.raises(ValueError, match=rf"targets must be in \[0, 1\]; target {bad} at index {where} is not"):
        F.binary_cross_entropy_with_logits(Tensor(np.zeros(y.shape)), y)


@pytest.mark.parametrize("t,shown", [([0, 2**63], "9223372036854775808"), (np.array([0, 1e20]), "100000000000000000000"),
                                     (np.array([0, -1e20]), "-100000000000000000000")])
def test_cross_entropy_huge_labels_are_reported_as_they_are(t, shown):
    with pytest.raises(ValueError, match=rf"cross_entropy: target {shown} is out of range for num_classes=3"):
        F.cross_entropy(Tensor(np.ones((2, 3))), t)
