"""The conformance kit: one contract per plugin kind, run over every discovered component.

Each kind's checks live in ``tinygrad_init.testing.contracts_<kind>`` as
``CHECKS = {check_name: check(component, hparams)}``. A *case* is one component,
built with one example set of hyperparameters (``factory.conformance_examples``,
default ``[{}]``), against one check. Case ids read ``<kind>-<name>[-<i>]-<check>``,
so ``pytest -k "optimizer and rosenbrock"`` selects.

Use it from a plugin's own test suite (the ``pytest11`` plugin is active wherever
tinygrad-init is installed)::

    import pytest

    @pytest.mark.tgi_conformance(plugins=["my-dist"],
                                 expected_failed_checks={"optimizer-myopt-rosenbrock": "why"})
    def test_conformance(tgi_case):
        tgi_case()

or, without the marker, ``@parametrize_with_checks(plugins=["my-dist"])`` on a test
taking ``tgi_case``. ``plugins`` matches a distribution name, an entry-point name
or a plugin id ``dist[entry]``. Keys of ``expected_failed_checks`` are case ids
(shell-style patterns allowed); those cases are marked ``xfail(strict=True)``, so
a known failure that starts passing is reported too.
"""
from __future__ import annotations

import fnmatch
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from ..registry import KINDS, Component, PluginRegistry, get_registry


@dataclass(frozen=True)
class ConformanceCase:
    component: Component
    hparams: Mapping[str, Any]
    check_name: str
    check: Callable[[Component, dict], None] = field(repr=False)
    example: int | None = None  # index, when the factory declares several examples

    @property
    def id(self) -> str:
        ex = "" if self.example is None else f"-{self.example}"
        return f"{self.component.kind}-{self.component.name}{ex}-{self.check_name}"

    def __call__(self) -> None:
        self.check(self.component, dict(self.hparams))

    def __repr__(self) -> str:
        return f"<ConformanceCase {self.id} from {self.component.plugin}>"


def checks_for(kind: str) -> dict[str, Callable]:
    """The contract checks of ``kind`` (``CHECKS`` of ``contracts_<kind>``)."""
    return dict(importlib.import_module(f"{__package__}.contracts_{kind}").CHECKS)


def examples_of(factory: Callable) -> list[dict]:
    examples = getattr(factory, "conformance_examples", None)
    if examples is None:
        return [{}]
    if callable(examples):
        examples = examples()
    examples = [dict(e) for e in examples]
    if not examples:
        raise ValueError(f"{factory!r}: conformance_examples must not be empty")
    return examples


def _matches(comp: Component, selectors: Iterable[str]) -> bool:
    dist, _, entry = comp.plugin.partition("[")
    keys = {comp.plugin, dist, dist.replace("_", "-").lower(), entry.rstrip("]")}
    return any(s in keys or s.replace("_", "-").lower() in keys for s in selectors)


def conformance_cases(plugins: Iterable[str] | None = None, kinds: Iterable[str] | None = None,
                      names: Iterable[str] | None = None,
                      registry: PluginRegistry | None = None) -> list[ConformanceCase]:
    """Every (component, example, check) case of the discovered plugins, filtered."""
    registry = registry or get_registry()
    plugins = None if plugins is None else list(plugins)
    kinds = list(KINDS) if kinds is None else list(kinds)
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown plugin kind {kind!r}; kinds are: {', '.join(KINDS)}")
    names = None if names is None else set(names)
    cases = []
    for kind in kinds:
        comps = [c for c in registry.components(kind).values()
                 if (plugins is None or _matches(c, plugins)) and (names is None or c.name in names)]
        if not comps:
            continue
        checks = checks_for(kind)
        for comp in comps:
            examples = examples_of(comp.factory)
            for i, hp in enumerate(examples):
                for check_name, check in checks.items():
                    cases.append(ConformanceCase(comp, hp, check_name, check,
                                                 i if len(examples) > 1 else None))
    return cases


def pytest_params(cases: list[ConformanceCase], expected_failed_checks: Mapping[str, str] | None = None):
    import pytest

    expected = dict(expected_failed_checks or {})
    params = []
    for case in cases:
        reasons = [r for pat, r in expected.items() if fnmatch.fnmatchcase(case.id, pat)]
        marks = [pytest.mark.xfail(strict=True, reason=reasons[0])] if reasons else []
        params.append(pytest.param(case, id=case.id, marks=marks))
    if not params:
        params.append(pytest.param(None, id="no-components", marks=pytest.mark.skip(
            reason="no discovered component matches the selection")))
    return params


def parametrize_with_checks(plugins: Iterable[str] | None = None, kinds: Iterable[str] | None = None,
                            names: Iterable[str] | None = None,
                            expected_failed_checks: Mapping[str, str] | None = None):
    """A ``pytest.mark.parametrize`` over conformance cases, as the ``tgi_case`` argument."""
    import pytest

    cases = conformance_cases(plugins=plugins, kinds=kinds, names=names)
    return pytest.mark.parametrize("tgi_case", pytest_params(cases, expected_failed_checks))
