"""Conformance checks for normalization layers (kind ``norm``).

``CHECKS[name](component, hparams)`` builds ``component.factory(num_features,
**hparams)`` with ``num_features = 6`` and raises ``AssertionError`` naming the norm
when it misbehaves. Every check is seeded and deterministic.

What a norm module must provide (the hook spec ``tinygrad_init_add_norms``):
a ``tinygrad_init.nn.Module`` whose ``forward`` takes a Tensor, with running
statistics (if any) registered as buffers, and ``example_input_shapes(batch=4)``
listing input shapes it accepts for ``num_features``. Optional:

- ``dtype=`` keyword of the factory: the gradient checks build the module with
  ``dtype=np.float64`` when the factory accepts it (otherwise they cast the float
  parameters and buffers to float64 after building it).
- ``normalization_groups(y) -> ndarray (groups, members)``: the rows of an
  input-shaped array that are normalized together (one per channel for batch norm,
  per sample for layer norm...). With it the statistics check is per group; without
  it, it checks only the overall mean square.
- ``normalization_centers = False`` for norms that rescale without centering
  (RMS norm): their groups have mean square 1 instead of mean 0 and variance 1.

Checks:

``gradcheck_train`` / ``gradcheck_eval``
    ``tinygrad_init.testing.gradcheck`` (float64 central differences) of the input
    gradient and of every parameter's gradient, for each example input shape, in
    training mode and in eval mode (eval after 3 training forwards, so running
    statistics are not at their initial values).
``normalized_statistics``
    In training mode with the parameters at their initial values (weight 1, bias 0),
    an input with mean 1.5 and standard deviation 2.5 comes out with mean 0 and
    variance 1 per normalized group (``|mean| < 1e-6``, ``|var - 1| < 1e-3``), or mean
    square 1 (``normalization_centers = False``); every output is finite and the
    shape is preserved.
``state_dict_round_trip``
    After training forwards and a change of every parameter, ``state_dict()`` loaded
    into a fresh module restores every parameter and buffer exactly and eval-mode
    outputs agree bit for bit; running statistics must be buffers to pass.
``channel_mismatch``
    An input built for 12 features given to a 6-feature module raises ``ValueError``,
    in training and eval mode, without touching the buffers.
``repr``
    ``repr(module)`` is informative: not ``object.__repr__``, and it names the
    number of features.
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ..tensor import Tensor
from .gradients import GradcheckError, gradcheck

NUM_FEATURES = 6
OTHER_FEATURES = 12  # divisible by every divisor of 6, so group counts stay valid
TRAIN_STEPS = 3
BATCH = 4


def _label(component: Any, hparams: dict) -> str:
    hp = "".join(f", {k}={v!r}" for k, v in hparams.items())
    return f"norm {component.name!r}({NUM_FEATURES}{hp})"


def _accepts_dtype(factory: Any) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "dtype" or p.kind is p.VAR_KEYWORD for p in params)


def _set(module: Any, dotted: str, value: Any) -> None:
    *path, last = dotted.split(".")
    obj = module
    for part in path:
        obj = obj[int(part)] if isinstance(obj, (list, tuple)) else (
            obj[part] if isinstance(obj, dict) else getattr(obj, part))
    if isinstance(obj, list):
        obj[int(last)] = value
    elif isinstance(obj, dict):
        obj[last] = value
    else:
        setattr(obj, last, value)


def build(component: Any, hparams: dict, num_features: int = NUM_FEATURES, float64: bool = False) -> Any:
    """Build the norm; with ``float64`` make its parameters and buffers float64."""
    factory = component.factory
    if float64 and _accepts_dtype(factory):
        return factory(num_features, dtype=np.float64, **hparams)
    module = factory(num_features, **hparams)
    if float64:
        for _, p in module.named_parameters():
            if p.data.dtype.kind == "f":
                p.data = p.data.astype(np.float64)
        for name, b in list(module.named_buffers()):
            if np.asarray(b).dtype.kind == "f":
                _set(module, name, np.asarray(b, dtype=np.float64))
    return module


def _shapes(module: Any, label: str) -> list[tuple[int, ...]]:
    fn = getattr(module, "example_input_shapes", None)
    assert callable(fn), f"{label}: the module has no example_input_shapes(batch=4) method"
    shapes = [tuple(int(d) for d in s) for s in fn(batch=BATCH)]
    assert shapes, f"{label}: example_input_shapes() returned no shape"
    return shapes


def _input(shape: tuple, seed: int, dtype: Any = np.float64) -> np.ndarray:
    return np.random.default_rng(seed).normal(1.5, 2.5, shape).astype(dtype)


def _train(module: Any, shapes: list, steps: int = TRAIN_STEPS, dtype: Any = np.float64) -> None:
    module.train()
    for i in range(steps):
        shape = shapes[i % len(shapes)]
        module(Tensor(_input(shape, 100 + i, dtype) * (1 + i) + i))  # moving statistics


def _gradcheck(module: Any, shape: tuple, label: str, mode: str) -> None:
    named = list(module.named_parameters())
    originals = [p for _, p in named]

    def fn(x, *params):
        for (name, _), t in zip(named, params):
            _set(module, name, t)
        return module(x)

    x = _input(shape, 7)
    try:
        gradcheck(fn, x, *[p.data for p in originals])
    except GradcheckError as exc:
        what = "input" if exc.index == 0 else f"parameter {named[exc.index - 1][0]!r}"
        raise AssertionError(f"{label}: {mode}-mode gradient of the {what} is wrong for input shape "
                             f"{shape}: {exc}") from None
    finally:
        for (name, _), p in zip(named, originals):
            _set(module, name, p)


def check_gradcheck_train(component: Any, hparams: dict) -> None:
    label = _label(component, hparams)
    module = build(component, hparams, float64=True)
    for shape in _shapes(module, label):
        module.train()
        _gradcheck(module, shape, label, "train")


def check_gradcheck_eval(component: Any, hparams: dict) -> None:
    label = _label(component, hparams)
    module = build(component, hparams, float64=True)
    shapes = _shapes(module, label)
    _train(module, shapes)
    module.eval()
    for shape in shapes:
        _gradcheck(module, shape, label, "eval")


def check_normalized_statistics(component: Any, hparams: dict) -> None:
    label = _label(component, hparams)
    module = build(component, hparams, float64=True)
    module.train()
    shape = max(_shapes(module, label), key=lambda s: int(np.prod(s)))
    y = module(Tensor(_input(shape, 3)))
    assert isinstance(y, Tensor), f"{label}: forward returned {type(y).__name__}, not a Tensor"
    y = np.asarray(y.data, dtype=np.float64)
    assert y.shape == shape, f"{label}: output shape {y.shape} != input shape {shape}"
    assert np.all(np.isfinite(y)), f"{label}: output is not finite for input shape {shape}"
    groups = getattr(module, "normalization_groups", None)
    if groups is None:
        ms = float(np.mean(y * y))
        assert abs(ms - 1) < 1e-2, (f"{label}: output is not normalized: mean square {ms:.6g}, "
                                    "expected 1")
        return
    rows = np.asarray(groups(y), dtype=np.float64)
    assert rows.ndim == 2 and rows.size == y.size, (
        f"{label}: normalization_groups() must return a (groups, members) array of all "
        f"{y.size} values, got shape {rows.shape}")
    if getattr(module, "normalization_centers", True):
        mean, var = rows.mean(axis=1), rows.var(axis=1)
        i, j = int(np.argmax(np.abs(mean))), int(np.argmax(np.abs(var - 1)))
        assert abs(mean[i]) < 1e-6, (f"{label}: output is not normalized: group {i} has mean "
                                     f"{mean[i]:.3g}, expected 0 (input shape {shape})")
        assert abs(var[j] - 1) < 1e-3, (f"{label}: output is not normalized: group {j} has variance "
                                        f"{var[j]:.6g}, expected 1 (input shape {shape})")
    else:
        ms = (rows * rows).mean(axis=1)
        j = int(np.argmax(np.abs(ms - 1)))
        assert abs(ms[j] - 1) < 1e-3, (f"{label}: output is not normalized: group {j} has mean "
                                       f"square {ms[j]:.6g}, expected 1 (input shape {shape})")


def check_state_dict_round_trip(component: Any, hparams: dict) -> None:
    label = _label(component, hparams)
    module = build(component, hparams)
    shapes = _shapes(module, label)
    rng = np.random.default_rng(11)
    for _, p in module.named_parameters():
        p.data = (p.data + rng.normal(0, 0.5, p.shape)).astype(p.data.dtype)
    _train(module, shapes, dtype=np.float32)
    sd = module.state_dict()
    for k, v in sd.items():
        assert isinstance(v, np.ndarray), (f"{label}: state_dict()[{k!r}] is a {type(v).__name__}, "
                                           "not an ndarray")
    fresh = build(component, hparams)
    fresh.load_state_dict(sd)
    got = fresh.state_dict()
    assert got.keys() == sd.keys(), (f"{label}: state_dict keys changed after loading: "
                                     f"{sorted(got)} vs {sorted(sd)}")
    for k, v in sd.items():
        assert got[k].dtype == v.dtype and np.array_equal(got[k], v), (
            f"{label}: state_dict entry {k!r} was not restored exactly by load_state_dict")
    module.eval(), fresh.eval()
    for shape in shapes:
        x = _input(shape, 5, np.float32)
        a, b = module(Tensor(x)).data, fresh(Tensor(x)).data
        assert np.array_equal(a, b), (
            f"{label}: eval outputs differ after a state_dict round trip into a fresh module "
            f"(max abs difference {np.max(np.abs(a - b)):.3g}): is some state (running "
            "statistics?) not registered as a buffer?")


def check_channel_mismatch(component: Any, hparams: dict) -> None:
    label = _label(component, hparams)
    module = build(component, hparams)
    other = build(component, hparams, num_features=OTHER_FEATURES)
    for training in (True, False):
        module.train(training)
        before = module.state_dict()
        for shape in _shapes(other, label):
            x = Tensor(_input(shape, 1, np.float32))
            try:
                module(x)
            except ValueError:
                pass
            else:
                raise AssertionError(f"{label}: an input of shape {shape} (built for num_features="
                                     f"{OTHER_FEATURES}) did not raise ValueError in "
                                     f"{'train' if training else 'eval'} mode")
        after = module.state_dict()
        for k, v in before.items():
            assert np.array_equal(after[k], v), f"{label}: a rejected input changed {k!r}"


def check_repr(component: Any, hparams: dict) -> None:
    label = _label(component, hparams)
    text = repr(build(component, hparams))
    assert not text.startswith("<"), f"{label}: repr is the default object repr: {text}"
    assert str(NUM_FEATURES) in text, f"{label}: repr does not show the number of features: {text}"


CHECKS = {
    "gradcheck_train": check_gradcheck_train,
    "gradcheck_eval": check_gradcheck_eval,
    "normalized_statistics": check_normalized_statistics,
    "state_dict_round_trip": check_state_dict_round_trip,
    "channel_mismatch": check_channel_mismatch,
    "repr": check_repr,
}
