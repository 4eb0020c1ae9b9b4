"""The two plugin contracts of a search: samplers (strategies) and pruners.

A **strategy** proposes the configuration of trial ``number`` from the study's trials
(``propose(trials, number)``): every trial so far, ``running`` ones included (so a
model-based strategy can spread parallel proposals, the "constant liar"), each with
``number``, ``params``, ``status`` and ``value`` (to minimize: the runner negates a
maximized objective; ``None`` unless complete or pruned). It keeps no state of its own and
draws every random number from ``self.rng``, which is seeded from ``(seed, number)``: so the
same trials give the same proposal, and resuming a study is reopening its storage.

A plugin registers a factory ``factory(space, seed=None, **hparams) -> Strategy``; a
``Strategy`` subclass is such a factory::

    from tinygrad_init import hookimpl
    from tinygrad_init.search import Strategy

    class Uniformly(Strategy):
        def propose(self, trials, number):
            return self.space.from_unit(self.rng.random(len(self.space)))

    @hookimpl
    def tinygrad_init_add_search_strategies():
        return {"uniformly": Uniformly}

``ask()`` / ``tell(params, value)`` / ``ask_batch(n)`` drive a strategy directly (the
conformance kit, benchmarks): they keep the trials in a list and call ``propose``.

A **pruner** (``tinygrad_init_add_pruners``) decides, at each ``trial.report(step, value)``,
whether the trial should stop: ``prune(study, trial) -> bool`` from the intermediate values
of the study's trials (``trial.intermediate`` ends with the new report). Values there keep
the objective's sign; ``study.sign`` is -1 when the study maximizes. A pruner with a
``budget`` (Hyperband's ``max_resource``) gives it to every trial as ``trial.budget``.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Any, Mapping, NamedTuple

import numpy as np

from .space import Space


class SearchExhausted(Exception):
    """Raised by :meth:`Strategy.propose` when it has nothing (more) to propose: a manual
    list or a grid is used up. The runner then ends the search once no trial is running.

    Not a ``StopIteration`` on purpose: that one turns into ``RuntimeError`` inside
    generators."""


class Observed(NamedTuple):
    """What a strategy sees of a trial: ``value`` is to be minimized, ``None`` unless the
    trial is ``complete`` or ``pruned`` (then its last reported value)."""
    number: int
    params: dict
    status: str
    value: float | None


def clean_value(value: Any) -> float | None:
    """``value`` as a float, or ``None`` for a failed trial (``None``, NaN, inf,
    anything that is not a real number). A one-element array or Tensor is read
    with ``.item()``."""
    if hasattr(value, "item") and getattr(value, "size", 1) == 1 and not isinstance(value, (Real, np.generic)):
        try:
            value = value.item()
        except Exception:
            return None
    if value is None or isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class Strategy:
    """Base class of search strategies (samplers).

    :param space: the :class:`~tinygrad_init.search.Space` to search (a dict of
        dimensions is converted).
    :param seed: the seed; proposal ``number`` draws from
        ``np.random.default_rng([seed, number])`` as ``self.rng``. ``None`` means fresh OS
        entropy (not reproducible).

    Subclasses implement :meth:`propose`. Strategies whose factories need hyperparameters
    set ``conformance_examples`` on the factory (a list of keyword dicts) for the kit.
    """

    def __init__(self, space: Space | Mapping[str, Any], seed: int | None = None):
        self.space = space if isinstance(space, Space) else Space(space)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"{self.strategy_name}: seed={seed!r} is invalid: must be an integer >= 0 or None")
        self.seed = None if seed is None else int(seed)
        self._rng = np.random.default_rng(seed)  # until the first proposal draws
        self._number: int | None = None
        self.trials: list[Observed] = []  # of ask/tell

    @property
    def strategy_name(self) -> str:
        return getattr(self, "name", None) or type(self).__name__

    @property
    def rng(self) -> np.random.Generator:
        """The generator of the proposal being made, seeded from ``(seed, number)``."""
        if self._number is not None:
            self._rng = np.random.default_rng(None if self.seed is None else [self.seed, self._number])
            self._number = None
        return self._rng

    def propose(self, trials: list[Observed], number: int) -> dict:
        """The configuration of trial ``number`` (a dict ``{name: value}`` inside the space),
        given the study's ``trials`` (by number; running ones have ``value`` ``None``).

        :raises SearchExhausted: when there is nothing more to propose."""
        raise NotImplementedError(f"{self.strategy_name} does not implement propose(trials, number)")

    def __call__(self, trials: list[Observed], number: int) -> dict:
        """What the runner calls: :meth:`propose` with ``self.rng`` seeded for ``number``."""
        self._number = number
        try:
            return self.propose(trials, number)
        finally:
            self._number = None

    # -- direct driving (the kit, benchmarks, notebooks)
    def ask(self) -> dict:
        """Propose the next configuration (recorded as running until :meth:`tell`)."""
        params = self(list(self.trials), len(self.trials))
        self.trials.append(Observed(len(self.trials), dict(params), "running", None))
        return params

    def tell(self, params: Mapping[str, Any], value: Any) -> None:
        """The result of a proposal: ``value`` to minimize, ``None``/NaN/inf for a failed trial."""
        for i, t in enumerate(self.trials):
            if t.status == "running" and t.params == dict(params):
                v = clean_value(value)
                self.trials[i] = t._replace(status="failed" if v is None else "complete", value=v)
                return
        raise ValueError(f"{self.strategy_name}: tell({dict(params)!r}) does not match a pending proposal")

    def ask_batch(self, n: int) -> list[dict]:
        """Up to ``n`` proposals without results in between (fewer if exhausted)."""
        out: list[dict] = []
        for _ in range(int(n)):
            try:
                out.append(self.ask())
            except SearchExhausted:
                break
        return out


class Halton:
    """Scrambled Halton points in ``[0, 1)^d`` (one random permutation of the digits per
    dimension and level, fixed by ``seed``): ``Halton(d, seed)(i)`` is point number ``i``.
    A space-filling start for model-based strategies."""

    def __init__(self, d: int, seed: int | None = None):
        rng, primes, k = np.random.default_rng(seed), [], 2
        while len(primes) < d:
            if all(k % p for p in primes):
                primes.append(k)
            k += 1
        self.perms = [[rng.permutation(p) for _ in range(int(math.ceil(53 / math.log2(p))))] for p in primes]

    def __call__(self, i: int) -> np.ndarray:
        out = np.empty(len(self.perms))
        for j, perms in enumerate(self.perms):
            p, k, f, x = len(perms[0]), int(i), 1.0 / len(perms[0]), 0.0
            for perm in perms:
                x += perm[k % p] * f
                k //= p
                f /= p
            out[j] = x
        return out


class Pruner:
    """Base class of pruners: ``prune(study, trial) -> bool`` at every report of a trial.

    ``budget``: the resource each trial may use (``trial.budget``), or ``None``."""

    budget: Any = None

    def prune(self, study: Any, trial: Any) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not implement prune(study, trial)")
