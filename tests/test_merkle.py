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
from schema.engine import reading
from sync import merkle


def buckets(migrated_engine: sa.Engine, scope: str) -> set[tuple[object, ...]]:
    with reading(migrated_engine) as conn:
        rows = conn.execute(sa.select(digest_bucket).where(digest_bucket.c.scope == scope))
        return {tuple(r[1:]) for r in rows}


def changed(scope: str, held: dict[str, int], batch: list[tuple[str, int]]) -> merkle.Changes:
    """The changes of one transaction: each (key, version) adds the key's record, or
    removes it (version 0), or changes it; ``held`` (key → digest) follows."""
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
    return changes


def applied(
    migrated_engine: sa.Engine, scope: str, batches: list[list[tuple[str, int]]]
) -> Iterator[dict[str, int]]:
    """Each batch applied in a transaction of its own; after each, the records held."""
    held: dict[str, int] = {}
    for batch in batches:
        changes = changed(scope, held, batch)
        with migrated_engine.begin() as conn:
            merkle.apply(conn, changes)
        yield held


KEYS = st.sampled_from([f"410000-2026-{n:06d}" for n in range(1, 40)])
STEPS = st.lists(st.tuples(KEYS, st.integers(0, 3)), min_size=1, max_size=30)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(STEPS, min_size=1, max_size=6))
def test_digests_kept_as_records_change_equal_a_recomputation(
    migrated_engine: sa.Engine, batches: list[list[tuple[str, int]]]
) -> None:
    """Random records added, changed and removed in several transactions: the buckets
    always equal those rebuilt from scratch from the records that remain."""
    scope = f"t:{uuid.uuid4().hex}"
    for held in applied(migrated_engine, scope, batches):
        kept = buckets(migrated_engine, scope)
        with migrated_engine.begin() as conn:
            merkle.rebuild(conn, scope + ":fresh", held.items())
        fresh = {(lvl, b, d, n) for lvl, b, d, n in buckets(migrated_engine, scope + ":fresh")}
        assert kept == fresh
        with migrated_engine.begin() as conn:
            conn.execute(digest_bucket.delete().where(digest_bucket.c.scope == scope + ":fresh"))


def _keys_in_leaves(below: int, count: int) -> list[str]:
    """``count`` keys whose leaves are all below ``below``: records close together."""
    found = []
    for n in range(10_000_000):
        key = f"410000-2026-{n:07d}"
        if merkle.leaf_of(key) < below:
            found.append(key)
            if len(found) == count:
                return found
    raise AssertionError("too few keys found")


CLOSE = _keys_in_leaves(40, 80)  # about two records to a leaf, among 40 leaves
APART = [f"410000-2026-{n:06d}" for n in range(1, 8)]  # leaves far apart


def expected_buckets(scope_records: dict[str, int]) -> set[tuple[object, ...]]:
    """The rows of a scope holding ``scope_records`` (key → digest), computed here."""
    sums: dict[tuple[int, int], list[int]] = {}
    for key, digest in scope_records.items():
        leaf = merkle.leaf_of(key)
        for place in ((2, leaf), (1, leaf // merkle.LEAVES_PER_BUCKET), (0, 0)):
            kept = sums.setdefault(place, [0, 0])
            kept[0] = (kept[0] + digest) % 2**256
            kept[1] += 1
    return {(level, b, f"{d:064x}", n) for (level, b), (d, n) in sums.items() if n}


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(
        st.lists(
            st.tuples(st.sampled_from(CLOSE + APART), st.integers(0, 3)), min_size=1, max_size=40
        ),
        min_size=1,
        max_size=6,
    ),
    block=st.sampled_from([3, 7, 5_000]),
)
def test_buckets_read_by_range_keep_the_untouched_ones_between(
    migrated_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    batches: list[list[tuple[str, int]]],
    block: int,
) -> None:
    """Records many to a leaf, leaves close together: the blocks of buckets are read and
    replaced by their range (a few far apart by list), and the buckets of a range that a
    change does not touch stay as they were; every bucket equals its sum, computed here."""
    monkeypatch.setattr(merkle, "BLOCK", block)
    scope = f"t:{uuid.uuid4().hex}"
    for held in applied(migrated_engine, scope, batches):
        assert buckets(migrated_engine, scope) == expected_buckets(held)


def test_a_dense_range_puts_back_the_buckets_it_does_not_change(migrated_engine: sa.Engine) -> None:
    """Even leaves hold records; then the odd leaves between them get theirs, and one
    even leaf is emptied: one range covers them all, and each even leaf's row is as
    before (or gone, the emptied one)."""
    scope = f"t:{uuid.uuid4().hex}"
    first = merkle.Changes(scope)
    for leaf in range(0, 100, 2):
        first.add(f"even-{leaf}", leaf + 1, leaf)
    with migrated_engine.begin() as conn:
        merkle.apply(conn, first)
    before = {r for r in buckets(migrated_engine, scope) if r[0] == 2}
    second = merkle.Changes(scope)
    for leaf in range(1, 100, 2):
        second.add(f"odd-{leaf}", 1000 + leaf, leaf)
    second.delta[50] -= 51  # the record of leaf 50 goes
    second.count[50] -= 1
    with migrated_engine.begin() as conn:
        merkle.apply(conn, second)
    leaves = {r[1]: r for r in buckets(migrated_engine, scope) if r[0] == 2}
    assert merkle._dense(sorted(second.delta))
    assert set(leaves) == set(range(100)) - {50}
    assert {r for r in before if r[1] != 50} <= set(leaves.values())
    assert leaves[51] == (2, 51, f"{1051:064x}", 1)
    root = next(r for r in buckets(migrated_engine, scope) if r[0] == 0)
    total = sum(leaf + 1 for leaf in range(0, 100, 2) if leaf != 50)
    assert root == (0, 0, f"{total + sum(1000 + leaf for leaf in range(1, 100, 2)):064x}", 99)


def test_the_differences_are_found_level_by_level(migrated_engine: sa.Engine) -> None:
    records = {f"410000-2026-{n:06d}": merkle.record_digest([n]) for n in range(5_000)}
    changed = dict(records)
    altered = ["410000-2026-000007", "410000-2026-004321"]
    for key in altered:
        changed[key] = merkle.record_digest(["other"])
    del changed["410000-2026-000100"]
    with migrated_engine.begin() as conn:
        merkle.rebuild(conn, "a", records.items())
        merkle.rebuild(conn, "b", changed.items())
    with reading(migrated_engine) as conn:
        roots = [merkle.read_level(conn, s, 0) for s in ("a", "b")]
        assert merkle.differing(*roots) == [0]
        top = merkle.differing(merkle.read_level(conn, "a", 1), merkle.read_level(conn, "b", 1))
        leaves = merkle.differing(
            merkle.read_level(conn, "a", 2, top), merkle.read_level(conn, "b", 2, top)
        )
    expected = {merkle.leaf_of(k) for k in [*altered, "410000-2026-000100"]}
    assert set(leaves) == expected
    assert set(top) == {leaf // merkle.LEAVES_PER_BUCKET for leaf in expected}


@pytest.mark.parametrize(
    "within",
    [range(merkle.LEVEL1), range(0, merkle.LEVEL1, 2), [*range(0, 700, 3), *range(700, 1024)]],
    ids=["every_bucket", "every_other", "scattered_then_every"],
)
def test_the_leaves_under_a_thousand_level1_buckets_are_read_at_once(
    migrated_engine: sa.Engine, within: list[int]
) -> None:
    # every level-1 bucket differs: SQLite refused one condition per bucket, nested
    # past its depth of 1,000, and a full reconciliation of honest sides failed
    records = {f"410000-2026-{n:06d}": merkle.record_digest([n]) for n in range(20_000)}
    with migrated_engine.begin() as conn:
        merkle.rebuild(conn, "many", records.items())
    with reading(migrated_engine) as conn:
        every = merkle.read_level(conn, "many", 2)
        read = merkle.read_level(conn, "many", 2, within)
        level1 = merkle.read_level(conn, "many", 1, within)
    wanted = set(within)
    assert read == {b: d for b, d in every.items() if b // merkle.LEAVES_PER_BUCKET in wanted}
    assert set(level1) == wanted


def test_the_wire_form_round_trips_and_refuses_garbage() -> None:
    digests = {3: merkle.record_digest(["x"]), 1023: merkle.record_digest(["y"])}
    decoded = merkle.decode_level(merkle.encode_level(digests), merkle.LEVEL1)
    assert merkle.differing(digests, decoded) == []
    for bad in ([], {"1024": "00" * 8}, {"x": "00" * 8}, {"1": "zz"}, {"1": 5}):
        with pytest.raises(ValueError):
            merkle.decode_level(bad, merkle.LEVEL1)
