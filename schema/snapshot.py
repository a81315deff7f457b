"""Consistent snapshots of a node database, and loading one into a new database.

Two forms, each the database's own consistent export:

- **SQLite**: the pages of the file as one read snapshot holds them. Read in place
  (:func:`pinned_sqlite`) when the write-ahead log is empty as the snapshot begins:
  the snapshot then reads the file alone, and while it lasts no checkpoint may write
  the file, so its bytes are the snapshot's; writers go on into the log. Else copied
  by the online backup API (:func:`export_sqlite`). The live file is never opened
  outside SQLite: closing any descriptor of it would drop every POSIX lock the process
  holds on it (``tests/test_snapshot.py``), so it is read through SQLite's own
  descriptor. Pages keep their places, so a page that did not change keeps its bytes
  from one backup to the next. Loading is writing the file back.
- **PostgreSQL**: every table of the schema is exported with ``COPY … TO STDOUT``
  (text format), in primary-key order, inside ONE ``REPEATABLE READ READ ONLY``
  transaction: the same snapshot for all tables, without a lock that blocks a writer.
  Loading runs the migrations up to the snapshot's schema revision on an empty database,
  then, in one transaction, drops the tables' keys and indexes, ``COPY … FROM STDIN``
  each table and builds the keys and indexes again (as ``pg_restore`` does); the
  references PostgreSQL does not enforce are checked too (:mod:`schema.references`).

Channel heads and the schema revision are read inside the same snapshot, so what a
backup says of itself is exactly what it holds.
"""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from schema import migrate, references
from schema.engine import redact
from schema.errors import DatabaseError
from schema.said import said
from schema.tables import metadata

__all__ = [
    "PG_FORM",
    "SQLITE_FORM",
    "Snapshot",
    "Writable",
    "export_postgresql",
    "export_sqlite",
    "load_postgresql",
    "pinned_sqlite",
    "table_digests",
    "tables",
]

SQLITE_FORM = "sqlite-file"
PG_FORM = "pg-copy"
COPY_BLOCK = 1024 * 1024
"""Bytes of COPY text gathered before they are handed on, at export."""


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


@dataclass
class Snapshot:
    """What a snapshot says of itself, read inside it."""

    form: str
    revision: str
    heads: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    in_place: bool = False
    """SQLite: the pages were read in the live file (:func:`pinned_sqlite`), not copied."""


def tables() -> list[sa.Table]:
    """The tables of a snapshot, in an order that loads without breaking a foreign key."""
    return list(metadata.sorted_tables)


def _heads(conn: Connection | sqlite3.Connection, me: str) -> dict[str, dict[str, list[Any]]]:
    query = "SELECT origin, recipient, seq, last_id FROM channel_head"
    rows = (
        conn.execute(query).fetchall()
        if isinstance(conn, sqlite3.Connection)
        else conn.execute(sa.text(query)).all()
    )
    heads: dict[str, dict[str, list[Any]]] = {"in": {}, "out": {}}
    for origin, recipient, seq, last_id in rows:
        if recipient == me:
            heads["in"][origin] = [int(seq), last_id]
        elif origin == me:
            heads["out"][recipient] = [int(seq), last_id]
    return heads


def export_sqlite(engine: Engine, target: Path, me: str) -> Snapshot:
    """Copy the live SQLite database into ``target`` (a new file) with the backup API.

    ``target`` is a scratch file, read once and deleted (what must last is sealed from
    it), so it is written without a journal or a sync: a crash leaves no backup taken."""
    database = engine.url.database
    if not database:
        raise DatabaseError(said("snapshot_no_file"))
    try:
        # sqlite3's own context manager only ends the transaction; closing() closes.
        with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(target)) as copy:
            source.execute("PRAGMA busy_timeout=30000")
            copy.execute("PRAGMA journal_mode=OFF")
            copy.execute("PRAGMA synchronous=OFF")
            source.backup(copy)
            revision = copy.execute("SELECT version_num FROM alembic_version").fetchone()[0]
            heads = _heads(copy, me)
    except sqlite3.Error as exc:
        raise DatabaseError(said("snapshot_failed", database=database, error=str(exc))) from exc
    return Snapshot(SQLITE_FORM, str(revision), heads)


PIN_TRIES = 3
"""How often :func:`pinned_sqlite` empties the write-ahead log and begins its snapshot
before it gives up (a writer committed in between each time)."""
PIN_WAIT_MS = 200
"""How long emptying the log waits for readers and writers, each time: the node's
writers wait meanwhile, so briefly; a backup that cannot pin copies instead."""
_MAGIC = b"SQLite format 3\x00"


class Pages:
    """The first ``length`` bytes of a SQLite file, read in order by :meth:`readinto` (or
    :meth:`read`) through a descriptor SQLite holds open (never closed here: see the
    module docstring), only while the snapshot that pins them lasts. The file must still
    be the one pinned when the first byte and the last are read, and must begin as a
    SQLite file does: :class:`DatabaseError` otherwise, and the backup fails whole."""

    def __init__(self, fd: int, length: int, name: str, identity: tuple[int, int]) -> None:
        self.fd = fd
        self.length = length
        self.name = name
        self.identity = identity
        self.offset = 0
        self.pinned = True

    def read(self, size: int = -1) -> bytes:
        left = self.length - self.offset
        data = bytearray(left if size < 0 else max(0, min(size, left)))
        return bytes(data[: self.readinto(data)])

    def readinto(self, buffer: memoryview | bytearray) -> int:
        """Read into ``buffer`` as much as it holds of what is left; the bytes read (0 at
        the end). The checks of :meth:`read` are made here."""
        if not self.pinned:
            raise DatabaseError(said("snapshot_failed", database=self.name, error="unpinned"))
        wanted = min(len(buffer), self.length - self.offset)
        if self.offset == 0:
            self._same_file()
        view = memoryview(buffer)[:wanted]
        got = 0
        while got < wanted:
            done = os.preadv(self.fd, [view[got:]], self.offset + got)
            if not done:
                break  # the file is shorter than pinned: whoever reads it says so
            got += done
        head = min(got, len(_MAGIC))
        if self.offset == 0 and got and view[:head] != _MAGIC[:head]:
            raise DatabaseError(
                said("snapshot_failed", database=self.name, error="not a SQLite file")
            )
        self.offset += got
        if self.offset == self.length and wanted:
            self._same_file()
        return got

    def _same_file(self) -> None:
        seen = os.fstat(self.fd)
        if (seen.st_dev, seen.st_ino) != self.identity:
            raise DatabaseError(
                said("snapshot_failed", database=self.name, error="the file was replaced")
            )


@contextmanager
def pinned_sqlite(
    engine: Engine, me: str
) -> Iterator[tuple[Snapshot, Pages, Callable[[], dict[str, str]]] | None]:
    """The live SQLite database's pages in one read snapshot, read in place, with what
    gives each table's digest in that snapshot (:func:`table_digests`); None when they
    cannot be read so (the log was written again each time it was emptied, the database
    was busy, no descriptor of the file is found): the caller copies with
    :func:`export_sqlite`.

    The log is emptied (``wal_checkpoint(TRUNCATE)``), then a read transaction begins.
    If the log is still empty once it has begun, the transaction reads the file alone
    and holds the read lock that every checkpoint must take exclusively before it
    writes a page into the file (SQLite's ``WAL_READ_LOCK(0)``): until it ends, the
    file's first ``page_count`` pages are the snapshot's. The log is the one SQLite
    names beside the file it opened (``PRAGMA database_list``: a URL through a symbolic
    link names another). In rollback-journal mode the transaction's shared lock keeps
    every writer out of the file alike.

    The pages are read with ``pread`` on the descriptor SQLite opened for this
    connection, never on one of our own: closing it would drop the process's locks."""
    database = engine.url.database
    if not database:
        raise DatabaseError(said("snapshot_no_file"))
    try:
        before = _descriptors(database)
        with closing(sqlite3.connect(database, isolation_level=None)) as source:
            begun = _begin_pinned(source)
            if begun is None:
                yield None
                return
            try:
                real, identity = begun
                fd = _its_descriptor(before, _descriptors(database))
                if fd is None or _identity(f"/proc/self/fd/{fd}") != identity:
                    yield None
                    return
                page_size = source.execute("PRAGMA page_size").fetchone()[0]
                pages = source.execute("PRAGMA page_count").fetchone()[0]
                revision = source.execute("SELECT version_num FROM alembic_version").fetchone()
                snap = Snapshot(SQLITE_FORM, str(revision[0]), _heads(source, me), in_place=True)
                read = Pages(fd, page_size * pages, real, identity)

                def digests() -> dict[str, str]:
                    found = _digests_through(source)
                    if not source.in_transaction:  # never: the snapshot must still hold
                        raise DatabaseError(said("snapshot_failed", database=real, error="ended"))
                    return found

                try:
                    yield snap, read, digests
                finally:
                    read.pinned = False
            finally:
                if source.in_transaction:
                    source.execute("COMMIT")
    except sqlite3.Error as exc:
        raise DatabaseError(said("snapshot_failed", database=database, error=str(exc))) from exc


def _begin_pinned(source: sqlite3.Connection) -> tuple[str, tuple[int, int]] | None:
    """Begin the read transaction that pins the file (see :func:`pinned_sqlite`): the
    file's real path and identity; None (no transaction left open) when it cannot."""
    source.execute(f"PRAGMA busy_timeout={PIN_WAIT_MS}")
    try:
        wal_mode = source.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        for _try in range(PIN_TRIES):
            if wal_mode:
                source.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            source.execute("BEGIN")
            source.execute("SELECT count(*) FROM sqlite_master").fetchone()
            real = source.execute("PRAGMA database_list").fetchone()[2]
            if not wal_mode or _empty(Path(f"{real}-wal")):
                return real, _identity(real)
            source.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if source.in_transaction:
            source.execute("ROLLBACK")
        if "locked" in str(exc) or "busy" in str(exc):
            return None  # busy: the backup API copies, waiting as long as it must
        raise
    return None


def _empty(log: Path) -> bool:
    """Whether the write-ahead log ``log`` holds no frame. It exists while a connection
    in WAL mode is open (this one): missing, it is not the log SQLite uses."""
    try:
        return log.stat().st_size == 0
    except FileNotFoundError:
        return False


def _identity(path: str) -> tuple[int, int]:
    seen = os.stat(path)
    return seen.st_dev, seen.st_ino


class _Lent:
    """The pinning connection lent to SQLAlchemy to read through: it can neither end the
    transaction that pins the file nor close the connection."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def rollback(self) -> None:
        pass

    def commit(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def _digests_through(source: sqlite3.Connection) -> dict[str, str]:
    """:func:`table_digests` read through ``source``, inside the transaction it holds."""
    lent = _Lent(source)
    engine = sa.create_engine(
        "sqlite://", creator=lambda: lent, poolclass=sa.pool.StaticPool, pool_reset_on_return=None
    )
    try:
        with engine.connect() as conn:
            return table_digests(conn)
    finally:
        engine.dispose()  # closes the lent connection: nothing


def _its_descriptor(before: set[int], after: set[int]) -> int | None:
    """A descriptor of the database file to read the pinned pages through: the one the
    pinning connection opened (not open ``before`` it), else, when SQLite handed it one
    already open, any of the file's. SQLite's unix VFS keeps a closed connection's
    descriptor open while another connection of the process holds a lock on the file
    and gives it to the next connection that opens the file: in a process that keeps
    the node open, every pin after the first opens none. Every descriptor of the file
    stays open while the pin holds its read lock (SQLite defers closing them until no
    lock is held), and all read the same bytes; the file's identity is checked on the
    descriptor before and after the pages are read (:meth:`Pages._same_file`)."""
    return min(after - before or after, default=None)


def _descriptors(database: str) -> set[int]:
    """This process's descriptors of the file ``database`` (none where ``/proc`` is not)."""
    try:
        wanted = _identity(database)
        names = os.listdir("/proc/self/fd")
    except OSError:
        return set()
    found = set()
    for name in names:
        try:
            if _identity(f"/proc/self/fd/{name}") == wanted:
                found.add(int(name))
        except OSError:
            continue  # gone since it was listed, or the listing's own descriptor
    return found


def _order(table: sa.Table) -> str:
    keys = [c.name for c in table.primary_key.columns] or [c.name for c in table.columns]
    return ", ".join(f'"{k}"' for k in keys)


def export_postgresql(
    engine: Engine, me: str, sink: Callable[[str], Writable], *, digests: bool = False
) -> tuple[Snapshot, dict[str, str]]:
    """Export every table with COPY inside one repeatable-read snapshot.

    ``sink(table)`` gives where that table's COPY text goes. With ``digests`` the
    SHA-256 of each table's COPY text is returned too (``backup drill``).
    """
    found: dict[str, str] = {}
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        driver.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with driver.cursor() as cursor:
            cursor.execute("SELECT version_num FROM alembic_version")
            revision = str(cursor.fetchone()[0])
            cursor.execute("SELECT origin, recipient, seq, last_id FROM channel_head")
            heads: dict[str, dict[str, list[Any]]] = {"in": {}, "out": {}}
            for origin, recipient, seq, last_id in cursor.fetchall():
                if recipient == me:
                    heads["in"][origin] = [int(seq), last_id]
                elif origin == me:
                    heads["out"][recipient] = [int(seq), last_id]
            snapshot = Snapshot(PG_FORM, revision, heads)
            for table in tables():
                out = sink(table.name)
                if digests:
                    out = _Hashing(out)
                # the driver writes row by row: gather the rows into blocks first
                buffered = io.BufferedWriter(_RawSink(out), buffer_size=COPY_BLOCK)
                cursor.copy_expert(
                    f'COPY (SELECT * FROM "{table.name}" ORDER BY {_order(table)}) TO STDOUT',
                    buffered,
                )
                buffered.flush()
                if isinstance(out, _Hashing):
                    found[table.name] = out.digest.hexdigest()
        driver.rollback()
        driver.set_session(isolation_level="READ COMMITTED", readonly=False)
    except sa.exc.DBAPIError as exc:
        raise DatabaseError(said("export_failed", url=redact(engine.url), error=str(exc))) from exc
    except Exception as exc:
        if type(exc).__module__.startswith("psycopg2"):
            failed = said("export_failed", url=redact(engine.url), error=str(exc))
            raise DatabaseError(failed) from exc
        raise
    finally:
        raw.close()
    return snapshot, found


class _RawSink(io.RawIOBase):
    """A raw stream writing to ``out`` (under a buffer, for the blocks it gathers)."""

    def __init__(self, out: Writable) -> None:
        self.out = out

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.out.write(bytes(data))
        return len(data)


class _Hashing:
    def __init__(self, out: Writable) -> None:
        self.out = out
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> object:
        self.digest.update(data)
        return self.out.write(data)


class _Reader(io.RawIOBase):
    """A readable stream over an iterator of byte strings (what COPY FROM reads)."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self.blocks = blocks
        self.pending = b""
        self.error: BaseException | None = None
        """What the blocks raised (the driver reports it as its own error)."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            try:
                nxt = next(self.blocks, None)
            except BaseException as exc:
                self.error = exc
                raise
            if nxt is None:
                return 0
            self.pending = nxt
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


def empty_postgresql(engine: Engine) -> None:
    """Drop every table a load put into the database of ``engine`` (one found empty by
    :func:`load_postgresql`), so that a restore that failed after it leaves it empty."""
    with engine.begin() as conn:
        for name in sa.inspect(conn).get_table_names():
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}" CASCADE')


def load_postgresql(
    engine: Engine, revision: str, parts: Iterable[tuple[str, Iterator[bytes]]]
) -> None:
    """Load a ``pg-copy`` snapshot into the empty database of ``engine`` (not a table in
    it: another application's beside the node's is refused too): migrations up to
    ``revision``, then each table's COPY text, all in one transaction."""
    if migrate.current_revision(engine) is not None or sa.inspect(engine).get_table_names():
        raise DatabaseError(
            said("restore_target_not_empty", url=redact(engine.url)),
            hint=said("restore_target_not_empty_hint"),
        )
    known = {t.name: t for t in tables()}

    def load(conn: Connection) -> None:
        cursor: Any = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        rebuild = _drop_keys_and_indexes(cursor, list(known))
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for name, blocks in parts:
            if name not in known:
                raise DatabaseError(said("snapshot_unknown_table", table=name))
            reader = _Reader(blocks)
            try:
                cursor.copy_expert(f'COPY "{name}" FROM STDIN', io.BufferedReader(reader))
            except Exception:
                if reader.error is not None:
                    raise reader.error from None
                raise
        for statement in rebuild:
            cursor.execute(statement)
        broken = references.dangling(conn)
        if broken:
            raise DatabaseError(
                f"the snapshot holds a row whose reference points at nothing: {broken[0]}",
                hint="restore from another backup; this one is not a consistent database",
            )
        for table in tables():
            for column in table.columns:
                if column.autoincrement is True and isinstance(column.type, sa.Integer):
                    conn.execute(
                        sa.text(
                            f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', "
                            f"'{column.name}'), COALESCE(MAX(\"{column.name}\"), 0) + 1, false) "
                            f'FROM "{table.name}"'
                        )
                    )

    migrate.upgrade(engine, revision, after=load)


def _drop_keys_and_indexes(cursor: Any, names: list[str]) -> list[str]:
    """Drop the keys (primary, unique, foreign) and indexes of the tables ``names`` (empty,
    about to be loaded); return the statements that build them again, foreign keys
    last. Loading rows into bare tables and then building each index once, by sorting,
    is what ``pg_restore`` does: much faster than keeping every index up to date row by
    row. The transaction that loads holds it all: the keys are back, and checked, before
    anyone sees a row."""
    cursor.execute(
        "SELECT c.conrelid::regclass::text, quote_ident(c.conname), c.contype, "
        "pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
        "WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%s) "
        "AND c.contype IN ('p', 'u', 'f') ORDER BY c.contype = 'f' DESC, 1, 2",
        (names,),
    )
    keys = cursor.fetchall()  # foreign keys first: they depend on the others
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid), i.indexrelid::regclass::text FROM pg_index i "
        "JOIN pg_class t ON t.oid = i.indrelid "
        "WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
        "ORDER BY 2",
        (names,),
    )
    indexes = cursor.fetchall()
    for table, name, _kind, _definition in keys:
        cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for _definition, index in indexes:
        cursor.execute(f"DROP INDEX {index}")
    return [definition for definition, _index in indexes] + [
        f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"
        for table, name, _kind, definition in reversed(keys)
    ]


def table_digests(conn: Connection) -> dict[str, str]:
    """SHA-256 of every table's rows in primary-key order, as text: to compare a restored
    database with the one it came from, on either database."""
    found = {}
    for table in tables():
        digest = hashlib.sha256()
        keys = list(table.primary_key.columns) or list(table.columns)
        for row in conn.execute(sa.select(table).order_by(*keys)):
            digest.update(repr(tuple(_plain(v) for v in row)).encode())
        found[table.name] = digest.hexdigest()
    return found


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
