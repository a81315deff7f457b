"""A node home: the folder that holds one node's settings, keys, database and spool.

::

    HOME/
      node.toml        settings (code, database URL, sync interval)
      topology.toml    the topology this node belongs to (endpoints absolute)
      node.db          the database, when it is SQLite (the default)
      keys/            private key, certificate, CA certificate (mode 0700)
      spool/           change-sets being written, sent or received
      mailboxes/       where children deliver and collect (nodes with children, center)

A home is created whole or not at all: it is built under a temporary name beside its
final place and renamed into place once its database is migrated.
"""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from nodes.capabilities import HOME_LOADERS
from nodes.labels import said
from nodes.settings import DEFAULT_SYNC_INTERVAL, SETTINGS_FILE, render_settings
from nodes.topology import Topology
from schema import migrate, tables
from schema.deferred import flushing_deferred
from schema.engine import drop_database, ensure_database, open_engine, redact, sqlite_url
from schema.types import utcnow
from sync.errors import HomeError, SchemaTooNew
from sync.files import fsync_directory, fsync_tree
from sync.signing import DEFAULT_SUITE, get_suite

__all__ = ["NodeHome", "check_empty", "create_home", "topology_rows"]

TOPOLOGY_FILE = "topology.toml"


@dataclass(frozen=True)
class NodeHome:
    """The paths of a node home (each built once: a round asks for them often)."""

    path: Path

    @functools.cached_property
    def settings_file(self) -> Path:
        return self.path / SETTINGS_FILE

    @functools.cached_property
    def topology_file(self) -> Path:
        return self.path / TOPOLOGY_FILE

    @functools.cached_property
    def keys(self) -> Path:
        return self.path / "keys"

    @functools.cached_property
    def spool(self) -> Path:
        return self.path / "spool"

    @functools.cached_property
    def mailboxes(self) -> Path:
        return self.path / "mailboxes"


def check_empty(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise HomeError(said("not_a_folder", path=path), hint=said("not_a_folder_hint"))
    if path.is_dir() and any(path.iterdir()):
        raise HomeError(said("folder_not_empty", path=path), hint=said("home_not_empty_hint"))


def create_home(
    path: Path,
    topology: Topology,
    code: str,
    database_url: str | None = None,
    suite: str = DEFAULT_SUITE,
) -> NodeHome:
    """Create a node home for ``code`` at ``path`` with a migrated database.

    ``database_url`` defaults to SQLite ``node.db`` inside the home. A PostgreSQL
    database is created if missing and must not already hold a fiscalsync schema.
    ``suite`` is the network's signature suite, as far as it is known yet (``keys
    install`` records the installed root's).
    On any failure nothing is left behind: no folder, and no database this call created.
    """
    path = path.resolve()
    check_empty(path)
    get_suite(suite)  # an unknown suite is refused before anything is written
    spec = topology.node(code)
    staging = path.parent / f".{path.name}.partial-{uuid.uuid4().hex[:8]}"
    created_db = False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        home = NodeHome(staging)
        with flushing_deferred(staging):  # flushed whole below, before the rename
            home.keys.mkdir(mode=0o700)
            home.spool.mkdir()
            if topology.children(code) or spec.role == "center":
                home.mailboxes.mkdir()
            home.topology_file.write_text(topology.to_toml(), encoding="utf-8")
            home.settings_file.write_text(
                render_settings(code, database_url, DEFAULT_SYNC_INTERVAL[spec.role]),
                encoding="utf-8",
            )
            url = database_url or sqlite_url(home.path / "node.db")
            created_db = ensure_database(url)
            _migrate_new_database(url, topology, code, suite)
        fsync_tree(staging)
        if path.exists():
            path.rmdir()
        os.replace(staging, path)
        fsync_directory(path.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created_db and database_url:
            drop_database(database_url)
        raise
    return NodeHome(path)


def _migrate_new_database(url: str, topology: Topology, code: str, suite: str) -> None:
    spec = topology.node(code)
    engine = open_engine(url)
    try:
        current = migrate.current_revision(engine)
        if current is not None and not migrate.is_known_revision(current):
            raise SchemaTooNew(said("home_db_newer", url=redact(url), revision=current))
        if current is not None:
            raise HomeError(said("home_db_taken", url=redact(url)), hint=said("home_db_taken_hint"))

        def record_identity(conn: Connection) -> None:
            conn.execute(
                tables.node_identity.insert().values(
                    code=spec.code,
                    name=spec.name,
                    role=spec.role,
                    parent_code=spec.parent,
                    topology_sha256=topology.sha256(),
                    created_at=utcnow(),
                    suite=suite,
                )
            )
            conn.execute(tables.topology_node.insert(), topology_rows(topology))
            conn.execute(
                tables.topology_file.insert().values(
                    id=1, version=topology.version, toml=topology.to_toml()
                )
            )
            for load in HOME_LOADERS:
                load(conn)

        migrate.install(engine, after=record_identity)
    finally:
        engine.dispose()


def topology_rows(topology: Topology) -> list[dict[str, Any]]:
    """The rows of ``topology_node`` for ``topology``: every node, as a database keeps it."""
    return [
        {
            "code": n.code,
            "name": n.name,
            "role": n.role,
            "parent_code": n.parent,
            "endpoint": n.endpoint.location if n.endpoint else None,
            "host_key": n.endpoint.host_key if n.endpoint else None,
        }
        for n in topology
    ]
