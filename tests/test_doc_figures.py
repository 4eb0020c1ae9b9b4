"""Every figure the docs print is the output of the command beside it (docs/figures.py).

The check runs every figure block's command (the example scripts at full length, a few
minutes on two cores) and fails naming each block whose output no longer matches, so an
engine or trainer change that moves a figure cannot leave the docs behind.
"""
from __future__ import annotations

import importlib.util
import re
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("doc_figures", ROOT / "docs" / "figures.py")
figures = importlib.util.module_from_spec(spec)
sys.modules["doc_figures"] = figures
spec.loader.exec_module(figures)

FIGURE = re.compile(r"(?<![\w.])\d+\.\d{3,}(?:e[+-]?\d+)?")  # 0.964, 2.303, 1.9e+07


def test_block_syntax_keep_filter_and_timings_are_compared_loosely() -> None:
    text = textwrap.dedent("""\
        intro
        <!-- figures: python -c "print('a 1.5 s'); print('| row 0.123')" keep=^\\| -->
        ```text
        | row 0.123
        ```
        <!-- /figures -->
        """)
    (m,) = figures.blocks(text)
    cmd, keep = figures.parse_spec(m["spec"])
    assert keep == "^\\|" and cmd.startswith("python -c")
    out = figures.render(figures.run(cmd), keep)
    assert out == "| row 0.123\n" == m["body"]
    assert figures.comparable("took 1.25 s, 3 ms/step") == figures.comparable("took 9.1 s, 40 ms/step")
    assert figures.comparable("| row 0.123") != figures.comparable("| row 0.124")
    # a longer time widens its column: the padding it moves is not a change
    assert (figures.comparable("┃ a   ┃ time ┃\n│ 0.5 │ 9.1s │\n└─────┴──────┘")
            == figures.comparable("┃ a   ┃  time ┃\n│ 0.5 │ 10.1s │\n└─────┴───────┘"))
    assert figures.comparable("│ 0.5 │") != figures.comparable("│ 0.55 │")


def test_stale_block_is_reported_and_rewritten(tmp_path, monkeypatch) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text('<!-- figures: python -c "print(0.25)" -->\n```text\n0.5\n```\n<!-- /figures -->\n')
    monkeypatch.setattr(figures, "ROOT", tmp_path)
    assert figures.main(["--check", "doc.md"]) == 1
    assert "0.5" in doc.read_text()
    assert figures.main(["doc.md"]) == 0
    assert "```text\n0.25\n```" in doc.read_text()
    assert figures.main(["--check", "doc.md"]) == 0


def test_the_example_figures_are_blocks() -> None:
    found = figures.blocks((ROOT / "docs" / "examples.md").read_text(encoding="utf-8"))
    assert len(found) >= 13, "docs/examples.md lost its figure blocks"


def _sections(path: Path) -> list[tuple[str, str, str]]:
    """-> (heading, prose outside figure blocks and code, text of the section's blocks)."""
    out = []
    for sec in re.split(r"\n(?=## )", path.read_text(encoding="utf-8")):
        bodies = "".join(m["body"] for m in figures.blocks(sec))
        prose = re.sub(r"```.*?```", "", figures.BLOCK.sub("", sec), flags=re.S)
        out.append((sec.splitlines()[0], prose, bodies))
    return out


def test_every_figure_in_the_prose_stands_in_a_block() -> None:
    """A figure quoted in the text (three or more decimals) must be one the script printed:
    in the same section's blocks for docs/examples.md, anywhere in its blocks for README."""
    examples = ROOT / "docs" / "examples.md"
    all_bodies = "".join(b for _, _, b in _sections(examples))
    missing = []
    for heading, prose, bodies in _sections(examples):
        missing += [f"docs/examples.md {heading!r}: {x}" for x in FIGURE.findall(prose)
                    if x not in bodies]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing += [f"README.md: {x}" for x in FIGURE.findall(readme) if x not in all_bodies]
    assert not missing, "figures in the prose that no block prints:\n" + "\n".join(missing)


@pytest.mark.parametrize("doc", [d for d in figures.DOCS
                                 if figures.blocks((ROOT / d).read_text(encoding="utf-8"))])
def test_figure_blocks_match_what_their_commands_print(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    found = figures.blocks(text)
    fresh = figures.outputs([m["spec"] for m in found])
    stale = [m["spec"] for m in found
             if figures.comparable(fresh[m["spec"]]) != figures.comparable(m["body"])]
    assert not stale, f"{doc}: stale figure blocks (run `python docs/figures.py`): {stale}"
