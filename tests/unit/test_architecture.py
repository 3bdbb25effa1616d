"""The shape of the package, as tests: the floors (core < host < faces), small modules, the product CLI free of the
lab, version rules that hold only version facts, and each desired setting written in exactly one place."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from kubeharden.core.catalog import CONTROLS
from kubeharden.core.catalog.model import FlagTest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "kubeharden"
FLOORS = {"core": 0, "host": 1, "faces": 2}
MAX_LINES = 520


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


def _floor(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) > 1 and parts[0] == "kubeharden" and parts[1] in FLOORS:
        return FLOORS[parts[1]]
    return None


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_from_a_higher_floor(path: Path) -> None:
    own = _floor(".".join(path.relative_to(ROOT).with_suffix("").parts))
    if own is None:
        return
    higher = [m for m in _imports(path) if (f := _floor(m)) is not None and f > own]
    assert higher == [], f"{path.relative_to(ROOT)} (floor {own}) imports {higher}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it along its responsibilities"


def test_the_on_host_programs_and_the_core_import_no_pyinfra() -> None:
    for path in _modules():
        relative = path.relative_to(PACKAGE).parts
        if relative[0] == "core" or relative[:2] == ("host", "onhost"):
            assert not [m for m in _imports(path) if m.startswith(("pyinfra", "paramiko", "testinfra"))], path


def test_the_product_cli_imports_no_lab_module_when_it_starts() -> None:
    code = "import sys, kubeharden.faces.cli; print([m for m in sys.modules if m.startswith('kubeharden_lab')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_product_wheel_holds_no_lab() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["kubeharden", "kubeharden.*"]
    assert not (PACKAGE / "lab").exists()


def test_versions_hold_only_version_facts() -> None:
    text = (PACKAGE / "core" / "versions.py").read_text()
    for word in ("never_write", "AlwaysAllow", "AlwaysAdmit", "--profiling", "--client-cert-auth", "kubeharden never"):
        assert word not in text, word
    ids = {c.id for c in CONTROLS}
    assert not [cid for cid in ids if f'"{cid}"' in text]


def _literal_settings() -> set[tuple[str, str]]:
    """(flag, value) of every catalog flag test with a literal value: desired settings harden writes."""
    found = set()
    for control in CONTROLS:
        for test in control.tests:
            if isinstance(test, FlagTest) and isinstance(test.value, str):
                found.add((test.flag, test.value))
    return found


def test_each_desired_setting_is_written_in_exactly_one_place() -> None:
    """No code outside the catalog spells a flag together with the value the catalog wants for it."""
    wanted = _literal_settings()
    catalog = PACKAGE / "core" / "catalog"
    offenders = []
    for path in _modules():
        if catalog in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            strings = {a.value for a in ast.walk(node) if isinstance(a, ast.Constant) and isinstance(a.value, str)}
            for flag, value in wanted:
                if flag in strings and value in strings:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {flag}={value}")
            for text in strings:
                for flag, value in wanted:
                    if text == f"{flag}={value}":
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {text}")
    assert offenders == []
