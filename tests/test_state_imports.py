"""The state is at the bottom: it imports only the value types, the errors and itself, with no
cycle among its modules (imports inside functions included), and loads nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import crossposter

PACKAGE = Path(crossposter.__file__).parent
# What the state may import from the rest of crossposter: the modules below it.
BELOW_THE_STATE = {"crossposter", "crossposter.models", "crossposter.errors", "crossposter.logsafe"}


def imports_of(path: Path) -> set[str]:
    """The crossposter modules a file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            # `from crossposter.state import schema` imports a module too.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "crossposter"}


def state_modules() -> dict[str, set[str]]:
    modules = {
        f"crossposter.state.{path.stem}".removesuffix(".__init__"): path
        for path in sorted((PACKAGE / "state").glob("*.py"))
    }
    return {name: imports_of(path) for name, path in modules.items()}


def test_the_state_imports_nothing_from_the_layers_above_it():
    above = {
        name: sorted(
            module
            for module in imported
            if module not in BELOW_THE_STATE
            and not module.startswith("crossposter.state")
            and module.rsplit(".", 1)[0] not in BELOW_THE_STATE - {"crossposter"}
        )
        for name, imported in state_modules().items()
    }
    assert {name: modules for name, modules in above.items() if modules} == {}


def test_no_cycle_among_the_states_modules():
    modules = state_modules()
    graph = {
        name: {module for module in imported if module in modules and module != name}
        for name, imported in modules.items()
    }
    # The package imports its modules; none of them may import it back but for what it
    # re-exports at the top (records, roles, schema, sqlite), which never import it.
    graph["crossposter.state"] -= {"crossposter.state.postgres"}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as cycle:
        raise AssertionError(f"an import cycle in the state: {cycle.args[1]}") from None


def test_importing_the_state_loads_neither_pydantic_nor_requests():
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import crossposter.state, sys; print('pydantic' in sys.modules, "
            "'requests' in sys.modules, 'crossposter.config' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert loaded == ["False", "False", "False"]
