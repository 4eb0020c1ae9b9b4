"""Grid search: the Cartesian product of every dimension's grid, each point once.

Registers the search strategy ``grid``: ``grid(space, seed=None, n=None)``.
A dimension with a ``step`` contributes its step grid (additive, multiplicative
on log scales), a continuous one without a step ``n`` evenly spaced points (log
spaced on log scales), an integer one all its values (at most ``n`` if given),
a choice all its options. The first dimension varies slowest. Each proposal is
the first point that no trial of the study has; after the last one
``SearchExhausted``. The seed is unused: a grid is deterministic.
"""
from __future__ import annotations

import json

from tinygrad_init import hookimpl
from tinygrad_init.search import SearchExhausted, Strategy
from tinygrad_init.validation import integer


def _key(params) -> str:
    return json.dumps(dict(params), sort_keys=True)


class GridSearch(Strategy):
    """Every point of ``space.grid(n)``, in order."""

    name = "grid"

    def __init__(self, space, seed=None, n=None):
        super().__init__(space, seed)
        self.n = None if n is None else integer("grid", "n", n, minimum=1)
        try:
            self.points = self.space.grid(self.n)
        except ValueError as exc:
            raise ValueError(f"grid: {exc}; pass n=<points per dimension> or give the "
                             "dimension a step") from None

    def __len__(self) -> int:
        return len(self.points)

    def propose(self, trials, number):
        taken = {_key(t.params) for t in trials}
        for p in self.points:
            if _key(p) not in taken:
                return dict(p)
        raise SearchExhausted(f"grid: all {len(self.points)} points were proposed")


GridSearch.conformance_examples = [{"n": 3}]


@hookimpl
def tinygrad_init_add_search_strategies():
    return {"grid": GridSearch}
