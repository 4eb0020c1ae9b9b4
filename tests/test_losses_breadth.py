"""The losses of issue 13 against PyTorch's documented definitions (written as loops in
float64 here), with their gradients checked by central differences."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinygrad_init import functional as F
from tinygrad_init.tensor import Tensor
from tinygrad_init.testing import arrays, gradcheck


def log_softmax(z, axis):
    m = z.max(axis=axis, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


def ref_ce(z, t, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """PyTorch's CrossEntropyLoss docs: per element l_n = -sum_c w_c y_nc log p_nc with
    y = (1 - eps) onehot + eps / C; for class indices, ignored targets give 0 and 'mean'
    divides by sum_n w_{t_n} over the kept n; for probabilities 'mean' divides by N*d."""
    axis = 1 if z.ndim >= 2 else 0
    lp = np.moveaxis(log_softmax(z, axis), axis, -1).reshape(-1, z.shape[axis])
    c = lp.shape[1]
    w = np.ones(c) if weight is None else weight
    losses, denom = [], 0.0
    if t.shape == z.shape:
        y = np.moveaxis(t, axis, -1).reshape(-1, c) * (1 - label_smoothing) + label_smoothing / c
        for n in range(len(lp)):
            losses.append(-sum(w[k] * y[n, k] * lp[n, k] for k in range(c)))
        denom = len(lp)
        shape = np.moveaxis(t, axis, -1).shape[:-1]
    else:
        tt = t.reshape(-1)
        for n in range(len(lp)):
            if tt[n] == ignore_index:
                losses.append(0.0)
                continue
            nll = -w[tt[n]] * lp[n, tt[n]]
            smooth = -sum(w[k] * lp[n, k] for k in range(c))
            losses.append((1 - label_smoothing) * nll + label_smoothing / c * smooth)
            denom += w[tt[n]]
        shape = t.shape
    losses = np.array(losses).reshape(shape)
    if reduction == "none":
        return losses
    return losses.sum() / (denom if reduction == "mean" else 1.0)


@st.composite
def ce_case(d):
    n, c = d(st.integers(1, 4)), d(st.integers(2, 4))
    extra = d(st.sampled_from([(), (2,), (2, 1)])) if d(st.booleans()) else ()
    batch = d(st.booleans()) or extra
    shape = ((n,) if batch else ()) + (c,) + extra
    z = d(arrays(shape, min_value=-4, max_value=4))
    kw = {"reduction": d(st.sampled_from(["mean", "sum", "none"])),
          "label_smoothing": d(st.sampled_from([0.0, 0.1, 0.5]))}
    if d(st.booleans()):
        kw["weight"] = d(arrays((c,), min_value=0.1, max_value=2))
    tshape = ((n,) if batch else ()) + extra
    if d(st.booleans()):  # probabilities
        p = d(arrays(shape, min_value=0, max_value=1)) + 1e-3
        t = p / p.sum(axis=1 if batch else 0, keepdims=True)
    else:
        t = np.array(d(st.lists(st.integers(0, c - 1), min_size=int(np.prod(tshape)),
                                max_size=int(np.prod(tshape))))).reshape(tshape).astype(np.int64)
        if t.size > 1 and d(st.booleans()):
            kw["ignore_index"] = int(t.flat[0])
            t.flat[-1] = (t.flat[0] + 1) % c  # at least one target is kept
            if t.flat[-1] == t.flat[0]:
                t.flat[-1] = (t.flat[0] + 1) % c
    return z, t, kw


@given(ce_case())
def test_cross_entropy_matches_pytorchs_definition(case):
    z, t, kw = case
    if "ignore_index" in kw and (t.reshape(-1) != kw["ignore_index"]).sum() == 0:
        return
    out = F.cross_entropy(Tensor(z), t, **kw)
    np.testing.assert_allclose(out.data, ref_ce(z, t, **kw), rtol=1e-9, atol=1e-12)
    assert F.cross_entropy(Tensor(z.astype(np.float32)), t, **kw).dtype == np.float32
    gradcheck(lambda x: F.cross_entropy(x, t, **kw), z)


@given(ce_case())
def test_nll_loss_is_cross_entropy_of_log_probabilities(case):
    z, t, kw = case
    if t.shape == z.shape:
        return
    kw.pop("label_smoothing")
    axis = 1 if z.ndim >= 2 else 0
    out = F.nll_loss(Tensor(log_softmax(z, axis)), t, **kw)
    np.testing.assert_allclose(out.data, ref_ce(z, t, **kw), rtol=1e-9, atol=1e-12)
    gradcheck(lambda x: F.nll_loss(x, t, **kw), log_softmax(z, axis))


def test_cross_entropy_all_ignored_is_nan_and_pinned_values():
    z = np.array([[1.0, 2.0, 0.5]])
    assert math.isnan(F.cross_entropy(Tensor(z), np.array([1]), ignore_index=1).item())
    # a hand-computed value: -log softmax([1, 2, .5])[1] with eps = 0.2 over 3 classes
    lp = log_softmax(z, 1)[0]
    want = 0.8 * -lp[1] + 0.2 / 3 * -lp.sum()
    assert F.cross_entropy(Tensor(z), np.array([1]), label_smoothing=0.2).item() == pytest.approx(want)


@given(st.data())
def test_bce_and_bce_with_logits(data):
    shape = data.draw(st.sampled_from([(3,), (2, 3), (2, 1, 3)]))
    x = data.draw(arrays(shape, min_value=-4, max_value=4))
    y = data.draw(arrays(shape, min_value=0, max_value=1))
    w = data.draw(st.sampled_from([None, np.array([0.5, 1.0, 2.0])]))
    pw = data.draw(st.sampled_from([None, np.array([3.0, 1.0, 0.25])]))
    red = data.draw(st.sampled_from(["mean", "sum", "none"]))
    s = 1 / (1 + np.exp(-x))
    pwe = 1.0 if pw is None else pw
    # PyTorch docs: l = -w [pos_weight y log s(x) + (1 - y) log(1 - s(x))]
    ref = -(1.0 if w is None else w) * (pwe * y * np.log(s) + (1 - y) * np.log(1 - s))
    red_fn = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[red]
    out = F.binary_cross_entropy_with_logits(Tensor(x), y, w, reduction=red, pos_weight=pw)
    np.testing.assert_allclose(out.data, red_fn(ref), rtol=1e-9)
    gradcheck(lambda t: F.binary_cross_entropy_with_logits(t, y, w, reduction=red, pos_weight=pw), x)
    ref_p = -(1.0 if w is None else w) * (y * np.log(s) + (1 - y) * np.log(1 - s))
    out = F.binary_cross_entropy(Tensor(s), y, w, reduction=red)
    np.testing.assert_allclose(out.data, red_fn(ref_p), rtol=1e-9)
    gradcheck(lambda t: F.binary_cross_entropy(t, y, w, reduction=red), np.clip(s, 0.05, 0.95))


def test_bce_clamps_its_logs_at_minus_100_like_pytorch():
    x = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    out = F.binary_cross_entropy(x, np.array([1.0, 0.0]), reduction="none")
    np.testing.assert_array_equal(out.data, [100.0, 100.0])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [-1e12, 1e12])  # (x - y) / max(x (1 - x), 1e-12)
    with pytest.raises(ValueError, match=r"binary_cross_entropy: inputs must be in \[0, 1\]; input 1.5 at index 0 is not"):
        F.binary_cross_entropy(Tensor([1.5]), np.array([1.0]))
    with pytest.raises(ValueError, match=r"pos_weight shape \(2,\) does not broadcast"):
        F.binary_cross_entropy_with_logits(Tensor(np.zeros((2, 3))), np.zeros((2, 3)), pos_weight=np.ones(2))


@given(st.data())
def test_huber_and_smooth_l1(data):
    x = data.draw(arrays((2, 3), min_value=-3, max_value=3))
    y = data.draw(arrays((2, 3), min_value=-3, max_value=3))
    k = data.draw(st.sampled_from([0.5, 1.0, 2.0]))
    d = x - y
    # keep the step of the finite differences off the switch point |d| = k
    d = np.where(np.abs(np.abs(d) - k) < 1e-3, d + 2e-3, d)
    x = y + d
    huber = np.where(np.abs(d) < k, 0.5 * d ** 2, k * (np.abs(d) - 0.5 * k))
    smooth = np.where(np.abs(d) < k, 0.5 * d ** 2 / k, np.abs(d) - 0.5 * k)
    np.testing.assert_allclose(F.huber_loss(Tensor(x), y, delta=k).data, huber.mean(), rtol=1e-12)
    np.testing.assert_allclose(F.smooth_l1_loss(Tensor(x), y, "sum", beta=k).data, smooth.sum(), rtol=1e-12)
    gradcheck(lambda t: F.huber_loss(t, y, "none", delta=k), x)
    gradcheck(lambda t: F.smooth_l1_loss(t, y, "none", beta=k), x)
    np.testing.assert_allclose(F.smooth_l1_loss(Tensor(x), y, beta=0.0).data, np.abs(d).mean())


@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    rng = np.random.default_rng(1)
    lp = log_softmax(rng.normal(size=(4, 3)), 1)
    q = np.exp(log_softmax(rng.normal(size=(4, 3)), 1))
    if not log_target:
        q[0, 0] = 0.0  # 0 log 0 = 0
    tgt = np.log(q) if log_target else q
    with np.errstate(divide="ignore"):
        point = np.where(q > 0, q * (np.log(np.where(q > 0, q, 1)) - lp), 0.0)
    want = {"mean": point.mean(), "batchmean": point.sum() / 4, "sum": point.sum(), "none": point}[reduction]
    out = F.kl_div(Tensor(lp), tgt, reduction=reduction, log_target=log_target)
    np.testing.assert_allclose(out.data, want, rtol=1e-12, atol=1e-15)
    gradcheck(lambda t: F.kl_div(t, tgt, reduction=reduction, log_target=log_target), lp)
