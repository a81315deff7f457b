"""Shared fixtures: real databases (SQLite and PostgreSQL), node homes, a leak detector.

A PostgreSQL test skips when no server answers, unless ``FISCALSYNC_TEST_REQUIRE``
names ``postgres``: then it fails, so that CI never passes by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import config
from schema.engine import drop_database, ensure_database, parse_url, sqlite_url

pytest_plugins = ["sshd_fixture"]

PG_SERVER = os.environ.get("FISCALSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
REQUIRED = {
    s.strip() for s in os.environ.get("FISCALSYNC_TEST_REQUIRE", "").split(",") if s.strip()
}
DEMO_TOPOLOGY = config.TOPOLOGIES / "demo.toml"


ENABLE = {
    "postgres": "start PostgreSQL on 127.0.0.1:5432 (or set FISCALSYNC_TEST_PG)",
    "sshd": "install OpenSSH's server: apt-get install openssh-server",
    "chromium": "install Debian's browser: apt-get install chromium chromium-driver",
}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """End with a loud line naming every group of tests that was skipped, and how to run it."""
    skipped: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        text = str(report.longrepr)
        for service in ENABLE:
            if f"{service} not available" in text:
                skipped[service] = skipped.get(service, 0) + 1
    for service, count in sorted(skipped.items()):
        terminalreporter.write_line(
            f"!!! {count} {service} test(s) SKIPPED: {ENABLE[service]}",
            red=True,
            bold=True,
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked slow first (in their order), so that the parallel workers share
    them out and none is left running one alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def unavailable(service: str, reason: str) -> None:
    """Skip, or fail when the service is required (CI)."""
    if service in REQUIRED:
        pytest.fail(f"{service} is required (FISCALSYNC_TEST_REQUIRE) but {reason}")
    pytest.skip(f"{service} not available: {reason}")


_pg_state: dict[str, str | None] = {}


def _postgres_problem() -> str | None:
    if "problem" not in _pg_state:
        engine = sa.create_engine(
            parse_url(f"{PG_SERVER}/postgres"), connect_args={"connect_timeout": 3}
        )
        try:
            with engine.connect():
                _pg_state["problem"] = None
        except sa.exc.OperationalError as exc:
            _pg_state["problem"] = str(exc.orig).strip().splitlines()[0]
        finally:
            engine.dispose()
    return _pg_state["problem"]


def _fresh_pg_name() -> str:
    return f"fst_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test, dropped afterwards.

    Dropping fails if a connection is still open, which catches leaked connections.
    """
    problem = _postgres_problem()
    if problem:
        unavailable("postgres", problem)
    url = f"{PG_SERVER}/{_fresh_pg_name()}"
    ensure_database(url)
    yield url
    drop_database(url)


@pytest.fixture
def pg_url_template() -> Iterator[str]:
    """A database URL template with ``{code}``; every database made from it is dropped."""
    problem = _postgres_problem()
    if problem:
        unavailable("postgres", problem)
    prefix = _fresh_pg_name()
    yield f"{PG_SERVER}/{prefix}_{{code}}"
    engine = sa.create_engine(parse_url(f"{PG_SERVER}/postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        names = conn.execute(
            sa.text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": f"{prefix}_%"}
        ).scalars()
        for name in list(names):
            conn.exec_driver_sql(f'DROP DATABASE "{name}"')
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test run: each database test runs on both."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database of the current backend."""
    if backend == "sqlite":
        return sqlite_url(tmp_path / "test.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def migrated_engine(db_url: str) -> Iterator[sa.Engine]:
    """An engine on a fresh database of the current backend, its schema at head."""
    from schema.engine import open_engine
    from schema.migrate import upgrade

    engine = open_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db_url_template(backend: str, request: pytest.FixtureRequest) -> str | None:
    """A per-node database URL template for the backend (None: SQLite in each home)."""
    if backend == "sqlite":
        return None
    return str(request.getfixturevalue("pg_url_template"))


@pytest.fixture
def demo_topology() -> Path:
    return DEMO_TOPOLOGY


@pytest.fixture
def province(tmp_path: Path, db_url_template: str | None, demo_topology: Path) -> Any:
    """The demo province hosted in one folder (``network init``) on the current backend."""
    import provinces

    return provinces.make(tmp_path / "province", demo_topology, db_url_template)


@pytest.fixture
def node_home(tmp_path: Path, db_url: str, backend: str) -> Path:
    """A county's node home (410102 of the demo province) on the current backend."""
    from nodes import init_node

    home = tmp_path / "410102"
    init_node(home, "410102", DEMO_TOPOLOGY, None if backend == "sqlite" else db_url)
    return home


@pytest.fixture(autouse=True)
def no_leaked_sqlite_connections(tmp_path: Path) -> Iterator[None]:
    """Fail a test that leaves a SQLite database file of its own open."""
    yield
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.is_dir():
        return
    leaked = []
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(tmp_path)) and target.endswith(".db"):
            leaked.append(target)
    assert not leaked, f"database connections left open: {leaked}"


@pytest.fixture(params=["ed25519", "sm2"])
def suite_name(request: pytest.FixtureRequest) -> str:
    """The network's signature suite: the PKI and change-set tests run under both."""
    return str(request.param)
