"""The Django project package (eventcapture/) imports none of the apps: they depend on it, never
the other way round (settings and URLs name the apps as strings)."""

from __future__ import annotations

import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2] / "eventcapture"
APPS = {"events", "registry", "kafka_bridge", "operations"}


def imported_packages(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_project_package_imports_none_of_the_apps():
    modules = sorted(PROJECT.glob("*.py"))
    assert len(modules) > 10
    offenders = {path.name: sorted(imported_packages(path) & APPS) for path in modules}
    assert {name: apps for name, apps in offenders.items() if apps} == {}
