"""The layer rule of DESIGN.md: a module imports only from layers listed before its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import phonetrust

LAYERS = [
    "errors",
    "clock",
    "wire",
    "formats",
    "protocols",
    "pki",
    "policy",
    "store",
    "service",
    "net",
    "sim",
    "planner",
    "web",
    "cli",
    "testing",
]
PACKAGE = Path(phonetrust.__file__).parent


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "phonetrust":
        return None
    if len(parts) == 1:
        return -1  # the package root (its version string) is below every layer
    return LAYERS.index(parts[1])


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE or p.name != "__init__.py")


def test_every_top_level_module_belongs_to_a_layer() -> None:
    tops = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in MODULES}
    assert tops <= set(LAYERS), sorted(tops - set(LAYERS))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_from_earlier_layers(path: Path) -> None:
    own = LAYERS.index(path.relative_to(PACKAGE).parts[0].removesuffix(".py"))
    for module in imports_of(path):
        layer = layer_of(module)
        if layer is not None:
            assert layer <= own, f"{path.name} ({LAYERS[own]}) imports {module} ({LAYERS[layer]})"


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from phonetrust.cli.main import cli\n")
    assert layer_of(imports_of(bad)[0]) == LAYERS.index("cli")
    assert LAYERS.index("cli") > LAYERS.index("formats")
