"""The import boundaries of the design: main.py -> gui -> engine, trainer -> engine.

engine imports neither Qt, VTK, gui nor trainer; gui never imports trainer. Checked three ways: a static scan
of every import statement (catches imports inside functions), import-linter's contracts in pyproject.toml, and
a fresh interpreter that imports every engine module and must end with no Qt or VTK module loaded.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "engine": {"PySide6", "shiboken6", "vtk", "vtkmodules", "gui", "trainer"},
    "gui": {"trainer"},
    "trainer": {"gui", "PySide6", "vtk", "vtkmodules"},
}


def imported_top_level_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def boundary_violations(package: str) -> list[str]:
    violations = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_top_level_names(path) & FORBIDDEN[package]
        violations += [f"{path.relative_to(ROOT)} imports {name}" for name in sorted(bad)]
    return violations


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_import_boundaries(package: str) -> None:
    assert (ROOT / package / "__init__.py").is_file()
    assert boundary_violations(package) == []


def test_scan_detects_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from PySide6 import QtCore\n    import vtkmodules.all\n")
    assert {"PySide6", "vtkmodules"} <= imported_top_level_names(module)


def test_import_linter_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint_imports is None:
        pytest.fail("lint-imports is not installed; run scripts/setup.sh")
    result = subprocess.run([lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower() or "0 broken" in result.stdout.lower()


def test_engine_loads_without_qt_or_vtk() -> None:
    code = (
        "import importlib, pkgutil, sys, engine\n"
        "for m in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in {'PySide6', 'vtkmodules', 'vtk', 'gui', 'trainer'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
