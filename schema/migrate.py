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

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import URL, create_mock_engine
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.ddl import ExecutableDDLElement

from schema.engine import database_failure, reading
from schema.errors import (
    DatabaseBusy,
    DatabaseError,
    DatabaseUnavailable,
    SchemaOutdated,
    SchemaTooNew,
)
from schema.said import said
from schema.tables import metadata

__all__ = [
    "check_schema",
    "current_revision",
    "head_revision",
    "install",
    "is_known_revision",
    "upgrade",
]

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
        with reading(engine) as conn:  # no write lock: it never waits behind a writer
            held = conn.execute(_HELD).scalars().all()
    except SQLAlchemyError as exc:
        failure = database_failure(exc)
        if isinstance(failure, DatabaseBusy | DatabaseUnavailable):
            raise failure from exc
        held = []  # no version table yet: Alembic tells
    if len(held) == 1:  # what Alembic would read, without looking for the table first
        return str(held[0])
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except (SQLAlchemyError, CommandError) as exc:  # CommandError: more than one head
        raise DatabaseError(said("schema_unreadable", error=str(exc))) from exc


_HELD: sa.Select[tuple[Any]] = sa.select(sa.column("version_num")).select_from(
    sa.table("alembic_version")
)
"""The revision Alembic keeps (its default version table), read at every node opening."""


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
        raise SchemaTooNew(said("schema_newer", revision=current, head=head_revision()))
    config = _config()
    # Nothing to migrate: foreign keys stay on for ``after``, and need no check whole
    # (on a large database the check is most of the time an up-to-date upgrade takes).
    migrating_sqlite = engine.dialect.name == "sqlite" and current != (
        head_revision() if revision == "head" else revision
    )
    try:
        with engine.connect() as conn:
            # SQLite rebuilds a table to change its constraints (Alembic's batch mode):
            # foreign keys are off while it does, as SQLite's ALTER TABLE procedure says,
            # then checked whole before the transaction commits.
            raw: Any = conn.connection.driver_connection if migrating_sqlite else None
            if migrating_sqlite:
                raw.execute("PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    config.attributes["connection"] = conn
                    command.upgrade(config, revision)
                    if after is not None:
                        after(conn)
                    if migrating_sqlite and (
                        broken := conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    ):
                        raise DatabaseError(
                            said("migration_broken_keys", count=len(broken), table=broken[0][0])
                        )
            finally:
                if migrating_sqlite:
                    raw.execute("PRAGMA foreign_keys=ON")
    except SQLAlchemyError as exc:
        raise DatabaseError(said("migration_failed", error=str(exc))) from exc
    finally:
        config.attributes.pop("connection", None)
    new = current_revision(engine)
    assert new is not None
    return new


def install(engine: Engine, *, after: Callable[[Connection], None] | None = None) -> str:
    """Build the newest schema on an empty database in one transaction, stamped at head.

    Alembic's recipe for a database made from scratch: the declared tables are created
    directly rather than by replaying every migration since the first (a test proves both
    ways give the same schema, on SQLite and PostgreSQL); later upgrades run migrations as
    for any node. ``after`` runs in the same transaction, as for :func:`upgrade`. Refuses a
    database that already has a schema revision.
    """
    try:
        with engine.connect() as conn, conn.begin():
            context = MigrationContext.configure(conn)
            current = context.get_current_revision()
            if current is not None:
                raise DatabaseError(said("schema_present", revision=current))
            for statement in _creation_script(conn.dialect):
                conn.exec_driver_sql(statement)
            context.stamp(_scripts(), "head")
            if after is not None:
                after(conn)
    except SQLAlchemyError as exc:
        raise DatabaseError(said("schema_creation_failed", error=str(exc))) from exc
    return head_revision()


_SCRIPTS: dict[tuple[str, object], tuple[str, ...]] = {}


def _creation_script(dialect: Dialect) -> tuple[str, ...]:
    """The statements that create the declared tables, compiled once per process for each
    database kind and server version (``network init`` makes many nodes)."""
    key = (dialect.name, dialect.server_version_info)
    if key not in _SCRIPTS:
        _SCRIPTS[key] = _compile_creation(dialect)
    return _SCRIPTS[key]


def _compile_creation(dialect: Dialect) -> tuple[str, ...]:
    statements: list[str] = []

    def collect(ddl: ExecutableDDLElement, *_args: Any, **_kwargs: Any) -> None:
        statements.append(str(ddl.compile(dialect=dialect)).strip())

    metadata.create_all(create_mock_engine(URL.create(dialect.name), collect), checkfirst=False)
    return tuple(statements)


def check_schema(engine: Engine) -> str:
    """Prove the database is at exactly the schema this code expects; return its revision."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return current
    if current is None:
        raise SchemaOutdated(said("schema_none"), hint=said("schema_none_hint"))
    if not is_known_revision(current):
        raise SchemaTooNew(said("schema_newer", revision=current, head=head))
    raise SchemaOutdated(said("schema_older", revision=current, head=head))
