"""Conformance checks for callbacks (kind ``callback``).

``CHECKS[name](component, hparams)`` builds ``component.factory(**hparams)`` and raises
``AssertionError`` naming the callback when it misbehaves. The checks are generic: they
never drive a training run, so they hold for any lifecycle-hook object.

- ``builds``: the factory returns an object (not ``None``).
- ``hooks``: every attribute named ``tinygrad_init_*`` is a lifecycle hook (a name in
  ``tinygrad_init.registry.LIFECYCLE_HOOKS``; registration hooks do not belong on a
  callback object) marked with ``hookimpl``; there is at least one; and a fresh pluggy
  manager with the project's hook specs accepts the object (its hook signatures name
  only arguments the spec passes).
- ``state_roundtrip``: if the object has ``state_dict``, it is a flat ``dict[str, array]``
  that saves to ``.npz`` and loads with ``allow_pickle=False``; loading it into a fresh
  instance (``load_state_dict``) reproduces it exactly, and loading does not modify the
  dict it is given.
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np
import pluggy

from .. import hookspecs
from ..registry import HOOK_NAMES, LIFECYCLE_HOOKS, PREFIX


def _label(component: Any, hparams: dict) -> str:
    hp = ", ".join(f"{k}={v!r}" for k, v in hparams.items())
    return f"callback {component.name!r}({hp})"


def _build(component: Any, hparams: dict) -> Any:
    return component.factory(**hparams)


def check_builds(component: Any, hparams: dict) -> None:
    cb = _build(component, hparams)
    assert cb is not None, f"{_label(component, hparams)}: the factory returned None"


def check_hooks(component: Any, hparams: dict) -> None:
    label = _label(component, hparams)
    cb = _build(component, hparams)
    hooks = [a for a in dir(cb) if a.startswith(PREFIX) and callable(getattr(cb, a, None))]
    assert hooks, f"{label}: implements no lifecycle hook (methods named like {sorted(LIFECYCLE_HOOKS)[0]!r})"
    for name in hooks:
        assert name in HOOK_NAMES, f"{label}: {name!r} is not a tinygrad_init hook"
        assert name in LIFECYCLE_HOOKS, (f"{label}: {name!r} is a registration hook; a callback object "
                                         "implements lifecycle hooks only")
        assert hasattr(getattr(cb, name), f"{hookspecs.PROJECT}_impl"), \
            f"{label}: {name} is not marked with @tinygrad_init.hookimpl"
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    try:
        pm.register(cb, name="under-test")
    except pluggy.PluginValidationError as exc:
        raise AssertionError(f"{label}: pluggy rejects it: {exc}") from None


def _equal(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(
        np.asarray(a[k]).dtype == np.asarray(b[k]).dtype and np.array_equal(a[k], b[k], equal_nan=True)
        if np.asarray(a[k]).dtype.kind in "fc" else np.array_equal(a[k], b[k]) for k in a)


def check_state_roundtrip(component: Any, hparams: dict) -> None:
    label = _label(component, hparams)
    cb = _build(component, hparams)
    if not callable(getattr(cb, "state_dict", None)):
        return
    assert callable(getattr(cb, "load_state_dict", None)), f"{label}: has state_dict but no load_state_dict"
    sd = cb.state_dict()
    assert isinstance(sd, dict), f"{label}: state_dict() returned {type(sd).__name__}, not a dict"
    for k, v in sd.items():
        assert isinstance(k, str), f"{label}: state_dict key {k!r} is not a string"
        assert isinstance(v, (np.ndarray, np.generic, int, float, bool, str)), \
            f"{label}: state_dict[{k!r}] is a {type(v).__name__}; the dict must be flat (arrays/scalars)"
    buf = io.BytesIO()
    np.savez(buf, **sd)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as f:
        loaded = {k: f[k] for k in f.files}
    given = {k: np.array(v, copy=True) for k, v in loaded.items()}
    fresh = _build(component, hparams)
    fresh.load_state_dict(given)
    assert _equal(given, loaded), f"{label}: load_state_dict modified the dict it was given"
    again = fresh.state_dict()
    assert _equal({k: np.asarray(v) for k, v in again.items()}, loaded), \
        f"{label}: state_dict -> .npz -> load_state_dict -> state_dict does not reproduce the state"


CHECKS = {
    "builds": check_builds,
    "hooks": check_hooks,
    "state_roundtrip": check_state_roundtrip,
}
