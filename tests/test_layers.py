"""Layers import downwards only: core < providers < planner < modules < stacks < orchestrator < cli.

Every import counts, wherever it sits: at module level, inside a function, or under
``if TYPE_CHECKING:`` (a type-only import still ties the lower layer to the upper one).
``templates`` is data, readable from any layer, so it is not ranked.
"""

import ast
import tomllib
from pathlib import Path

import pytest

LAYERS = ("core", "providers", "planner", "modules", "stacks", "orchestrator", "cli")
RANK = {name: rank for rank, name in enumerate(LAYERS)}
ROOT = Path(__file__).resolve().parent.parent


def imported_packages(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted module) of every absolute import in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return sorted(found)


def upward_imports(layer: str) -> list[str]:
    """Each import in ``layer``'s .py files of a layer ranked above it, as ``file:line: module``."""
    problems = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in imported_packages(tree):
            top = module.split(".")[0]
            if top in RANK and RANK[top] > RANK[layer]:
                problems.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    return problems


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_only_lower_layers(layer: str) -> None:
    problems = upward_imports(layer)
    assert not problems, f"{layer} imports an upper layer:\n" + "\n".join(problems)


def test_the_walk_sees_type_checking_and_function_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from planner.deployment import DeploymentSpec\n"
        "def f():\n"
        "    import orchestrator.workspace\n"
    )
    assert imported_packages(ast.parse(source)) == [
        (1, "typing"),
        (3, "planner.deployment"),
        (5, "orchestrator.workspace"),
    ]


def test_every_shipped_package_is_ranked_or_data() -> None:
    """A package added to the wheel gets a rank here (bench/ and tests/ ship nothing)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = {
        name.rstrip("*") for name in config["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert shipped - set(LAYERS) == {"templates"}
