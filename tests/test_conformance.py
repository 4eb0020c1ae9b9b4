"""The conformance kit over every built-in plugin (select with -k, e.g. -k "optimizer and rosenbrock"),
and the kit's own behaviour: it never passes falsely (issues 18 and 22)."""
import fnmatch
import re
import sys
import textwrap
import types
import warnings
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from tinygrad_init import Schedule, hookimpl, registry
from tinygrad_init.registry import GROUP, KINDS, PluginLoadWarning, PluginRegistry, get_registry
from tinygrad_init.testing import conformance_cases, parametrize_with_checks
from tinygrad_init.testing.conformance import ConformanceCase, SelectionError, checks_for

pytest_plugins = ["pytester"]
ROOT = Path(__file__).parents[1]


@parametrize_with_checks(plugins=["tinygrad-init"])
def test_builtin_conformance(tgi_case):
    tgi_case()


def test_every_builtin_component_is_covered_by_every_check_of_its_kind():
    cases = conformance_cases(plugins=["tinygrad-init"])
    assert all(isinstance(c, ConformanceCase) for c in cases)  # no built-in failed to load
    for kind in KINDS:
        checks = set(checks_for(kind))
        assert checks, f"no contract checks for {kind}"
        builtins = [c.name for c in get_registry().components(kind).values()
                    if c.plugin.startswith("tinygrad-init[")]
        assert builtins, f"no built-in {kind}"
        for name in builtins:
            covered = {c.check_name for c in cases if c.component.kind == kind and c.component.name == name}
            assert covered == checks, (kind, name)


# ------------------------------------------------------------ selection never passes falsely
class FakeDist:
    def __init__(self, name):
        self.metadata, self.version = {"Name": name}, "1.0"


def entry_point(name, module, dist):
    ep = EntryPoint(name, module, GROUP)
    vars(ep).update(dist=FakeDist(dist))
    return ep


class Halving(Schedule):
    name, hparams = "halving", ("lr0",)

    def __init__(self, lr0=0.1):
        self.lr0 = lr0

    def value(self, t):
        return self.lr0 * 0.5 ** (t // 10)


def schedules(**factories):
    @hookimpl
    def tinygrad_init_add_schedules():
        return factories
    return tinygrad_init_add_schedules


@pytest.fixture
def fake_plugins(monkeypatch):
    """my-dist: two good schedule plugins and one with a misspelled hook; other-dist: one more."""
    Constant = Exponential = Halving  # one example each: four cases (the schedule checks)

    @hookimpl
    def tinygrad_init_add_optimisers():
        return {}
    mods = {"fake_sched_a": dict(tinygrad_init_add_schedules=schedules(const_a=Constant)),
            "fake_sched_b": dict(tinygrad_init_add_schedules=schedules(expo_b=Exponential)),
            "fake_misspelled": dict(tinygrad_init_add_optimisers=tinygrad_init_add_optimisers),
            "fake_other": dict(tinygrad_init_add_schedules=schedules(const_other=Constant))}
    for name, attrs in mods.items():
        mod = types.ModuleType(name)
        vars(mod).update(attrs)
        monkeypatch.setitem(sys.modules, name, mod)
    eps = [entry_point("sched_a", "fake_sched_a", "my-dist"), entry_point("sched_b", "fake_sched_b", "my-dist"),
           entry_point("misspelled", "fake_misspelled", "my-dist"),
           entry_point("other", "fake_other", "other-dist")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginLoadWarning)
        reg = PluginRegistry(eps, env={}).load()
    monkeypatch.setattr(registry, "_default", reg)
    return reg


def run_kit(pytester, marker_args, *args):
    pytester.makepyfile(test_kit=f"""
import pytest

@pytest.mark.tgi_conformance({marker_args})
def test_conformance(tgi_case):
    tgi_case()
""")
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", *args)


def test_a_failed_plugin_of_a_selected_distribution_is_a_failing_case(pytester, fake_plugins):
    res = run_kit(pytester, 'plugins=["my-dist"]', "-k", "not expo")
    res.assert_outcomes(passed=4, failed=1, deselected=4)  # const_a's four schedule checks
    out = res.stdout.str()
    assert "FAILED test_kit.py::test_conformance[plugin-my-dist[misspelled]-loads]" in out
    assert ("plugin my-dist[misspelled] failed to load, so none of its components was checked: PluginError: "
            "'tinygrad_init_add_optimisers' is not a tinygrad_init hook (did you mean "
            "'tinygrad_init_add_optimizers'?)") in out
    run_kit(pytester, 'plugins=["other-dist"]').assert_outcomes(passed=4)  # not selected: not its failure


def test_a_misspelled_distribution_fails_listing_the_installed_ones(pytester, fake_plugins):
    res = run_kit(pytester, 'plugins=["my-dsit"]')
    res.assert_outcomes(failed=1)
    assert ("tgi_conformance(plugins=['my-dsit']): 'my-dsit' matches no installed plugin (did you mean "
            "'my-dist'?); installed distributions: my-dist, other-dist") in res.stdout.str()
    res = run_kit(pytester, 'plugins=["my-dist"], names=["const_b"]')
    res.assert_outcomes(failed=1)
    assert "no selected plugin registers a component named 'const_b'" in res.stdout.str()
    res = run_kit(pytester, 'plugins=["other-dist"], kinds=["norm"]')
    res.assert_outcomes(failed=1)
    assert "tgi_conformance(plugins=['other-dist'], kinds=['norm']) selects no component" in res.stdout.str()


def test_the_decorator_reports_a_misspelled_distribution_too(pytester, fake_plugins):
    pytester.makepyfile(test_deco="""
from tinygrad_init.testing import parametrize_with_checks

@parametrize_with_checks(plugins=["my_dist_typo"])
def test_conformance(tgi_case):
    tgi_case()
""")
    res = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")
    res.assert_outcomes(failed=1)
    assert "'my_dist_typo' matches no installed plugin" in res.stdout.str()


def test_tgi_plugins_option_narrows_the_markers_selection(pytester, fake_plugins):
    res = run_kit(pytester, 'plugins=["my-dist"]', "--tgi-plugins=sched_b")
    res.assert_outcomes(passed=4, deselected=5)  # expo_b only: not const_a, not the misspelled one
    res = run_kit(pytester, 'plugins=["my-dist"]', "--tgi-plugins=other-dist", "-rA")
    res.assert_outcomes(deselected=9)  # other-dist is outside the marker's selection: nothing runs
    res = run_kit(pytester, 'plugins=["my-dist"]', "--tgi-plugins=my-dist,nope")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "--tgi-plugins=my-dist,nope: 'nope' matches no installed plugin" in res.stderr.str()


def test_an_expected_failure_matching_no_case_is_an_error(pytester, fake_plugins):
    res = run_kit(pytester, 'plugins=["other-dist"], expected_failed_checks={"schedule-const_other-0-finite": "x"}')
    res.assert_outcomes(passed=4, failed=1)
    out = res.stdout.str()
    assert "test_conformance[tgi-conformance-selection]" in out
    assert ("expected_failed_checks: 'schedule-const_other-0-finite' matches no case of this selection; "
            "closest case ids: schedule-const_other-finite") in out
    res = run_kit(pytester, 'plugins=["other-dist"], expected_failed_checks={"schedule-const_other-fin*": "x"}')
    res.assert_outcomes(passed=3, failed=1)  # a pattern that matches: strict xfail that passes = failure


def test_conformance_cases_raises_for_a_selection_of_nothing(fake_plugins):
    with pytest.raises(SelectionError, match="installed distributions: my-dist, other-dist"):
        conformance_cases(plugins=["nobody"])
    assert {c.id for c in conformance_cases(plugins="other")} == {
        f"schedule-const_other-{c}" for c in checks_for("schedule")}


def test_the_docs_expected_failures_name_real_cases_of_the_docs_plugin(monkeypatch):
    """The writing-plugins walk-through: its optimizer, installed as my-dist, and its marker."""
    docs = (ROOT / "docs" / "writing-plugins.md").read_text()
    code = re.search(r"1\. \*\*Copy a built-in file\*\*.*?```python\n(.*?)```", docs, re.S).group(1)
    mod = types.ModuleType("docs_signsgd")
    exec(compile(textwrap.dedent(code), "writing-plugins.md", "exec"), vars(mod))
    monkeypatch.setitem(sys.modules, "docs_signsgd", mod)
    reg = PluginRegistry([entry_point("my_signsgd", "docs_signsgd", "my-dist")], env={}).load()
    snippet = re.search(r"@pytest\.mark\.tgi_conformance\(plugins=\[\"my-dist\"\], expected_failed_checks=\{(.*?)\}\)",
                        docs, re.S).group(1)
    keys = re.findall(r'"([^"]+)":', snippet)
    assert keys
    cases = {c.id: c for c in conformance_cases(plugins=["my-dist"], registry=reg)}
    for key in keys:
        (matched,) = [c for i, c in cases.items() if fnmatch.fnmatchcase(i, key)]
        with pytest.raises(AssertionError):  # the documented known failure really fails
            matched()


# ------------------------------------------ every contract check fails on the plugin it targets
# One deliberately broken plugin per check, each broken in the one way its check exists for;
# a check that passed on its broken plugin would be a check that cannot fail.
import numpy as np  # noqa: E402

from tinygrad_init import Initializer, Tensor  # noqa: E402
from tinygrad_init.registry import Component  # noqa: E402
from tinygrad_init.search import Strategy  # noqa: E402
from tinygrad_init_plugins.early_stopping import EarlyStopping  # noqa: E402
from tinygrad_init_plugins.norm_rms import RMSNorm  # noqa: E402
from tinygrad_init_plugins.optim_sgd import SGD  # noqa: E402


class UniformInit(Initializer):
    name = "uniform_one"

    def sample(self, shape, rng):
        return rng.uniform(-1.0, 1.0, size=shape)

    def expected(self, shape):
        return {"mean": 0.0, "var": 1 / 3, "low": -1.0, "high": 1.0}


class IgnoresDtype(UniformInit):
    def __call__(self, shape, rng=None, dtype=np.float32):
        return super().__call__(shape, rng, np.float64)


class GlobalRng(UniformInit):
    def sample(self, shape, rng):
        return np.random.uniform(-1.0, 1.0, size=shape)


class WrongVariance(UniformInit):
    def sample(self, shape, rng):
        return rng.uniform(-0.5, 0.5, size=shape)  # declares U(-1, 1)


def accepts_any_shape(**hp):
    def init(shape, rng, dtype=np.float32):
        return rng.uniform(-1, 1, size=np.abs(shape)).astype(dtype)
    return init


def lsuv_like(model, x, *, rng):
    x = np.asarray(x)
    for layer in [m for m in model.modules() if hasattr(m, "weight")]:
        layer.weight.data = layer.weight.data * np.float32(0.9)
    with __import__("tinygrad_init").no_grad():
        model(Tensor(x))
    return {"scaled": 0.9}


def no_report(**hp):
    def apply(model, x, *, rng):
        lsuv_like(model, x, rng=rng)
    return apply


def ignores_rng(**hp):
    def apply(model, x, *, rng):
        noise = np.random.default_rng()
        for layer in [m for m in model.modules() if hasattr(m, "weight")]:
            layer.weight.data = (layer.weight.data + noise.normal(0, 0.01, layer.weight.shape)).astype(np.float32)
        return {}
    return apply


def changes_then_checks(**hp):
    return lsuv_like  # scales the weights before the forward that rejects the batch


def optimizer(kind):
    class Broken(SGD):
        calls = 0

        def update(self, p, g, state, group, step):
            if kind == "ascends":
                return p + group["lr"] * g
            if kind == "sign":
                return p - group["lr"] * np.sign(g)
            if kind == "hidden_state":
                return p - group["lr"] / (1 + self.calls) * g
            return super().update(p, g, state, group, step)

        def step(self):
            if kind == "thaws":
                for p in self._params:
                    p.requires_grad = True
            if kind == "nan_to_num":
                for p in self._params:
                    if p.grad is not None:
                        p.grad = np.nan_to_num(p.grad, nan=0.0)
            super().step()
            self.calls += 1  # not in state_dict

        def _validate_group(self, hp, where=""):
            if kind == "abs_lr" and not callable(hp["lr"]):
                hp["lr"] = abs(hp["lr"])
            super()._validate_group(hp, where)
    return Broken


def norm(kind):
    class Broken(RMSNorm):
        seen = 0

        def forward(self, x):
            if kind == "identity":
                return x * self.weight
            if kind == "no_check":
                ms = (x * x).mean(axis=-1, keepdims=True)
                return x * (1.0 / (ms + 1e-6).sqrt())
            if kind == "attribute_state":
                if self.training:
                    self.seen += 1
                    return super().forward(x)
                return super().forward(x) * (1.0 + self.seen)
            if kind == "detached" or (kind == "detached_in_eval" and not self.training):
                ms = np.mean(np.asarray(x.data) ** 2, axis=-1, keepdims=True)
                return x * Tensor(1.0 / np.sqrt(ms + 1e-6)) * self.weight  # no gradient through ms
            return super().forward(x)

        def extra_repr(self):
            return "" if kind == "bare_repr" else super().extra_repr()
    return Broken


class Counting:
    """lr0 / (number of calls so far): a schedule with hidden state, not a function of the step."""

    def __init__(self):
        self.calls = 0

    def __call__(self, t):
        self.calls += 1
        return 0.1 / self.calls


class UnitStrategy(Strategy):
    def propose(self, trials, number):
        return self.space.from_unit(self.rng.random(len(self.space)))


class OverOne(UnitStrategy):
    def propose(self, trials, number):
        return self.space.from_unit(self.rng.random(len(self.space)) * 1.5)  # unit values past 1


class OutOfSpace(UnitStrategy):
    def propose(self, trials, number):
        return {**super().propose(trials, number), "x": 7.0}


class GlobalRandom(UnitStrategy):
    def propose(self, trials, number):
        return self.space.from_unit(np.random.random(len(self.space)))


class LostAfterFailure(UnitStrategy):
    def propose(self, trials, number):
        failed = any(t.status == "failed" for t in trials)
        return {**super().propose(trials, number), "x": 6.0} if failed else super().propose(trials, number)


class BatchTooLarge(UnitStrategy):
    def ask_batch(self, n):
        return [self.ask() for _ in range(n + 1)]


class AnswersNumber:  # a pruner answering 0/1 instead of a bool
    def prune(self, study, trial):
        return int(len(trial.intermediate) > 3)


class CountsCalls:  # a pruner with hidden state: its answers depend on how often it was asked
    calls = 0

    def prune(self, study, trial):
        CountsCalls.calls += 1
        return CountsCalls.calls == 5  # only ever in the first build's run


class IgnoresSign:  # compares raw values: a maximized study is pruned the other way round
    def prune(self, study, trial):
        return len(trial.intermediate) > 2 and trial.intermediate[-1][1] > 0.9


class MisspelledHook:
    @hookimpl
    def tinygrad_init_epoch_ends(self, trainer, logs):
        pass


def early_stopping(kind):
    class Broken(EarlyStopping):
        _restored = None

        def load_state_dict(self, sd):
            if kind == "keeps_dict_only":
                self._restored = dict(sd)  # reported back, but the behaviour is not restored

        def state_dict(self):
            return self._restored if self._restored is not None else super().state_dict()
    return Broken


BROKEN = {  # (kind, check[, variant]) -> (factory, hparams, what the failure says)
    ("initializer", "shape_dtype"): (IgnoresDtype, {}, "dtype float64 returned for requested float32"),
    ("initializer", "determinism"): (GlobalRng, {}, "the same seed gave different arrays"),
    ("initializer", "statistics"): (WrongVariance, {}, "sample variance 0.08.* vs declared 0.333"),
    ("initializer", "bad_input"): (accepts_any_shape, {}, r"accepted the invalid shape \(-1, 3\)"),
    ("data_initializer", "report"): (no_report, {}, "returned NoneType, not a report dict"),
    ("data_initializer", "determinism"): (ignores_rng, {}, "the same rng seed gave different weights"),
    ("data_initializer", "bad_batch"): (changes_then_checks, {}, "changed the model before rejecting a bad batch"),
    ("optimizer", "descends_quadratic"): (optimizer("ascends"), {"lr": 0.01}, "does not descend the quadratic"),
    ("optimizer", "progresses_on_rosenbrock"): (optimizer("sign"), {"lr": 0.01}, "makes no progress on Rosenbrock"),
    ("optimizer", "resumes_bit_identically"): (optimizer("hidden_state"), {"lr": 0.01},
                                               "after resuming from state_dict differs"),
    ("optimizer", "rejects_negative_lr"): (optimizer("abs_lr"), {"lr": 0.01}, r"accepts lr=-1"),
    ("optimizer", "skips_frozen_params"): (optimizer("thaws"), {"lr": 0.01}, "updated a frozen parameter"),
    ("optimizer", "raises_on_nonfinite_grad"): (optimizer("nan_to_num"), {"lr": 0.01},
                                                "accepted a NaN gradient"),
    ("schedule", "finite"): (lambda: lambda t: 0.1 - 1e-5 * t, {}, r"s\(1000000\) = -9\.9; must be finite and >= 0"),
    ("schedule", "deterministic"): (Counting, {}, "not a pure function of the step"),
    ("schedule", "resumable"): (Counting, {},
                                r"at step 1 a fresh instance gives 0.1 but one that evaluated steps 0..0 first gives 0.05"),
    ("schedule", "rejects_negative_step"): (lambda: lambda t: 0.1, {}, r"s\(-1\) returned 0.1"),
    ("norm", "gradcheck_train"): (norm("detached"), {}, "train-mode gradient of the input is wrong"),
    ("norm", "gradcheck_eval"): (norm("detached_in_eval"), {}, "eval-mode gradient of the input is wrong"),
    ("norm", "normalized_statistics"): (norm("identity"), {}, "output is not normalized"),
    ("norm", "state_dict_round_trip"): (norm("attribute_state"), {}, "eval outputs differ after a state_dict round trip"),
    ("norm", "channel_mismatch"): (norm("no_check"), {"elementwise_affine": False},
                                   r"an input of shape \(4, 12\) .* did not raise ValueError"),
    ("norm", "repr"): (norm("bare_repr"), {}, "repr does not show the number of features: Broken()"),
    ("search_strategy", "inside_space"): (OverOne, {}, r"proposed the unit value 1\.[0-9]+ for dimension"),
    ("search_strategy", "inside_space", "raw"): (OutOfSpace, {}, r"proposal 0 .*'x': 7\.0.* is outside the space"),
    ("search_strategy", "reproducible"): (GlobalRandom, {}, "two instances with seed=0 proposed different"),
    ("search_strategy", "tolerates_failures"): (LostAfterFailure, {}, "after failed trials .* is outside the space"),
    ("search_strategy", "ask_batch"): (BatchTooLarge, {}, "ask_batch.4. must return a list of at most 4"),
    ("pruner", "answers_bool"): (AnswersNumber, {}, "prune.. returned 0, not a bool"),
    ("pruner", "deterministic"): (CountsCalls, {}, "two fresh builds answered differently"),
    ("pruner", "sign"): (IgnoresSign, {}, "a maximized study .* is pruned differently"),
    ("callback", "builds"): (lambda: None, {}, "the factory returned None"),
    ("callback", "hooks"): (MisspelledHook, {}, "'tinygrad_init_epoch_ends' is not a tinygrad_init hook"),
    ("callback", "state_roundtrip"): (early_stopping("ignores_load"), {"patience": 5},
                                      "does not reproduce the state"),
    ("callback", "state_roundtrip", "behaviour"): (early_stopping("keeps_dict_only"), {"patience": 5},
                                                   "the restored callback behaves differently: at epoch 7"),
}


@pytest.mark.parametrize("key", [(k, c) for k in KINDS for c in checks_for(k)]
                         + [k for k in BROKEN if len(k) == 3], ids="-".join)
def test_each_check_fails_on_a_plugin_broken_the_way_it_targets(key):
    kind, check = key[:2]
    factory, hparams, message = BROKEN[key]
    comp = Component(kind, f"broken_{check}", factory, "broken-dist[broken]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(AssertionError, match=message):
            checks_for(kind)[check](comp, dict(hparams))


# ------------------------------------------------------- the documented strategy (docs/search.md)
def _docs_halton(monkeypatch):
    text = (ROOT / "docs" / "search.md").read_text()
    code = re.search(r'```python\n("""Registers the search strategy ``halton``.*?)```', text, re.S).group(1)
    mod = types.ModuleType("docs_halton")
    exec(compile(code, "docs/search.md", "exec"), vars(mod))
    monkeypatch.setitem(sys.modules, "docs_halton", mod)
    return mod


def test_the_halton_example_in_the_docs_is_a_halton_sequence(monkeypatch):
    from tinygrad_init.search import Space, Uniform
    halton = _docs_halton(monkeypatch).Halton(Space({"a": Uniform(0, 1), "b": Uniform(0, 1), "c": Uniform(0, 1)}))
    points = [halton.ask() for _ in range(8)]
    # Halton (1960), i = 1..8: bases 2, 3 and 5 (the van der Corput sequences)
    base2 = [1 / 2, 1 / 4, 3 / 4, 1 / 8, 5 / 8, 3 / 8, 7 / 8, 1 / 16]
    base3 = [1 / 3, 2 / 3, 1 / 9, 4 / 9, 7 / 9, 2 / 9, 5 / 9, 8 / 9]
    base5 = [1 / 5, 2 / 5, 3 / 5, 4 / 5, 1 / 25, 6 / 25, 11 / 25, 16 / 25]
    for p, a, b, c in zip(points, base2, base3, base5):
        assert (p["a"], p["b"], p["c"]) == pytest.approx((a, b, c), abs=1e-12)


def test_the_halton_example_passes_the_kit_with_its_own_hyperparameters(monkeypatch):
    from tinygrad_init.search import Space
    _docs_halton(monkeypatch)
    reg = PluginRegistry([entry_point("halton", "docs_halton", "docs-dist")], env={}).load()
    assert reg.build("search_strategy", "halton", Space({"x": (1, 2)}), seed=0, skip=3).index == 3
    with pytest.raises(TypeError, match=r"unknown hyperparameter 'skpi' \(did you mean 'skip'\?\); "
                                        r"accepted: seed, skip, shift"):
        reg.build("search_strategy", "halton", Space({"x": (1, 2)}), seed=0, skpi=3)
    cases = conformance_cases(plugins=["docs-dist"], registry=reg)
    assert len(cases) == 2 * len(checks_for("search_strategy"))  # two examples: defaults, skip+shift
    for case in cases:
        case()


def test_the_docs_table_names_every_check_of_every_kind():
    docs = (ROOT / "docs" / "writing-plugins.md").read_text()
    for kind in KINDS:
        (row,) = [ln for ln in docs.splitlines() if ln.startswith(f"| {kind} |")]
        documented = set(re.findall(r"`([a-z_]+)`", row.split("|")[5]))
        assert set(checks_for(kind)) <= documented, (kind, set(checks_for(kind)) - documented)
