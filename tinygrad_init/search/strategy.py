"""The ask/tell strategy interface every search strategy plugin implements.

A strategy proposes configurations (``ask``) and learns from their results
(``tell``). Lower values are better. It draws every random number from
``self.rng`` (seeded with ``seed``), so the same seed and the same sequence of
asks and tells give the same proposals - that is how a resumed search continues
deterministically: the runner rebuilds the strategy from its seed and replays
the recorded asks and tells in their original order.

A plugin registers a factory ``factory(space, seed=None, **hparams) ->
Strategy``; a ``Strategy`` subclass is such a factory::

    from tinygrad_init import hookimpl
    from tinygrad_init.search import Strategy

    class Sobolish(Strategy):
        def ask(self):
            return self.space.from_unit(self.rng.random(len(self.space)))

    @hookimpl
    def tinygrad_init_add_search_strategies():
        return {"sobolish": Sobolish}
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Any, Mapping

import numpy as np

from .space import Space


class SearchExhausted(Exception):
    """Raised by :meth:`Strategy.ask` when it has nothing to propose.

    Either for good (a manual list or a grid is used up, Hyperband proposed all
    its configurations) or until results still pending are told (a strategy may
    wait for them). The runner then stops asking until a running trial
    finishes, and ends the search when none is running.

    Not a ``StopIteration`` on purpose: that one turns into ``RuntimeError``
    inside generators.
    """


class Proposal(dict):
    """A configuration (a plain ``dict`` of the space's names) that carries a
    resource ``budget`` (e.g. epochs) and a ``bracket`` (the group whose trials a
    pruning strategy compares, as Hyperband's proposals do). The runner copies
    them to ``trial.budget`` and ``trial.bracket``; the objective should train
    for that budget. Strategies without budgets return plain dicts (both are
    then ``None``). The bracket is not stored: a resume gets it by replaying."""

    def __init__(self, params: Mapping[str, Any], budget: float | None = None,
                 bracket: int | None = None):
        super().__init__(params)
        self.budget, self.bracket = budget, bracket

    def __repr__(self) -> str:
        return (f"Proposal({dict.__repr__(self)}, budget={self.budget!r}"
                + (f", bracket={self.bracket!r})" if self.bracket is not None else ")"))

    def __reduce__(self):
        return (Proposal, (dict(self), self.budget, self.bracket))


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
    """Base class of search strategies.

    :param space: the :class:`~tinygrad_init.search.Space` to search (a dict of
        dimensions is converted).
    :param seed: seed of ``self.rng`` (an ``np.random.Generator``); ``None`` means
        fresh OS entropy (not reproducible).

    Attributes: ``space``, ``seed``, ``rng``, ``history`` (the list of
    ``(params, value)`` told so far, value ``None`` for failed trials).

    Subclasses implement :meth:`ask` and usually extend :meth:`tell` (calling
    ``super().tell(params, value)``). Strategies whose factories need
    hyperparameters set ``conformance_examples`` on the factory (a list of
    keyword dicts) for the conformance kit.
    """

    def __init__(self, space: Space | Mapping[str, Any], seed: int | None = None):
        self.space = space if isinstance(space, Space) else Space(space)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"{self.strategy_name}: seed={seed!r} is invalid: must be an integer >= 0 or None")
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.history: list[tuple[dict, float | None]] = []

    @property
    def strategy_name(self) -> str:
        return getattr(self, "name", None) or type(self).__name__

    def ask(self) -> dict:
        """Propose the next configuration: a dict ``{name: value}`` inside the
        space (or a :class:`Proposal` carrying a budget).

        :raises SearchExhausted: when there is nothing to propose (now or ever).
        """
        raise NotImplementedError(f"{self.strategy_name} does not implement ask()")

    def tell(self, params: Mapping[str, Any], value: Any) -> None:
        """Report the result of a proposal: ``value`` to minimize, or ``None``
        (NaN, inf) for a failed trial. Pass back the object ``ask`` returned.
        The base class appends ``(dict(params), value_or_None)`` to ``history``."""
        self.history.append((dict(params), clean_value(value)))

    def ask_batch(self, n: int) -> list[dict]:
        """Up to ``n`` proposals to evaluate in parallel, without results in
        between. The default calls :meth:`ask` ``n`` times and stops early at
        :class:`SearchExhausted`; an empty list means nothing can be proposed
        now. Model-based strategies may override it to spread a batch out."""
        out: list[dict] = []
        for _ in range(int(n)):
            try:
                out.append(self.ask())
            except SearchExhausted:
                break
        return out

    def should_prune(self, trial: Any, step: int, value: float) -> bool:
        """Whether ``trial`` (which just reported ``value`` at ``step``; its
        ``intermediate`` ends with that report) should stop early. The runner asks
        at every ``trial.report`` of a trial in the driver process
        (``executor=None``) and when it replays the stored reports of finished
        trials on resume, in their original order; ``trial.should_prune()``
        returns the answer for the last report. The default never prunes."""
        return False

    def pruning_board(self) -> Any:
        """For trials in worker processes: ``None`` (the default: they are never
        pruned), or a picklable object holding all the pruning state, whose
        ``report(number, bracket, count, value) -> bool`` records the ``count``-th
        report of trial ``number`` and says whether to prune it. The runner hosts a
        copy (replayed state included) for the run and links the workers' trials
        to it; ``should_prune`` must then give the same answers on it."""
        return None

    def best(self) -> tuple[dict, float] | None:
        """The best ``(params, value)`` told so far, or ``None``."""
        ok = [(p, v) for p, v in self.history if v is not None]
        return min(ok, key=lambda pv: pv[1]) if ok else None
