"""The layering rule, checked in fresh interpreters: cli → nodes → sync → schema."""

from __future__ import annotations

import ast
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


def _imports(path: Path) -> set[str]:
    """The modules a file imports, by their full dotted name."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def _product_files() -> list[Path]:
    return [
        path
        for package in (*OURS[:3], "config")
        for path in sorted((ROOT / package).rglob("*.py"))
        if "/versions/" not in path.as_posix()
    ] + [ROOT / "cli.py"]


# Where each third-party library may be imported: most in one module, so that replacing
# one is a one-file change; the database layer and the cryptography of the PKI where
# their concepts live.
LIBRARY_HOMES = {
    "click": {"cli.py"},
    "alembic": {"schema/migrate.py", "schema/migrations/env.py"},
    "paramiko": {"sync/transports/sftp.py"},
    "apscheduler": {"nodes/agent.py"},
    "openpyxl": {"nodes/fiscal/tabular.py"},
    "rfc8785": {"sync/signing.py"},
    "orjson": {"sync/changeset/codec.py"},
    "cryptography": {
        "sync/pki.py",
        "sync/signing.py",
        "sync/trust.py",
        "sync/revocation.py",
        "sync/sshkeys.py",
        "sync/certificates.py",
        "sync/national.py",
        "sync/backup/keys.py",
        "sync/backup/envelope.py",
    },
    "fastcdc": {"sync/backup/chunks.py"},
    "zstandard": {"sync/backup/compression.py"},
    "blake3": {"sync/backup/hashing.py"},
    "gmalglib": {"sync/sm2.py"},
    "starlette": {"nodes/web.py"},
    "uvicorn": {"nodes/web.py"},
    "jinja2": {"nodes/web.py"},
    "prometheus_client": {"nodes/metrics.py"},
    "psycopg2": set(),  # the driver is SQLAlchemy's business alone
    "sqlalchemy": {"*"},  # the database layer, wherever rows are read or written
}


def test_every_third_party_library_lives_where_it_is_allowed() -> None:
    stdlib = sys.stdlib_module_names
    for path in _product_files():
        rel = path.relative_to(ROOT).as_posix()
        for name in _imports(path):
            top = name.split(".")[0]
            if top in stdlib or top in OURS or top == "__future__":
                continue
            assert top in LIBRARY_HOMES, f"{rel} imports {top}, which is not in LIBRARY_HOMES"
            allowed = LIBRARY_HOMES[top]
            assert "*" in allowed or rel in allowed, f"{rel} imports {top} (allowed: {allowed})"


def test_the_runtime_never_imports_the_fiscal_domain() -> None:
    """Only the package's own ``__init__`` (which registers the domain) may import it."""
    for path in sorted((ROOT / "nodes").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("nodes/fiscal/") or rel == "nodes/__init__.py":
            continue
        wrong = {name for name in _imports(path) if name.startswith("nodes.fiscal")}
        assert not wrong, f"{rel} (the runtime) imports the fiscal domain: {sorted(wrong)}"


def test_the_fiscal_domain_is_registered_wherever_the_runtime_is_used() -> None:
    code = (
        "import json\nfrom nodes import capabilities\n"
        "print(json.dumps(sorted(capabilities.APPLIERS)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    assert json.loads(out) == [
        "appropriation",
        "codeset",
        "copy",
        "reconcile",
        "report",
        "yearclose",
    ]


@pytest.mark.parametrize("package", ["schema", "sync", "nodes", "config"])
def test_public_surface_is_declared(package: str) -> None:
    module = __import__(package)
    exported = getattr(module, "__all__", None)
    assert exported, f"{package} has no __all__"
    for name in exported:
        assert hasattr(module, name), f"{package}.__all__ names missing {name}"


def test_every_folder_of_code_ships_in_the_package() -> None:
    """A folder of product code without ``__init__.py`` is left out of a built wheel (the
    build finds packages by it, ``pyproject.toml``): an installed fiscalsync would then
    fail to import it, while a checkout runs."""
    import tomllib

    from setuptools import find_packages

    with (ROOT / "pyproject.toml").open("rb") as handle:
        build = tomllib.load(handle)["tool"]["setuptools"]
    found = set(find_packages(where=ROOT, include=build["packages"]["find"]["include"]))
    packages = [package for package in OURS if package != "cli"]
    folders = {
        path.parent.relative_to(ROOT).as_posix().replace("/", ".")
        for package in packages
        for path in (ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert folders <= found, f"not built into the package: {sorted(folders - found)}"
    assert set(packages) <= found
    assert build["py-modules"] == ["cli"]  # the command, a module at the top level
