"""A batch being issued looks up the 文号 it carries among what its issuer issued before
(is the same line issued already?) by the index on (issuer, year, 文号): the cost goes
with the lines found, not with every appropriation the issuer issued that year. On
SQLite and PostgreSQL, as each database plans the query."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from nodes.fiscal.appropriations.duplicates import issued_with
from schema.bulk import insert_rows
from schema.tables import appropriation, appropriation_event

AT = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
INDEX = "ix_appropriation_issuer_year_doc_no"


def fill(engine: sa.Engine, count: int) -> None:
    """``count`` appropriations issued by the province, seven to a 文号, with their events."""
    columns = ("id", "year", "issuer", "recipient", "doc_no", "title", "func_code",
               "econ_code", "fund_code", "transfer_type", "created_at", "created_by", "leaf")  # fmt: skip
    rows = [
        (f"410000-2026-{n:06d}", 2026, "410000", "410181", f"豫财教〔2026〕{n // 7 + 1}号",
         f"第{n}项", "2050201", "50201", "111", "special", AT, "test", n % 65_536)
        for n in range(count)
    ]  # fmt: skip
    events = [(r[0], 1, "issue", 100 + n, r[4], "test", AT) for n, r in enumerate(rows)]
    with engine.begin() as conn:
        insert_rows(conn, appropriation, columns, rows)
        insert_rows(
            conn,
            appropriation_event,
            ("appropriation_id", "seq", "kind", "amount_fen", "doc_no", "actor", "at"),
            events,
        )
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE appropriation")
            conn.exec_driver_sql("ANALYZE appropriation_event")


def test_earlier_lines_are_looked_up_by_their_document_number(
    migrated_engine: sa.Engine,
) -> None:
    fill(migrated_engine, 20_000)
    docs = ["豫财教〔2026〕5号", "豫财教〔2026〕2000号", "豫财教〔2026〕9999号"]
    query = issued_with("410000", [2026], docs)
    with migrated_engine.connect() as conn:
        found = conn.execute(query).all()
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        if conn.dialect.name == "sqlite":
            plan = " ".join(
                str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
            )
            assert f"USING INDEX {INDEX} (issuer=? AND year=? AND doc_no=?)" in plan, plan
        else:
            plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
            assert INDEX in plan and "doc_no" in plan.split("Index Cond:", 1)[1], plan
    assert sorted(r.doc_no for r in found) == sorted(d for d in docs[:2] for _ in range(7))
