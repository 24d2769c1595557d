"""The import layering of ARCHITECTURE.md section 3, checked on the source itself.

Every module of the package is parsed with ``ast``; every import counts, the ones inside functions too (a lazy
import still makes a cycle, it only hides it until run time). Two rules:

- **no upward import**: a module imports only from its own layer or lower ones::

      core (escgraph/*.py, escgraph.llm)
        <- escgraph.memory, escgraph.skills_bank (peers: neither imports the other)
        <- escgraph.agents <- escgraph.graphs <- escgraph.simulations <- escgraph.cli (and escgraph/__main__.py)
        <- escgraph.testing (nothing in the package imports it; tests and bench do)

- **no reaching into another package's privates**: a leading-underscore module (``escgraph.llm._spec``) or name
  (``from escgraph.simulations.runner import _write``) is imported only from inside the package that holds it (a
  subpackage counts as inside; ``escgraph`` core, ``escgraph.llm``, ``escgraph.cli`` and ``escgraph.testing`` are
  separate packages). What another package needs is public: a public module, or a name its package re-exports.

``escgraph/__init__.py`` resolves its public names with ``importlib.import_module`` on first use: that facade is a
string, not an import statement, and is not checked here. Tests and bench scripts are exempt.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first; a module belongs to the longest unit its name starts with.
LAYER = {
    "escgraph": 0, "escgraph.llm": 0,
    "escgraph.memory": 1, "escgraph.skills_bank": 1,
    "escgraph.agents": 2,
    "escgraph.graphs": 3,
    "escgraph.simulations": 4,
    "escgraph.cli": 5, "escgraph.__main__": 5,  # `python -m escgraph` is the CLI's entry point
    "escgraph.testing": 6,
}
PEERS = {"escgraph.memory", "escgraph.skills_bank"}

# (importing file, imported module or module.name) pairs that are intended; keep it empty unless truly needed,
# with a comment saying why.
ALLOWED: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Edge:
    where: str  # file:line
    importer: str  # module name
    importer_package: str  # the package the importing file is in
    target: str  # the module imported (a submodule when `from package import submodule`)
    name: str | None  # the name imported from ``target`` (None for a module)

    def __str__(self) -> str:
        return f"{self.where} → {self.target}{'.' + self.name if self.name else ''}"


def source_modules() -> dict[str, tuple[Path, bool]]:
    """Module name → (file, is a package), over the folders that pyproject maps into ``escgraph``."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    modules: dict[str, tuple[Path, bool]] = {}
    for package, folder in setuptools["package-dir"].items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            modules[".".join([package, *(parts[:-1] if is_package else parts)])] = (path, is_package)
    return modules


MODULES = source_modules()


def unit(module: str) -> str:
    return max((u for u in LAYER if module == u or module.startswith(u + ".")), key=len)


def is_private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def edges() -> list[Edge]:
    found = []
    for module, (path, is_package) in MODULES.items():
        package = module if is_package else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                found += [Edge(where, module, package, a.name, None) for a in node.names
                          if a.name.split(".")[0] == "escgraph"]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, up level - 1
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([base] if base else []))
                if base.split(".")[0] != "escgraph":
                    continue
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    found.append(Edge(where, module, package, sub, None) if sub in MODULES
                                 else Edge(where, module, package, base, alias.name))
    return found


EDGES = edges()


def upward(edge: Edge) -> bool:
    mine, theirs = unit(edge.importer), unit(edge.target)
    return LAYER[theirs] > LAYER[mine] or (mine in PEERS and theirs in PEERS and mine != theirs)


def inside(edge: Edge, owner: str) -> bool:
    """Whether the importer is in package ``owner`` (or below it) and in the same unit."""
    return (edge.importer_package == owner or edge.importer_package.startswith(owner + ".")) \
        and unit(edge.importer) == unit(owner)


def private_reach(edge: Edge) -> bool:
    parts = edge.target.split(".")
    for i, part in enumerate(parts):
        if is_private(part) and not inside(edge, ".".join(parts[:i])):
            return True
    if edge.name and is_private(edge.name):
        owner = edge.target if MODULES.get(edge.target, (None, True))[1] else edge.target.rpartition(".")[0]
        return not inside(edge, owner)
    return False


def allowed(edge: Edge) -> bool:
    return (edge.where.rpartition(":")[0], edge.target + (f".{edge.name}" if edge.name else "")) in ALLOWED


def report(bad: list[Edge], what: str) -> str:
    return f"{len(bad)} {what} (ARCHITECTURE.md section 3):\n" + "\n".join(f"  {e}" for e in bad)


def test_the_scan_sees_the_whole_package():
    assert len(MODULES) > 100 and {unit(m) for m in MODULES} == set(LAYER)
    lazy = [e for e in EDGES if e.importer == "escgraph.simulations.runner" and e.target.endswith(".metrics")]
    assert lazy, "an import inside a function was not seen"


def test_no_module_imports_a_higher_layer():
    bad = [e for e in EDGES if upward(e) and not allowed(e)]
    if bad:
        pytest.fail(report(bad, "upward imports, file:line → imported module"), pytrace=False)


def test_no_module_imports_another_packages_privates():
    bad = [e for e in EDGES if private_reach(e) and not allowed(e)]
    if bad:
        pytest.fail(report(bad, "imports of another package's private module or name, file:line → imported"),
                    pytrace=False)


@pytest.mark.parametrize("importer, target, name, expected", [
    ("escgraph.agents.initiative", "escgraph.graphs.kemi", None, True),
    ("escgraph.memory.seeker_memory", "escgraph.skills_bank.store", None, True),
    ("escgraph.types", "escgraph.testing", None, True),
    ("escgraph.cli.chat_cmd", "escgraph.agents", None, False),
    ("escgraph.graphs.kemi", "escgraph.agents.initiative", None, False),
])
def test_upward_rule(importer, target, name, expected):
    package = importer.rpartition(".")[0]
    assert upward(Edge("x.py:1", importer, package, target, name)) is expected


@pytest.mark.parametrize("importer, package, target, name, expected", [
    ("escgraph.simulations.sage", "escgraph.simulations", "escgraph.agents._text", None, True),
    ("escgraph.cli.simulate_cmd", "escgraph.cli", "escgraph.simulations.runner", "_write", True),
    ("escgraph.types", "escgraph", "escgraph.llm._spec", None, True),
    ("escgraph.cli._app", "escgraph.cli", "escgraph._version", None, True),
    ("escgraph.agents.critic", "escgraph.agents", "escgraph.agents._text", None, False),
    ("escgraph.agents.safety_gate", "escgraph.agents", "escgraph.agents.safety._detector", None, True),
    ("escgraph.agents.safety", "escgraph.agents.safety", "escgraph.agents.safety._detector", None, False),
    ("escgraph.llm", "escgraph.llm", "escgraph.llm._spec", None, False),
    ("escgraph.skills_bank.evolution.loop", "escgraph.skills_bank.evolution", "escgraph.skills_bank._versions",
     None, False),
    ("escgraph.cli.chat_cmd", "escgraph.cli", "escgraph.llm", "__version__", False),
])
def test_private_rule(importer, package, target, name, expected):
    assert private_reach(Edge("x.py:1", importer, package, target, name)) is expected
