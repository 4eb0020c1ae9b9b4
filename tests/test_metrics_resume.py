"""The metrics file equals the history after any resume: a callback raising at epoch 3,
a real SIGKILL of a subprocess, checkpoints every 2 epochs."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tinygrad_init as tgi
from tinygrad_init import hookimpl, nn
from tinygrad_init.trainer import History, Trainer
from tinygrad_init_plugins.metrics_file import read_metrics


def data(n=64):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def make_trainer(callbacks):
    m = nn.Sequential(nn.Linear(4, 6, rng=0), nn.ReLU(), nn.Linear(6, 2, rng=1))
    return Trainer(m, "cross_entropy", tgi.optimizer("sgd", m.named_parameters(), lr=0.1), callbacks=callbacks)


class Crash(RuntimeError):
    pass


class RaiseAtEpoch3:
    name = "raise_at_epoch_3"

    @hookimpl
    def tinygrad_init_epoch_end(self, epoch):
        if epoch == 2:
            raise Crash("boom")


# pluggy calls the callback registered last first: in "between", the checkpoint of epoch 3 is
# written, then the crash keeps the metrics line from being written; in "after_metrics" the
# line is written and the crash keeps the checkpoint of epoch 3 from being written.
ORDERS = {"between": lambda m, r, c: [m, r, c], "after_metrics": lambda m, r, c: [c, r, m]}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("order", list(ORDERS))
def test_a_callback_raising_at_epoch_3_then_resume_gives_file_equal_history(tmp_path, order, fmt):
    X, y = data()
    mpath, cpath = tmp_path / f"metrics.{fmt}", tmp_path / "ck.npz"

    def callbacks(*extra):
        return ORDERS[order](tgi.callback("metrics_file", path=str(mpath)), *extra,
                             tgi.callback("checkpoint", path=str(cpath)))
    with pytest.raises(Exception) as info:  # the callback's Crash, as itself or as the cause
        make_trainer(callbacks(RaiseAtEpoch3())).fit((X, y), epochs=5, batch_size=16)
    chain, e = [], info.value
    while e is not None:
        chain.append(e)
        e = e.__cause__
    assert any(isinstance(e, Crash) for e in chain), chain
    t = make_trainer([cb for cb in callbacks(None) if cb is not None])
    history = t.fit((X, y), epochs=5, batch_size=16, resume=cpath)
    rows = read_metrics(mpath)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows == [{k: float(v) for k, v in e.items()} if fmt == "csv" else e for e in history.epochs]


SCRIPT = """
import os, signal, sys
import numpy as np
import tinygrad_init as tgi
from tinygrad_init import hookimpl, nn
from tinygrad_init.trainer import Trainer

class KillAtEpoch3:
    name = "kill"
    @hookimpl
    def tinygrad_init_epoch_end(self, epoch):
        if epoch == 2:
            os.kill(os.getpid(), signal.SIGKILL)

rng = np.random.default_rng(0)
X = rng.normal(size=(64, 4)).astype(np.float32)
y = (X[:, 0] > 0).astype(np.int64)
m = nn.Sequential(nn.Linear(4, 6, rng=0), nn.ReLU(), nn.Linear(6, 2, rng=1))
folder = sys.argv[1]
# registered first, called last: the metrics line of epoch 3 is written, then the process dies;
# with every=2 the checkpoint holds epochs 1-2 only
cbs = [tgi.callback("metrics_file", path=folder + "/metrics.jsonl"),
       tgi.callback("checkpoint", path=folder + "/ck.npz", every=2)]
if sys.argv[2] == "kill":
    cbs.insert(0, KillAtEpoch3())
t = Trainer(m, "cross_entropy", tgi.optimizer("sgd", m.named_parameters(), lr=0.1), callbacks=cbs)
resume = folder + "/ck.npz" if sys.argv[2] == "resume" else None
h = t.fit((X, y), epochs=6, batch_size=16, resume=resume)
print(h.to_json())
"""


def test_sigkill_after_the_metrics_line_with_checkpoint_every_2(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(SCRIPT))
    killed = subprocess.run([sys.executable, str(script), str(tmp_path), "kill"], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert [r["epoch"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2, 3]
    res = subprocess.run([sys.executable, str(script), str(tmp_path), "resume"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    history = History.from_json(res.stdout.strip().splitlines()[-1])
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows == history.epochs


def test_a_full_disk_while_appending_names_the_metrics_file(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    mpath = tmp_path / "metrics.jsonl"
    cb = tgi.callback("metrics_file", path=str(mpath))
    real_open = Path.open

    def full_disk(self, mode="r", *a, **k):
        if self == mpath and mode == "a":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(self, mode, *a, **k)
    monkeypatch.setattr(Path, "open", full_disk)
    X, y = data()
    with pytest.raises(Exception) as info:  # the trainer may wrap it to name the callback and hook
        make_trainer([cb]).fit((X, y), epochs=1, batch_size=16)
    assert str(mpath) in str(info.value) and "No space left on device" in str(info.value)
