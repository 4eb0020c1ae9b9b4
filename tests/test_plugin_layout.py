"""Every built-in plugin is registered like a third-party one and uses only the public API."""
import ast
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
ENTRY_POINTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][
    "tinygrad_init.plugins"]
PLUGIN_FILES = sorted(p for p in (ROOT / "plugins").glob("*.py") if p.name != "__init__.py")

# What a third-party plugin may import from the host: the documented public modules.
PUBLIC = {"tinygrad_init", "tinygrad_init.nn", "tinygrad_init.functional", "tinygrad_init.validation",
          "tinygrad_init.search", "tinygrad_init.init", "tinygrad_init.optim", "tinygrad_init.datasets",
          "tinygrad_init.testing", "tinygrad_init.checkpoint", "tinygrad_init.plot"}
THIRD_PARTY_OK = {"numpy", "rich", "pluggy",
                  "tensorboardX"}  # an optional extra, imported inside plugins/tensorboard.py


def test_every_plugin_file_has_an_entry_point_and_back():
    files = {p.stem for p in PLUGIN_FILES}
    assert files == set(ENTRY_POINTS), (f"without entry point: {sorted(files - set(ENTRY_POINTS))}; "
                                        f"entry point without file: {sorted(set(ENTRY_POINTS) - files)}")
    for name, value in ENTRY_POINTS.items():
        assert value == f"tinygrad_init_plugins.{name}"


def imports(path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                yield node.lineno, "." * node.level + (node.module or ""), None
            else:
                for alias in node.names:
                    yield node.lineno, node.module, alias.name


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: p.stem)
def test_builtin_imports_only_the_public_api(path):
    for line, module, name in imports(path):
        where = f"{path.name}:{line}: {module}"
        assert not module.startswith("."), f"{where}: relative import"
        top = module.split(".")[0]
        assert top not in ("plugins", "tinygrad_init_plugins"), f"{where}: imports another plugin"
        if top == "tinygrad_init":
            assert module in PUBLIC, f"{where}: not a public module"
            assert name is None or not name.startswith("_"), f"{where}: private name {name}"
        else:
            assert top in sys.stdlib_module_names or top in THIRD_PARTY_OK, f"{where}: not allowed"


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: p.stem)
def test_builtin_documents_itself(path):
    assert ast.get_docstring(ast.parse(path.read_text())), f"{path.name} has no module docstring"


def test_host_never_imports_a_builtin():
    for path in (ROOT / "tinygrad_init").rglob("*.py"):
        for line, module, _ in imports(path):
            assert not module.startswith(("tinygrad_init_plugins", "plugins")), f"{path}:{line}"
