"""Trainer-side reliability (issues 21, 22, 20 item 7, 18): a resume that diverges at once
keeps the good file and weights; optimizers holding none/some parameters; bad inputs named;
the live bar and the diagnostics table; the Ctrl-C hint names the real checkpoint."""
import io
import re
import warnings

import numpy as np
import pytest
from rich.console import Console

import tinygrad_init as tgi
from tinygrad_init import experiment, hookimpl, nn
from tinygrad_init.cli import main
from tinygrad_init.trainer import Trainer, TrainingDiverged

from test_trainer import Interrupt, assert_same, data, model, trainer, weights


def diverging_loss(out, y):
    """Cross-entropy, but NaN from the first step on: a resume that diverges at once."""
    return tgi.F.cross_entropy(out, y) * float("nan")


@pytest.mark.parametrize("where", ["epoch_boundary", "mid_epoch"])
def test_a_resume_that_diverges_at_once_keeps_the_file_and_the_weights(tmp_path, where):
    X, y = data()
    path = tmp_path / "ck.npz"
    m = model()
    if where == "epoch_boundary":
        t = trainer(m, "sgd", callbacks=[tgi.callback("checkpoint", path=str(path))])
        t.fit((X, y), epochs=2, batch_size=16)
    else:  # a Ctrl-C checkpoint in the middle of epoch 2
        t = trainer(m, "sgd", callbacks=[Interrupt(at=11)])
        with pytest.raises(KeyboardInterrupt):
            t.fit((X, y), epochs=3, batch_size=16, checkpoint=path)
    good, saved = path.read_bytes(), weights(m)
    m2 = model(seed=7)
    t2 = Trainer(m2, diverging_loss, tgi.optimizer("sgd", m2.parameters(), lr=0.01),
                 callbacks=[tgi.callback("checkpoint", path=str(path))])
    with pytest.warns(TrainingDiverged, match="left as the run started"):
        h = t2.fit((X, y), epochs=3, batch_size=16, resume=path, checkpoint=path)
    assert h.stop_reason.kind == "diverged"
    assert_same(weights(m2), saved)  # the checkpoint's weights, not an unfilled buffer
    assert path.read_bytes() == good  # no checkpoint written after the divergence


def test_divergence_later_in_a_resumed_epoch_writes_no_checkpoint(tmp_path):
    X, y = data()
    path = tmp_path / "ck.npz"
    m = model()
    t = trainer(m, "sgd", callbacks=[Interrupt(at=10)])
    with pytest.raises(KeyboardInterrupt):
        t.fit((X, y), epochs=3, batch_size=16, checkpoint=path)
    good = path.read_bytes()
    calls = []

    def late_nan(out, yb):
        calls.append(1)
        loss = tgi.F.cross_entropy(out, yb)
        return loss * float("nan") if len(calls) == 3 else loss
    m2 = model()
    t2 = Trainer(m2, late_nan, tgi.optimizer("sgd", m2.parameters(), lr=0.01),
                 callbacks=[tgi.callback("checkpoint", path=str(path))])
    with pytest.warns(TrainingDiverged, match="those of global step 11"):
        h = t2.fit((X, y), epochs=3, batch_size=16, resume=path)
    assert len(h) == 2 and path.read_bytes() == good  # the partial epoch is logged, not saved


def test_an_optimizer_over_none_of_the_models_parameters_is_refused():
    m = model()
    other = model(seed=3)
    with pytest.raises(ValueError, match=r"holds none of the model's 4 parameters"):
        Trainer(m, "cross_entropy", tgi.optimizer("sgd", other.parameters(), lr=0.1))
    with pytest.warns(UserWarning, match=r"does not hold 2 of the model's trainable parameters.*2.weight, 2.bias"):
        Trainer(m, "cross_entropy", tgi.optimizer("sgd", [m[0].weight, m[0].bias], lr=0.1))
    m[2].freeze()  # frozen parameters are not expected in the optimizer
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer(m, "cross_entropy", tgi.optimizer("sgd", [m[0].weight, m[0].bias], lr=0.1))


class Typo:
    @hookimpl
    def tinygrad_init_epoch_ends(self, logs):
        pass


class Unmarked:
    def tinygrad_init_epoch_end(self, logs):
        pass


def test_bad_trainer_inputs_are_named():
    X, y = data()
    t = trainer(model())
    with pytest.raises(TypeError, match="train data: y is None"):
        t.fit((X, None))
    with pytest.raises(TypeError, match=r"the loss 'floaty' returned float .*not a Tensor"):
        def floaty(out, yb):
            return 1.0
        Trainer(model(), floaty, "sgd").fit((X, y))
    with pytest.raises(ValueError, match=r"the loss 'per_sample' returned shape \(32,\); it must be a scalar"):
        def per_sample(out, yb):
            return (out * out).sum(axis=1)
        Trainer(model(), per_sample, "sgd").fit((X, y))
    with pytest.raises(ValueError, match="clip_grad_norm='a' is invalid"):
        trainer(model(), clip_grad_norm="a")
    with pytest.raises(ValueError, match=r"predict: X of shape \(0, 6\) has no samples"):
        t.predict(np.zeros((0, 6), np.float32))
    with pytest.raises(ValueError, match="predict: batch_size=0 is invalid"):
        t.predict(X, batch_size=0)
    with pytest.raises(ValueError, match="evaluate: batch_size=0 is invalid"):
        t.evaluate((X, y), batch_size=0)
    h = t.fit((X, y), epochs=np.int64(2), batch_size=np.int64(8))  # NumPy integers are integers
    assert len(h) == 2 and t.steps_per_epoch == 15
    assert t.predict(X, batch_size=np.int64(50)).shape == (120, 3)
    with pytest.raises(TypeError, match="epochs=True is invalid"):
        t.fit((X, y), epochs=True)
    with pytest.raises(TypeError, match=r"callbacks='rich_logger' is invalid: .*callbacks=\['rich_logger'\]"):
        trainer(model(), callbacks="rich_logger")
    with pytest.raises(TypeError, match=r"callbacks\[0\] = 42 is not a callback"):
        trainer(model(), callbacks=[42])
    with pytest.raises(TypeError, match=r"'tinygrad_init_epoch_ends' is not a lifecycle hook "
                                        r"\(did you mean 'tinygrad_init_epoch_end'\?\)"):
        trainer(model(), callbacks=[Typo()])
    with pytest.raises(TypeError, match="tinygrad_init_epoch_end is not marked with @tinygrad_init.hookimpl"):
        trainer(model(), callbacks=[Unmarked()])
    with pytest.raises(TypeError, match="is the class Typo; pass an instance"):
        trainer(model(), callbacks=[Typo])
    late = trainer(model())
    late.callbacks.append(Typo())  # appended after construction: checked when fit starts
    with pytest.raises(TypeError, match="did you mean 'tinygrad_init_epoch_end'"):
        late.fit((X, y))
    with pytest.raises(FileNotFoundError, match="fit: checkpoint=.*folder .*nowhere' does not exist"):
        t.fit((X, y), checkpoint="/nowhere/ck.npz")


def fake_trainer(lr=0.01):
    class T:
        model = nn.Linear(2, 2)
        optimizer = tgi.optimizer("sgd", model.parameters(), lr=lr)
        steps_per_epoch, loss_name = 4, "mse"
    return T()


def test_the_live_bar_shows_the_running_mean_and_the_lr_from_the_start():
    buf = io.StringIO()
    logger = tgi.callback("rich_logger", console=Console(file=buf, force_terminal=True, width=120), progress=True)
    t = fake_trainer()
    logger.tinygrad_init_train_start(trainer=t, history=tgi.History(), epochs=1)
    logger.tinygrad_init_epoch_start(trainer=t, epoch=0, num_steps=4)
    task = logger._progress.tasks[0]
    assert task.fields["loss"] == "-" and task.fields["lr"] == "0.01"
    logger._progress.refresh()
    assert "nan" not in buf.getvalue()
    for step, (loss, mean) in enumerate([(2.0, 2.0), (1.0, 1.5)]):
        logger.tinygrad_init_step_end(trainer=t, epoch=0, step=step, logs={"loss": loss, "lr": 0.01,
                                                                           "epoch_loss": mean})
    assert logger._progress.tasks[0].fields["loss"] == "1.5"  # the epoch's mean, not the last batch
    logger._progress.stop()


def diag(ratio):
    return {"activations": {"1": {"layer": "ReLU", "mean": 0.1, "std": 0.2, "dead": 0.0}},
            "params": {"0.weight": {"grad_norm": 0.1, "update_ratio": ratio}}}


def shown_tables(every, ratios):
    buf = io.StringIO()
    logger = tgi.callback("rich_logger", console=Console(file=buf, width=120), diagnostics_every=every)
    logger._epochs = len(ratios)
    for e, r in enumerate(ratios):
        logger.tinygrad_init_step_end(trainer=None, epoch=e, step=0, logs={"diagnostics": diag(r)})
        logger.tinygrad_init_epoch_end(epoch=e, logs={"train_loss": 1.0})
    return [e + 1 for e in range(len(ratios)) if re.search(rf"diagnostics, epoch {e + 1}\b", buf.getvalue())]


def test_the_diagnostics_table_every_n_epochs_or_on_change():
    assert shown_tables(1, [1e-2] * 4) == [1, 2, 3, 4]
    assert shown_tables(3, [1e-2] * 7) == [3, 6, 7]  # and the last epoch
    # "change": only when the flagged cells change (update ratio leaves / re-enters its band)
    assert shown_tables("change", [1e-2, 1e-2, 1.0, 1.0, 1e-2]) == [1, 3, 5]
    with pytest.raises(ValueError, match="diagnostics_every=0"):
        tgi.callback("rich_logger", diagnostics_every=0)


def test_ctrl_c_in_the_cli_names_the_real_checkpoint(tmp_path, monkeypatch):
    out_dir = tmp_path / "run"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"""
[data]
name = "moons"
n_samples = 200
[model]
layers = [{{type = "linear", out = 8}}, {{type = "relu"}}, {{type = "linear", out = 2}}]
[train]
epochs = 5
batch_size = 8
[output]
loggers = []
dir = "{out_dir}"
""")
    real_fit = experiment.fit

    def fit_with_ctrl_c(cfg, trainer, *a, **k):
        trainer.callbacks.append(Interrupt(at=5))
        return real_fit(cfg, trainer, *a, **k)
    monkeypatch.setattr(experiment, "fit", fit_with_ctrl_c)
    console = Console(width=400, force_terminal=False)
    with console.capture() as cap:
        code = main(["train", str(cfg)], console=console)
    assert code == 130
    out = cap.get()
    assert f"saved to '{out_dir / 'checkpoint.npz'}'" in out and "<dir>" not in out
    assert (out_dir / "checkpoint.npz").exists()


def test_json_output_has_no_nan(tmp_path, capsys):
    import json
    assert experiment.json_safe({"a": float("nan"), "b": {"c": float("-inf")}, "d": 1.5}) == \
        {"a": None, "b": {"c": None}, "d": 1.5}
    cfg = tmp_path / "c.toml"
    cfg.write_text("""
[data]
name = "moons"
n_samples = 100
[model]
layers = [{type = "linear", out = 8}, {type = "relu"}, {type = "linear", out = 2}]
[optimizer]
name = "sgd"
lr = 1e30
[train]
epochs = 2
[output]
loggers = []
""")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        code = main(["train", str(cfg), "--json"], console=Console(width=200))
    assert code == 1

    def refuse(name):
        raise AssertionError(f"{name} in the JSON")
    data = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert data["stop_reason"]["kind"] == "diverged" and data["stop_reason"]["failure"] is True


def test_resume_given_a_directory_uses_its_checkpoint(tmp_path):
    with pytest.raises(experiment.ConfigError, match="the folder holds no checkpoint.npz"):
        experiment.resume_path(str(tmp_path))
    (tmp_path / "checkpoint.npz").write_bytes(b"")
    assert experiment.resume_path(str(tmp_path)) == tmp_path / "checkpoint.npz"
    assert experiment.resume_path(str(tmp_path / "x.npz")) == tmp_path / "x.npz"
