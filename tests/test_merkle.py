"""Bucket digests: kept in step with the records, equal to a recomputation from scratch,
and compared at the cost of the differences. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schema.digests import digest_bucket
from schema.engine import open_engine, reading
from schema.migrate import upgrade
from sync import merkle


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = open_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def buckets(engine: sa.Engine, scope: str) -> set[tuple[object, ...]]:
    with reading(engine) as conn:
        rows = conn.execute(sa.select(digest_bucket).where(digest_bucket.c.scope == scope))
        return {tuple(r[1:]) for r in rows}


KEYS = st.sampled_from([f"410000-2026-{n:06d}" for n in range(1, 40)])
STEPS = st.lists(st.tuples(KEYS, st.integers(0, 3)), min_size=1, max_size=30)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(STEPS, min_size=1, max_size=6))
def test_digests_kept_as_records_change_equal_a_recomputation(
    engine: sa.Engine, batches: list[list[tuple[str, int]]]
) -> None:
    """Random records added, changed and removed in several transactions: the buckets
    always equal those rebuilt from scratch from the records that remain."""
    scope = f"t:{uuid.uuid4().hex}"
    held: dict[str, int] = {}
    for batch in batches:
        changes = merkle.Changes(scope)
        for key, version in batch:
            digest = merkle.record_digest([key, version])
            if key not in held:
                changes.add(key, digest)
                held[key] = digest
            elif version == 0:
                changes.remove(key, held.pop(key))
            else:
                changes.replace(key, held[key], digest)
                held[key] = digest
        with engine.begin() as conn:
            merkle.apply(conn, changes)
        kept = buckets(engine, scope)
        with engine.begin() as conn:
            merkle.rebuild(conn, scope + ":fresh", held.items())
        fresh = {(lvl, b, d, n) for lvl, b, d, n in buckets(engine, scope + ":fresh")}
        assert kept == fresh
        with engine.begin() as conn:
            conn.execute(digest_bucket.delete().where(digest_bucket.c.scope == scope + ":fresh"))


def test_the_differences_are_found_level_by_level(engine: sa.Engine) -> None:
    records = {f"410000-2026-{n:06d}": merkle.record_digest([n]) for n in range(5_000)}
    changed = dict(records)
    altered = ["410000-2026-000007", "410000-2026-004321"]
    for key in altered:
        changed[key] = merkle.record_digest(["other"])
    del changed["410000-2026-000100"]
    with engine.begin() as conn:
        merkle.rebuild(conn, "a", records.items())
        merkle.rebuild(conn, "b", changed.items())
    with reading(engine) as conn:
        roots = [merkle.read_level(conn, s, 0) for s in ("a", "b")]
        assert merkle.differing(*roots) == [0]
        top = merkle.differing(merkle.read_level(conn, "a", 1), merkle.read_level(conn, "b", 1))
        leaves = merkle.differing(
            merkle.read_level(conn, "a", 2, top), merkle.read_level(conn, "b", 2, top)
        )
    expected = {merkle.leaf_of(k) for k in [*altered, "410000-2026-000100"]}
    assert set(leaves) == expected
    assert set(top) == {leaf // merkle.LEAVES_PER_BUCKET for leaf in expected}


def test_the_wire_form_round_trips_and_refuses_garbage() -> None:
    digests = {3: merkle.record_digest(["x"]), 1023: merkle.record_digest(["y"])}
    decoded = merkle.decode_level(merkle.encode_level(digests), merkle.LEVEL1)
    assert merkle.differing(digests, decoded) == []
    for bad in ([], {"1024": "00" * 8}, {"x": "00" * 8}, {"1": "zz"}, {"1": 5}):
        with pytest.raises(ValueError):
            merkle.decode_level(bad, merkle.LEVEL1)
