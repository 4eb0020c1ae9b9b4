"""Random search (Bergstra & Bengio, 2012): every proposal is drawn independently
from the space's distributions (log dimensions uniformly in log space).

Registers the search strategy ``random``: ``random(space, seed=None)``.
"""
from __future__ import annotations

from tinygrad_init import hookimpl
from tinygrad_init.search import Strategy


class RandomSearch(Strategy):
    """Independent draws from the space; ignores results. Never exhausted."""

    name = "random"

    def propose(self, trials, number):
        return self.space.sample(self.rng)


@hookimpl
def tinygrad_init_add_search_strategies():
    return {"random": RandomSearch}
