"""A small convolutional network on the 8x8 digits: >= 0.98 test accuracy with Adam.

    conv 1->16 3x3 pad 1, ReLU, maxpool 2    (16 x 4 x 4)
    conv 16->32 3x3 pad 1, ReLU, maxpool 2   (32 x 2 x 2)
    flatten, linear 128 -> 10

He-initialized (``kaiming_normal``, zero biases), Adam lr 0.003, batch 32, 15 epochs,
on the seeded 80/20 split of ``tgi.datasets.load_digits(images=True)`` (N, 1, 8, 8),
standardized with one mean and std over all training pixels. The same run is
``tinygrad-init train examples/configs/digits_cnn.toml`` (same seeds, same weights).

    python examples/digits_cnn.py [--epochs 15] [--seed 0] [--plot cnn.png] [--quick]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
from rich.console import Console

import tinygrad_init as tgi
from tinygrad_init import plot
from tinygrad_init.datasets import load_digits, train_val_split


def digit_images(seed):
    X, y = load_digits(images=True)
    Xtr, Xte, ytr, yte = train_val_split(X, y, val_fraction=0.2, seed=seed)
    mu, sd = Xtr.mean(), Xtr.std()  # one mean and std for all pixels, so images stay images
    return ((Xtr - mu) / sd, ytr), ((Xte - mu) / sd, yte)


def build_model(seed):
    nn = tgi.nn
    rng = np.random.default_rng(seed)
    he = tgi.initializer("kaiming_normal")
    kw = dict(weight_init=he, bias_init="zeros", rng=rng)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, **kw), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, **kw), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10, **kw))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=15, help="epochs (default 15)")
    p.add_argument("--seed", type=int, default=0, help="seeds the split, the weights and the shuffling")
    p.add_argument("--lr", type=float, default=0.003, help="Adam learning rate (default 0.003)")
    p.add_argument("--plot", metavar="PATH.png", help="save the loss curves (needs matplotlib)")
    p.add_argument("--quick", action="store_true", help="a 1-epoch smoke run")
    args = p.parse_args(argv)
    epochs = 1 if args.quick else args.epochs
    console = Console() if sys.stdout.isatty() else Console(width=120)
    train, test = digit_images(args.seed)
    model = build_model(args.seed)
    console.print(f"[bold]CNN on digits[/]: {len(train[0])} train / {len(test[0])} test images of 1x8x8, "
                  f"Adam lr={args.lr:g}, batch 32, {epochs} epochs")
    logger = tgi.callback("rich_logger", console=console, diagnostics=False)
    trainer = tgi.Trainer(model, "cross_entropy", tgi.optimizer("adam", model.parameters(), lr=args.lr),
                          callbacks=[logger])
    history = trainer.fit(train, test, epochs=epochs, batch_size=32, seed=args.seed)
    acc = history["val_acc"][-1]
    console.print(f"final test accuracy {acc:.4f} "
                  + ("[green](>= 0.98)[/]" if acc >= 0.98 else "[red](below the 0.98 target)[/]"))
    if args.plot:
        if plot.available():
            path = plot.plot_curves({"train": history["train_loss"], "test": history["val_loss"]}, args.plot,
                                    title="CNN on digits: cross-entropy per epoch", logy=True)
            console.print(f"plot saved to {path}")
        else:
            console.print("matplotlib is not installed: no plot (pip install 'tinygrad-init[plot]')")
    return {"history": history, "test_acc": acc}


if __name__ == "__main__":
    main()
