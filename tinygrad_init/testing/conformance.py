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

The kit never passes falsely: a selected plugin that failed to load (or registers a
name another plugin registers too) is a failing case ``plugin-<dist[entry]>-loads``
naming the error; a ``plugins`` or ``names`` entry that matches nothing, a selection
without any component, and a key of ``expected_failed_checks`` that matches no case
are each a failing case ``tgi-conformance-selection`` saying so (with what is
installed). :func:`conformance_cases` raises :class:`SelectionError` for them.
"""
from __future__ import annotations

import difflib
import fnmatch
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from ..registry import KINDS, Component, PluginInfo, PluginRegistry, get_registry


class SelectionError(ValueError):
    """A conformance selection names a plugin or component that is not installed, selects
    nothing, or lists an expected failure that matches no case."""


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

    @property
    def plugin(self) -> str:
        return self.component.plugin

    def __repr__(self) -> str:
        return f"<ConformanceCase {self.id} from {self.component.plugin}>"


@dataclass(frozen=True)
class LoadFailureCase:
    """A selected plugin that failed to load or conflicts with another: always fails."""

    plugin: str  # dist[entry]
    status: str
    error: str

    @property
    def id(self) -> str:
        return f"plugin-{self.plugin}-loads"

    def __call__(self) -> None:
        what = "failed to load, so none of its components was checked" if self.status == "failed" \
            else "conflicts with another plugin"
        raise AssertionError(f"plugin {self.plugin} {what}: {self.error}")


@dataclass(frozen=True)
class SelectionErrorCase:
    """A selection mistake reported as a failing case, so the run is never green."""

    message: str
    plugin: str = ""
    id: str = "tgi-conformance-selection"

    def __call__(self) -> None:
        raise AssertionError(self.message)


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


def _keys(plugin_id: str) -> set[str]:
    dist, _, entry = plugin_id.partition("[")
    return {plugin_id, dist, dist.replace("_", "-").lower(), entry.rstrip("]")}


def selects(plugin_id: str, selectors: Iterable[str]) -> bool:
    """Whether ``plugin_id`` (``dist[entry]``) is matched by one of ``selectors``
    (distribution names, in any ``-``/``_``/case spelling, entry-point names or ids)."""
    keys = _keys(plugin_id)
    return any(s in keys or s.replace("_", "-").lower() in keys for s in selectors)


def check_selectors(selectors: Iterable[str], infos: list[PluginInfo], what: str) -> None:
    """Raise :class:`SelectionError` for a selector that matches no installed plugin."""
    for s in selectors:
        if not any(selects(i.id, [s]) for i in infos):
            known = sorted({k for i in infos for k in _keys(i.id)})
            close = difflib.get_close_matches(s, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            dists = sorted({i.distribution for i in infos})
            raise SelectionError(f"{what}: {s!r} matches no installed plugin{hint}; installed "
                                 f"distributions: {', '.join(dists)} (a plugin is selected by its "
                                 "distribution, its entry-point name or dist[entry])")


def conformance_cases(plugins: Iterable[str] | None = None, kinds: Iterable[str] | None = None,
                      names: Iterable[str] | None = None,
                      registry: PluginRegistry | None = None) -> list:
    """Every (component, example, check) case of the discovered plugins, filtered, and a
    :class:`LoadFailureCase` for each selected plugin that failed to load.

    :raises SelectionError: a ``plugins`` or ``names`` entry matches nothing, or nothing
        is selected."""
    registry = registry or get_registry()
    plugins = None if plugins is None else [plugins] if isinstance(plugins, str) else list(plugins)
    kinds = list(KINDS) if kinds is None else list(kinds)
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown plugin kind {kind!r}; kinds are: {', '.join(KINDS)}")
    names = None if names is None else set(names)
    infos = registry.plugins()
    if plugins is not None:
        check_selectors(plugins, infos, f"tgi_conformance(plugins={plugins!r})")
    chosen = [i for i in infos if plugins is None or selects(i.id, plugins)]
    cases: list = [LoadFailureCase(i.id, i.status, i.error) for i in chosen if i.status == "failed" or i.error]
    found: set[str] = set()
    for kind in kinds:
        comps = [c for c in registry.components(kind).values()
                 if (plugins is None or selects(c.plugin, plugins)) and (names is None or c.name in names)]
        found.update(c.name for c in comps)
        if not comps:
            continue
        checks = checks_for(kind)
        for comp in comps:
            examples = examples_of(comp.factory)
            for i, hp in enumerate(examples):
                for check_name, check in checks.items():
                    cases.append(ConformanceCase(comp, hp, check_name, check,
                                                 i if len(examples) > 1 else None))
    selection = ", ".join(f"{k}={v!r}" for k, v in (("plugins", plugins), ("kinds", kinds), ("names", names))
                          if v is not None and not (k == "kinds" and v == list(KINDS)))
    missing = sorted((names or set()) - found)
    if missing:
        raise SelectionError(f"tgi_conformance({selection}): no selected plugin registers a component "
                             f"named {missing[0]!r}")
    if not cases:
        blocked = [i.id for i in chosen if i.status == "blocked"]
        note = f" (blocked by TINYGRAD_INIT_DISABLE_PLUGINS: {', '.join(blocked)})" if blocked else ""
        raise SelectionError(f"tgi_conformance({selection or 'all plugins'}) selects no component{note}")
    return cases


def pytest_params(cases: list, expected_failed_checks: Mapping[str, str] | None = None):
    """``pytest.param``s of ``cases``; the expected failures are ``xfail(strict=True)`` and a
    key matching no case is one failing :class:`SelectionErrorCase`."""
    import pytest

    expected = dict(expected_failed_checks or {})
    params, used = [], set()
    for case in cases:
        keys = [pat for pat in expected if fnmatch.fnmatchcase(case.id, pat)]
        used.update(keys)
        marks = [pytest.mark.xfail(strict=True, reason=expected[keys[0]])] if keys else []
        params.append(pytest.param(case, id=case.id, marks=marks))
    unused = [k for k in expected if k not in used]
    if unused:
        ids = [c.id for c in cases]
        close = difflib.get_close_matches(unused[0], ids, n=3, cutoff=0.5)
        hint = f"; closest case ids: {', '.join(close)}" if close else ""
        error = SelectionErrorCase(f"expected_failed_checks: {unused[0]!r} matches no case of this "
                                   f"selection{hint} (case ids read <kind>-<name>[-<example>]-<check>, "
                                   "the example index only when a factory declares several)")
        params.append(pytest.param(error, id=error.id))
    return params


def selected_params(expected_failed_checks: Mapping[str, str] | None = None, **selection: Any):
    """:func:`pytest_params` of :func:`conformance_cases` (``selection``); a selection
    error becomes one failing case instead of an exception."""
    import pytest

    try:
        cases = conformance_cases(**selection)
    except SelectionError as exc:
        error = SelectionErrorCase(str(exc))
        return [pytest.param(error, id=error.id)]
    return pytest_params(cases, expected_failed_checks)


def parametrize_with_checks(plugins: Iterable[str] | None = None, kinds: Iterable[str] | None = None,
                            names: Iterable[str] | None = None,
                            expected_failed_checks: Mapping[str, str] | None = None):
    """A ``pytest.mark.parametrize`` over conformance cases, as the ``tgi_case`` argument."""
    import pytest

    return pytest.mark.parametrize("tgi_case", selected_params(
        expected_failed_checks, plugins=plugins, kinds=kinds, names=names))
