"""Packaging a newcomer can trust: the package list tracks the tree, every import is declared, the build is quiet.

pyproject.toml maps the top-level folders into one ``escgraph`` namespace with an explicit ``packages`` list
(ARCHITECTURE.md section 2); a folder missing from it is silently left out of wheels and makes setuptools print
screens of warnings on ``pip install -e .``.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata as metadata
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
PACKAGE_DIRS: dict[str, str] = SETUPTOOLS["package-dir"]
DATA_PATTERNS: list[str] = SETUPTOOLS["package-data"]["*"]
# Imports inside ``try: ... except ImportError`` that only matter with an extra installed: module -> the extra's
# requirement that brings it.
OPTIONAL_IMPORTS = {"openai": "langchain-openai", "langchain_openai": "langchain-openai", "ray": "ray"}  # only where an extra is used


def _skipped(path: Path) -> bool:
    return any(part == "__pycache__" or part.startswith(".") or part.endswith(".egg-info") for part in path.parts)


def _tree_packages() -> dict[str, Path]:
    """Dotted name -> folder, for every folder under the mapped roots holding modules or package data."""
    found = {}
    for package, folder in PACKAGE_DIRS.items():
        base = ROOT / folder
        for directory in [base, *sorted(p for p in base.rglob("*") if p.is_dir())]:
            rel = directory.relative_to(base)
            if _skipped(rel):
                continue
            files = [f.name for f in directory.iterdir() if f.is_file()]
            if any(f.endswith(".py") or any(fnmatch.fnmatch(f, pat) for pat in DATA_PATTERNS) for f in files):
                found[".".join([package, *rel.parts])] = directory
    return found


def test_packages_list_tracks_the_folders():
    listed = set(SETUPTOOLS["packages"])
    tree = _tree_packages()
    missing = sorted(set(tree) - listed)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"
    gone = sorted(listed - set(tree))
    assert not gone, f"listed in pyproject.toml but no such folder with modules or data: {gone}"


def _third_party_imports() -> dict[str, set[str]]:
    stdlib = sys.stdlib_module_names
    found: dict[str, set[str]] = {}
    for folder in PACKAGE_DIRS.values():
        for path in (ROOT / folder).rglob("*.py"):
            if _skipped(path.relative_to(ROOT)):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in stdlib and top not in ("escgraph", "__future__"):
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _declared(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def test_every_imported_package_is_declared():
    dependencies = _declared(PYPROJECT["project"]["dependencies"])
    extras = set().union(*(_declared(r) for r in PYPROJECT["project"]["optional-dependencies"].values()))
    distributions = metadata.packages_distributions()
    undeclared = {}
    for module, files in sorted(_third_party_imports().items()):
        if module in OPTIONAL_IMPORTS:
            assert canonicalize_name(OPTIONAL_IMPORTS[module]) in extras, module
            continue
        names = {canonicalize_name(d) for d in distributions.get(module, [])}
        assert names, f"{module} (imported in {sorted(files)[0]}) is not installed: which distribution provides it?"
        if not names & dependencies:
            undeclared[module] = (sorted(names), sorted(files)[:3])
    assert not undeclared, f"declare in [project] dependencies: {undeclared}"


def test_declared_ranges_admit_the_installed_versions():
    for line in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(line)
        installed = metadata.version(requirement.name)
        assert requirement.specifier.contains(installed, prereleases=True), f"{line}: installed {installed}"


def test_license_file_is_apache_2():
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "Copyright 2026 The escgraph authors" in text and "[yyyy]" not in text


def test_the_build_is_quiet_and_ships_the_data(tmp_path):
    """Build a wheel and an editable wheel from a copy of the tree: no warning printed, every data file shipped."""
    pytest.importorskip("setuptools")
    pytest.importorskip("wheel")
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for folder in [*PACKAGE_DIRS.values(), "scripts"]:
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore, dirs_exist_ok=True)
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
        shutil.copy(ROOT / name, src / name)
    backend = PYPROJECT["build-system"]
    code = (f"import sys; sys.path[:0] = {backend.get('backend-path', [])!r}\n"
            f"import {backend['build-backend']} as b\n"
            f"print(b.build_wheel({str(tmp_path / 'dist')!r}))\n"
            f"print(b.build_editable({str(tmp_path / 'editable')!r}))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # else distutils says it skips
    done = subprocess.run([sys.executable, "-c", code], cwd=src, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "warning" not in done.stderr.lower(), done.stderr[-3000:]

    wheel = zipfile.ZipFile(next((tmp_path / "dist").glob("*.whl")))
    shipped = set(wheel.namelist())
    expected = set()
    for package, directory in _tree_packages().items():
        for f in directory.iterdir():
            if f.is_file() and (f.suffix == ".py" or any(fnmatch.fnmatch(f.name, p) for p in DATA_PATTERNS)):
                expected.add("/".join([*package.split("."), f.name]))
    assert not expected - shipped, sorted(expected - shipped)[:10]
    assert any(n.endswith("licenses/LICENSE") for n in shipped)
