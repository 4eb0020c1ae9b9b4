"""Hyperparameter search: spaces, strategies and pruners (plugins), and a runner
that records every trial in SQLite and resumes an interrupted study.

    import tinygrad_init as tgi
    from tinygrad_init.search import Space, LogUniform, Choice

    space = Space({"lr": LogUniform(1e-4, 1.0), "act": Choice(["relu", "tanh"])})
    study = tgi.search.run(lambda trial: (trial.params["lr"] - 0.01) ** 2, space,
                           strategy="random", n_trials=20, storage="sqlite:///study.db")
    print(study.best_trial.params)

See docs/search.md.
"""
from __future__ import annotations

import importlib
from typing import Any

from .space import Choice, Dimension, IntUniform, LogUniform, Space, Uniform
from .strategy import Halton, Observed, Pruner, SearchExhausted, Strategy, clean_value

_LAZY = {
    "Study": "runner", "Trial": "runner", "TrialPruned": "runner", "run": "runner",
    "load_study": "runner", "PruningCallback": "runner", "StorageError": "storage",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'tinygrad_init.search' has no attribute {name!r}")


__all__ = ["Uniform", "LogUniform", "IntUniform", "Choice", "Dimension", "Space", "Strategy",
           "Pruner", "Observed", "Halton", "SearchExhausted", "clean_value", *_LAZY]
