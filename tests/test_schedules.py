"""Learning-rate schedules: PyTorch's values step for step, the written formulas,
validation, composition, and the schedule contract of the conformance kit."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_init as tgi
from tinygrad_init.registry import Component
from tinygrad_init.testing.contracts_schedule import CHECKS

REF = np.load(Path(__file__).parent / "data" / "sched_reference.npz", allow_pickle=False)
CASES = json.loads(str(REF["cases"]))
MODULES = ["sched_decay", "sched_cosine", "sched_warmup", "sched_cyclic", "sched_compose"]
NAMES = ["constant", "step", "multistep", "exponential", "inverse_time", "inverse_sqrt", "polynomial",
         "cosine", "cosine_restarts", "linear_warmup", "one_cycle", "cyclic", "sequential", "chained"]


def build(spec):
    spec = dict(spec)
    return tgi.schedule(spec.pop("name"), **spec)


def values(s, n):
    return np.array([s(t) for t in range(n)])


# ------------------------------------------------------------------ PyTorch, step for step

@pytest.mark.parametrize("case", CASES, ids=[c["key"] for c in CASES])
def test_matches_pytorch(case):
    ref = REF[case["key"]]
    ours = values(build(case["spec"]), len(ref))
    # closed form vs PyTorch's recursive (chainable) form: they differ by rounding only
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-12, err_msg=case["torch"])


def test_fixture_covers_every_pytorch_family():
    keys = {c["key"] for c in CASES}
    for key in ("step_7", "multistep", "exponential", "polynomial_1", "cosine", "restarts_1", "restarts_2",
                "linear_warmup", "one_cycle_cos", "one_cycle_linear", "one_cycle_three_phase",
                "cyclic_triangular", "cyclic_triangular2", "cyclic_exp_range", "sequential_warmup_cosine",
                "chained_linear_exp"):
        assert key in keys
    assert all(len(REF[k]) == 60 and REF[k].dtype == np.float64 for k in keys)


def test_every_schedule_is_registered():
    assert set(NAMES) <= set(tgi.available("schedule"))


# ------------------------------------------------------------------ the written formulas

def test_constant_default_and_factor():
    assert tgi.schedule("constant")(0) == 0.1 and tgi.schedule("constant")(10**6) == 0.1
    s = tgi.schedule("constant", lr0=0.2, factor=0.25, total_iters=3)
    assert [s(t) for t in range(5)] == [0.05, 0.05, 0.05, 0.2, 0.2]


def test_step_and_multistep_formulas():
    s = tgi.schedule("step", lr0=1.0, step_size=3, gamma=0.5)
    assert [s(t) for t in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    m = tgi.schedule("multistep", lr0=1.0, milestones=[2, 5], gamma=0.1)
    assert [m(t) for t in (0, 1, 2, 4, 5, 100)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01], rel=1e-15)


def test_inverse_time_keras_formula():
    s = tgi.schedule("inverse_time", lr0=0.5, decay_rate=0.3, decay_steps=4)
    for t in (0, 1, 3, 4, 17, 1000):
        assert s(t) == pytest.approx(0.5 / (1 + 0.3 * t / 4), rel=1e-15)
    st_ = tgi.schedule("inverse_time", lr0=0.5, decay_rate=0.3, decay_steps=4, staircase=True)
    for t in (0, 3, 4, 7, 8, 17):
        assert st_(t) == pytest.approx(0.5 / (1 + 0.3 * (t // 4)), rel=1e-15)


def test_inverse_sqrt_course_formula_counts_epochs_from_one():
    s = tgi.schedule("inverse_sqrt", lr0=0.2, k=3.0)
    assert s(0) == pytest.approx(3.0 / math.sqrt(1) * 0.2)  # finite at step 0
    for epoch_num in (1, 2, 10, 99):
        assert s(epoch_num - 1) == pytest.approx(3.0 / math.sqrt(epoch_num) * 0.2, rel=1e-15)


@pytest.mark.parametrize("epoch_num", [1, 2, 3, 10, 50])
def test_course_formulas_map_exactly(epoch_num):
    # the course numbers epochs from 1; the schedules from step 0 (= epoch_num - 1)
    lr0, dr = 0.2, 1.0
    inv = tgi.schedule("inverse_time", lr0=lr0 / (1 + dr), decay_rate=dr / (1 + dr))
    assert inv(epoch_num - 1) == pytest.approx(lr0 / (1 + dr * epoch_num), rel=1e-14)
    exp = tgi.schedule("exponential", lr0=0.95 * lr0, gamma=0.95)
    assert exp(epoch_num - 1) == pytest.approx(0.95 ** epoch_num * lr0, rel=1e-14)
    assert tgi.schedule("exponential", lr0=lr0)(epoch_num) == pytest.approx(0.95 ** epoch_num * lr0, rel=1e-14)


def test_polynomial_keras_end_lr_extension():
    s = tgi.schedule("polynomial", lr0=1.0, total_steps=10, end_lr=0.1, power=2.0)
    for t in (0, 3, 5, 9):
        assert s(t) == pytest.approx((1.0 - 0.1) * (1 - t / 10) ** 2 + 0.1, rel=1e-15)
    assert s(10) == s(11) == s(10**6) == pytest.approx(0.1)


def test_cosine_follows_pytorch_past_t_max():
    s = tgi.schedule("cosine", lr0=0.1, T_max=10, eta_min=0.01)
    assert s(0) == 0.1 and s(10) == pytest.approx(0.01) and s(20) == pytest.approx(0.1)
    assert s(5) == pytest.approx(0.01 + 0.09 / 2)


def test_cosine_restarts_integer_periods():
    s = tgi.schedule("cosine_restarts", lr0=1.0, T_0=3, T_mult=2)
    starts = [0, 3, 9, 21, 45, 3 * (2 ** 20 - 1)]  # T_0 * (T_mult**n - 1)
    for start in starts:
        assert s(start) == 1.0
    assert s.period(3 * (2 ** 20 - 1) - 1) == (3 * 2 ** 19 - 1, 3 * 2 ** 19)


def test_linear_warmup_names():
    a = tgi.schedule("linear_warmup", lr0=0.3, warmup_steps=8, start_factor=0.0)
    b = tgi.schedule("linear_warmup", lr0=0.3, total_iters=8, start_factor=0.0)
    assert values(a, 12).tolist() == values(b, 12).tolist()
    assert a(0) == 0.0 and a(4) == pytest.approx(0.15) and a(8) == a(100) == pytest.approx(0.3)
    assert tgi.schedule("linear_warmup").warmup_steps == 5 and b.total_iters == 8
    with pytest.raises(ValueError, match="linear_warmup: total_iters=4"):
        tgi.schedule("linear_warmup", warmup_steps=8, total_iters=4)


def test_one_cycle_holds_its_final_value():
    s = tgi.schedule("one_cycle", max_lr=0.5, total_steps=50)
    final = 0.5 / 25 / 1e4
    assert s(0) == pytest.approx(0.5 / 25) and s(49) == pytest.approx(final)
    assert s(50) == s(10**6) == pytest.approx(final)
    assert max(values(s, 50)) == pytest.approx(0.5)


def test_cyclic_triangular2_halves_each_cycle():
    s = tgi.schedule("cyclic", base_lr=0.0, max_lr=1.0, step_size_up=2)
    s2 = tgi.schedule("cyclic", base_lr=0.0, max_lr=1.0, step_size_up=2, mode="triangular2")
    peaks = [2, 6, 10, 14]
    assert [s(p) for p in peaks] == [1.0] * 4
    assert [s2(p) for p in peaks] == [1.0, 0.5, 0.25, 0.125]
    assert s2(10**9) == 0.0  # no OverflowError at huge cycles


# ------------------------------------------------------------------ objects

def test_repr_attributes_and_config_roundtrip():
    s = tgi.schedule("cosine", lr0=0.05, T_max=30, eta_min=0.001)
    assert repr(s) == "cosine(lr0=0.05, T_max=30, eta_min=0.001)"
    assert (s.lr0, s.T_max, s.eta_min) == (0.05, 30, 0.001)
    for name in NAMES:
        comp = tgi.registry.get_registry().get("schedule", name)
        hp = comp.factory.conformance_examples[-1] if isinstance(
            comp.factory.conformance_examples, list) else {}
        s = tgi.schedule(name, **hp)
        assert repr(s).startswith(name + "(")
        again = build(s.config())
        assert values(again, 40).tolist() == values(s, 40).tolist(), name


@pytest.mark.parametrize("name", NAMES)
def test_step_must_be_a_nonnegative_integer(name):
    comp = tgi.registry.get_registry().get("schedule", name)
    s = comp.factory(**comp.factory.conformance_examples[0])
    with pytest.raises(ValueError, match=rf"{name}: step=-1 is invalid"):
        s(-1)
    with pytest.raises(TypeError, match="step=1.5"):
        s(1.5)
    assert s(np.int64(3)) == s(3)


# ------------------------------------------------------------------ validation

BAD = [
    ("constant", {"lr0": -0.1}, "lr0=-0.1"),
    ("constant", {"lr0": float("nan")}, "lr0=nan"),
    ("constant", {"lr0": float("inf")}, "lr0=inf"),
    ("step", {"step_size": 0}, "step_size=0"),
    ("step", {"step_size": 5, "gamma": 0.0}, "gamma=0.0"),
    ("step", {"step_size": 5, "gamma": -0.5}, "gamma=-0.5"),
    ("multistep", {"milestones": [5, 3]}, "milestones=[5, 3]"),
    ("multistep", {"milestones": [0, 3]}, "milestones=0"),
    ("exponential", {"gamma": 0.0}, "gamma=0.0"),
    ("exponential", {"gamma": 1.5}, "gamma=1.5"),
    ("inverse_time", {"decay_rate": -1.0}, "decay_rate=-1.0"),
    ("inverse_time", {"decay_steps": 0}, "decay_steps=0"),
    ("inverse_sqrt", {"k": 0.0}, "k=0.0"),
    ("polynomial", {"total_steps": 0}, "total_steps=0"),
    ("polynomial", {"total_steps": 10, "power": 0.0}, "power=0.0"),
    ("polynomial", {"total_steps": 10, "end_lr": -1.0}, "end_lr=-1.0"),
    ("cosine", {"T_max": 0}, "T_max=0"),
    ("cosine", {"T_max": -5}, "T_max=-5"),
    ("cosine", {"T_max": 10, "eta_min": -0.1}, "eta_min=-0.1"),
    ("cosine_restarts", {"T_0": 0}, "T_0=0"),
    ("cosine_restarts", {"T_0": 5, "T_mult": 0}, "T_mult=0"),
    ("linear_warmup", {"warmup_steps": 0}, "warmup_steps=0"),
    ("linear_warmup", {"start_factor": -0.1}, "start_factor=-0.1"),
    ("one_cycle", {"max_lr": -1.0, "total_steps": 10}, "max_lr=-1.0"),
    ("one_cycle", {"max_lr": 1.0, "total_steps": 10, "pct_start": 1.5}, "pct_start=1.5"),
    ("one_cycle", {"max_lr": 1.0, "total_steps": 3, "pct_start": 0.3}, "pct_start=0.3"),
    ("one_cycle", {"max_lr": 1.0, "total_steps": 10, "anneal_strategy": "cosine"}, "anneal_strategy='cosine'"),
    ("one_cycle", {"max_lr": 1.0, "total_steps": 10, "div_factor": 0}, "div_factor=0"),
    ("cyclic", {"step_size_up": 0}, "step_size_up=0"),
    ("cyclic", {"mode": "sine"}, "mode='sine'"),
    ("cyclic", {"gamma": 0.0}, "gamma=0.0"),
    ("cyclic", {"base_lr": -0.001}, "base_lr=-0.001"),
    ("sequential", {"schedules": [], "milestones": []}, "schedules=[]"),
    ("sequential", {"schedules": ["constant", "constant"], "milestones": []}, "milestones=[]"),
    ("sequential", {"schedules": ["constant"] * 3, "milestones": [5, 5]}, "milestones=[5, 5]"),
    ("sequential", {"schedules": ["constant"] * 2, "milestones": [0]}, "milestones=0"),
    ("chained", {"schedules": ["constant"], "lr0": -1.0}, "lr0=-1.0"),
]


@pytest.mark.parametrize("name,hp,what", BAD, ids=[f"{b[0]}-{b[2]}" for b in BAD])
def test_invalid_hyperparameters_are_named(name, hp, what):
    with pytest.raises(ValueError) as info:
        tgi.schedule(name, **hp)
    assert str(info.value).startswith(f"{name}: ") and what in str(info.value)


def test_wrong_types_and_unknown_keywords():
    with pytest.raises(TypeError, match="step: step_size=2.5"):
        tgi.schedule("step", step_size=2.5)
    with pytest.raises(TypeError, match="unknown hyperparameter 'T_maxx'"):
        tgi.schedule("cosine", T_maxx=5)
    with pytest.raises(TypeError, match="T_max"):
        tgi.schedule("cosine")  # the horizon has no default


# ------------------------------------------------------------------ composition

def test_sub_schedule_spec_forms_are_equivalent():
    obj = tgi.schedule("exponential", lr0=0.1, gamma=0.9)
    forms = [obj, ("exponential", {"lr0": 0.1, "gamma": 0.9}), ["exponential", {"lr0": 0.1, "gamma": 0.9}],
             {"name": "exponential", "lr0": 0.1, "gamma": 0.9}]
    ref = values(tgi.schedule("sequential", schedules=["constant", obj], milestones=[3]), 20)
    for form in forms:
        s = tgi.schedule("sequential", schedules=["constant", form], milestones=[3])
        assert values(s, 20).tolist() == ref.tolist()
    assert ref[:3].tolist() == [0.1] * 3 and ref[3] == 0.1 and ref[4] == pytest.approx(0.09)


def test_bad_sub_schedule_specs_say_where():
    with pytest.raises(LookupError, match=r"sequential: schedules\[1\]: unknown schedule 'cosin'.*cosine"):
        tgi.schedule("sequential", schedules=["constant", {"name": "cosin", "T_max": 3}], milestones=[2])
    with pytest.raises(ValueError, match=r"chained: schedules\[0\]: cosine: T_max=0"):
        tgi.schedule("chained", schedules=[("cosine", {"T_max": 0})])
    with pytest.raises(TypeError, match=r"sequential: schedules\[0\]=42"):
        tgi.schedule("sequential", schedules=[42], milestones=[])
    with pytest.raises(ValueError, match="has no 'name' key"):
        tgi.schedule("chained", schedules=[{"lr0": 0.1}])


def test_sequential_restarts_the_later_counter_at_its_milestone():
    a = tgi.schedule("exponential", lr0=1.0, gamma=0.5)
    b = tgi.schedule("cosine", lr0=0.1, T_max=10)
    s = tgi.schedule("sequential", schedules=[a, b], milestones=[4])
    for t in range(4):
        assert s(t) == a(t)
    for t in range(4, 30):
        assert s(t) == b(t - 4)
    assert s.scales == [1.0, 1.0]


def test_sequential_continuous_rescales_to_the_previous_value_at_the_join():
    a = tgi.schedule("exponential", lr0=1.0, gamma=0.5)
    b = tgi.schedule("cosine", lr0=0.1, T_max=10)
    c = tgi.schedule("constant", lr0=0.3)
    s = tgi.schedule("sequential", schedules=[a, b, c], milestones=[4, 9], continuous=True)
    # the join value is what the previous schedule (rescaled) would have given there
    assert s(4) == pytest.approx(a(4)) == pytest.approx(0.0625)
    for j in range(5):
        assert s(4 + j) == pytest.approx(0.0625 / 0.1 * b(j))
    assert s(9) == pytest.approx(0.0625 / 0.1 * b(5))
    assert s(50) == s(9)
    # warmup ending at lr0 followed by a schedule starting at lr0 is already continuous
    w = tgi.schedule("sequential", schedules=[("linear_warmup", {"warmup_steps": 5}), ("cosine", {"T_max": 20})],
                     milestones=[5], continuous=True)
    assert w.scales == [1.0, 1.0]


def test_sequential_continuous_cannot_rescale_a_schedule_starting_at_zero():
    with pytest.raises(ValueError, match=r"schedules\[1\].*value at step 0 is 0"):
        tgi.schedule("sequential", schedules=["constant", ("linear_warmup", {"start_factor": 0.0})],
                     milestones=[3], continuous=True)


def test_chained_is_a_product_of_factors():
    a = tgi.schedule("linear_warmup", lr0=0.2, warmup_steps=4, start_factor=0.5)
    b = tgi.schedule("step", lr0=0.7, step_size=3, gamma=0.5)
    s = tgi.schedule("chained", schedules=[a, b])
    assert s.lr0 == 0.2 and s.bases == [0.2, 0.7]
    for t in range(20):
        assert s(t) == pytest.approx(0.2 * (a(t) / 0.2) * (b(t) / 0.7), rel=1e-14)
    s2 = tgi.schedule("chained", schedules=[a, b], lr0=1.0)
    assert s2(5) == pytest.approx(a(5) / 0.2 * b(5) / 0.7)
    plain = tgi.schedule("chained", schedules=[lambda t: 2.0 / (t + 1)])  # no lr0 attribute: base s(0)
    assert plain(3) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="base lr 0.0"):
        tgi.schedule("chained", schedules=[("constant", {"lr0": 0.0})])


def test_optimizer_uses_a_schedule_by_its_step_counter():
    p = tgi.nn.Parameter(np.ones(3))
    s = tgi.schedule("cosine", lr0=0.5, T_max=10)
    opt = tgi.optimizer("sgd", [p], lr=s)
    for k in range(6):
        assert opt.get_lr() == s(k)
        p.grad = np.ones(3)
        opt.step()


# ------------------------------------------------------------------ properties

@given(lr0=st.floats(0.0, 10.0), eta=st.floats(0.0, 10.0), T=st.integers(1, 500), t=st.integers(0, 10**7))
def test_cosine_stays_between_its_ends(lr0, eta, T, t):
    v = tgi.schedule("cosine", lr0=lr0, T_max=T, eta_min=eta)(t)
    assert min(lr0, eta) - 1e-12 <= v <= max(lr0, eta) + 1e-12


@given(base=st.floats(0.0, 1.0), top=st.floats(0.0, 1.0), up=st.integers(1, 50), down=st.integers(1, 50),
       mode=st.sampled_from(["triangular", "triangular2", "exp_range"]), t=st.integers(0, 10**6))
def test_cyclic_stays_between_base_and_max(base, top, up, down, mode, t):
    v = tgi.schedule("cyclic", base_lr=base, max_lr=top, step_size_up=up, step_size_down=down, mode=mode,
                     gamma=0.999)(t)
    assert min(base, top) - 1e-12 <= v <= max(base, top) + 1e-12


@given(size=st.integers(1, 20), gamma=st.floats(0.01, 1.0), t=st.integers(0, 10**4))
def test_step_decay_is_monotone(size, gamma, t):
    s = tgi.schedule("step", lr0=1.0, step_size=size, gamma=gamma)
    assert s(t + 1) <= s(t)


# ------------------------------------------------------------------ the contract







class Stateful:  # an impure schedule: its value depends on how often it was called
    def __init__(self):
        self.calls = 0

    def __call__(self, step):
        if step < 0:
            raise ValueError("negative")
        self.calls += 1
        return 1.0 / self.calls


def bad(factory):
    return Component("schedule", "bad", factory, "test[bad]")


@pytest.mark.parametrize("check,factory,message", [
    ("deterministic", Stateful, "not a pure function|fresh builds differ"),
    ("resumable", Stateful, "evaluated steps"),
    ("finite", lambda: (lambda t: 1.0 - t / 500), r"s\(501\)"),
    ("finite", lambda: (lambda t: 1.01 ** min(t, 10**5) if t < 10**6 else float("inf")), r"s\(1000000\)"),
    ("finite", lambda: (lambda t: "0.1"), "not a real number"),
    ("rejects_negative_step", lambda: (lambda t: 0.1), r"s\(-1\) returned 0.1"),
])
def test_contract_catches_bad_schedules(check, factory, message):
    with pytest.raises(AssertionError, match=message):
        CHECKS[check](bad(factory), {})
