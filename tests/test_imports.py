"""The layering rule, checked in fresh interpreters: cli → nodes → sync → schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("schema", "sync", "nodes", "cli", "config")


def loaded_after_import(module: str) -> set[str]:
    code = f"import json, sys\nimport {module}\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    return {name.split(".")[0] for name in json.loads(out)}


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("schema", {"sync", "nodes", "cli", "config"}),
        ("sync", {"nodes", "cli"}),
        ("nodes", {"cli"}),
    ],
)
def test_layers_import_only_downwards(module: str, forbidden: set[str]) -> None:
    loaded = loaded_after_import(module)
    assert module in loaded
    assert not (loaded & forbidden), f"{module} pulls in {sorted(loaded & forbidden)}"


def test_every_module_of_each_package_respects_the_layers() -> None:
    forbidden = {"schema": {"sync", "nodes", "cli"}, "sync": {"nodes", "cli"}, "nodes": {"cli"}}
    for package, banned in forbidden.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for name in banned:
                assert f"import {name}" not in text.replace(f"import {name}_", "")
                assert f"from {name} " not in text and f"from {name}." not in text, (
                    f"{path.relative_to(ROOT)} imports {name}"
                )


@pytest.mark.parametrize("package", ["schema", "config"])
def test_our_packages_shadow_the_public_index_namesakes(package: str) -> None:
    code = f"import {package}; print({package}.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd="/"
    ).stdout.strip()
    assert Path(out).resolve() == (ROOT / package / "__init__.py").resolve()


def test_third_party_libraries_each_live_in_one_module() -> None:
    homes = {
        "click": {"cli.py"},
        "alembic": {"schema/migrate.py", "schema/migrations/env.py"},
        "paramiko": {"sync/transports/sftp.py"},
        "apscheduler": {"nodes/agent.py"},
        "openpyxl": {"nodes/fiscal/tabular.py"},
    }
    for library, allowed in homes.items():
        users = set()
        for path in ROOT.glob("**/*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith((".venv/", "tests/", "build/")) or "/versions/" in rel:
                continue
            text = path.read_text(encoding="utf-8")
            if f"import {library}" in text or f"from {library}" in text:
                users.add(rel)
        assert users <= allowed, f"{library} imported outside {sorted(allowed)}: {sorted(users)}"


@pytest.mark.parametrize("package", ["schema", "sync", "nodes", "config"])
def test_public_surface_is_declared(package: str) -> None:
    module = __import__(package)
    exported = getattr(module, "__all__", None)
    assert exported, f"{package} has no __all__"
    for name in exported:
        assert hasattr(module, name), f"{package}.__all__ names missing {name}"
