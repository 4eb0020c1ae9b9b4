"""examples/course.ipynb runs top to bottom (on its small budget) and shows what it says.

Executed with nbclient in a real Jupyter kernel (the dev extra installs nbclient and
ipykernel), as a user opening it would run it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the dev extra installs nbformat")
nbclient = pytest.importorskip("nbclient", reason="the dev extra installs nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "course.ipynb"
SECTIONS = ["Initialization", "Mini-batch size", "Exponentially weighted averages",
            "Momentum, RMSprop, Adam", "Learning-rate decay", "Batch normalization",
            "Grid vs random vs Bayesian search"]


def test_the_notebook_is_stored_without_outputs() -> None:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    os.environ["TGI_COURSE_QUICK"] = "1"  # the kernel inherits it: the small budget
    try:
        nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    finally:
        del os.environ["TGI_COURSE_QUICK"]
    return nb


def test_every_section_runs_and_plots_inline(executed) -> None:
    text = "\n".join(c.source for c in executed.cells if c.cell_type == "markdown")
    for section in SECTIONS:
        assert section in text
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) >= len(SECTIONS)  # each plot returned by tinygrad_init.plot displays inline


def test_the_rich_logger_renders_as_html_not_escape_codes(executed) -> None:
    logger_cells = [c for c in executed.cells if c.cell_type == "code" and "rich_logger" in c.source]
    assert logger_cells
    outs = logger_cells[0].outputs
    html = [o["data"]["text/html"] for o in outs if "text/html" in o.get("data", {})]
    assert any("train_loss" in h for h in html)  # shown as HTML by the notebook
    streamed = "".join(o.get("text", "") for o in outs if o.output_type == "stream")
    assert "\x1b[" not in streamed and "\x1b[" not in "".join(html)  # no raw escape codes shown


def test_initialization_results_as_the_text_says(executed) -> None:
    first = next(c for c in executed.cells if c.cell_type == "code" and "init_runs = " in c.source)
    result = eval(first.outputs[0]["data"]["text/plain"])  # the cell's value: {init: val acc}
    assert result["zeros"] < 0.2 and result["randn*10"] < 0.2
    assert result["he"] > 0.8 and result["xavier"] > 0.8
