"""Conformance checks for data-dependent initializers (kind ``data_initializer``).

``CHECKS[name](component, hparams)`` builds ``apply = component.factory(**hparams)``
and applies it to :func:`example_model` (a small ``Sequential`` MLP, 6 -> 16 -> 8 -> 3)
with :func:`example_batch` (64 x 6), raising ``AssertionError`` on misbehaviour:

- ``report``: returns a dict; every parameter keeps its shape and dtype and stays
  finite; the model still runs on the batch;
- ``determinism``: the same ``rng`` seed on two identical models gives identical
  weights (bit for bit) and equal reports;
- ``bad_batch``: a batch with the wrong number of features raises ``ValueError``
  or ``TypeError`` and leaves every parameter unchanged.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

IN_FEATURES = 6


def example_model(seed: int = 0) -> Any:
    """``Sequential(Linear(6, 16), Tanh(), Linear(16, 8), ReLU(), Linear(8, 3))``, seeded."""
    from tinygrad_init import nn
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(IN_FEATURES, 16, rng=rng), nn.Tanh(), nn.Linear(16, 8, rng=rng),
                         nn.ReLU(), nn.Linear(8, 3, rng=rng))


def example_batch(seed: int = 0, n: int = 64, features: int = IN_FEATURES) -> np.ndarray:
    """``n`` samples, not standardized on purpose (mean 0.5, std 2)."""
    return (0.5 + 2.0 * np.random.default_rng(seed).standard_normal((n, features))).astype(np.float32)


def _label(component: Any, hparams: dict) -> str:
    hp = ", ".join(f"{k}={'<...>' if isinstance(v, dict) else repr(v)}" for k, v in hparams.items())
    return f"data initializer {component.name!r}({hp})"


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def check_report(component: Any, hparams: dict) -> None:
    apply, label = component.factory(**hparams), _label(component, hparams)
    model, x = example_model(), example_batch()
    before = model.state_dict()
    report = apply(model, x, rng=np.random.default_rng(0))
    assert isinstance(report, dict), f"{label} returned {type(report).__name__}, not a report dict"
    after = model.state_dict()
    assert after.keys() == before.keys(), f"{label} changed the model's parameter names"
    for k in before:
        assert after[k].shape == before[k].shape, f"{label} changed the shape of {k!r}"
        assert after[k].dtype == before[k].dtype, \
            f"{label} changed the dtype of {k!r} from {before[k].dtype} to {after[k].dtype}"
        assert np.all(np.isfinite(after[k])), f"{label} left non-finite values in {k!r}"
    import tinygrad_init as tgi
    with tgi.no_grad():
        out = model(tgi.Tensor(x)).data
    assert out.shape == (x.shape[0], 3) and np.all(np.isfinite(out)), \
        f"{label}: the model no longer gives finite outputs of shape {(x.shape[0], 3)}"


def check_determinism(component: Any, hparams: dict) -> None:
    label = _label(component, hparams)
    results = []
    for _ in range(2):
        model = example_model()
        report = component.factory(**hparams)(model, example_batch(), rng=np.random.default_rng(5))
        results.append((model.state_dict(), report))
    assert _same(results[0][0], results[1][0]), f"{label}: the same rng seed gave different weights"
    assert repr(results[0][1]) == repr(results[1][1]), \
        f"{label}: the same rng seed gave different reports: {results[0][1]!r} vs {results[1][1]!r}"


def check_bad_batch(component: Any, hparams: dict) -> None:
    apply, label = component.factory(**hparams), _label(component, hparams)
    model = example_model()
    before = model.state_dict()
    bad = example_batch(features=IN_FEATURES + 1)
    try:
        apply(model, bad, rng=np.random.default_rng(0))
    except (ValueError, TypeError):
        pass
    else:
        raise AssertionError(f"{label} accepted a batch of shape {bad.shape} for a model taking "
                             f"{IN_FEATURES} features")
    assert _same(before, model.state_dict()), f"{label} changed the model before rejecting a bad batch"


CHECKS: dict[str, Callable[[Any, dict], None]] = {
    "report": check_report,
    "determinism": check_determinism,
    "bad_batch": check_bad_batch,
}
