"""tinygrad keeps a check on its line count; so do we. The sizes print with `pytest -s`/-rP."""
import io
import tokenize
from pathlib import Path

ROOT = Path(__file__).parents[1]
# Budgets in lines of code (no blank lines, comments or docstrings). Raise them on purpose.
ENGINE_BUDGET = 640
CORE_BUDGET = 5500


def code_lines(path: Path) -> int:
    """Lines holding at least one token that is not a comment, docstring or layout."""
    lines = set()
    prev = tokenize.NEWLINE
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type == tokenize.STRING and prev in (tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT):
            prev = tok.type  # a docstring or bare string statement
            continue
        if tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                            tokenize.DEDENT, tokenize.ENDMARKER):
            lines.update(range(tok.start[0], tok.end[0] + 1))
        prev = tok.type
    return len(lines)


def test_core_stays_small():
    engine = code_lines(ROOT / "tinygrad_init" / "tensor.py")
    core = {p.relative_to(ROOT).as_posix(): code_lines(p)
            for p in sorted((ROOT / "tinygrad_init").rglob("*.py")) if "testing" not in p.parts}
    total = sum(core.values())
    print(f"\nengine (tinygrad_init/tensor.py): {engine} lines of code")
    print(f"core (tinygrad_init/ without testing/): {total} lines of code in {len(core)} files")
    for name, n in sorted(core.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {n:5d}  {name}")
    assert engine <= ENGINE_BUDGET, f"the engine grew to {engine} lines (budget {ENGINE_BUDGET})"
    assert total <= CORE_BUDGET, f"the core grew to {total} lines (budget {CORE_BUDGET})"
