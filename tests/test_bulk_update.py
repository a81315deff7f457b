"""Rows changed in bulk where they stand (``schema.bulk.update_rows``), on SQLite and
PostgreSQL: each row takes its own values, a key no row has changes nothing, and the
rows not named are left as they were."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from schema import bulk, tables
from schema.bulk import insert_rows, update_rows
from schema.digests import digest_bucket

KEYS = ("scope", "level", "bucket")
VALUES = ("digest", "records")


def held(migrated_engine: sa.Engine) -> dict[tuple[str, int, int], tuple[str, int]]:
    with migrated_engine.connect() as conn:
        rows = conn.execute(sa.select(digest_bucket))
        return {(r.scope, r.level, r.bucket): (r.digest, r.records) for r in rows}


@pytest.mark.parametrize("per_statement", [3, 10_000])
def test_each_row_named_takes_its_values_and_no_other_changes(
    migrated_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, per_statement: int
) -> None:
    monkeypatch.setattr(bulk, "_UPDATE_ROWS", per_statement)
    odd = ["a\tb", "back\\slash", 'quote"s', "it's", "长度", "{1,2}", "NULL", "\\N", "é\n"]
    first = [
        (scope, level, bucket, f"{bucket:064x}", bucket + 1)
        for scope in ("410000>410181", *odd)
        for level in (1, 2)
        for bucket in range(5)
    ]
    with migrated_engine.begin() as conn:
        insert_rows(conn, digest_bucket, (*KEYS, *VALUES), first)
    changed = [
        (scope, level, bucket, f"{scope}{bucket}"[:64], 2**63 - 1 - bucket)
        for scope, level, bucket, _, _ in first
        if bucket % 2 == 0 and level == 2
    ]
    nobody = [("410000>410199", 2, 0, "0" * 64, 7), ("410000>410181", 2, 99, "0" * 64, 7)]
    with migrated_engine.begin() as conn:
        update_rows(conn, digest_bucket, KEYS, VALUES, changed + nobody)
    expected = {row[:3]: row[3:] for row in first}
    expected.update({row[:3]: row[3:] for row in changed})
    assert held(migrated_engine) == expected


def test_nothing_to_change_sends_nothing(migrated_engine: sa.Engine) -> None:
    with migrated_engine.begin() as conn:
        update_rows(conn, digest_bucket, KEYS, VALUES, [])
    assert held(migrated_engine) == {}


def test_a_column_neither_text_nor_integer_is_refused(migrated_engine: sa.Engine) -> None:
    with migrated_engine.begin() as conn, pytest.raises(TypeError, match="not text or integer"):
        update_rows(conn, tables.appropriation, ("id",), ("created_at",), [("x", None)])
