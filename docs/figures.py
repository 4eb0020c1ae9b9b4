"""Write (or check) the figures the docs print, from the output of the commands that make them.

A figure block in a Markdown file is the output of one command, between two comments::

    <!-- figures: python examples/compare_optimizers.py -->
    ```text
    (what the command printed)
    ```
    <!-- /figures -->

An optional ``keep=REGEX`` after the command (``<!-- figures: CMD keep=^│ -->``) keeps only
the printed lines matching it (a table without the progress lines around it).

    python docs/figures.py            # run every block's command, write its output in
    python docs/figures.py --check    # exit 1 naming every block whose output changed

``python`` and ``tinygrad-init`` in a command mean this interpreter and
``python -m tinygrad_init``, and ``{tmp}`` a new empty folder (for a run's output directory);
commands run from the repository root with ``NO_COLOR=1``, ``COLUMNS=150`` and one BLAS
thread, two at a time. Timings cannot be reproduced, so
``1.2 s``, ``3.4 ms/step`` and the like are compared as ``<time>``: a block whose only change
is a timing (or the column padding a timing moved) is not stale. ``tests/test_doc_figures.py`` runs the check, so a change to the
engine that moves a figure fails the tests until the docs are written anew. The same test
checks that every figure with three or more decimals in a section's prose stands in one of
that section's blocks.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("docs/examples.md", "README.md", "benchmarks/README.md")
BLOCK = re.compile(r"(<!-- figures: (?P<spec>.+?) -->\n)```text\n(?P<body>.*?)```\n(<!-- /figures -->)",
                   re.S)
TIME = re.compile(r"\d+(?:\.\d+)?\s?(?:us|ms|s|min)(?:/(?:step|op|run|epoch|trial))?\b")


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``'CMD keep=REGEX'`` -> (command, regex or None)."""
    cmd, sep, keep = spec.partition(" keep=")
    return cmd.strip(), (keep if sep else None)


def argv(cmd: str, tmp: str) -> list[str]:
    words = [w.replace("{tmp}", tmp) for w in shlex.split(cmd)]
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    if words[0] == "tinygrad-init":
        return [sys.executable, "-m", "tinygrad_init", *words[1:]]
    return words


def run(cmd: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env.update(NO_COLOR="1", COLUMNS="150", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    with tempfile.TemporaryDirectory() as tmp:
        p = subprocess.run(argv(cmd, tmp), cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"figures: `{cmd}` exited {p.returncode}:\n{p.stderr[-3000:]}")
    return p.stdout


def render(out: str, keep: str | None) -> str:
    lines = [ln.rstrip() for ln in out.splitlines()]
    if keep is not None:
        rx = re.compile(keep)
        lines = [ln for ln in lines if rx.search(ln)]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def blocks(text: str) -> list[re.Match]:
    return list(BLOCK.finditer(text))


def comparable(body: str) -> str:
    """``body`` with timings as ``<time>`` and the padding they move folded: a wider time
    widens its table column, so runs of spaces and of one rule character count as one."""
    return re.sub(r"([ ━─═])\1+", r"\1", TIME.sub("<time>", body))


def outputs(specs: list[str], jobs: int = 2) -> dict[str, str]:
    """Each distinct command run once; -> spec -> rendered output."""
    cmds = sorted({parse_spec(s)[0] for s in specs})
    with ThreadPoolExecutor(jobs) as ex:
        printed = dict(zip(cmds, ex.map(run, cmds)))
    return {s: render(printed[parse_spec(s)[0]], parse_spec(s)[1]) for s in specs}


def main(args: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 if a block is stale")
    ap.add_argument("files", nargs="*", default=list(DOCS), help=f"Markdown files (default {DOCS})")
    a = ap.parse_args(args)
    texts = {f: (ROOT / f).read_text(encoding="utf-8") for f in a.files}
    specs = [m["spec"] for t in texts.values() for m in blocks(t)]
    fresh = outputs(specs)
    stale = []
    for f, text in texts.items():
        def sub(m: re.Match) -> str:
            new = fresh[m["spec"]]
            if comparable(new) == comparable(m["body"]):
                return m.group(0)  # unchanged but for timings: keep the measured ones
            stale.append(f"{f}: `{m['spec']}`")
            return f"{m.group(1)}```text\n{new}```\n{m.group(4)}"
        new_text = BLOCK.sub(sub, text)
        if not a.check and new_text != text:
            (ROOT / f).write_text(new_text, encoding="utf-8")
    if stale:
        print(("stale figure blocks (run `python docs/figures.py`):\n  " if a.check else
               "rewrote:\n  ") + "\n  ".join(stale))
    return 1 if stale and a.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
