"""The README's example runs as written, and the README keeps exactly two quickstart commands."""
import io
import re
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_quickstart_is_exactly_the_two_make_commands():
    block = re.search(r"## Quickstart\n\n```\n(.*?)```", README, re.S).group(1)
    assert block.split("\n")[:-1] == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert "\ndemo: " in makefile and "\ntest: " in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_example_runs_and_learns(monkeypatch):
    code = re.search(r"## Example\n\n```python\n(.*?)```", README, re.S).group(1)
    import tinygrad_init_plugins.rich_logger as rich_logger
    buf = io.StringIO()  # keep the logger's output out of the test log
    monkeypatch.setattr(rich_logger, "Console", lambda *a, **k: Console(file=buf, width=120))
    namespace = {"print": lambda *a: None}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["history"]["val_acc"][-1] > 0.95
    assert "summary" in buf.getvalue()
