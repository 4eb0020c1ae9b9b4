"""pytest plugin (entry point ``pytest11``): the conformance kit for any test suite.

A test that takes the argument ``tgi_case`` is parametrized over the conformance
cases selected by its ``@pytest.mark.tgi_conformance(plugins=..., kinds=...,
names=..., expected_failed_checks=...)`` marker (all discovered plugins without
one). ``--tgi-plugins=a,b`` narrows every such test to those plugins.
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
    from .conformance import conformance_cases, pytest_params

    marker = metafunc.definition.get_closest_marker("tgi_conformance")
    kwargs = dict(marker.kwargs) if marker else {}
    expected = kwargs.pop("expected_failed_checks", None)
    option = metafunc.config.getoption("--tgi-plugins")
    if option:
        kwargs["plugins"] = [p.strip() for p in option.split(",") if p.strip()]
    metafunc.parametrize("tgi_case", pytest_params(conformance_cases(**kwargs), expected))
