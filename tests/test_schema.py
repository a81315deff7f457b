"""The node database: migrations, engine options, value types — on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from schema import channels, metadata, migrate, tables
from schema.bulk import insert_rows
from schema.engine import (
    BUSY_TIMEOUT_MS,
    drop_database,
    ensure_database,
    open_engine,
    release_memory,
    sqlite_url,
)
from schema.errors import DatabaseError, DatabaseUnavailable, SchemaOutdated, SchemaTooNew
from schema.references import enforced
from schema.sums import total
from schema.types import format_yuan, parse_yuan


@pytest.fixture
def engine(db_url: str):  # type: ignore[no-untyped-def]
    engine = open_engine(db_url)
    yield engine
    engine.dispose()


def test_migrations_build_exactly_the_declared_tables(engine: sa.Engine, backend: str) -> None:
    assert migrate.current_revision(engine) is None
    assert migrate.upgrade(engine) == migrate.head_revision()

    def include(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
        # a foreign key declared for the other database only
        return reflected or type_ != "foreign_key_constraint" or enforced(obj, backend)

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include})
        diff = compare_metadata(context, metadata)
    assert diff == []
    assert migrate.check_schema(engine) == migrate.head_revision()


def test_upgrade_twice_changes_nothing(engine: sa.Engine) -> None:
    first = migrate.upgrade(engine)
    assert migrate.upgrade(engine) == first


def _schema_of(engine: sa.Engine) -> dict[str, dict[str, object]]:
    """Everything the database says of each table, in a comparable form."""
    inspector = sa.inspect(engine)
    described: dict[str, dict[str, object]] = {}
    for name in inspector.get_table_names():
        if name == "alembic_version":
            continue
        described[name] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in inspector.get_columns(name)
            ],
            "primary key": inspector.get_pk_constraint(name),
            "foreign keys": sorted(str(fk) for fk in inspector.get_foreign_keys(name)),
            "indexes": sorted(str(sorted(i.items())) for i in inspector.get_indexes(name)),
            "unique": sorted(
                str(sorted(u.items())) for u in inspector.get_unique_constraints(name)
            ),
            "checks": sorted(str(sorted(c.items())) for c in inspector.get_check_constraints(name)),
        }
    return described


# Migration 0008 added the leaf with a default of 0 to fill the existing rows; on
# PostgreSQL it drops the default afterwards, SQLite cannot without a rebuild. Every
# writer gives the leaf, so the leftover default is never used.
_LEFT_BY_MIGRATIONS = {("sqlite", "appropriation", "leaf"): ("0", "None")}


def test_a_new_database_is_built_exactly_as_the_migrations_build_it(
    engine: sa.Engine, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        other_url = f"sqlite:///{tmp_path / 'installed.db'}"
    else:
        other_url = str(request.getfixturevalue("pg_url_template")).format(code="installed")
        ensure_database(other_url)
    installed = open_engine(other_url)
    try:
        migrate.upgrade(engine)
        assert migrate.install(installed) == migrate.head_revision()
        assert migrate.check_schema(installed) == migrate.head_revision()
        migrated, built = _schema_of(engine), _schema_of(installed)
        for (dialect, table, column), (then, now) in _LEFT_BY_MIGRATIONS.items():
            if dialect == backend:
                columns = migrated[table]["columns"]
                assert isinstance(columns, list)
                migrated[table]["columns"] = [
                    (c[0], c[1], c[2], now) if c[0] == column and c[3] == then else c
                    for c in columns
                ]
        assert sorted(built) == sorted(migrated)
        for table in migrated:
            assert built[table] == migrated[table], table
        with pytest.raises(DatabaseError, match="already has schema revision"):
            migrate.install(installed)
    finally:
        installed.dispose()


def test_empty_database_is_refused_as_outdated(engine: sa.Engine) -> None:
    with pytest.raises(SchemaOutdated):
        migrate.check_schema(engine)


def test_database_from_a_newer_fiscalsync_is_refused(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(SchemaTooNew, match="9999_future"):
        migrate.check_schema(engine)
    with pytest.raises(SchemaTooNew):
        migrate.upgrade(engine)


def test_sqlite_connections_are_durable_and_checked(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'n.db'}")
    try:
        with engine.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
    finally:
        engine.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": BUSY_TIMEOUT_MS,
    }


def test_databases_of_one_server_share_compiled_statements_and_keep_their_own_rows(
    engine: sa.Engine, db_url: str, backend: str, tmp_path: Path
) -> None:
    other_url = sqlite_url(tmp_path / "other.db") if backend == "sqlite" else f"{db_url}_other"
    ensure_database(other_url)
    other = open_engine(other_url)
    try:
        for each, name in ((engine, "本库"), (other, "他库")):
            migrate.upgrade(each)
            with each.begin() as conn:
                row = {"codeset": "func", "year": 2026, "code": "201", "name": name, "level": 1}
                conn.execute(tables.code_item.insert(), row)
        names = sa.select(tables.code_item.c.name).where(tables.code_item.c.code == "201")
        with engine.connect() as conn:
            assert conn.execute(names).scalar_one() == "本库"
        compiled = len(other._compiled_cache)
        with other.connect() as conn:
            assert conn.execute(names).scalar_one() == "他库"
        assert other._compiled_cache is engine._compiled_cache
        assert len(other._compiled_cache) == compiled  # compiled once, for the first
    finally:
        other.dispose()
        if backend == "postgresql":
            drop_database(other_url)


def test_foreign_keys_are_enforced(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            tables.ledger_entry.insert().values(
                entry_date=datetime(2026, 1, 5, tzinfo=UTC).date(),
                direction="expenditure",
                func_code="2050202",
                amount_fen=1,
                appropriation_id="nope",
                recorded_at=datetime.now(UTC),
                recorded_by="a",
            )
        )


def test_a_failed_transaction_writes_nothing(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    row = {
        "codeset": "fund",
        "year": 2026,
        "code": "111",
        "name": "一般公共预算",
        "level": 1,
        "is_extension": False,
    }
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(tables.code_item.insert().values(**row))
        conn.execute(tables.code_item.insert().values(**row))
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.code_item)).scalar() == 0


def test_times_are_stored_and_returned_in_utc(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    beijing = timezone(timedelta(hours=8))
    local = datetime(2026, 11, 23, 16, 30, tzinfo=beijing)
    with engine.begin() as conn:
        conn.execute(
            channels.quarantine.insert().values(
                filename="f", reason="malformed", detail="d", received_at=local, last_seen_at=local
            )
        )
    with engine.connect() as conn:
        stored = conn.execute(sa.select(channels.quarantine.c.received_at)).scalar_one()
    assert stored == local
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored.hour == 8


def test_naive_times_are_refused(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    with pytest.raises(sa.exc.StatementError, match="naive"), engine.begin() as conn:
        conn.execute(
            channels.quarantine.insert().values(
                filename="f", reason="r", detail="d", received_at=datetime(2026, 1, 1)
            )
        )


def test_money_columns_hold_large_exact_fen(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    big = 9_000_000_000_000_000  # 90 trillion yuan, in fen, beyond 32 bits and float precision
    with engine.begin() as conn:
        conn.execute(
            tables.ledger_entry.insert().values(
                entry_date=datetime(2026, 10, 1).date(),
                direction="expenditure",
                func_code="2050201",
                amount_fen=big + 1,
                recorded_at=datetime.now(UTC),
                recorded_by="t",
            )
        )
    with engine.connect() as conn:
        assert conn.execute(sa.select(tables.ledger_entry.c.amount_fen)).scalar_one() == big + 1


def test_totals_are_exact_past_64_bits_and_never_overflow(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    amounts = [2**62, 2**62, 2**62 - 1, -7, 3]  # sums past 2**63 - 1 while adding up
    rows = [
        {
            "entry_date": datetime(2026, 10, 1).date(),
            "direction": direction,
            "func_code": "2050201",
            "amount_fen": amount,
            "recorded_at": datetime.now(UTC),
            "recorded_by": "t",
        }
        for direction, sign in (("revenue", 1), ("expenditure", -1))
        for amount in amounts
        for amount in [amount * sign]
    ]
    with engine.begin() as conn:
        conn.execute(tables.ledger_entry.insert(), rows)
    entry = tables.ledger_entry
    with engine.connect() as conn:
        by_direction = dict(
            conn.execute(
                sa.select(entry.c.direction, total(entry.c.amount_fen)).group_by(entry.c.direction)
            ).all()
        )
        nothing = conn.execute(
            sa.select(total(entry.c.amount_fen)).where(entry.c.func_code == "none")
        ).scalar_one()
    assert by_direction == {"revenue": sum(amounts), "expenditure": -sum(amounts)}
    assert sum(amounts) > 2**63 and nothing == 0


@pytest.mark.parametrize(
    ("text", "fen"),
    [("1234.56", 123456), ("0.01", 1), ("1,000", 100000), ("-100.5", -10050), ("7", 700)],
)
def test_yuan_amounts_parse_to_exact_fen(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    "text", ["1.234", "abc", "", "1e5", "nan", "1.2.3", "0x10", "10000000000000.01", "9" * 30]
)
def test_malformed_amounts_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_yuan(text)


def test_fen_render_as_yuan_with_two_decimals() -> None:
    assert format_yuan(123456789) == "1,234,567.89"
    assert format_yuan(-5) == "-0.05"


def test_unreachable_postgres_is_a_clear_error() -> None:
    with pytest.raises(DatabaseUnavailable, match="cannot open database"):
        open_engine("postgresql://nobody@127.0.0.1:1/none")


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(DatabaseError, match="not supported"):
        open_engine("mysql://localhost/x")


def test_a_sqlite_database_holding_anything_is_migrated_in_place(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'kept.db'}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE mine (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO mine VALUES (42)")
        migrate.upgrade(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT x FROM mine").scalar() == 42
        assert migrate.check_schema(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_bulk_insert_keeps_every_value_exactly(engine: sa.Engine) -> None:
    """Rows handed to the driver in bulk (COPY text on PostgreSQL, built without the csv
    module) come back exactly, whatever their text holds: tabs, newlines, backslashes, a
    literal \\N, carriage returns, empty text; NULL stays NULL; times and booleans too."""
    migrate.upgrade(engine)
    at = datetime(2026, 11, 23, 8, 0, 0, 123456, tzinfo=UTC)
    texts = ["a\tb", "c\nd", "e\\f", "\\N", "g\rh", "", "豫财教〔2026〕12号", "x\\\ty\n\\"]
    columns = ("id", "year", "issuer", "recipient", "doc_no", "title", "upper_doc_no",
               "func_code", "econ_code", "fund_code", "transfer_type", "project_code",
               "created_at", "created_by", "leaf", "direct")  # fmt: skip
    plain = [
        (f"id-{n:04d}", 2026, "410000", "410100", f"豫财预〔2026〕{n + 1}号", f"第{n}项",
         None, "2050201", "50201", "111", "general", None, at, "op", n, n % 2 == 0)
        for n in range(2500)
    ]  # fmt: skip
    hostile = [
        (f"odd-{n}", 2026, "410000", "410100", text, text, text or None, "2050201", "50201",
         "111", "special", None if n % 2 else text, at, text, n, bool(n % 2))
        for n, text in enumerate(texts)
    ]  # fmt: skip
    rows = plain[:1200] + hostile + plain[1200:]  # the odd ones inside one slice of many
    with engine.begin() as conn:
        assert insert_rows(conn, tables.appropriation, columns, iter(rows)) == len(rows)
    with engine.connect() as conn:
        got = conn.execute(
            sa.select(*(tables.appropriation.c[name] for name in columns)).order_by(
                tables.appropriation.c.id
            )
        ).all()
    assert [tuple(r) for r in got] == sorted(rows)


def _bad_row(row: tuple[Any, ...], fault: str) -> tuple[Any, ...]:
    if fault == "short":
        return row[:15]
    if fault == "short, a tab in its title":  # 15 values, 16 once split at its tab
        return (*row[:14], "第\t项")
    if fault == "long":
        return (*row, "extra")
    assert fault == "naive time"
    return (*row[:10], row[10].replace(tzinfo=None), *row[11:])


@pytest.mark.parametrize("fault", ["short", "short, a tab in its title", "long", "naive time"])
@pytest.mark.parametrize("index", [20, 1_500])
def test_a_bad_bulk_row_is_refused_as_itself(engine: sa.Engine, fault: str, index: int) -> None:
    """Rows are handed over a slice at a time as columns: a row with a value more or less
    than the columns, or a naive time, in the first slice or a later one, refuses the
    insert with the ValueError that names it (not the database's cancelled COPY); nothing
    is dropped or shifted into another column (a tab in a short row's value included),
    and the caller's transaction writes nothing."""
    migrate.upgrade(engine)
    at = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)
    columns = ("id", "year", "issuer", "recipient", "doc_no", "upper_doc_no", "func_code",
               "econ_code", "fund_code", "transfer_type", "created_at", "created_by", "leaf",
               "direct", "title", "project_code")  # fmt: skip
    rows: list[tuple[Any, ...]] = [
        (f"id-{n:04d}", 2026, "410000", "410100", "豫财预〔2026〕1号", None, "2050201",
         "50201", "111", "general", at, "op", n, False, f"第{n}项", None)
        for n in range(2_000)
    ]  # fmt: skip
    rows[index] = _bad_row(rows[index], fault)
    with pytest.raises(Exception) as refused, engine.begin() as conn:
        insert_rows(conn, tables.appropriation, columns, iter(rows))
    assert type(refused.value) is ValueError, repr(refused.value)
    assert ("naive datetime" if fault == "naive time" else "values for 16 columns") in str(
        refused.value
    )
    with engine.connect() as conn:
        count = sa.select(sa.func.count()).select_from(tables.appropriation)
        assert conn.execute(count).scalar() == 0


def test_reports_from_before_get_their_month_to_date_and_keep_their_figures(
    engine: sa.Engine,
) -> None:
    assert migrate.upgrade(engine, "0012") == "0012"
    at = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        for number, period in ((1, "2026-10"), (2, "2026-10-D2")):
            conn.execute(
                sa.text(
                    "INSERT INTO report (id, node_code, period, kind, year, version, state, "
                    "negative_entries, generated_at, generated_by) VALUES (:id, '410102', "
                    ":period, :kind, 2026, 1, 'draft', false, :at, 'x')"
                ),
                {
                    "id": number,
                    "period": period,
                    "kind": "tenday" if "D" in period else "monthly",
                    "at": at,
                },  # fmt: skip
            )
            conn.execute(
                sa.text(
                    "INSERT INTO report_line (report_id, section, level, code, budget_fen, "
                    "period_fen, ytd_fen) VALUES (:id, 'expenditure', 0, '', 5, 300, 900)"
                ),
                {"id": number},
            )
    assert migrate.upgrade(engine) == migrate.head_revision()
    line = tables.report_line
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                line.c.report_id,
                line.c.period_fen,
                line.c.month_fen,
                line.c.last_year_fen,
                line.c.ytd_fen,
            ).order_by(line.c.report_id)  # fmt: skip
        ).all()
    assert [tuple(r) for r in rows] == [(1, 300, 300, 0, 900), (2, 300, 300, 0, 900)]


def test_rows_from_before_0026_keep_their_english_text_up_and_down(engine: sa.Engine) -> None:
    from alembic import command

    assert migrate.upgrade(engine, "0025") == "0025"
    at = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO outbox (id, recipient, kind, seq, filename, created_at, attempts,"
                " next_attempt_at, receipt_verdict, receipt_reason) VALUES ('a', '410102',"
                " 'appropriation', 1, 'f', :at, 1, :at, 'rejected', 'amount mismatch')"
            ),
            {"at": at},
        )
        conn.execute(
            sa.text(
                "INSERT INTO file_attempt (stage, name, attempts, first_failed_at,"
                " last_failed_at, error) VALUES ('take', 'x.fcs', 2, :at, :at, 'boom')"
            ),
            {"at": at},
        )
    assert migrate.upgrade(engine) == migrate.head_revision()
    with engine.connect() as conn:
        sent = conn.execute(sa.select(channels.outbox)).one()
        failed = conn.execute(sa.select(channels.file_attempt)).one()
    assert (sent.receipt_reason, sent.receipt_reason_said) == ("amount mismatch", None)
    assert (failed.error, failed.error_said) == ("boom", None)
    config = migrate._config()
    with engine.begin() as conn:  # down again, as alembic runs it
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        config.attributes["connection"] = conn
        command.downgrade(config, "0025")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT receipt_reason FROM outbox").scalar() == (
            "amount mismatch"
        )
        assert conn.exec_driver_sql("SELECT error FROM file_attempt").scalar() == "boom"
    assert migrate.upgrade(engine) == migrate.head_revision()


def test_a_fence_from_before_0028_keeps_its_point_and_remembers_no_epoch_up_and_down(
    engine: sa.Engine,
) -> None:
    from alembic import command

    assert migrate.upgrade(engine, "0027") == "0027"
    at = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO rejoin_fence (node, request_id, void_before, out_seq, in_seq,"
                " answered_at, epoch, versioned) VALUES ('410100', :r, :at, 3, 4, :at, :e, :v)"
            ),
            {"r": "a" * 64, "at": at, "e": "b" * 32, "v": True},
        )
    assert migrate.upgrade(engine) == migrate.head_revision()
    with engine.begin() as conn:
        row = conn.exec_driver_sql("SELECT replaced, out_seq, in_seq FROM rejoin_fence").one()
        assert tuple(row) == (None, 3, 4)
        conn.exec_driver_sql("UPDATE rejoin_fence SET replaced = '" + "c" * 32 + "'")
    config = migrate._config()
    with engine.begin() as conn:  # down again, as alembic runs it
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        config.attributes["connection"] = conn
        command.downgrade(config, "0027")
    with engine.connect() as conn:
        columns = [c["name"] for c in sa.inspect(conn).get_columns("rejoin_fence")]
        assert "replaced" not in columns
        assert tuple(conn.exec_driver_sql("SELECT out_seq, epoch FROM rejoin_fence").one()) == (
            3,
            "b" * 32,
        )
    assert migrate.upgrade(engine) == migrate.head_revision()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT replaced FROM rejoin_fence").scalar() is None


def test_a_fence_from_before_0030_knows_its_epoch_up_and_down(engine: sa.Engine) -> None:
    from alembic import command

    assert migrate.upgrade(engine, "0029") == "0029"
    at = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO rejoin_fence (node, request_id, void_before, out_seq, in_seq,"
                " answered_at, epoch) VALUES ('410100', :r, :at, 3, 4, :at, :e)"
            ),
            {"r": "a" * 64, "at": at, "e": "b" * 32},
        )
    assert migrate.upgrade(engine) == migrate.head_revision()
    with engine.begin() as conn:
        row = conn.exec_driver_sql("SELECT epoch_unknown, epoch FROM rejoin_fence").one()
        assert tuple(row) == (None, "b" * 32)
        conn.exec_driver_sql("UPDATE rejoin_fence SET epoch_unknown = TRUE, epoch = NULL")
    config = migrate._config()
    with engine.begin() as conn:  # down again, as alembic runs it
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        config.attributes["connection"] = conn
        command.downgrade(config, "0029")
    with engine.connect() as conn:
        columns = [c["name"] for c in sa.inspect(conn).get_columns("rejoin_fence")]
        assert "epoch_unknown" not in columns
        assert conn.exec_driver_sql("SELECT out_seq FROM rejoin_fence").scalar() == 3
    assert migrate.upgrade(engine) == migrate.head_revision()


def test_the_revision_is_read_as_alembic_reads_it(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The revision is read from Alembic's table directly (every opening of a node reads
    it); where that is not one row, Alembic says what it is (None for an empty table, an
    error for two heads)."""
    migrate.upgrade(engine)
    head = migrate.head_revision()
    with monkeypatch.context() as patched:
        patched.setattr(MigrationContext, "configure", None)  # not asked
        assert migrate.current_revision(engine) == head
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM alembic_version"))
    assert migrate.current_revision(engine) is None
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO alembic_version VALUES ('{head}'), ('other')"))
    with pytest.raises(DatabaseError, match="more than one head"):
        migrate.current_revision(engine)


def test_reading_the_revision_and_letting_go_of_pages_never_wait_behind_a_writer(
    tmp_path: Path,
) -> None:
    """Every opening of a node reads its revision, and ``network sync`` lets go of a
    node's cached pages after its round: neither takes SQLite's write lock, so neither
    waits (up to the busy timeout, then fails) while an agent writes to the node."""
    path = tmp_path / "n.db"
    engine = open_engine(sqlite_url(path))
    try:
        migrate.upgrade(engine)
        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        done: list[object] = []

        def both() -> None:
            done.append(migrate.current_revision(engine))
            release_memory(engine)
            done.append("released")

        worker = threading.Thread(target=both, daemon=True)
        worker.start()
        worker.join(10)  # the busy timeout is 30 s: waiting for the lock would outlast this
        finished = not worker.is_alive()
        writer.rollback()
        worker.join()
        writer.close()
    finally:
        engine.dispose()
    assert finished and done == [migrate.head_revision(), "released"]
