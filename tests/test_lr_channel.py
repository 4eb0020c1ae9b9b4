"""One lr channel (issues 16, 22): a schedule is the optimizer's lr; in a config a schedule
without lr0 takes optimizer.lr; --set optimizer.lr takes effect; a search dimension that
changes nothing is reported; experiment.build treats every callback the same."""
import math
import textwrap

import numpy as np
import pytest
from rich.console import Console

import tinygrad_init as tgi
from tinygrad_init import experiment, hookimpl
from tinygrad_init.cli import main
from tinygrad_init.experiment import ConfigError, build, load_config
from tinygrad_init.registry import Component, get_registry

from test_search_cli import TRAIN
from test_trainer import data, model

CONFIG = """
[data]
name = "digits"
[model]
layers = [{type = "linear", out = 32}, {type = "relu"}, {type = "linear", out = 10}]
[optimizer]
name = "adam"
lr = 0.001
[schedule]
name = "exponential"
gamma = 0.9
[train]
epochs = 2
batch_size = 64
[output]
loggers = []
"""


class StepLR:
    def __init__(self):
        self.lrs, self.losses = [], []

    @hookimpl
    def tinygrad_init_step_end(self, logs):
        self.lrs.append(logs["lr"])
        self.losses.append(logs["loss"])


def cfg_file(tmp_path, text=CONFIG):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def run_built(cfg):
    trainer, train, val = build(cfg)
    rec = StepLR()
    trainer.callbacks.append(rec)
    t = cfg["train"]
    trainer.fit(train, val, epochs=t["epochs"], batch_size=t["batch_size"], seed=t["seed"])
    return trainer, rec


def test_adam_with_a_schedule_without_lr0_runs_at_optimizer_lr(tmp_path):
    # issue 22's exact case: it ran at the schedule's default lr0 = 0.1, first loss 4.5
    trainer, rec = run_built(load_config(cfg_file(tmp_path)))
    steps = trainer.steps_per_epoch
    assert rec.lrs[0] == pytest.approx(0.001)
    assert rec.lrs[steps] == pytest.approx(0.001 * 0.9)  # per epoch: the second epoch's lr
    assert rec.losses[0] < 1.1 * math.log(10)  # a sane first loss for 10 classes
    assert isinstance(trainer.optimizer.param_groups[0]["lr"], tgi.PerEpoch)  # the schedule *is* the lr
    # without optimizer.lr the schedule starts at the optimizer's own default (Adam's 1e-3)
    _, rec = run_built(load_config(cfg_file(tmp_path, CONFIG.replace("lr = 0.001\n", ""))))
    assert rec.lrs[0] == pytest.approx(1e-3)


def test_set_optimizer_lr_with_a_schedule_takes_effect(tmp_path):
    _, rec = run_built(load_config(cfg_file(tmp_path), ["optimizer.lr=0.5", "train.epochs=1"]))
    assert rec.lrs[0] == pytest.approx(0.5)


def test_schedule_lr0_and_optimizer_lr_disagreeing_is_an_error_naming_both(tmp_path):
    cfg = load_config(cfg_file(tmp_path), ["schedule.lr0=0.1"])
    with pytest.raises(ConfigError, match=r"'optimizer.lr' \(0.001\) and 'schedule.lr0' \(0.1\) disagree"):
        build(cfg)
    # equal is fine
    _, rec = run_built(load_config(cfg_file(tmp_path), ["schedule.lr0=0.001", "train.epochs=1"]))
    assert rec.lrs[0] == pytest.approx(0.001)
    # a schedule with no lr0 (cyclic's base_lr/max_lr) would ignore optimizer.lr: refused
    cfg = load_config(cfg_file(tmp_path), ["schedule.name='cyclic'", "schedule.unit='step'"])
    del cfg["schedule"]["gamma"]
    with pytest.raises(ConfigError, match=r"'optimizer.lr' \(0.001\) .*would be ignored"):
        build(cfg)


def test_step_schedules_and_reduce_on_plateau_share_the_channel():
    X, y = data(32)
    m = model()
    rec = StepLR()
    t = tgi.Trainer(m, "cross_entropy", tgi.optimizer("sgd", m.parameters(), lr=1.0),
                    schedule=lambda s: 0.5 ** s, schedule_unit="step", callbacks=[rec])
    t.fit((X, y), epochs=2, batch_size=16)
    assert rec.lrs == [1.0, 0.5, 0.25, 0.125]
    assert t.optimizer.param_groups[0]["lr"](3) == 0.125  # installed in the optimizer
    t.optimizer.param_groups[0]["lr_scale"] = 0.1  # what reduce-on-plateau scales
    assert t.optimizer.get_lr() == pytest.approx(0.1 * 0.5 ** 4)


def test_search_reports_a_dimension_that_changes_nothing(tmp_path):
    (tmp_path / "train.toml").write_text(TRAIN)
    search = textwrap.dedent("""
        [search]
        strategy = "random"
        n_trials = 1
        storage = "sqlite:///t.db"
        [space."{dim}"]
        type = "{kind}"
        lo = {lo}
        hi = {hi}
        [objective]
        kind = "train"
        config = "train.toml"
    """)
    for dim, kind, lo, hi, ok in (("output.checkpoint_every", "int", 1, 3, False),
                                  ("schedule.gamma", "uniform", 0.5, 0.9, False),
                                  ("optimizer.lr", "uniform", 0.5, 0.9, True)):
        p = tmp_path / "s.toml"
        p.write_text(search.replace("{dim}", dim).replace("{kind}", kind).replace("{lo}", str(lo))
                     .replace("{hi}", str(hi)))
        console = Console(width=400, force_terminal=False)
        with console.capture() as cap:
            code = main(["search", str(p)], console=console)
        out = " ".join(cap.get().split())
        if ok:
            assert code == 0, out
        elif dim == "schedule.gamma":  # the gamma of no schedule: refused as a config error
            assert code == 1 and "[schedule] needs a 'name'" in out, out
            assert not (tmp_path / "t.db").exists()
        else:  # checkpoints every 1 or 3 epochs: every trial trains the same run
            assert code == 1 and f'[space."{dim}"] changes nothing' in out, out
            assert not (tmp_path / "t.db").exists()


def test_build_treats_every_callback_the_same(tmp_path, monkeypatch):
    made = {}

    class Probe:  # a third-party callback that wants the console and a file in the output dir
        uses_console = True
        output_paths = ("path", "other")

        def __init__(self, console=None, path="p.txt", other="o.txt"):
            made.update(console=console, path=path, other=other)

        @hookimpl
        def tinygrad_init_train_end(self):
            pass
    reg = get_registry()
    reg.load()
    monkeypatch.setitem(reg._components["callback"], "probe", Component("callback", "probe", Probe, "test[probe]"))
    out = tmp_path / "out"
    cfg = load_config(cfg_file(tmp_path), [f"output.dir='{out}'"])
    cfg["callbacks"] = [{"name": "probe", "path": "a.txt"}, {"name": "metrics_file", "path": "m.jsonl"}]
    console = Console()
    trainer, _, _ = build(cfg, console)
    assert made == {"console": console, "path": str(out / "a.txt"), "other": "o.txt"}
    assert str(trainer.callbacks[1].path) == str(out / "m.jsonl")
    assert str(trainer.callbacks[2].path) == str(out / "checkpoint.npz")  # output.dir adds one


def test_resume_applies_a_changed_lr_and_says_so(tmp_path):
    X, y = data()
    m = model()
    path = tmp_path / "ck.npz"
    tgi.Trainer(m, "cross_entropy", tgi.optimizer("sgd", m.parameters(), lr=0.1),
                callbacks=[tgi.callback("checkpoint", path=str(path))]).fit((X, y), epochs=1)
    m2 = model()
    rec = StepLR()
    t = tgi.Trainer(m2, "cross_entropy", tgi.optimizer("sgd", m2.parameters(), lr=0.01), callbacks=[rec])
    with pytest.warns(tgi.HyperparameterChanged, match=r"optimizer.lr is 0.1 in checkpoint .*; using 0.01"):
        h = t.fit((X, y), epochs=2, resume=path)
    assert set(rec.lrs) == {0.01} and h["lr"] == [0.1, 0.01]


def test_cli_resume_with_set_optimizer_lr_is_applied(tmp_path):
    text = CONFIG.replace('[schedule]\nname = "exponential"\ngamma = 0.9\n', "").replace("epochs = 2", "epochs = 1")
    text = text.replace("loggers = []", f'loggers = []\ndir = "{tmp_path / "run"}"')
    p = cfg_file(tmp_path, text)
    console = Console(width=200, force_terminal=False)
    assert main(["train", str(p)], console=console) == 0
    ck = str(tmp_path / "run" / "checkpoint.npz")
    with pytest.warns(tgi.HyperparameterChanged, match="optimizer.lr"):
        assert main(["train", str(p), "--resume", ck, "--set", "train.epochs=2",
                     "--set", "optimizer.lr=0.0005"], console=console) == 0
    from tinygrad_init.checkpoint import load_checkpoint
    _, meta = load_checkpoint(ck)
    assert [e["lr"] for e in meta["history"]["epochs"]] == [0.001, 0.0005]
