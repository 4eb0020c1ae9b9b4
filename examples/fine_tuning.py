"""Transfer learning, the course's three modes: predict only, train the last layer, train all.

Source task: digits 0-4 (all training images). Target task: digits 5-9, relabelled
0-4, with only a few labelled images per class (``--labels``, default 5 and 20).
Every network is the same ReLU MLP 64-64-32-5.

1. **Pretrain** on the source task (He init, Adam, lr 0.003), save the weights to an
   ``.npz`` *without* the source head (its classes mean nothing on the target).
2. For each target budget and each of ``--repeats`` random draws of the labelled images:

   - **predict only** - no training at all: the pretrained network is used as it is, as a
     fixed feature extractor (its 32 penultimate activations), and each test image gets the
     class whose mean feature vector over the few labelled images is nearest
     (nearest class mean: no gradient step, the "head" is just averaged features). As
     controls, the same is done with the features of an *untrained* (He-init) network and
     with the raw (standardized) pixels;
   - **last layer** - ``tgi.data_initializer("pretrained", source=npz)`` loads the body,
     ``fine_tune(model, "last_layer", lr)`` freezes it, and only the fresh head is trained;
   - **all layers** - same start, ``fine_tune(model, "all", lr, early_lr=lr/10)``: the
     head at ``lr``, every earlier layer at the smaller ``early_lr``;
   - **from scratch** - a He-initialized network trained on the same few images, same
     optimizer, lr and epochs.

The table gives the target test accuracy (mean and spread over the draws).

What it shows, honestly: the pretrained network is perfect on its own task, but on these
tiny 8x8 images the features it learned for 0-4 are no better for 5-9 than the features
of an untrained network, and worse than the raw pixels (nearest class mean on pixels is a
strong baseline here). Training only the head on top of them is the weakest trained
mode; fine-tuning everything with a smaller early lr recovers and matches (at 20
labels/class slightly beats) training from scratch. Transfer pays off when source and
target share features; 0-4 and 5-9 share few at this resolution.

    python examples/fine_tuning.py [--epochs 40] [--seed 0] [--labels 5 20] [--plot ft.png] [--quick]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

import tinygrad_init as tgi
from tinygrad_init import plot
from tinygrad_init.datasets import load_digits, standardize, train_val_split
from tinygrad_init.trainer import fine_tune

HEAD = "4"  # the Sequential index of the output layer: its keys are "4.weight", "4.bias"
LR = 0.01


def tasks(seed):
    """(source train, source test), (target train, target test); target labels 5-9 -> 0-4."""
    X, y = load_digits()
    Xtr, Xte, ytr, yte = train_val_split(X, y, val_fraction=0.2, seed=seed)
    Xtr, Xte = standardize(Xtr, Xte)
    src, tgt = (lambda t: t < 5), (lambda t: t >= 5)
    return (((Xtr[src(ytr)], ytr[src(ytr)]), (Xte[src(yte)], yte[src(yte)])),
            ((Xtr[tgt(ytr)], ytr[tgt(ytr)] - 5), (Xte[tgt(yte)], yte[tgt(yte)] - 5)))


def build_model(seed):
    nn = tgi.nn
    rng = np.random.default_rng(seed)
    he = tgi.initializer("kaiming_normal")
    return nn.Sequential(nn.Linear(64, 64, weight_init=he, bias_init="zeros", rng=rng), nn.ReLU(),
                         nn.Linear(64, 32, weight_init=he, bias_init="zeros", rng=rng), nn.ReLU(),
                         nn.Linear(32, 5, weight_init=he, bias_init="zeros", rng=rng))


def features(model, X):
    """The penultimate activations (everything but the head), without a graph."""
    with tgi.no_grad():
        h = tgi.Tensor(X)
        for layer in list(model)[:-1]:
            h = layer(h)
    return h.data


def nearest_class_mean(feature_fn, train, test):
    """Accuracy of "the class whose mean training feature vector is nearest" (no training)."""
    ftr, fte = feature_fn(train[0]), feature_fn(test[0])
    means = np.stack([ftr[train[1] == c].mean(axis=0) for c in range(5)])
    d = ((fte[:, None, :] - means[None]) ** 2).sum(axis=2)
    return float((d.argmin(axis=1) == test[1]).mean())


def few_labels(train, per_class, rng):
    X, y = train
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(5)])
    return X[idx], y[idx]


def fit(model, groups, data, test, epochs, seed):
    trainer = tgi.Trainer(model, "cross_entropy", tgi.optimizer("adam", groups))
    history = trainer.fit(data, test, epochs=epochs, batch_size=16, seed=seed)
    return history["val_acc"][-1], history


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=40, help="fine-tuning epochs on the target (default 40)")
    p.add_argument("--pretrain-epochs", type=int, default=20, help="epochs on the source task (default 20)")
    p.add_argument("--labels", type=int, nargs="+", default=[5, 20], help="labelled images per target class")
    p.add_argument("--repeats", type=int, default=3, help="random draws of the labelled images (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seeds the split, the weights and the draws")
    p.add_argument("--weights", metavar="PATH.npz", help="where to save the pretrained weights "
                   "(default: a temporary file)")
    p.add_argument("--plot", metavar="PATH.png", help="save the fine-tuning curves of the first "
                   "draw (needs matplotlib)")
    p.add_argument("--quick", action="store_true", help="a smoke run: 2 + 3 epochs, one draw")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.pretrain_epochs, args.repeats = 3, 2, 1
    console = Console() if sys.stdout.isatty() else Console(width=120)
    (src_train, src_test), (tgt_train, tgt_test) = tasks(args.seed)
    console.print(f"[bold]Fine-tuning[/]: source = digits 0-4 ({len(src_train[0])} train images), "
                  f"target = digits 5-9 ({len(tgt_test[0])} test images), MLP 64-64-32-5")

    # 1. pretrain on the source task and save the body (the head is specific to the source classes)
    model = build_model(args.seed)
    trainer = tgi.Trainer(model, "cross_entropy", tgi.optimizer("adam", model.parameters(), lr=0.003),
                          callbacks=[tgi.callback("rich_logger", console=console, diagnostics=False,
                                                  progress=False, every=max(1, args.pretrain_epochs // 4))])
    trainer.fit(src_train, src_test, epochs=args.pretrain_epochs, batch_size=32, seed=args.seed)
    source_acc = trainer.evaluate(src_test)["acc"]
    tmp = None
    if args.weights:
        path = Path(args.weights)
    else:
        tmp = tempfile.TemporaryDirectory()
        path = Path(tmp.name) / "pretrained_0-4.npz"
    body = {k: v for k, v in model.state_dict().items() if not k.startswith(HEAD + ".")}
    np.savez(path, **body)
    console.print(f"pretrained network: test accuracy {source_acc:.4f} on its own task (digits 0-4); "
                  f"body saved to {path if args.weights else 'a temporary .npz'} ({', '.join(body)})")

    def pretrained_model(seed):
        m = build_model(seed)  # the head keeps its fresh He weights: the file has no head
        report = tgi.data_initializer("pretrained", source=str(path))(m)
        assert sorted(report["missing"]) == [f"{HEAD}.bias", f"{HEAD}.weight"], report
        return m

    modes = ["predict only (NCM, pretrained features)", "predict only (NCM, untrained features)",
             "predict only (NCM, raw pixels)", "last layer", "all layers (early lr / 10)", "from scratch"]
    acc = {(m, n): [] for m in modes for n in args.labels}
    curves = {}
    for n in args.labels:
        for r in range(args.repeats):
            rng = np.random.default_rng([args.seed, n, r])
            data = few_labels(tgt_train, n, rng)
            seed = args.seed + 1 + r
            pre, untrained = pretrained_model(seed), build_model(seed)
            acc[(modes[0], n)].append(nearest_class_mean(lambda X: features(pre, X), data, tgt_test))
            acc[(modes[1], n)].append(nearest_class_mean(lambda X: features(untrained, X), data, tgt_test))
            acc[(modes[2], n)].append(nearest_class_mean(lambda X: X, data, tgt_test))
            m = pretrained_model(seed)
            a, h_last = fit(m, fine_tune(m, "last_layer", LR), data, tgt_test, args.epochs, seed)
            acc[(modes[3], n)].append(a)
            m = pretrained_model(seed)
            a, h_all = fit(m, fine_tune(m, "all", LR, early_lr=LR / 10), data, tgt_test, args.epochs, seed)
            acc[(modes[4], n)].append(a)
            m = build_model(seed)
            a, h_scratch = fit(m, m.parameters(), data, tgt_test, args.epochs, seed)
            acc[(modes[5], n)].append(a)
            if r == 0 and n == args.labels[0]:
                curves = {"last layer": h_last["val_acc"], "all layers": h_all["val_acc"],
                          "from scratch": h_scratch["val_acc"]}
    if tmp is not None:
        tmp.cleanup()

    table = Table(title=f"target (digits 5-9) test accuracy, mean ± std over {args.repeats} draws")
    table.add_column("mode", no_wrap=True)
    for n in args.labels:
        table.add_column(f"{n} labels/class", justify="right")
    for m in modes:
        table.add_row(m, *[f"{np.mean(acc[(m, n)]):.3f} ± {np.std(acc[(m, n)]):.3f}" for n in args.labels])
    console.print(table)
    console.print(f"trained modes: Adam lr {LR:g} (all layers: early layers {LR / 10:g}), batch 16, "
                  f"{args.epochs} epochs; NCM = nearest class mean, no training")
    if args.plot:
        if plot.available():
            path_png = plot.plot_curves(curves, args.plot, ylabel="target test accuracy",
                                        title=f"fine-tuning with {args.labels[0]} labels per class")
            console.print(f"plot saved to {path_png}")
        else:
            console.print("matplotlib is not installed: no plot (pip install 'tinygrad-init[plot]')")
    return {"source_acc": source_acc, "acc": {f"{m} @ {n}": v for (m, n), v in acc.items()}}


if __name__ == "__main__":
    main()
