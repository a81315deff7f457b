"""Opening node databases: SQLite (the embedded default) and PostgreSQL.

SQLite connections get WAL, ``synchronous=FULL``, foreign keys and a busy timeout.
A transaction that may write really begins with ``BEGIN IMMEDIATE`` (pysqlite's own
handling would start it late, defeat savepoints, and let two read-then-write
transactions deadlock); one opened with :func:`reading` begins deferred, reads a
snapshot and never waits behind a writer (WAL). PostgreSQL is reached through psycopg2
with a connect timeout; :func:`reading` makes its transaction read-only.

Connection failures leave as :class:`DatabaseUnavailable`; :func:`database_failure`
translates any other error of the database or its driver at the command boundary.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from schema.deferred import deferred
from schema.errors import DatabaseBusy, DatabaseError, DatabaseUnavailable
from schema.said import said

__all__ = [
    "database_failure",
    "drop_database",
    "ensure_database",
    "open_engine",
    "parse_url",
    "reading",
    "redact",
    "release_memory",
    "sqlite_url",
]

BUSY_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT_S = 10
READ_ONLY = "fiscalsync_read_only"
"""Execution option of a connection opened by :func:`reading`."""


def parse_url(url: str | URL) -> URL:
    """Parse and check a database URL: SQLite or PostgreSQL (psycopg2) only."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(said("db_url_bad", url=str(url)), hint=said("db_url_hint")) from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg2")
    if backend == "sqlite":
        return parsed
    raise DatabaseError(said("db_backend_unsupported", backend=backend), hint=said("db_url_hint"))


def sqlite_url(path: Path) -> str:
    """The URL of a SQLite database file."""
    return f"sqlite:///{path.resolve()}"


def redact(url: str | URL) -> str:
    """A URL fit to print: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def open_engine(url: str | URL, *, check: bool = True) -> Engine:
    """Open an engine on a node database and, with ``check``, prove it answers."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _open_sqlite(parsed)
    else:
        engine = sa.create_engine(
            parsed,
            pool_pre_ping=True,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "fiscalsync"},
        )
    if check:
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except SQLAlchemyError as exc:
            engine.dispose()
            raise DatabaseUnavailable(
                said("db_cannot_open", url=redact(parsed), error=_first_line(exc))
            ) from exc
        _share_statements(engine)
    return engine


_Server = tuple[str, str | None, int | None]
_dialects: dict[_Server, Any] = {}
_statements: dict[_Server, Any] = {}
STATEMENTS_KEPT = 2_000
"""Compiled statements kept per database server (SQLAlchemy keeps 500 per engine)."""


def _share_statements(engine: Engine) -> None:
    """Let ``engine`` use the statements that every engine of this process on the same
    server has compiled.

    SQLAlchemy caches a compiled statement per engine, under the engine's dialect: a
    process that opens nodes again and again (``network sync`` of a province hosted in
    one folder, a round of the agent, every command of a test) would compile the same few
    hundred statements at every opening. Engines of one server (SQLite: this process's
    library) are made alike here, so they can share one dialect and one cache. Only an
    engine that has connected is shared: its dialect has then read the server's version
    and settings, which are the same for every database of that server."""
    server = (engine.dialect.name, engine.url.host, engine.url.port)
    engine.dialect = _dialects.setdefault(server, engine.dialect)
    engine._compiled_cache = _statements.setdefault(server, sa.util.LRUCache(STATEMENTS_KEPT))


class _SQLiteDialect(SQLiteDialect_pysqlite):
    """pysqlite, with every transaction begun by us: ``BEGIN IMMEDIATE``, or ``BEGIN``
    on a connection opened by :func:`reading`.

    A dialect's ``do_begin`` rather than a ``begin`` event: any engine event makes
    SQLAlchemy dispatch all of its connection events (execute, cursor, commit...) at
    every statement, which costs more than the statements of a sync round that finds
    nothing to do. The flag is kept on the pool's checkout of a file database (a new one
    each time a connection is taken from the pool), set when ``READ_ONLY`` is given to a
    connection (:func:`reading`); given to an engine, it is not seen, and a connection
    the pool makes anew after a disconnect begins ``BEGIN IMMEDIATE`` (the safe way).
    """

    supports_statement_cache = True

    def set_connection_execution_options(
        self, connection: sa.Connection, opts: Mapping[str, Any]
    ) -> None:
        super().set_connection_execution_options(connection, opts)
        if READ_ONLY in opts:
            setattr(connection.connection, _READ_ONLY_FLAG, bool(opts[READ_ONLY]))

    def do_begin(self, dbapi_connection: Any) -> None:
        # On the driver's connection itself: a statement through SQLAlchemy would cost
        # more than the BEGIN does. A failure is wrapped as any statement's would be,
        # naming the statement (SQLAlchemy would name none for a begin).
        statement = "BEGIN" if getattr(dbapi_connection, _READ_ONLY_FLAG, False) else _IMMEDIATE
        try:
            dbapi_connection.driver_connection.execute(statement)
        except sqlite3.Error as exc:  # as SQLAlchemy would raise it: a busy one is ours
            raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


_DRIVER = "fiscalsync"
_IMMEDIATE = "BEGIN IMMEDIATE"
_READ_ONLY_FLAG = "_fiscalsync_read_only"
registry.register(f"sqlite.{_DRIVER}", __name__, "_SQLiteDialect")


def _open_sqlite(url: URL) -> Engine:
    database = url.database
    if database and database != ":memory:":
        parent = Path(database).parent
        if not parent.is_dir():
            raise DatabaseUnavailable(
                said("db_folder_missing", url=str(url), folder=str(parent)),
                hint=said("db_folder_missing_hint"),
            )
    engine = sa.create_engine(
        url.set(drivername=f"sqlite+{_DRIVER}"), connect_args={"isolation_level": None}
    )
    engine.url = url  # the dialect is ours; the URL named and shown is the one given
    # In a tree being built under a temporary name, flushed whole before it is renamed
    # into place (schema.deferred): no commit waits for the disk.
    synchronous = "OFF" if database and deferred(database) else "FULL"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    return engine


def release_memory(engine: Engine) -> None:
    """Let go of the pages SQLite keeps cached for ``engine``'s idle connection (up to
    2 MB each), so that a process holding many nodes open (``network sync`` of a
    province hosted in one folder: 177 databases) reuses one node's cache for the next
    instead of keeping them all. The pages are read again when needed, from the
    operating system's cache. Nothing to do on PostgreSQL, whose cache is the server's."""
    if engine.dialect.name != "sqlite":
        return
    # On the driver's connection, outside any transaction: through SQLAlchemy the pragma
    # would begin one, which here takes the write lock, and wait behind a writer.
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None  # checked out, so open
        driver.execute("PRAGMA shrink_memory")
    except sqlite3.Error:
        pass  # a hint only: what is not let go now is at the next round
    finally:
        raw.close()


@contextmanager
def reading(engine: Engine, *, snapshot: bool = False) -> Iterator[sa.Connection]:
    """A connection for reading only: on SQLite its transaction takes no write lock, so it
    never waits behind (or blocks) a long apply; on PostgreSQL it is ``READ ONLY``.

    With ``snapshot`` every query of the transaction sees the database as it was at the
    first one, so that tables read one after the other agree (SQLite's read transaction
    always does; PostgreSQL's is then ``REPEATABLE READ``, which never blocks a writer).
    """
    with engine.connect() as conn:
        options: dict[str, Any] = {READ_ONLY: True}
        if engine.dialect.name == "postgresql":
            options["postgresql_readonly"] = True
            if snapshot:
                options["isolation_level"] = "REPEATABLE READ"
        conn.execution_options(**options)
        yield conn


def database_failure(exc: BaseException) -> DatabaseError | None:
    """Our error for an error raised by SQLAlchemy or the database driver, else None.

    Used at the command boundary, so that no driver traceback reaches an operator: a
    lock held too long is :class:`DatabaseBusy`, a lost connection
    :class:`DatabaseUnavailable`, anything else a :class:`DatabaseError` naming it.
    """
    if not isinstance(exc, SQLAlchemyError):
        return None
    text = _first_line(exc)
    lowered = text.lower()
    if "database is locked" in lowered or "lock timeout" in lowered:
        return DatabaseBusy(said("db_busy", error=text))
    if "disk is full" in lowered or "no space left" in lowered:
        return DatabaseError(said("db_disk_full", error=text), hint=said("db_disk_full_hint"))
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return DatabaseUnavailable(said("db_connection_lost", error=text))
    if isinstance(exc, sa.exc.OperationalError) and (
        "connection" in lowered or "server" in lowered or "unable to open" in lowered
    ):
        return DatabaseUnavailable(said("db_unusable", error=text))
    return DatabaseError(said("db_refused", error=text))


def ensure_database(url: str | URL) -> bool:
    """Create the PostgreSQL database named in ``url`` if it is missing.

    Returns True when it was created. SQLite files are created on first connection,
    so for SQLite this does nothing and returns False.
    """
    parsed = parse_url(url)
    if parsed.get_backend_name() != "postgresql":
        return False
    name = parsed.database
    if not name:
        raise DatabaseError(
            said("db_url_no_name", url=redact(parsed)), hint=said("db_url_no_name_hint")
        )
    admin = _admin_engine(parsed)
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists:
                return False
            conn.exec_driver_sql(f'CREATE DATABASE "{_pg_identifier(name)}"')
            return True
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(
            said("db_cannot_create", url=redact(parsed), error=_first_line(exc))
        ) from exc
    finally:
        admin.dispose()


def drop_database(url: str | URL) -> None:
    """Drop a PostgreSQL database (used to undo a half-finished set-up and by tests)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        return
    admin = _admin_engine(parsed)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{_pg_identifier(parsed.database)}"')
    except SQLAlchemyError as exc:
        raise DatabaseError(
            said("db_cannot_drop", url=redact(parsed), error=_first_line(exc))
        ) from exc
    finally:
        admin.dispose()


def _admin_engine(url: URL) -> Engine:
    return sa.create_engine(
        url.set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "fiscalsync"},
    )


def _pg_identifier(name: str) -> str:
    if '"' in name or "\x00" in name:
        raise DatabaseError(said("db_name_quoted", name=name))
    return name


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__
