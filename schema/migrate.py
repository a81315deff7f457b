"""Schema migrations, driven from code through Alembic (the only alembic import).

176 deployed nodes get upgraded in place, so every schema change is a migration in
``schema/migrations/versions``; ``fiscalsync db upgrade`` runs them, and ``init`` runs
them on a new database.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from schema.engine import open_engine, sqlite_url
from schema.errors import DatabaseError, SchemaOutdated, SchemaTooNew

__all__ = ["check_schema", "current_revision", "head_revision", "is_known_revision", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@cache
def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The newest schema revision this fiscalsync knows."""
    head = _scripts().get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or None for an empty database."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot read the schema version: {exc}") from exc


def is_known_revision(revision: str) -> bool:
    """True when this fiscalsync has the migration ``revision``."""
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:
        return False


def upgrade(
    engine: Engine,
    revision: str = "head",
    *,
    after: Callable[[Connection], None] | None = None,
) -> str:
    """Migrate the database to ``revision`` in one transaction; return the new revision.

    ``after`` runs in the same transaction once the migrations are done (``init``
    records the node's identity there, so a database is never left half set up).
    Refuses a database migrated by a newer fiscalsync (:class:`SchemaTooNew`).
    """
    current = current_revision(engine)
    if current is not None and not is_known_revision(current):
        raise SchemaTooNew(
            f"the database is at schema revision {current}, newer than this fiscalsync "
            f"(which knows up to {head_revision()})"
        )
    sqlite = engine.dialect.name == "sqlite"
    if sqlite and current is None and revision in ("head", head_revision()):
        _copy_template(engine)
    return _upgrade(engine, revision, after, sqlite)


def _upgrade(
    engine: Engine, revision: str, after: Callable[[Connection], None] | None, sqlite: bool
) -> str:
    config = _config()
    try:
        with engine.connect() as conn:
            # SQLite rebuilds a table to change its constraints (Alembic's batch mode):
            # foreign keys are off while it does, as SQLite's ALTER TABLE procedure says,
            # then checked whole before the transaction commits.
            raw: Any = conn.connection.driver_connection if sqlite else None
            if sqlite:
                raw.execute("PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    config.attributes["connection"] = conn
                    at = MigrationContext.configure(conn).get_current_revision()
                    if not (at == head_revision() and revision in ("head", at)):
                        command.upgrade(config, revision)
                    if after is not None:
                        after(conn)
                    if sqlite and (
                        broken := conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    ):
                        raise DatabaseError(
                            f"migration failed, nothing was changed: {len(broken)} row(s) would "
                            f"break a foreign key, the first in table {broken[0][0]}"
                        )
            finally:
                if sqlite:
                    raw.execute("PRAGMA foreign_keys=ON")
    except SQLAlchemyError as exc:
        raise DatabaseError(f"migration failed, nothing was changed: {exc}") from exc
    finally:
        config.attributes.pop("connection", None)
    new = current_revision(engine)
    assert new is not None
    return new


def _copy_template(engine: Engine) -> None:
    """Give a new, empty SQLite database its schema as a copy of a database this process
    migrated once (the same migrations, run once): a province's 177 node databases would
    otherwise each run every migration. A database that holds anything is left alone."""
    database = engine.url.database
    if not database or database == ":memory:" or "mode=memory" in str(engine.url):
        return
    with engine.connect() as conn:
        if conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar():
            return
    engine.dispose()  # no connection may see the file change under it
    target = Path(database)
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    partial = target.with_name(f".{target.name}.template")
    try:
        shutil.copyfile(_template(), partial)
        with partial.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


_TEMPLATES: list[tempfile.TemporaryDirectory[str]] = []


@cache
def _template() -> Path:
    """A SQLite database migrated to the head revision, made once per process in a private
    temporary folder (removed when the process ends)."""
    folder = tempfile.TemporaryDirectory(prefix="fiscalsync-schema-")
    _TEMPLATES.append(folder)
    atexit.register(folder.cleanup)
    path = Path(folder.name) / "template.db"
    engine = open_engine(sqlite_url(path))
    try:
        _upgrade(engine, "head", None, True)
    finally:
        engine.dispose()
    return path


def check_schema(engine: Engine) -> str:
    """Prove the database is at exactly the schema this code expects; return its revision."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return current
    if current is None:
        raise SchemaOutdated("the database has no fiscalsync schema", hint="run 'fiscalsync init'")
    if not is_known_revision(current):
        raise SchemaTooNew(
            f"the database is at schema revision {current}, newer than this fiscalsync "
            f"(which knows up to {head})"
        )
    raise SchemaOutdated(f"the database is at schema revision {current}, this fiscalsync at {head}")
