"""Optimizer host and plugins: parameter groups, lr schedules, validation, non-finite
gradients, state dicts, clipping, documented formulas and equivalences, conformance."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import tinygrad_init as tgi
from tinygrad_init.registry import get_registry
from tinygrad_init.testing.contracts_optimizer import CHECKS

NAMES = ["adadelta", "adagrad", "adam", "adamax", "adamw", "lion", "nadam", "radam", "rmsprop", "sgd"]

# every optimizer with the options that add state or branches
CONFIGS = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "momentum_form": "ewa", "nesterov": True}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1, "weight_decay": 0.01}),
    ("rmsprop", {"lr": 0.01}),
    ("rmsprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.01}),
    ("adadelta", {"weight_decay": 0.01}),
    ("adam", {"lr": 0.01}),
    ("adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01}),
    ("adam", {"lr": 0.01, "bias_correction": False}),
    ("adamw", {"lr": 0.01, "amsgrad": True}),
    ("adamax", {"lr": 0.01, "weight_decay": 0.01}),
    ("nadam", {"lr": 0.01, "weight_decay": 0.01}),
    ("radam", {"lr": 0.01, "weight_decay": 0.01}),
    ("lion", {"lr": 0.01, "weight_decay": 0.1}),
]
CONFIG_IDS = [f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)]


def P(values, requires_grad=True, dtype=np.float32):
    return tgi.Tensor(np.asarray(values, dtype=dtype), requires_grad=requires_grad)


def grads_for(shapes, steps, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [[(rng.standard_normal(s) * rng.uniform(0.1, 2.0)).astype(dtype) for s in shapes]
            for _ in range(steps)]


def run(opt, params, grads):
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = None if g is None else g.copy()
        opt.step()


def start_params(seed=1):
    rng = np.random.default_rng(seed)
    return [P(rng.standard_normal((3, 4))), P(rng.standard_normal(5)), P(rng.standard_normal(()))]


# ----------------------------------------------------------------------------- registry


def test_every_optimizer_is_registered_and_a_subclass():
    assert set(NAMES) <= set(tgi.available("optimizer"))
    for n in NAMES:
        opt = tgi.optimizer(n, [P([1.0])])
        assert isinstance(opt, tgi.Optimizer) and opt.name == n


def test_signature_lists_the_defaults_and_unknown_keyword_is_named():
    sig = inspect.signature(get_registry().get("optimizer", "adam").factory)
    assert sig.parameters["betas"].default == (0.9, 0.999)
    assert sig.parameters["eps"].default == 1e-8 and sig.parameters["lr"].default == 1e-3
    with pytest.raises(TypeError, match="betass.*did you mean 'betas'"):
        tgi.optimizer("adam", [P([1.0])], betass=(0.9, 0.99))


@pytest.mark.parametrize("name, defaults", [
    ("sgd", {"momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0}),
    ("adagrad", {"lr": 1e-2, "lr_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10}),
    ("rmsprop", {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "centered": False}),
    ("adadelta", {"lr": 1.0, "rho": 0.9, "eps": 1e-6}),
    ("adam", {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False}),
    ("adamw", {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2}),
    ("adamax", {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8}),
    ("nadam", {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "momentum_decay": 4e-3}),
    ("radam", {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}),
    ("lion", {"lr": 1e-4, "betas": (0.9, 0.99), "weight_decay": 0.0}),
])
def test_pytorch_defaults(name, defaults):
    group = tgi.optimizer(name, [P([1.0])]).param_groups[0]
    for k, v in defaults.items():
        assert group[k] == v, (name, k)


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("name, hp, param", [
    ("sgd", {"lr": -1.0}, "lr"),
    ("adam", {"lr": float("nan")}, "lr"),
    ("adam", {"lr": float("inf")}, "lr"),
    ("adam", {"betas": (1.0, 0.999)}, "betas[0]"),
    ("adam", {"betas": (0.9, -0.1)}, "betas[1]"),
    ("adamw", {"betas": (0.9,)}, "betas"),
    ("adam", {"eps": 0.0}, "eps"),
    ("adam", {"eps": -1e-8}, "eps"),
    ("adam", {"weight_decay": -0.1}, "weight_decay"),
    ("sgd", {"momentum": -0.5}, "momentum"),
    ("sgd", {"nesterov": True}, "nesterov"),
    ("sgd", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "nesterov"),
    ("sgd", {"momentum_form": "keras"}, "momentum_form"),
    ("sgd", {"momentum_form": "ewa", "momentum": 1.0}, "momentum"),
    ("rmsprop", {"alpha": 1.0}, "alpha"),
    ("rmsprop", {"eps": 0.0}, "eps"),
    ("adagrad", {"lr_decay": -1.0}, "lr_decay"),
    ("adagrad", {"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
    ("adadelta", {"rho": 1.5}, "rho"),
    ("nadam", {"momentum_decay": -1.0}, "momentum_decay"),
    ("radam", {"betas": (0.9, 1.0)}, "betas[1]"),
    ("lion", {"betas": (1.2, 0.99)}, "betas[0]"),
    ("adam", {"nonfinite": "ignore"}, "nonfinite"),
])
def test_bad_hyperparameters_are_named(name, hp, param):
    with pytest.raises((ValueError, TypeError)) as info:
        tgi.optimizer(name, [P([1.0])], **hp)
    msg = str(info.value)
    assert msg.startswith(name) and f"{param}=" in msg, msg


def test_bad_hyperparameter_in_a_group_names_the_group():
    with pytest.raises(ValueError, match=r"adam \(group 1\): eps=0"):
        tgi.optimizer("adam", [{"params": [P([1.0])]}, {"params": [P([2.0])], "eps": 0.0}])
    with pytest.raises(TypeError, match="unknown key 'momentm'"):
        tgi.optimizer("sgd", [{"params": [P([1.0])], "momentm": 0.9}])


def test_params_must_be_a_nonempty_list_without_repeats():
    a, b = P([1.0]), P([2.0])
    with pytest.raises(ValueError, match="empty"):
        tgi.optimizer("sgd", [])
    with pytest.raises(ValueError, match="empty"):
        tgi.optimizer("sgd", (p for p in []))
    with pytest.raises(ValueError, match="more than once"):
        tgi.optimizer("sgd", [{"params": [a, b]}, {"params": [a], "lr": 1.0}])
    with pytest.raises(ValueError, match="more than once"):
        tgi.optimizer("sgd", [a, b, a])
    with pytest.raises(TypeError, match="iterable"):
        tgi.optimizer("sgd", a)
    with pytest.raises(TypeError, match="not a parameter"):
        tgi.optimizer("sgd", [np.ones(3)])
    with pytest.raises(ValueError, match="group 1 is empty"):
        tgi.optimizer("sgd", [{"params": [a]}, {"params": []}])


# ----------------------------------------------------------------------------- stepping


def test_sgd_is_p_minus_lr_g_and_momentum_zero_is_plain_sgd():
    w = P([1.0, -2.0, 3.0], dtype=np.float64)
    w2 = P(w.data.copy(), dtype=np.float64)
    plain, m0 = tgi.optimizer("sgd", [w], lr=0.1), tgi.optimizer("sgd", [w2], lr=0.1, momentum=0.0)
    expect = w.data.copy()
    for gs in grads_for([(3,)], 5, dtype=np.float64):
        expect = expect - 0.1 * gs[0]
        run(plain, [w], [gs])
        run(m0, [w2], [gs])
        assert np.array_equal(w.data, expect) and np.array_equal(w2.data, expect)


def test_param_groups_have_their_own_hyperparameters_and_lr_scale():
    a, b, c = P([1.0]), P([1.0]), P([1.0])
    opt = tgi.optimizer("sgd", [{"params": [a]}, {"params": [b], "lr": 0.5},
                                {"params": [c], "lr_scale": 10.0}], lr=0.01)
    assert [opt.get_lr(i) for i in range(3)] == [0.01, 0.5, pytest.approx(0.1)]
    for p in (a, b, c):
        p.grad = np.array([1.0], np.float32)
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0], c.data[0]], [0.99, 0.5, 0.9], rtol=1e-6)
    opt.set_lr(0.02)  # lr_scale survives set_lr
    assert opt.get_lr(0) == 0.02 and opt.get_lr(2) == pytest.approx(0.2)


def test_lr_schedule_is_evaluated_at_the_update_count():
    seen = []

    def sched(step):
        seen.append(step)
        return 0.1 * (step + 1)

    w = P([0.0], dtype=np.float64)
    opt = tgi.optimizer("sgd", [w], lr=sched)
    assert opt.get_lr() == pytest.approx(0.1)
    for _ in range(3):
        w.grad = np.array([-1.0])
        opt.step()
    assert opt.steps == 3 and w.data[0] == pytest.approx(0.1 + 0.2 + 0.3)
    assert opt.get_lr() == pytest.approx(0.4)
    opt2 = tgi.optimizer("sgd", [P([0.0])], lr=lambda s: -1.0)
    opt2.param_groups[0]["params"][0].grad = np.array([1.0], np.float32)
    with pytest.raises(ValueError, match="schedule returned -1.0"):
        opt2.step()


def test_frozen_and_gradless_params_are_skipped_and_keep_their_own_step_count():
    a, frozen, late = P([1.0, 2.0]), P([5.0], requires_grad=False), P([3.0])
    opt = tgi.optimizer("adam", [a, frozen, late], lr=0.1)
    for _ in range(3):
        a.grad, frozen.grad, late.grad = np.array([1.0, -1.0], np.float32), np.array([1.0], np.float32), None
        opt.step()
    assert frozen.data[0] == 5.0 and late.data[0] == 3.0 and opt.steps == 3
    # late's first update is Adam's first step: m_hat / sqrt(v_hat) = sign(g), so it moves by ~lr
    late.grad, a.grad = np.array([4.0], np.float32), None
    opt.step()
    assert late.data[0] == pytest.approx(3.0 - 0.1 * 4.0 / (4.0 + 1e-8), rel=1e-6)
    assert opt.state_dict()["state.2.step"] == 1 and opt.state_dict()["state.0.step"] == 3


def test_zero_grad():
    a = P([1.0])
    opt = tgi.optimizer("sgd", [a])
    a.grad = np.array([2.0], np.float32)
    opt.zero_grad(set_to_none=False)
    assert np.array_equal(a.grad, [0.0])
    opt.zero_grad()
    assert a.grad is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_dtype_is_kept(name, dtype):
    w = P([1.0, 2.0], dtype=dtype)
    opt = tgi.optimizer(name, [w])
    run(opt, [w], grads_for([(2,)], 3, dtype=dtype))
    assert w.data.dtype == dtype
    state = [v for k, v in opt.state_dict().items() if k.startswith("state.0.") and v.shape == (2,)]
    assert state and all(v.dtype == dtype for v in state)


def test_grad_of_wrong_shape_is_an_error():
    w = P([1.0, 2.0])
    opt = tgi.optimizer("sgd", [w])
    w.grad = np.ones(3, np.float32)
    with pytest.raises(ValueError, match=r"shape \(2,\).*\(3,\)"):
        opt.step()


# ----------------------------------------------------------------------------- non-finite


def test_nonfinite_grad_raises_naming_the_param_and_updates_nothing():
    lin = tgi.nn.Linear(3, 2, rng=0)
    opt = tgi.optimizer("adam", lin.named_parameters(), lr=0.1)
    lin.weight.grad = np.ones((2, 3), np.float32)
    lin.bias.grad = np.ones(2, np.float32)
    opt.step()
    before = {k: v.copy() for k, v in opt.state_dict().items()}
    w, b = lin.weight.data.copy(), lin.bias.data.copy()
    lin.bias.grad = np.array([1.0, np.inf], np.float32)
    with pytest.raises(FloatingPointError, match="'bias'.*no parameter was updated"):
        opt.step()
    assert np.array_equal(lin.weight.data, w) and np.array_equal(lin.bias.data, b)
    after = opt.state_dict()
    assert after.keys() == before.keys() and all(np.array_equal(after[k], before[k]) for k in before)
    # unnamed parameters are named by their index
    x, y = P([1.0]), P([1.0])
    opt = tgi.optimizer("sgd", [x, y])
    x.grad, y.grad = np.array([1.0], np.float32), np.array([np.nan], np.float32)
    with pytest.raises(FloatingPointError, match="parameter 1 "):
        opt.step()


def test_nonfinite_skip_skips_the_whole_step_with_a_warning():
    x, y = P([1.0]), P([1.0])
    opt = tgi.optimizer("sgd", [x, y], lr=0.1, nonfinite="skip")
    x.grad, y.grad = np.array([1.0], np.float32), np.array([np.nan], np.float32)
    with pytest.warns(RuntimeWarning, match="skipped"):
        opt.step()
    assert x.data[0] == 1.0 and y.data[0] == 1.0 and opt.steps == 0
    y.grad = np.array([2.0], np.float32)
    opt.step()
    assert opt.steps == 1 and x.data[0] == pytest.approx(0.9) and y.data[0] == pytest.approx(0.8)


# ----------------------------------------------------------------------------- state dicts


@pytest.mark.parametrize("name, hp", CONFIGS, ids=CONFIG_IDS)
def test_state_dict_round_trip_is_bit_exact(name, hp, tmp_path):
    shapes = [(3, 4), (5,), ()]
    grads = grads_for(shapes, 14, seed=3)
    grads[2][1] = None  # a parameter without gradient in one step

    def build(params):
        return tgi.optimizer(name, [{"params": params[:2]}, {"params": params[2:], "lr_scale": 0.5}], **hp)

    ref = start_params()
    ref_opt = build(ref)
    run(ref_opt, ref, grads)

    first = start_params()
    opt = build(first)
    run(opt, first, grads[:6])
    np.savez(tmp_path / "opt.npz", **opt.state_dict())
    fresh = [P(p.data.copy()) for p in first]
    opt2 = build(fresh)
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as npz:
        opt2.load_state_dict(npz)
    run(opt2, fresh, grads[6:])
    for a, b in zip(ref, fresh):
        assert np.array_equal(a.data, b.data)
    sa, sb = ref_opt.state_dict(), opt2.state_dict()
    assert sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert opt2.steps == 14


def test_state_dict_is_flat_arrays_with_documented_keys():
    a, b = P(np.ones((2, 3))), P([1.0])
    opt = tgi.optimizer("adam", [a, b], amsgrad=True)
    a.grad = np.ones((2, 3), np.float32)
    opt.step()
    sd = opt.state_dict()
    assert all(isinstance(k, str) and isinstance(v, np.ndarray) for k, v in sd.items())
    assert str(sd["optimizer"]) == "adam" and sd["optimizer"].shape == () and int(sd["steps"]) == 1
    assert {"state.0.exp_avg", "state.0.exp_avg_sq", "state.0.max_exp_avg_sq", "state.0.step",
            "group.0.lr_scale", "group.0.betas", "param.1.shape"} <= sd.keys()
    assert not any(k.startswith("state.1.") for k in sd)  # b never had a gradient
    assert all(v.dtype != object for v in sd.values())


def test_load_restores_lr_scale_and_keeps_a_schedule():
    sched = lambda s: 0.1 / (1 + s)  # noqa: E731
    opt = tgi.optimizer("sgd", [P([1.0])], lr=sched)
    opt.param_groups[0]["lr_scale"] = 0.25  # what reduce-on-plateau does
    opt.param_groups[0]["params"][0].grad = np.ones(1, np.float32)
    opt.step()
    sd = opt.state_dict()
    opt2 = tgi.optimizer("sgd", [P([1.0])], lr=sched)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] is sched and opt2.param_groups[0]["lr_scale"] == 0.25
    assert opt2.get_lr() == pytest.approx(0.25 * 0.1 / 2)
    with pytest.raises(ValueError, match="schedule"):
        tgi.optimizer("sgd", [P([1.0])], lr=0.1).load_state_dict(sd)


def _trained(name="adam", shapes=((2, 2), (3,)), **hp):
    ps = [P(np.ones(s)) for s in shapes]
    opt = tgi.optimizer(name, ps, **hp)
    run(opt, ps, grads_for(list(shapes), 2))
    return opt, ps


@pytest.mark.parametrize("mutate, target, match", [
    (None, ("sgd", ((2, 2), (3,))), "from optimizer 'adam', not 'sgd'"),
    (None, ("adam", ((2, 2),)), "2 parameters, this optimizer has 1"),
    (None, ("adam", ((2, 2), (4,))), r"parameter 1 has shape \(3,\) in the state dict but \(4,\)"),
    (lambda sd: sd.__setitem__("state.0.exp_avg", np.zeros((4,), np.float32)), None, "exp_avg"),
    (lambda sd: sd.__setitem__("state.0.exp_avg", np.zeros((2, 2), np.float64)), None, "float64"),
    (lambda sd: sd.pop("state.1.exp_avg_sq"), None, "no key 'state.1.exp_avg_sq'"),
    (lambda sd: sd.__setitem__("state.0.velocity", np.zeros((2, 2), np.float32)), None, "unexpected keys"),
    (lambda sd: sd.__setitem__("group.0.eps", np.array(-1.0)), None, "eps=-1.0"),
])
def test_load_validates_everything_before_loading(mutate, target, match):
    src, _ = _trained()
    sd = src.state_dict()
    if mutate is not None:
        mutate(sd)
    name, shapes = target or ("adam", ((2, 2), (3,)))
    dst, _ = _trained(name, shapes, lr=0.5) if name == "adam" else _trained(name, shapes)
    before = dst.state_dict()
    with pytest.raises(ValueError, match=match):
        dst.load_state_dict(sd)
    after = dst.state_dict()  # nothing half-loaded
    assert after.keys() == before.keys() and all(np.array_equal(after[k], before[k]) for k in before)
    assert dst.param_groups[0]["lr"] == before["group.0.lr"]


# ----------------------------------------------------------------------------- formulas


def test_adam_beta1_zero_without_bias_correction_is_rmsprop():
    shapes = [(4, 3), (6,)]
    grads = grads_for(shapes, 20, seed=5)
    a = [P(np.linspace(-1, 1, 12).reshape(4, 3)), P(np.linspace(2, 3, 6))]
    r = [P(p.data.copy()) for p in a]
    adam = tgi.optimizer("adam", a, lr=0.01, betas=(0.0, 0.9), eps=1e-6, bias_correction=False)
    rms = tgi.optimizer("rmsprop", r, lr=0.01, alpha=0.9, eps=1e-6)
    for gs in grads:
        run(adam, a, [gs])
        run(rms, r, [gs])
        assert all(np.array_equal(x.data, y.data) for x, y in zip(a, r))
    # with bias correction they differ (the first step is ~lr * sign(g) for Adam)
    b = [P(np.linspace(-1, 1, 12).reshape(4, 3)), P(np.linspace(2, 3, 6))]
    run(tgi.optimizer("adam", b, lr=0.01, betas=(0.0, 0.9), eps=1e-6), b, grads)
    assert not np.allclose(b[0].data, a[0].data)


def test_ewa_momentum_with_rescaled_lr_equals_pytorch_momentum_at_every_step():
    # v_0 = 0 makes the EWA velocity (1 - beta) * the PyTorch buffer exactly, from step 1.
    beta, lr = 0.9, 0.05
    grads = grads_for([(5,)], 30, seed=7, dtype=np.float64)
    for nesterov in (False, True):
        pt, ewa = P(np.ones(5), dtype=np.float64), P(np.ones(5), dtype=np.float64)
        o1 = tgi.optimizer("sgd", [pt], lr=lr, momentum=beta, nesterov=nesterov)
        o2 = tgi.optimizer("sgd", [ewa], lr=lr / (1 - beta), momentum=beta, momentum_form="ewa",
                           nesterov=nesterov)
        for gs in grads:
            run(o1, [pt], [gs])
            run(o2, [ewa], [gs])
            np.testing.assert_allclose(ewa.data, pt.data, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(o2.state[0]["momentum_buffer"], (1 - beta) * o1.state[0]["momentum_buffer"],
                                   rtol=1e-12, atol=1e-12)


def test_pytorch_dampening_is_not_ewa_it_differs_by_beta_to_the_t_times_g1():
    # PyTorch's first buffer is the undamped g_1, so buf_t - v_t = beta^t g_1 at every step t.
    beta, lr, T = 0.8, 0.1, 12
    grads = grads_for([(4,)], T, seed=11, dtype=np.float64)
    pt, ewa = P(np.zeros(4), dtype=np.float64), P(np.zeros(4), dtype=np.float64)
    o1 = tgi.optimizer("sgd", [pt], lr=lr, momentum=beta, dampening=beta)
    o2 = tgi.optimizer("sgd", [ewa], lr=lr, momentum=beta, momentum_form="ewa")
    g1 = grads[0][0]
    for t, gs in enumerate(grads, start=1):
        run(o1, [pt], [gs])
        run(o2, [ewa], [gs])
        np.testing.assert_allclose(o1.state[0]["momentum_buffer"] - o2.state[0]["momentum_buffer"],
                                   beta ** t * g1, rtol=1e-10, atol=1e-12)
        expected_gap = -lr * sum(beta ** k for k in range(1, t + 1)) * g1
        np.testing.assert_allclose(pt.data - ewa.data, expected_gap, rtol=1e-10, atol=1e-12)


def _quadratic_grads(w, c):
    return 2 * (w - c)


def test_weight_decay_coupled_decoupled_and_penalty_are_distinct():
    wd, c = 0.1, np.array([0.5, -1.0, 2.0])
    w_l2 = P([1.0, 2.0, -3.0], dtype=np.float64)
    w_pen = P(w_l2.data.copy(), dtype=np.float64)
    w_dec = P(w_l2.data.copy(), dtype=np.float64)
    adam_wd = tgi.optimizer("adam", [w_l2], lr=0.05, weight_decay=wd)
    adam_pen = tgi.optimizer("adam", [w_pen], lr=0.05)
    adamw = tgi.optimizer("adamw", [w_dec], lr=0.05, weight_decay=wd)
    target = tgi.Tensor(c)
    for _ in range(25):
        w_l2.grad = _quadratic_grads(w_l2.data, c)
        adam_wd.step()
        w_dec.grad = _quadratic_grads(w_dec.data, c)
        adamw.step()
        w_pen.grad = None
        loss = ((w_pen - target) ** 2).sum() + 0.5 * wd * tgi.F.l2_penalty([w_pen])
        loss.backward()
        adam_pen.step()
    # adam(weight_decay) == adam on loss + 0.5 * wd * ||w||^2
    np.testing.assert_allclose(w_l2.data, w_pen.data, rtol=1e-9)
    # ... and differs from decoupled decay
    assert np.max(np.abs(w_l2.data - w_dec.data)) > 1e-3


def test_adamw_decay_is_p_times_one_minus_lr_wd():
    w = P([2.0, -4.0], dtype=np.float64)
    opt = tgi.optimizer("adamw", [w], lr=0.1, weight_decay=0.5)
    w.grad = np.zeros(2)  # zero gradient: only the decay acts (m = v = 0)
    opt.step()
    np.testing.assert_array_equal(w.data, np.array([2.0, -4.0]) * (1 - 0.1 * 0.5))


def test_lion_matches_the_paper_and_moves_every_coordinate_by_lr():
    lr, (b1, b2), wd = 0.01, (0.9, 0.99), 0.1
    grads = grads_for([(6,)], 15, seed=2, dtype=np.float64)
    w = P(np.linspace(-1, 1, 6), dtype=np.float64)
    opt = tgi.optimizer("lion", [w], lr=lr, weight_decay=wd)
    p, m = w.data.copy(), np.zeros(6)
    for (g,) in grads:
        c = b1 * m + (1 - b1) * g
        p = p * (1 - lr * wd) - lr * np.sign(c)
        m = b2 * m + (1 - b2) * g
        run(opt, [w], [[g]])
        np.testing.assert_allclose(w.data, p, rtol=1e-12)
    v = P(np.zeros(6), dtype=np.float64)
    o = tgi.optimizer("lion", [v], lr=lr)
    run(o, [v], grads[:1])
    np.testing.assert_allclose(np.abs(v.data), lr)


def test_radam_first_steps_are_unadapted_momentum():
    # with beta2 = 0.999, rho_t <= 5 for the first steps: p -= lr * m_hat (no division by sqrt(v))
    w = P([1.0], dtype=np.float64)
    opt = tgi.optimizer("radam", [w], lr=0.1)
    w.grad = np.array([3.0])
    opt.step()
    assert w.data[0] == pytest.approx(1.0 - 0.1 * 3.0)


# ----------------------------------------------------------------------------- clipping


def test_clip_grad_norm_like_pytorch():
    a, b, c = P([0.0, 0.0]), P([0.0]), P([0.0])
    a.grad, b.grad, c.grad = np.array([3.0, 4.0], np.float32), np.array([12.0], np.float32), None
    total = tgi.clip_grad_norm([a, b, c], max_norm=1.3)
    assert isinstance(total, float) and total == pytest.approx(13.0)
    coef = 1.3 / (13.0 + 1e-6)
    np.testing.assert_allclose(a.grad, [3 * coef, 4 * coef], rtol=1e-6)
    np.testing.assert_allclose(b.grad, [12 * coef], rtol=1e-6)
    assert c.grad is None and a.grad.dtype == np.float32
    # under the limit: unchanged
    a.grad = np.array([0.3, 0.4], np.float32)
    assert tgi.clip_grad_norm(a, max_norm=1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(a.grad, np.array([0.3, 0.4], np.float32))
    # other norms
    a.grad, b.grad = np.array([3.0, -4.0], np.float32), np.array([-12.0], np.float32)
    assert tgi.clip_grad_norm([a, b], 100.0, norm_type="inf") == pytest.approx(12.0)
    assert tgi.clip_grad_norm([a, b], 100.0, norm_type=1) == pytest.approx(19.0)
    with pytest.raises(ValueError, match="max_norm"):
        tgi.clip_grad_norm([a], -1.0)
    a.grad = np.array([np.nan, 1.0], np.float32)
    with pytest.raises(FloatingPointError):
        tgi.clip_grad_norm([a], 1.0, error_if_nonfinite=True)


def test_clip_grad_value():
    a = P([0.0, 0.0, 0.0])
    a.grad = np.array([-5.0, 0.2, 3.0], np.float32)
    tgi.clip_grad_value([("w", a)], 1.0)
    np.testing.assert_array_equal(a.grad, np.array([-1.0, 0.2, 1.0], np.float32))
    with pytest.raises(ValueError, match="clip_value"):
        tgi.clip_grad_value([a], -1.0)


# ----------------------------------------------------------------------------- conformance






class _Ascends(tgi.Optimizer):
    name = "ascends"
    defaults = {"lr": 0.1}

    def update(self, p, g, state, group, step):
        return p + group["lr"] * g


class _NoValidation(_Ascends):
    name = "novalid"

    def _validate_group(self, hp, where=""):
        pass


def test_the_conformance_checks_can_fail():
    from tinygrad_init.registry import Component

    def comp(cls):
        return Component("optimizer", cls.name, cls, "test[broken]")

    with pytest.raises(AssertionError, match="does not descend the quadratic"):
        CHECKS["descends_quadratic"](comp(_Ascends), {})
    with pytest.raises(AssertionError, match="no progress on Rosenbrock"):
        CHECKS["progresses_on_rosenbrock"](comp(_Ascends), {"lr": 1e-4})
    with pytest.raises(AssertionError, match="accepts lr=-1"):
        CHECKS["rejects_negative_lr"](comp(_NoValidation), {})

    class _Leaky(tgi.Optimizer):
        name = "leaky"
        defaults = {"lr": 0.1}
        n = 0

        def update(self, p, g, state, group, step):
            type(self).n += 1  # state outside `state`: resuming cannot reproduce it
            return p - group["lr"] * g * type(self).n

    with pytest.raises(AssertionError, match="after resuming"):
        CHECKS["resumes_bit_identically"](comp(_Leaky), {})


def test_update_gets_read_only_inputs_and_state_never_aliases_the_grad():
    class _InPlace(tgi.Optimizer):
        name = "inplace"
        defaults = {"lr": 0.1}

        def update(self, p, g, state, group, step):
            p -= group["lr"] * g
            return p

    w = P([1.0, 2.0])
    opt = _InPlace([w])
    w.grad = np.ones(2, np.float32)
    with pytest.raises(ValueError, match="read-only"):
        opt.step()
    assert np.array_equal(w.data, [1.0, 2.0])
    # SGD's first momentum buffer is the gradient: it must be a copy, not the caller's array
    w = P([1.0, 2.0])
    opt = tgi.optimizer("sgd", [w], lr=0.1, momentum=0.9)
    w.grad = np.ones(2, np.float32)
    opt.step()
    w.grad += 100.0  # the engine accumulates in place
    assert np.array_equal(opt.state[0]["momentum_buffer"], [1.0, 1.0])


def test_a_module_or_its_named_parameters_can_be_passed():
    lin = tgi.nn.Linear(2, 2, rng=0)
    for params in (lin, lin.named_parameters(), lin.parameters()):
        opt = tgi.optimizer("sgd", params)
        assert len(opt.param_groups[0]["params"]) == 2


def test_a_subclass_with_its_own_init_keeps_its_signature():
    class _Custom(tgi.Optimizer):
        name = "custom"
        defaults = {"lr": 0.1, "beta": 0.5}

        def __init__(self, params, lr=0.1, beta=0.5):
            super().__init__(params, lr=lr, beta=beta)

        def update(self, p, g, state, group, step):
            return p - group["lr"] * group["beta"] * g

    assert list(inspect.signature(_Custom).parameters) == ["params", "lr", "beta"]
    assert "nonfinite" in inspect.signature(get_registry().get("optimizer", "sgd").factory).parameters
    w = P([1.0])
    opt = _Custom([w], lr=1.0)
    w.grad = np.array([2.0], np.float32)
    opt.step()
    assert w.data[0] == 0.0


@pytest.mark.parametrize("hp", [
    {"lr": 0.1}, {"lr": 0.1, "momentum": 0.9}, {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"lr": 0.1, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01},
    {"lr": 0.1, "momentum": 0.9, "momentum_form": "ewa", "nesterov": True, "weight_decay": 0.1},
    {"lr": 0.1, "momentum": 0.5, "momentum_form": "ewa"}])
def test_sgd_in_place_step_is_bit_identical_to_the_pure_update(hp):
    sgd = type(tgi.optimizer("sgd", [tgi.Tensor(np.ones(1), requires_grad=True)]))
    pure = type("PureSGD", (sgd,), {"update_": None})  # the host falls back to update()
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 4)).astype(np.float32)
    grads = [rng.normal(size=(3, 4)).astype(np.float32) for _ in range(4)]
    runs = []
    for cls in (sgd, pure):
        p = tgi.Tensor(w0.copy(), requires_grad=True)
        opt = cls([p], **hp)
        for g in grads:
            p.grad = g.copy()
            opt.step()
        runs.append((p.data, opt.state_dict()))
    (a, sa), (b, sb) = runs
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert not np.array_equal(a, w0)


def test_in_place_step_leaves_the_gradient_alone_and_skips_read_only_params():
    p = tgi.Tensor(np.ones(3, np.float32), requires_grad=True)
    opt = tgi.optimizer("sgd", [p], lr=0.5, momentum=0.9)
    g = np.full(3, 2.0, np.float32)
    p.grad = g
    opt.step()
    np.testing.assert_array_equal(g, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(p.data, [0.0, 0.0, 0.0])
    ro = np.ones(3, np.float32)
    ro.flags.writeable = False
    q = tgi.Tensor(ro, requires_grad=True)
    opt = tgi.optimizer("sgd", [q], lr=0.5)
    q.grad = np.ones(3, np.float32)
    opt.step()  # the pure path: a new array, the read-only one untouched
    np.testing.assert_array_equal(ro, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(q.data, [0.5, 0.5, 0.5])


def test_a_non_parameter_is_named_without_an_empty_slot():
    with pytest.raises(TypeError, match=r"^sgd: got a ndarray, not a parameter \(needs"):
        tgi.optimizer("sgd", [np.ones(3)])
    with pytest.raises(TypeError, match=r"^sgd: 'w' is a ndarray, not a parameter"):
        tgi.optimizer("sgd", [("w", np.ones(3))])
    with pytest.raises(TypeError, match=r"^sgd: parameter has dtype int64"):
        tgi.optimizer("sgd", [tgi.Tensor(np.arange(3))])
