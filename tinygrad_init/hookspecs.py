"""The plugin contract of tinygrad_init: every hook a plugin may implement.

A plugin is a module (or any object) whose functions are marked with
``tinygrad_init.hookimpl`` and named exactly like one of the specs below. It is
registered under the entry-point group ``tinygrad_init.plugins``::

    [project.entry-points."tinygrad_init.plugins"]
    my_plugin = "my_package.my_plugin"

Two families of hooks exist.

**Registration hooks** (one per kind, all of the same shape) return a
``dict[str, factory]``. The host calls each plugin's implementation once, when
the registry is first used, and files the factories under their names. Names
are global per kind: two plugins registering the same name make that name an
error that names both. Hyperparameters given to a factory are validated when
the component is built; an unknown keyword is reported by the host, a bad value
by the factory itself (use ``tinygrad_init.validation``).

A factory may carry an attribute ``conformance_examples``: a list of keyword
dicts (or a zero-argument callable returning one) with which the conformance
kit builds the component. Without it the kit builds it with no hyperparameters.

**Lifecycle hooks** observe and steer training and search. They are called with
keyword arguments, and an implementation may accept any subset of them (pluggy
passes only the arguments it names). Lifecycle hooks are implemented by
*callback objects* (built by the factories of ``tinygrad_init_add_callbacks``
and handed to ``Trainer(callbacks=...)`` or ``search.run(callbacks=...)``);
a module-level implementation in an installed plugin runs for every run.
None of the lifecycle hooks is ``firstresult``; their return values are ignored.

The trainer calls them in this order (``fit`` is a loop that does nothing else)::

    train_start
      epoch_start                      (not for an epoch resumed half-way)
        batch_start -> forward -> after_loss -> backward -> after_backward
          -> before_step -> optimizer.step() -> step_end        (every batch)
      epoch_end -> checkpoint          (checkpoint: after every epoch_end)
    train_end                          (always, for every callback, even after an error)

Within one hook, pluggy calls later-registered implementations first; mark a method
``@hookimpl(tryfirst=True)`` or ``@hookimpl(trylast=True)`` where the order matters.
A callback stops training with ``trainer.stop(kind, message)``; the trainer ends the
step (or skips the update, when stopped before it) and then the run. An exception
from a callback stops the run: every callback still gets ``train_end``, then it is
re-raised, of the same type, its message prefixed with the callback and the hook.
"""
from __future__ import annotations

from typing import Any, Callable

import pluggy

PROJECT = "tinygrad_init"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------- registration


@hookspec
def tinygrad_init_add_initializers() -> dict[str, Callable[..., Any]]:
    """Register weight and bias initializers.

    :return: ``{name: factory}``. ``factory(**hparams)`` returns an initializer:
        a callable ``init(shape, rng, dtype=np.float32) -> np.ndarray`` that draws
        every random number from the ``np.random.Generator`` it is given and
        returns an array of exactly ``shape`` and ``dtype``. Subclass
        ``tinygrad_init.Initializer`` to get that signature, the fan helpers and
        ``expected(shape)``: the mean, variance and bounds the conformance kit
        checks the samples against (``None`` for a statistic that is not declared).
        Its docstring gives the formula.

    Not ``firstresult``: every plugin's dict is collected.

    Example::

        @hookimpl
        def tinygrad_init_add_initializers():
            return {"my_uniform": MyUniform}
    """


@hookspec
def tinygrad_init_add_data_initializers() -> dict[str, Callable[..., Any]]:
    """Register data-dependent initializers: they see the model and a data sample.

    This is the hook for what a per-tensor initializer cannot express: LSUV,
    greedy layer-wise pretraining, loading pretrained weights.

    :return: ``{name: factory}``. ``factory(**hparams)`` returns a callable
        ``apply(model, x, *, rng) -> dict`` that initializes ``model`` (a
        ``tinygrad_init.nn.Module``) in place using the input batch ``x`` (an
        ``np.ndarray``) and returns a report (what was changed, for printing).
        On bad input it raises before changing any parameter.

    Not ``firstresult``. Built with ``tgi.data_initializer(name, **hparams)``.
    """


@hookspec
def tinygrad_init_add_optimizers() -> dict[str, Callable[..., Any]]:
    """Register optimizers.

    :return: ``{name: factory}``. ``factory(params, **hparams)`` returns a
        ``tinygrad_init.Optimizer``: ``params`` is an iterable of tensors or of
        parameter-group dicts (``{"params": [...], "lr": ...}``); ``lr`` may be a
        float or a schedule. Subclass ``Optimizer`` and write the pure pair
        ``init_state(param) -> dict of arrays`` / ``update(param, grad, state,
        group, step) -> new value`` so that ``state_dict()`` round-trips bit-exactly.

    Not ``firstresult``. Built with ``tgi.optimizer(name, params, **hparams)``.
    """


@hookspec
def tinygrad_init_add_schedules() -> dict[str, Callable[..., Any]]:
    """Register learning-rate schedules.

    :return: ``{name: factory}``. ``factory(**hparams)`` returns a schedule: a
        pure callable ``schedule(step: int) -> float`` (the same step always gives
        the same value, so resuming is restoring the step counter). Step counting
        starts at 0, the value used for the first update, as PyTorch's schedulers
        do before their first ``.step()``. Subclass ``tinygrad_init.Schedule``
        (set ``name`` and ``hparams``, write ``value(t)``) for the step check,
        ``config()`` and ``repr``.

    Not ``firstresult``. Built with ``tgi.schedule(name, **hparams)``.
    """


@hookspec
def tinygrad_init_add_norms() -> dict[str, Callable[..., Any]]:
    """Register normalization layers.

    :return: ``{name: factory}``. ``factory(num_features, **hparams)`` returns a
        ``tinygrad_init.nn.Module`` whose forward normalizes its input, with its
        running statistics (if any) as buffers saved by ``state_dict()``. The
        module's ``example_input_shapes(batch=4)`` lists input shapes it accepts,
        for the conformance kit's gradient checks in train and eval mode. The kit
        also checks that outputs are normalized per channel (batch norm) or per
        sample: a norm that normalizes other groups says so with
        ``normalization_groups(y) -> array of groups`` (each row one group), and
        one that scales without centring (RMS norm) sets
        ``normalization_centers = False``. A ``dtype=`` keyword, when accepted,
        lets the kit gradcheck in float64.

    Not ``firstresult``. Built with ``tgi.norm(name, num_features, **hparams)``.
    """


@hookspec
def tinygrad_init_add_search_strategies() -> dict[str, Callable[..., Any]]:
    """Register hyperparameter-search strategies.

    :return: ``{name: factory}``. ``factory(space, seed=None, **hparams)`` returns
        an ask/tell strategy over a ``tinygrad_init.search.Space``: ``ask() ->
        dict`` proposes a configuration inside the space; ``tell(params, value)``
        reports its result (``value`` is ``None`` for a failed trial, lower is
        better). The same seed and the same tells give the same proposals.

    Not ``firstresult``. Built with ``tgi.search_strategy(name, space, seed, **hparams)``.
    """


@hookspec
def tinygrad_init_add_callbacks() -> dict[str, Callable[..., Any]]:
    """Register callbacks: configurable implementations of the lifecycle hooks.

    :return: ``{name: factory}``. ``factory(**hparams)`` returns an object whose
        methods, marked with ``hookimpl``, implement lifecycle hooks below (the
        rich logger, the metrics file, checkpoints, early stopping and
        reduce-on-plateau are such callbacks). Training configs name them.

    Not ``firstresult``. Built with ``tgi.callback(name, **hparams)``.
    """


# --------------------------------------------------------------------------- lifecycle


@hookspec
def tinygrad_init_train_start(trainer: Any, history: Any, epochs: int) -> None:
    """Training is about to start (or resume).

    :param trainer: the ``tinygrad_init.Trainer``; ``trainer.model``,
        ``trainer.optimizer``, ``trainer.stop(kind, message)`` to stop training.
    :param history: the ``History`` being filled (non-empty when resuming).
    :param epochs: the total number of epochs of this fit.

    Not ``firstresult``; the return value is ignored. Implement it as a ``@hookimpl``
    method of a callback object, taking only the arguments it needs.
    """


@hookspec
def tinygrad_init_epoch_start(trainer: Any, epoch: int, num_steps: int) -> None:
    """An epoch begins.

    :param epoch: 0-based epoch index.
    :param num_steps: the number of optimizer steps this epoch will take.

    Not ``firstresult``; the return value is ignored. Implement it as a ``@hookimpl``
    method of a callback object, taking only the arguments it needs.
    """


@hookspec
def tinygrad_init_batch_start(trainer: Any, epoch: int, step: int) -> None:
    """A batch is about to go through the model (before the forward pass).

    :param epoch: 0-based epoch index; :param step: 0-based step index within the epoch.

    The diagnostics callback registers its forward hooks here. Not ``firstresult``;
    the return value is ignored.
    """


@hookspec
def tinygrad_init_after_loss(trainer: Any, epoch: int, step: int, loss: float) -> None:
    """The batch's loss is computed, before ``backward``.

    :param loss: the loss value (a float; without penalties).

    The divergence guard reads it: a callback that calls ``trainer.stop(...)`` here
    makes the trainer skip this batch's backward pass and update. Not ``firstresult``;
    the return value is ignored.
    """


@hookspec
def tinygrad_init_after_backward(trainer: Any, epoch: int, step: int) -> None:
    """Gradients are in ``p.grad`` for every parameter of ``trainer.model``.

    :param trainer: the trainer; :param epoch: 0-based epoch; :param step: 0-based step.

    Callbacks may change the gradients here (in place or by rebinding ``p.grad``):
    the penalty callback adds the L1/L2 terms (``tryfirst``), gradient clipping
    rescales them (``trylast``, so it sees the penalties). Not ``firstresult``;
    the return value is ignored.
    """


@hookspec
def tinygrad_init_before_step(trainer: Any, epoch: int, step: int) -> None:
    """The gradients are final; ``trainer.optimizer.step()`` comes next.

    :param trainer: the trainer; :param epoch: 0-based epoch; :param step: 0-based step.

    The divergence guard checks the gradients and keeps the weights before the
    update here; diagnostics read the gradient norms. A ``trainer.stop(...)`` here
    skips the update. Not ``firstresult``; the return value is ignored.
    """


@hookspec
def tinygrad_init_step_end(trainer: Any, epoch: int, step: int, logs: dict) -> None:
    """One optimizer step is done.

    :param step: 0-based step index within the epoch.
    :param logs: ``{"loss": float, "lr": float, "batch_size": int,
        "global_step": int}`` plus ``"diagnostics"`` (per-layer activation
        mean/std, gradient norm, update-to-weight ratio) when the trainer was
        built with ``diagnostics=True``; ``"epoch_loss"``: the running mean of the
        epoch's loss so far. Call ``trainer.stop(kind, message)`` to stop.

    Not ``firstresult``; the return value is ignored. Implement it as a ``@hookimpl``
    method of a callback object, taking only the arguments it needs.
    """


@hookspec
def tinygrad_init_epoch_end(trainer: Any, epoch: int, logs: dict) -> None:
    """An epoch is done and evaluated.

    :param logs: the epoch's metrics: ``train_loss``, ``train_acc``, ``val_loss``,
        ``val_acc`` (validation keys only with validation data), ``lr``, ``time``.
        Callbacks that steer (early stopping, reduce-on-plateau) read it and act
        on ``trainer`` (``trainer.stop(kind, message)``, ``trainer.optimizer``).
        Write no checkpoint here: use ``tinygrad_init_checkpoint``, which runs after
        every ``epoch_end``.

    Not ``firstresult``; the return value is ignored. Implement it as a ``@hookimpl``
    method of a callback object, taking only the arguments it needs.
    """


@hookspec
def tinygrad_init_checkpoint(trainer: Any, epoch: int, logs: dict) -> None:
    """The epoch's state is final: write checkpoints now.

    :param epoch: 0-based epoch index; :param logs: the epoch's metrics (as ``epoch_end``).

    Called after *every* ``tinygrad_init_epoch_end`` implementation has run, whatever
    the order callbacks were given in, so a checkpoint holds the state of every
    callback after this epoch (early stopping's counters, reduce-on-plateau's lr).
    Not called for an epoch that ended with a non-finite or exploding loss (its
    weights are not saved over a good checkpoint). Save with
    ``trainer.save_checkpoint(path)``. Not ``firstresult``; the return value is ignored.
    """


@hookspec
def tinygrad_init_train_end(trainer: Any, history: Any) -> None:
    """Training stopped (finished, stopped early, diverged, or interrupted).

    :param history: the complete ``History``; ``history.stop_reason`` says why: ``None``
        (all epochs done) or a ``StopReason`` with ``kind`` (``"early_stopping"``,
        ``"diverged"``, ``"interrupted"``, or a callback's own) and ``message``.
        Called in a ``finally``: also when a callback raised or training was interrupted.

    Not ``firstresult``; the return value is ignored. Implement it as a ``@hookimpl``
    method of a callback object, taking only the arguments it needs.
    """


@hookspec
def tinygrad_init_trial_start(study: Any, trial: Any) -> None:
    """A search trial is about to run.

    :param study: the ``tinygrad_init.search.Study`` (name, space, storage).
    :param trial: the ``Trial`` (``number``, ``params``).

    Not ``firstresult``; the return value is ignored. Implement it as a ``@hookimpl``
    method of a callback object, taking only the arguments it needs.
    """


@hookspec
def tinygrad_init_trial_end(study: Any, trial: Any) -> None:
    """A search trial finished, failed or was pruned.

    :param trial: the ``Trial`` with ``status`` (``"complete"``, ``"failed"``,
        ``"pruned"``), ``value``, ``intermediate`` values, ``error`` and timing.

    Not ``firstresult``; the return value is ignored. Implement it as a ``@hookimpl``
    method of a callback object, taking only the arguments it needs.
    """


@hookspec
def tinygrad_init_add_pruners() -> dict[str, Callable[..., Any]]:
    """Register search pruners: rules that stop unpromising trials early.

    :return: ``{name: factory}``. ``factory(**hparams)`` returns an object with
        ``prune(study, trial) -> bool``, called by the search driver at every
        ``trial.report(step, value)`` (``trial.intermediate`` ends with that report;
        ``study.trials`` holds every trial with its reports, running ones included;
        values keep the objective's sign, ``study.sign`` is -1 when it maximizes).
        ``True`` makes ``trial.should_prune()`` true. An optional ``budget`` attribute
        (e.g. Hyperband's ``max_resource``) becomes every trial's ``trial.budget``.
        The decision must depend only on the study's trials (their stored values),
        so a resumed search decides as the uninterrupted one would.

    Not ``firstresult``. Built with ``tgi.pruner(name, **hparams)``.
    """
