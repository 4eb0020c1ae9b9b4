"""Conformance checks for callbacks (kind ``callback``).

``CHECKS[name](component, hparams)`` builds ``component.factory(**hparams)`` and raises
``AssertionError`` naming the callback when it misbehaves. The checks are generic: they
never train a model, so they hold for any lifecycle-hook object.

- ``builds``: the factory returns an object (not ``None``).
- ``hooks``: every attribute named ``tinygrad_init_*`` is a lifecycle hook (a name in
  ``tinygrad_init.registry.LIFECYCLE_HOOKS``; registration hooks do not belong on a
  callback object) marked with ``hookimpl``; there is at least one; and a fresh pluggy
  manager with the project's hook specs accepts the object (its hook signatures name
  only arguments the spec passes).
- ``state_roundtrip``: if the object has ``state_dict``, the callback is first driven
  through the hooks of a few epochs (:func:`drive`: a real ``Trainer`` over a tiny model,
  scripted epoch metrics that improve, then plateau), then its state is a flat
  ``dict[str, array]`` that saves to ``.npz`` and loads with ``allow_pickle=False``;
  loading it into a fresh instance (``load_state_dict``) reproduces it exactly and does
  not modify the dict it is given; and the original and the restored callback, each on a
  copy of the trainer, then behave the same through the following epochs (the trainer's
  ``stop_training``/``stop_reason``, every group's lr, the model's weights after
  ``train_end``, the final state). A ``load_state_dict`` that ignores its input fails.
"""
from __future__ import annotations

import copy
import io
import os
import tempfile
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


# Scripted epoch metrics: an improvement at epoch 2, then a long plateau above it, so a
# callback watching any of them (min or max) changes state in the first epochs and acts later.
_VAL_LOSS = [1.0, 0.6, 0.7, 0.8] + [0.75 - 0.005 * i for i in range(12)]
FIRST_EPOCHS = 4  # driven before the state is saved; the rest after the restore


def _epoch_logs(e: int, trainer: Any) -> dict:
    v = _VAL_LOSS[e]
    return {"epoch": e + 1, "train_loss": v + 0.1, "train_acc": 0.95 - v / 2, "val_loss": v,
            "val_acc": 1.0 - v / 2, "lr": trainer.optimizer.get_lr(), "time": 0.0}


def host() -> Any:
    """A real ``Trainer`` over a tiny deterministic model, for driving callbacks by hand."""
    from .. import nn
    from ..trainer import Trainer

    model = nn.Sequential(nn.Linear(2, 3, rng=np.random.default_rng(0)))
    return Trainer(model, loss="cross_entropy", optimizer="sgd", optimizer_options={"lr": 0.1})


def drive(cb: Any, trainer: Any, epochs: range, total: int, label: str) -> list[tuple]:
    """Call ``cb``'s hooks as ``Trainer.fit`` does for ``epochs`` (two steps each), from
    ``train_start`` (a resumed run starts with it too) to ``train_end`` once training stops
    or ``total`` epochs are done; return what the callback steered after each epoch."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(cb, name="under-test")
    hook, trace = pm.hook, []
    trainer._stop = None  # a fresh run segment: nothing has stopped it yet
    try:
        hook.tinygrad_init_train_start(trainer=trainer, history=trainer.history, epochs=total)
        for e in epochs:
            if trainer.stop_training:
                break
            hook.tinygrad_init_epoch_start(trainer=trainer, epoch=e, num_steps=2)
            for s in range(2):
                trainer.global_step += 1
                hook.tinygrad_init_step_end(trainer=trainer, epoch=e, step=s, logs={
                    "loss": _VAL_LOSS[e] + 0.1, "lr": trainer.optimizer.get_lr(), "batch_size": 4,
                    "global_step": trainer.global_step})
            logs = _epoch_logs(e, trainer)
            trainer.history.append(logs)
            trainer.epoch = e + 1
            hook.tinygrad_init_epoch_end(trainer=trainer, epoch=e, logs=logs)
            trace.append((e + 1, trainer.stop_training, trainer.stop_reason,
                          [trainer.optimizer.get_lr(i) for i in range(len(trainer.optimizer.param_groups))]))
        if epochs.stop == total or trainer.stop_training:
            hook.tinygrad_init_train_end(trainer=trainer, history=trainer.history)
    except Exception as exc:
        raise AssertionError(f"{label}: driving it through the hooks of epochs {epochs.start + 1}-"
                             f"{epochs.stop} raised {type(exc).__name__}: {exc}") from exc
    return trace


def check_state_roundtrip(component: Any, hparams: dict) -> None:
    label = _label(component, hparams)
    cb = _build(component, hparams)
    if not callable(getattr(cb, "state_dict", None)):
        return
    assert callable(getattr(cb, "load_state_dict", None)), f"{label}: has state_dict but no load_state_dict"
    total = len(_VAL_LOSS)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:  # a callback that writes files writes them here
        os.chdir(tmp)
        try:
            trainer = host()
            drive(cb, trainer, range(FIRST_EPOCHS), total, label)
            if trainer.stop_training:
                raise AssertionError(f"{label}: stopped training within the first {FIRST_EPOCHS} epochs of "
                                     "the state_roundtrip script; give conformance_examples that keep it going")
            _roundtrip(component, hparams, cb, trainer, label, total)
        finally:
            os.chdir(cwd)


def _roundtrip(component: Any, hparams: dict, cb: Any, trainer: Any, label: str, total: int) -> None:
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
    assert _equal({k: np.asarray(v) for k, v in again.items()}, loaded), (
        f"{label}: after {FIRST_EPOCHS} epochs, state_dict -> .npz -> load_state_dict (into a fresh "
        f"instance) -> state_dict does not reproduce the state:\n saved    {_show(loaded)}\n restored "
        f"{_show(again)}")
    # what a resumed run gets back from the checkpoint (the trainer's own built-in callbacks,
    # which hold a console, are shared, not copied)
    twin = copy.deepcopy(trainer, memo={id(trainer._builtin): trainer._builtin})
    rest = range(FIRST_EPOCHS, total)
    a, b = drive(cb, trainer, rest, total, label), drive(fresh, twin, rest, total, label)
    for ta, tb in zip(a, b):
        assert ta == tb, (f"{label}: after load_state_dict the restored callback behaves differently: at epoch "
                          f"{ta[0]} the original gives (stop_training, stop_reason, lrs) = {ta[1:]}, the "
                          f"restored one {tb[1:]}")
    assert len(a) == len(b), (f"{label}: after load_state_dict the restored callback behaves differently: "
                              f"training stops after epoch {a[-1][0]} with the original and after epoch "
                              f"{b[-1][0]} with the restored one")
    wa, wb = trainer.model.state_dict(), twin.model.state_dict()
    assert _equal(wa, wb), f"{label}: after load_state_dict the model ends with other weights at train_end"
    sa, sb = cb.state_dict(), fresh.state_dict()
    assert _equal(sa, sb), (f"{label}: after the same epochs the original and the restored callback hold "
                            f"different states:\n original {_show(sa)}\n restored {_show(sb)}")


def _show(sd: dict) -> str:
    return "{" + ", ".join(f"{k!r}: {np.asarray(v).tolist()!r}"[:80] for k, v in sorted(sd.items())) + "}"


CHECKS = {
    "builds": check_builds,
    "hooks": check_hooks,
    "state_roundtrip": check_state_roundtrip,
}
