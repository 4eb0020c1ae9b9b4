"""The trainer: reproducibility, resume equivalence, crash-safe checkpoints, hooks, callbacks."""
import io
import os
import signal
import warnings

import numpy as np
import pytest
from rich.console import Console

import tinygrad_init as tgi
from tinygrad_init import hookimpl, nn
from tinygrad_init.checkpoint import CheckpointError
from tinygrad_init.trainer import Trainer, TrainingDiverged, fine_tune


def data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)
    return X, y


def model(seed=0, dropout=0.0):
    layers = [nn.Linear(6, 16, rng=seed), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout, rng=seed + 1))
    return nn.Sequential(*layers, nn.Linear(16, 3, rng=seed + 2))


def trainer(m, opt="adam", **kw):
    return Trainer(m, "cross_entropy", tgi.optimizer(opt, m.named_parameters(), lr=0.01), **kw)


def weights(m):
    return {k: v.copy() for k, v in m.state_dict().items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


class Recorder:
    def __init__(self):
        self.calls = []

    @hookimpl
    def tinygrad_init_train_start(self, epochs):
        self.calls.append(("train_start", epochs))

    @hookimpl
    def tinygrad_init_epoch_start(self, epoch, num_steps):
        self.calls.append(("epoch_start", epoch, num_steps))

    @hookimpl
    def tinygrad_init_step_end(self, epoch, step, logs):
        self.calls.append(("step_end", epoch, step))

    @hookimpl
    def tinygrad_init_epoch_end(self, epoch, logs):
        self.calls.append(("epoch_end", epoch))

    @hookimpl
    def tinygrad_init_train_end(self, history):
        self.calls.append(("train_end", len(history)))


def test_hooks_are_called_in_order_with_batch_sizes_1_m_and_between():
    X, y = data(10)
    for batch_size, steps in ((1, 10), (4, 3), (10, 1), (50, 1)):
        rec = Recorder()
        trainer(model(), callbacks=[rec]).fit((X, y), epochs=2, batch_size=batch_size)
        expected = [("train_start", 2)]
        for e in range(2):
            expected += [("epoch_start", e, steps)] + [("step_end", e, s) for s in range(steps)]
            expected += [("epoch_end", e)]
        assert rec.calls == expected + [("train_end", 2)]


def test_history_and_learning():
    X, y = data()
    h = trainer(model()).fit((X, y), (X, y), epochs=8, batch_size=16)
    assert len(h) == 8 and h.stop_reason is None
    assert set(h.last) >= {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "time"}
    assert h["train_loss"][-1] < 0.6 * h["train_loss"][0]
    assert h["val_acc"][-1] > 0.8
    with pytest.raises(KeyError, match="no metric 'val_los'"):
        h["val_los"]


def test_seeded_runs_are_bit_identical_and_seeds_matter():
    X, y = data()
    runs = []
    for seed in (3, 3, 4):
        m = model(dropout=0.2)
        trainer(m).fit((X, y), epochs=3, batch_size=8, seed=seed)
        runs.append(weights(m))
    assert_same(runs[0], runs[1])
    assert not np.array_equal(runs[0]["0.weight"], runs[2]["0.weight"])


def test_resume_equals_uninterrupted_to_the_last_bit(tmp_path):
    X, y = data()
    full = model(dropout=0.3)
    h_full = trainer(full).fit((X, y), (X, y), epochs=6, batch_size=16, seed=1)

    path = tmp_path / "ck.npz"
    first = model(dropout=0.3)
    trainer(first, callbacks=[tgi.callback("checkpoint", path=str(path))]).fit(
        (X, y), (X, y), epochs=3, batch_size=16, seed=1)
    # a fresh process would build everything anew: other initial weights, other generator states
    second = model(seed=9, dropout=0.3)
    tgi.init.manual_seed(12345)
    h = trainer(second).fit((X, y), (X, y), epochs=6, batch_size=16, seed=1, resume=path)
    assert_same(weights(second), weights(full))
    assert h["train_loss"] == h_full["train_loss"] and h["val_acc"] == h_full["val_acc"]


class Interrupt:
    """Sends the process a real SIGINT (Ctrl-C) during step `at`."""

    def __init__(self, at):
        self.at = at

    @hookimpl
    def tinygrad_init_step_end(self, logs):
        if logs["global_step"] == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_saves_a_checkpoint_mid_epoch_and_resume_is_exact(tmp_path):
    X, y = data()
    full = model()
    trainer(full, "sgd").fit((X, y), epochs=4, batch_size=16, seed=2)
    path = tmp_path / "interrupted.npz"
    cut = model()
    t = trainer(cut, "sgd", callbacks=[Interrupt(at=13)])  # 8 steps per epoch: mid epoch 2
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        t.fit((X, y), epochs=4, batch_size=16, seed=2, checkpoint=path)
    assert t.history.stop_reason.kind == "interrupted" and t.global_step == 13
    assert str(path) in t.history.stop_reason.message  # the real path, for the hint
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    resumed = model(seed=5)
    trainer(resumed, "sgd").fit((X, y), epochs=4, batch_size=16, seed=2, resume=path)
    assert_same(weights(resumed), weights(full))


def test_crash_while_writing_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    X, y = data()
    m = model()
    t = trainer(m)
    t.fit((X, y), epochs=1)
    path = tmp_path / "ck.npz"
    t.save_checkpoint(path)
    good = path.read_bytes()

    def crash(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk died")
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk died"):
        t.save_checkpoint(path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["ck.npz"]  # no temporary file left behind


def test_bad_checkpoints_are_rejected_and_change_nothing(tmp_path):
    X, y = data()
    t = trainer(model())
    t.fit((X, y), epochs=1)
    path = tmp_path / "ck.npz"
    t.save_checkpoint(path)
    (tmp_path / "trunc.npz").write_bytes(path.read_bytes()[:200])
    other = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    t2 = trainer(other)
    before = weights(other)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        t2.fit((X, y), epochs=2, resume=tmp_path / "trunc.npz")
    with pytest.raises(CheckpointError, match="from another model"):
        t2.fit((X, y), epochs=2, resume=path)
    with pytest.raises(CheckpointError, match="does not exist"):
        t2.fit((X, y), epochs=2, resume=tmp_path / "missing.npz")
    assert_same(weights(other), before)
    # same model, other optimizer: rejected by the optimizer's own check, nothing loaded
    m3 = model(seed=4)
    before = weights(m3)
    with pytest.raises(ValueError, match="from optimizer 'adam', not 'sgd'"):
        trainer(m3, "sgd").fit((X, y), epochs=2, resume=path)
    assert_same(weights(m3), before)


def test_checkpoint_loads_without_pickle(tmp_path):
    X, y = data()
    t = trainer(model())
    t.fit((X, y), epochs=1)
    t.save_checkpoint(tmp_path / "ck.npz")
    with np.load(tmp_path / "ck.npz", allow_pickle=False) as z:
        assert "model/0.weight" in z.files and "optimizer/steps" in z.files


def test_non_finite_loss_stops_naming_epoch_and_step_and_keeps_last_good_weights():
    X, y = data()
    m = model()
    t = Trainer(m, "cross_entropy", tgi.optimizer("sgd", m.parameters(), lr=1e6))
    with pytest.warns(TrainingDiverged, match=r"epoch \d+, step \d+: the loss is (nan|inf)"), \
            np.errstate(all="ignore"):  # the overflow is the point of the test
        h = t.fit((X, y), epochs=5, batch_size=16)
    assert h.stop_reason.kind == "diverged" and h.stop_reason.failure
    assert "learning rate is probably too large" in h.stop_reason.message
    assert all(np.isfinite(v).all() for v in m.state_dict().values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = t.evaluate((X, y))["loss"]
    assert np.isfinite(loss)


def test_bad_data_and_labels_are_rejected():
    X, y = data()
    t = trainer(model())
    with pytest.raises(ValueError, match=r"found label 3, but the model has 3 outputs"):
        t.fit((X, np.where(y == 2, 3, y)), epochs=1)
    with pytest.raises(ValueError, match="found label -1"):
        t.fit((X, y - 1), epochs=1)
    Xn = X.copy()
    Xn[5, 2] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or inf \(first at index \(5, 2\)\)"):
        t.fit((Xn, y), epochs=1)
    with pytest.raises(ValueError, match="X has 120 samples but y has 119"):
        t.fit((X, y[:-1]), epochs=1)
    with pytest.raises(ValueError, match="batch_size=0"):
        t.fit((X, y), epochs=1, batch_size=0)
    with pytest.raises(ValueError, match="unknown loss 'crossentropy'"):
        Trainer(model(), "crossentropy", "sgd")


def test_early_stopping_stops_and_restores_best_weights():
    X, y = data()
    m = model()
    snapshots = []

    class Keep:
        @hookimpl
        def tinygrad_init_epoch_end(self, trainer, logs):
            snapshots.append(weights(trainer.model))
    # train on noise labels: validation loss soon stops improving
    rng = np.random.default_rng(0)
    t = Trainer(m, "cross_entropy", tgi.optimizer("adam", m.parameters(), lr=0.05),
                callbacks=[Keep(), tgi.callback("early_stopping", patience=2)])
    h = t.fit((X, rng.integers(0, 3, len(X))), (X, rng.integers(0, 3, len(X))), epochs=40, batch_size=8)
    assert h.stop_reason.kind == "early_stopping" and len(h) < 40
    vals = h["val_loss"]
    best = int(np.argmin(vals))
    assert len(h) == best + 1 + 2  # stopped exactly `patience` epochs after the best
    assert_same(weights(m), snapshots[best])


def test_metrics_file_matches_history(tmp_path):
    from tinygrad_init_plugins.metrics_file import read_metrics
    X, y = data()
    for name in ("m.jsonl", "m.csv"):
        h = trainer(model(), callbacks=[tgi.callback("metrics_file", path=str(tmp_path / name))]).fit(
            (X, y), (X, y), epochs=3)
        rows = read_metrics(tmp_path / name)
        assert [r["val_loss"] for r in rows] == pytest.approx(h["val_loss"], rel=1e-12)
        assert len(rows) == 3


def test_rich_logger_renders_to_an_injected_console_and_is_quiet_off_terminal():
    X, y = data()
    buf = io.StringIO()
    console = Console(file=buf, width=120, force_terminal=False)
    trainer(model(), callbacks=[tgi.callback("rich_logger", console=console)], diagnostics=True).fit(
        (X, y), (X, y), epochs=2)
    out = buf.getvalue()
    assert "epoch   1/2" in out and "epoch   2/2" in out and "val_acc" in out
    assert "diagnostics, epoch 2" in out and "update/weight" in out and "summary" in out
    assert "\x1b[" not in out and "steps/s" not in out  # no live progress bar in a log file


class GrabDiagnostics:
    def __init__(self):
        self.got = []

    @hookimpl
    def tinygrad_init_step_end(self, logs):
        if "diagnostics" in logs:
            self.got.append(logs["diagnostics"])


def test_diagnostics_see_dead_relus_and_vanishing_gradients():
    X, y = data()
    m = model()
    m[0].bias.data[:] = -100.0  # every hidden ReLU dead
    grab = GrabDiagnostics()
    trainer(m, callbacks=[grab], diagnostics=True, diagnostics_every=1).fit((X, y), epochs=1, batch_size=40)
    got = grab.got
    assert len(got) == 3
    d = got[-1]
    assert d["activations"]["1"]["dead"] == 1.0
    assert d["params"]["0.weight"]["grad_norm"] == 0.0
    assert d["params"]["2.bias"]["grad_norm"] > 0


def test_schedule_per_epoch_and_per_step():
    X, y = data(32)
    seen = []

    class LR:
        @hookimpl
        def tinygrad_init_step_end(self, logs):
            seen.append(logs["lr"])
    m = model()
    Trainer(m, "cross_entropy", tgi.optimizer("sgd", m.parameters(), lr=1.0), schedule=lambda t: 0.5 ** t,
            callbacks=[LR()]).fit((X, y), epochs=3, batch_size=16)
    assert seen == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    seen.clear()
    Trainer(m, "cross_entropy", tgi.optimizer("sgd", m.parameters(), lr=1.0), schedule=lambda t: 0.5 ** t,
            schedule_unit="step", callbacks=[LR()]).fit((X, y), epochs=2, batch_size=16)
    assert seen == [1.0, 0.5, 0.25, 0.125]


def test_fine_tuning_modes():
    X, y = data()
    m = model()
    trainer(m).fit((X, y), epochs=2)
    pretrained = weights(m)

    groups = fine_tune(m, "predict", lr=0.01)
    assert groups == [] and not any(p.requires_grad for p in m.parameters())

    groups = fine_tune(m, "last_layer", lr=0.01)
    Trainer(m, "cross_entropy", tgi.optimizer("sgd", groups)).fit((X, y), epochs=2)
    after = weights(m)
    assert np.array_equal(after["0.weight"], pretrained["0.weight"])
    assert not np.array_equal(after["2.weight"], pretrained["2.weight"])

    m.load_state_dict(pretrained)
    groups = fine_tune(m, "all", lr=0.01, early_lr=0.001)
    opt = tgi.optimizer("sgd", groups)
    assert [g["lr"] for g in opt.param_groups] == [0.001, 0.01]
    Trainer(m, "cross_entropy", opt).fit((X, y), epochs=1)
    assert not np.array_equal(weights(m)["0.weight"], pretrained["0.weight"])
    with pytest.raises(ValueError, match="mode='everything'"):
        fine_tune(m, "everything", lr=0.1)


def test_rich_logger_shows_a_live_progress_bar_on_a_terminal():
    import time
    X, y = data(64)
    buf = io.StringIO()
    console = Console(file=buf, width=120, force_terminal=True)

    class Slow:  # long enough for the bar to refresh
        @hookimpl
        def tinygrad_init_step_end(self):
            time.sleep(0.02)
    trainer(model(), callbacks=[tgi.callback("rich_logger", console=console), Slow()]).fit(
        (X, y), epochs=2, batch_size=8)
    out = buf.getvalue()
    assert "steps/s" in out and "epoch 1/2" in out and "loss " in out and "lr " in out
