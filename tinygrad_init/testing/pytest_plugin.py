"""pytest plugin (entry point ``pytest11``): the conformance kit for any test suite.

A test that takes the argument ``tgi_case`` is parametrized over the conformance
cases selected by its ``@pytest.mark.tgi_conformance(plugins=..., kinds=...,
names=..., expected_failed_checks=...)`` marker (all discovered plugins without
one). ``--tgi-plugins=a,b`` narrows every such test (marker or
``parametrize_with_checks``) to the cases of those plugins: the others are
deselected; a name that matches no installed plugin is a usage error.
"""
from __future__ import annotations


def pytest_addoption(parser):
    parser.getgroup("tinygrad_init").addoption(
        "--tgi-plugins", default=None,
        help="run the tinygrad_init conformance kit only for these plugins (comma-separated "
             "distribution names, entry-point names or dist[entry] ids)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "tgi_conformance(plugins=None, kinds=None, names=None, expected_failed_checks=None): "
        "select the tinygrad_init conformance cases a `tgi_case` test runs")


def pytest_generate_tests(metafunc):
    if "tgi_case" not in metafunc.fixturenames:
        return
    if any("tgi_case" in m.args[0] for m in metafunc.definition.iter_markers("parametrize")):
        return  # parametrize_with_checks already did it
    from .conformance import selected_params

    marker = metafunc.definition.get_closest_marker("tgi_conformance")
    kwargs = dict(marker.kwargs) if marker else {}
    expected = kwargs.pop("expected_failed_checks", None)
    metafunc.parametrize("tgi_case", selected_params(expected, **kwargs))


def pytest_collection_modifyitems(config, items):
    option = config.getoption("--tgi-plugins")
    if not option:
        return
    import pytest

    from ..registry import get_registry
    from .conformance import SelectionError, SelectionErrorCase, check_selectors, selects

    only = [p.strip() for p in option.split(",") if p.strip()]
    try:
        check_selectors(only, get_registry().plugins(), f"--tgi-plugins={option}")
    except SelectionError as exc:
        raise pytest.UsageError(str(exc)) from None
    keep, drop = [], []
    for item in items:
        case = getattr(item, "callspec", None) and item.callspec.params.get("tgi_case")
        narrowed = case is not None and not isinstance(case, SelectionErrorCase) and not selects(case.plugin, only)
        (drop if narrowed else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
