"""Exact resume with every callback (issue 20 item 1, issue 22): the checkpoint is written
after every other epoch-end hook; SIGKILL at random moments and --resume give the
uninterrupted history; a finished run has nothing left to train."""
import os
import random
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import tinygrad_init as tgi
from tinygrad_init.checkpoint import callback_prefixes, load_checkpoint, split

from test_trainer import data, model

CONFIG = """
[data]
name = "moons"
n_samples = 300
noise = 0.35
[model]
layers = [{{type = "linear", out = 32}}, {{type = "relu"}}, {{type = "linear", out = 32}}, {{type = "relu"}},
          {{type = "linear", out = 2}}]
[optimizer]
name = "adam"
lr = 0.03
[train]
epochs = 25
batch_size = 4
[output]
loggers = []
dir = "{dir}"
[[callbacks]]
name = "early_stopping"
patience = 3
[[callbacks]]
name = "reduce_on_plateau"
patience = 0
factor = 0.5
"""


@pytest.mark.parametrize("order", ["checkpoint_last", "checkpoint_first"])
def test_the_checkpoint_holds_every_callbacks_state_of_its_epoch(tmp_path, order):
    X, y = data()
    rng = np.random.default_rng(0)
    yv = rng.integers(0, 3, len(X))  # noise labels: the validation loss soon stops improving
    es = tgi.callback("early_stopping", patience=50)
    rop = tgi.callback("reduce_on_plateau", patience=0, factor=0.5)
    ck = tgi.callback("checkpoint", path=str(tmp_path / "ck.npz"))
    cbs = [es, rop, ck] if order == "checkpoint_last" else [ck, es, rop]
    m = model()
    t = tgi.Trainer(m, "cross_entropy", tgi.optimizer("adam", m.parameters(), lr=0.05), callbacks=cbs)
    t.fit((X, y), (X, yv), epochs=6, batch_size=16)
    arrays, meta = load_checkpoint(tmp_path / "ck.npz")
    i_es, i_rop = cbs.index(es), cbs.index(rop)
    prefixes = callback_prefixes(cbs)
    saved_es, saved_rop = split(arrays, prefixes[i_es]), split(arrays, prefixes[i_rop])
    assert int(saved_es["wait"]) == es.wait and float(saved_es["best"]) == es.best
    assert {k: float(v) for k, v in saved_rop.items()} == {k: float(v) for k, v in rop.state_dict().items()}
    assert float(arrays["optimizer/group.0.lr_scale"]) == t.optimizer.param_groups[0]["lr_scale"] < 1


def run_cli(cfg, *args, timeout=120):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "tinygrad_init", "train", str(cfg), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def history_of(path):
    _, meta = load_checkpoint(path)
    h = meta["history"]
    return [{k: v for k, v in e.items() if k != "time"} for e in h["epochs"]], h["stop_reason"]


def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_history(tmp_path):
    ref_dir, cut_dir = tmp_path / "ref", tmp_path / "cut"
    ref_cfg, cut_cfg = tmp_path / "ref.toml", tmp_path / "cut.toml"
    ref_cfg.write_text(CONFIG.format(dir=ref_dir))
    cut_cfg.write_text(CONFIG.format(dir=cut_dir))
    p = run_cli(ref_cfg)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    expected = history_of(ref_dir / "checkpoint.npz")
    assert expected[1]["kind"] == "early_stopping" and 5 < len(expected[0]) < 25
    assert len({e["lr"] for e in expected[0]}) > 2  # reduce-on-plateau acted more than once

    ck = cut_dir / "checkpoint.npz"
    rnd = random.Random(20)
    kills = 0
    for attempt in range(8):  # bounded: a few kills, then let it finish
        p = run_cli(cut_cfg, *(["--resume", str(ck)] if ck.exists() else []))
        if kills < 3:
            writes, last = rnd.randint(1, 4), None
            deadline = time.monotonic() + 60
            while p.poll() is None and time.monotonic() < deadline and writes > 0:
                m = ck.stat().st_mtime_ns if ck.exists() else None
                if m != last and m is not None:
                    writes, last = writes - 1, m
                time.sleep(0.002)
            time.sleep(rnd.uniform(0, 0.03))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                kills += 1
            p.communicate(timeout=60)
            continue
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        break
    assert kills == 3
    assert history_of(ck) == expected
    # resuming the finished (early-stopped) run trains nothing and says so
    before = ck.read_bytes()
    p = run_cli(cut_cfg, "--resume", str(ck))
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "nothing left to train" in " ".join(err.split()) + " ".join(out.split())
    assert ck.read_bytes() == before


def test_resuming_a_finished_run_trains_no_extra_epoch(tmp_path):
    X, y = data()
    path = tmp_path / "ck.npz"
    m = model()
    rng = np.random.default_rng(0)
    val = (X, rng.integers(0, 3, len(X)))
    t = tgi.Trainer(m, "cross_entropy", tgi.optimizer("adam", m.parameters(), lr=0.05),
                    callbacks=[tgi.callback("early_stopping", patience=1), tgi.callback("checkpoint", path=str(path))])
    h = t.fit((X, y), val, epochs=40, batch_size=16)
    assert h.stop_reason.kind == "early_stopping"
    n = len(h)
    m2 = model()
    t2 = tgi.Trainer(m2, "cross_entropy", tgi.optimizer("adam", m2.parameters(), lr=0.05),
                     callbacks=[tgi.callback("early_stopping", patience=1), tgi.callback("checkpoint", path=str(path))])
    with pytest.warns(tgi.NothingToTrain, match="nothing left to train.*early stopping"):
        h2 = t2.fit((X, y), val, epochs=40, batch_size=16, resume=path)
    assert len(h2) == n and h2.stop_reason == h.stop_reason
    # all epochs done: the same
    t3 = tgi.Trainer(model(), "cross_entropy", "sgd")
    t3.fit((X, y), epochs=2, checkpoint=path)
    t3.save_checkpoint(path)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert len(tgi.Trainer(model(), "cross_entropy", "sgd").fit((X, y), epochs=2, resume=path)) == 2
    assert any("its 2 epochs of 2 are done" in str(x.message) for x in w)
