"""Conformance checks for search strategies (kind ``search_strategy``).

Each check builds the strategy as ``component.factory(space, seed=..., **hparams)``
over :func:`conformance_space` - one dimension of each type::

    x: Uniform(-5, 5), lr: LogUniform(1e-4, 1), units: IntUniform(1, 64), act: Choice(relu, tanh, sigmoid)

so a strategy whose hyperparameters refer to configurations (``manual``) can
give ``conformance_examples`` inside it. ``SearchExhausted`` ends a run early
(manual lists and grids are finite); at least one proposal must come first.

Every check builds the strategy over a space whose dimensions refuse a unit value
outside ``[0, 1]`` (or NaN) in ``from_unit`` - ``Space.from_unit`` would clip it, so a
strategy proposing 1.7 would silently always get the upper bound - with an
``AssertionError`` naming the dimension and the value.

Checks: ``inside_space`` (30 ask/tell rounds of :func:`sphere`), ``reproducible``
(same seed -> same proposals; if the strategy draws random numbers, some other
seed gives other proposals), ``tolerates_failures`` (``tell(params, None)`` and
NaN results), ``ask_batch`` (a batch of proposals inside the space).
"""
from __future__ import annotations

import json
import math
from typing import Any, Callable

from tinygrad_init.search import Choice, IntUniform, LogUniform, SearchExhausted, Space, Uniform

ROUNDS = 30


def conformance_space() -> Space:
    return Space({"x": Uniform(-5.0, 5.0), "lr": LogUniform(1e-4, 1.0), "units": IntUniform(1, 64),
                  "act": Choice(["relu", "tanh", "sigmoid"])})


def sphere(params: dict) -> float:
    """A smooth test objective on the conformance space, minimum 0 at
    ``x=1, lr=1e-2, units=16, act="tanh"``."""
    return ((params["x"] - 1.0) ** 2 + (math.log10(params["lr"]) + 2.0) ** 2
            + (math.log2(params["units"]) - 4.0) ** 2 + (0.0 if params["act"] == "tanh" else 1.0))


def sphere_objective(trial: Any) -> float:
    """:func:`sphere` as a search objective (importable, so worker processes can run it)."""
    return sphere(trial.params)


def _guard_units(space: Space, who: str) -> Space:
    """Make every dimension of ``space`` refuse unit values outside ``[0, 1]``."""
    for name, dim in space.dims.items():
        if "from_unit" in vars(dim):
            continue
        inner = dim.from_unit

        def from_unit(u, name=name, inner=inner):
            if not 0.0 <= float(u) <= 1.0:
                raise AssertionError(f"{who}: proposed the unit value {float(u)!r} for dimension {name!r}; "
                                     "unit values must lie in [0, 1] (from_unit would clip it)")
            return inner(u)
        dim.from_unit = from_unit  # on the instance: the kit's space only
    return space


def _build(component: Any, hparams: dict, seed: int | None):
    strategy = component.factory(_guard_units(conformance_space(), component.name), seed=seed, **hparams)
    space = getattr(strategy, "space", None)
    if isinstance(space, Space):  # a strategy that copied the space is guarded too
        _guard_units(space, component.name)
    return strategy


def _run(strategy: Any, rounds: int = ROUNDS, fail_every: int = 0) -> list[dict]:
    out = []
    for i in range(rounds):
        try:
            p = strategy.ask()
        except SearchExhausted:
            break
        out.append(p)
        value = None if fail_every and i % fail_every == fail_every - 1 else sphere(p)
        if fail_every and i % (2 * fail_every) == 0 and i:
            value = float("nan")
        strategy.tell(p, value)
    return out


def _canon(ps: list[dict]) -> str:
    return json.dumps([dict(p) for p in ps], sort_keys=True)


def check_inside_space(component: Any, hparams: dict) -> None:
    strategy = _build(component, hparams, seed=0)
    space = conformance_space()
    ps = _run(strategy)
    assert ps, f"{component.name}: ask() raised SearchExhausted before proposing anything"
    for i, p in enumerate(ps):
        assert isinstance(p, dict), f"{component.name}: proposal {i} is {type(p).__name__}, not a dict"
        assert space.contains(p), f"{component.name}: proposal {i} {dict(p)} is outside the space {space}"


def check_reproducible(component: Any, hparams: dict) -> None:
    a, b = _build(component, hparams, seed=0), _build(component, hparams, seed=0)
    state0 = json.dumps(a.rng.bit_generator.state, sort_keys=True, default=str)
    pa, pb = _run(a, 10), _run(b, 10)
    assert _canon(pa) == _canon(pb), (f"{component.name}: two instances with seed=0 proposed different "
                                      f"configurations:\n{_canon(pa)}\n{_canon(pb)}")
    if json.dumps(a.rng.bit_generator.state, sort_keys=True, default=str) == state0:
        return  # draws no random numbers: deterministic by construction (grid, manual)
    for seed in (1, 2, 3):
        if _canon(_run(_build(component, hparams, seed=seed), 10)) != _canon(pa):
            return
    raise AssertionError(f"{component.name}: draws random numbers but seeds 0, 1, 2 and 3 all give "
                         "the same proposals (is self.rng used?)")


def check_tolerates_failures(component: Any, hparams: dict) -> None:
    strategy = _build(component, hparams, seed=0)
    space = conformance_space()
    ps = _run(strategy, fail_every=3)
    assert ps, f"{component.name}: ask() raised SearchExhausted before proposing anything"
    for i, p in enumerate(ps):
        assert space.contains(p), (f"{component.name}: after failed trials (told None/NaN), proposal {i} "
                                   f"{dict(p)} is outside the space")


def check_ask_batch(component: Any, hparams: dict) -> None:
    strategy = _build(component, hparams, seed=0)
    space = conformance_space()
    _run(strategy, 5)
    batch = strategy.ask_batch(4)
    assert isinstance(batch, list) and len(batch) <= 4, (
        f"{component.name}: ask_batch(4) must return a list of at most 4 proposals, got {batch!r}")
    for p in batch:
        assert space.contains(p), f"{component.name}: ask_batch proposal {dict(p)} is outside the space"
    for p in batch:
        strategy.tell(p, sphere(p))


CHECKS: dict[str, Callable[[Any, dict], None]] = {
    "inside_space": check_inside_space,
    "reproducible": check_reproducible,
    "tolerates_failures": check_tolerates_failures,
    "ask_batch": check_ask_batch,
}
