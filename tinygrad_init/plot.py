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
                x: Sequence[float] | None = None,
                levels: Mapping[str, float] | None = None) -> Any:
    """Draw one line per entry of ``curves``; save the figure as a PNG at ``path`` and return
    the path, or with ``path=None`` return the matplotlib ``Figure`` (in a notebook, a cell
    whose last value it is displays it inline). ``levels`` draws labelled horizontal lines
    (``{"ln(10)": 2.303}``). Each curve has its own line style and marker shape, so curves
    that coincide stay distinguishable."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    try:
        for i, (label, ys) in enumerate(curves.items()):
            xs = list(x) if x is not None else list(range(1, len(ys) + 1))
            # line styles and marker shapes cycle, so curves lying on top of each other stay
            # visible; markers at about 12 points per curve, shifted per curve so they interleave
            every = max(1, len(ys) // 12)
            ax.plot(xs[:len(ys)], list(ys), label=label, ls=("-", "--", "-.", ":")[i % 4],
                    marker="os^Dv<>p"[i % 8], ms=4, markevery=(i % every, every))
        for label, y in (levels or {}).items():
            ax.axhline(y, color="0.5", lw=0.8, ls=(0, (2, 2)), label=label)
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
