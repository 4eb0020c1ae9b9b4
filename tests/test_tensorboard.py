"""The tensorboard callback: its event files, read back with TensorBoard's own reader, hold
the History's scalars and a histogram per layer; a search writes each trial's hparams."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorboardX", reason="the dev extra installs tensorboardX")
event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="the dev extra installs tensorboard (its event reader)")

import tinygrad_init as tgi  # noqa: E402
from tinygrad_init import datasets, nn  # noqa: E402


def _read(path):
    acc = event_accumulator.EventAccumulator(str(path), size_guidance={"histograms": 0, "scalars": 0})
    acc.Reload()
    return acc


def _fit(tmp_path, **tb):
    (Xtr, ytr), (Xva, yva) = datasets.digits_split(0)
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(64, 16, rng=rng), nn.ReLU(), nn.Linear(16, 10, rng=rng))
    trainer = tgi.Trainer(model, "cross_entropy", tgi.optimizer("sgd", model.parameters(), lr=0.1),
                          callbacks=[tgi.callback("tensorboard", logdir=str(tmp_path / "tb"), **tb)],
                          diagnostics=True)
    return model, trainer.fit((Xtr[:256], ytr[:256]), (Xva, yva), epochs=3, batch_size=32, seed=0)


def test_scalars_equal_the_history_and_every_layer_has_histograms(tmp_path) -> None:
    model, history = _fit(tmp_path, every=4)
    acc = _read(tmp_path / "tb")
    tags = acc.Tags()
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        events = acc.Scalars(f"epoch/{key}")
        assert [e.step for e in events] == [1, 2, 3]
        np.testing.assert_allclose([e.value for e in events], history[key], rtol=1e-6)
    steps = [e.step for e in acc.Scalars("train/loss")]
    assert steps == list(range(4, 25, 4))  # 8 steps per epoch, 3 epochs, every 4
    for name, _ in model.named_parameters():
        assert f"weights/{name}" in tags["histograms"] and f"grads/{name}" in tags["histograms"]
    for layer in ("0", "1", "2"):  # Linear, ReLU, Linear: the forward hooks saw each output
        assert f"activations/{layer}" in tags["histograms"]
    assert any(t.startswith("diagnostics/") and t.endswith("/grad_norm") for t in tags["scalars"])
    # the hooks are gone after training: a forward pass adds nothing
    assert all(not getattr(m, "_forward_hooks", None) for _, m in model.named_modules())


def test_histograms_can_be_turned_off(tmp_path) -> None:
    _fit(tmp_path, every=4, histograms=False)
    assert _read(tmp_path / "tb").Tags()["histograms"] == []


def test_bad_hyperparameters_name_the_callback() -> None:
    with pytest.raises(ValueError, match="tensorboard.*every"):
        tgi.callback("tensorboard", every=0)


def test_a_search_writes_each_trial_hparams(tmp_path) -> None:
    from tinygrad_init import search
    study = search.run(lambda t: (t.params["x"] - 0.3) ** 2, {"x": search.Uniform(0, 1)}, "random",
                       n_trials=3, seed=0,
                       callbacks=[tgi.callback("tensorboard", logdir=str(tmp_path / "tb"))])
    for t in study.trials:
        run = tmp_path / "tb" / study.name / f"trial-{t.number}"
        assert any(run.rglob("events.out.tfevents.*")), run
        acc = _read(next(p.parent for p in run.rglob("events.out.tfevents.*")))
        assert "value" in acc.Tags()["scalars"] or any("value" in s for s in acc.Tags()["scalars"])
