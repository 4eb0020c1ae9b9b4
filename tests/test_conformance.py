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
