"""Cost curves to PNG (needs the optional ``plot`` extra: ``pip install 'tinygrad-init[plot]'``)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping, Sequence


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plotting needs matplotlib: install the 'plot' extra "
                          "(pip install 'tinygrad-init[plot]')") from None
    if "ipykernel" not in sys.modules:  # in Jupyter keep its inline backend: figures display
        matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt
    return plt


def available() -> bool:
    """Whether matplotlib is installed (the examples skip their plots when it is not)."""
    try:
        import matplotlib  # noqa: F401 (only whether it imports)
    except ImportError:
        return False
    return True


def plot_curves(curves: Mapping[str, Sequence[float]], path: str | Path | None = None, *,
                title: str = "", xlabel: str = "epoch", ylabel: str = "cost", logy: bool = False,
                x: Sequence[float] | None = None) -> Any:
    """Draw one line per entry of ``curves``; save the figure as a PNG at ``path`` and return
    the path, or with ``path=None`` return the matplotlib ``Figure`` (in a notebook, a cell
    whose last value it is displays it inline)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    try:
        for i, (label, ys) in enumerate(curves.items()):
            xs = list(x) if x is not None else list(range(1, len(ys) + 1))
            # line styles cycle too, so curves lying on top of each other stay visible
            ax.plot(xs[:len(ys)], list(ys), label=label, ls=("-", "--", "-.", ":")[i % 4],
                    marker="o" if len(ys) < 25 else None, ms=3)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        if path is None:
            return fig
        path = Path(path)
        fig.savefig(path)
    finally:
        plt.close(fig)  # closed figures still display when returned, and only once
    return path


def plot_histories(histories: Mapping[str, Any], path: str | Path | None = None,
                   metric: str = "train_loss", **kw: Any) -> Any:
    """``plot_curves`` of one metric of several ``History`` objects."""
    return plot_curves({k: h[metric] for k, h in histories.items()}, path,
                       ylabel=kw.pop("ylabel", metric), **kw)
