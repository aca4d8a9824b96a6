"""The package's layers: every import points down (README "Layout").

A module may import its own package (``samplers.composite`` -> ``samplers.selection``) and any
layer below its own; never a layer above, nor a sibling on its own layer (``training`` and
``evaluation`` do not import each other). Lazy imports inside functions count too: an arrow that
points up is a cycle waiting to happen, however it is spelt.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import scsampler

#: Bottom first. One entry per top-level module or package of ``scsampler``.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors"}),
    frozenset({"types", "_atomic", "_device", "_prefetch", "probabilities"}),
    frozenset({"metrics", "intervals"}),
    frozenset({"video"}),
    frozenset({"signals", "data"}),
    frozenset({"models"}),
    frozenset({"samplers"}),
    frozenset({"early_exit"}),
    frozenset({"inference", "pipeline"}),
    frozenset({"batch_inference"}),
    frozenset({"training", "evaluation"}),
    frozenset({"cli"}),
    frozenset({"demo", "__main__", "__init__"}),
)
LEVEL = {unit: level for level, units in enumerate(LAYERS) for unit in units}
PACKAGE = Path(scsampler.__file__).parent


def _unit(path: Path) -> str:
    """The top-level module or package of ``scsampler`` that ``path`` belongs to."""
    first = path.relative_to(PACKAGE).parts[0]
    return first.removesuffix(".py")


def _imported_units(path: Path) -> set[str]:
    units = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "scsampler" and len(parts) > 1:
                units.add(parts[1])
    return units


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    missing = {_unit(path) for path in MODULES} - set(LEVEL)
    assert not missing, f"give these a layer in LAYERS: {sorted(missing)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_point_down(path: Path):
    own = _unit(path)
    wrong = sorted(
        unit for unit in _imported_units(path) - {own} if unit in LEVEL and LEVEL[unit] >= LEVEL[own]
    )
    assert not wrong, f"{path.relative_to(PACKAGE)} ({own}, layer {LEVEL[own]}) imports {wrong}, not below it"
