"""Schema migrations, driven from code through Alembic (the only alembic import).

176 deployed nodes get upgraded in place, so every schema change is a migration in
``schema/migrations/versions``; ``fiscalsync db upgrade`` runs them, and ``init`` runs
them on a new database.
"""

from __future__ import annotations

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
    config = _config()
    sqlite = engine.dialect.name == "sqlite"
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
