"""An appropriation event always names an appropriation that exists, on both databases.

On SQLite a foreign key says so; on PostgreSQL (where its per-row trigger cost nearly
half of a large COPY) every writer checks it. Each writer is tried here with an event
of an appropriation that does not exist, through its real code: the operator's change
(调增), a received change-set, an own change-set taken back after a restore, and the
loading of a snapshot that holds one. Each is refused and leaves no event behind.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from nodes import Node
from nodes.fiscal import appropriations
from nodes.network import Network, sync_network
from schema import references, snapshot
from schema.channels import changeset_log
from schema.engine import ensure_database, open_engine
from schema.errors import DatabaseError
from schema.tables import appropriation, appropriation_event
from sync.changeset import verify
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK
from sync.errors import InputError
from sync.pki import load_signer

PROVINCE, CITY = "410000", "410100"
GHOST = "410000-2026-999999"  # numbered by the province, never issued
AT = "2026-11-23T08:00:00Z"


def increase(ident: str) -> dict[str, Any]:
    return {"op": "increase", "id": ident, "amount": 100, "doc": "豫财教〔2026〕30号",
            "actor": "operator", "at": AT}  # fmt: skip


def events_without_appropriation(home: Path) -> tuple[int, list[str]]:
    """(events naming no appropriation, by a plain anti-join; what :mod:`references` finds)."""
    with Node.open(home) as node, node.engine.connect() as conn:
        orphans = conn.execute(
            sa.select(sa.func.count())
            .select_from(appropriation_event)
            .where(~sa.exists().where(appropriation.c.id == appropriation_event.c.appropriation_id))
        ).scalar_one()
        return int(orphans), references.dangling(conn)


def raw_event(ident: str) -> dict[str, Any]:
    return {"appropriation_id": ident, "seq": 1, "kind": "issue", "amount_fen": 1,
            "doc_no": "d", "actor": "a", "at": datetime.now(UTC)}  # fmt: skip


def test_only_postgresql_leaves_the_reference_to_the_writers(
    province: Network, backend: str
) -> None:
    with Node.open(province.path / CITY) as node:
        assert [fk.name for fk in references.unenforced(backend)] == (
            [] if backend == "sqlite" else ["fk_appropriation_event_appropriation_id_appropriation"]
        )
        if backend == "sqlite":
            with pytest.raises(sa.exc.IntegrityError), node.engine.begin() as conn:
                conn.execute(appropriation_event.insert().values(**raw_event(GHOST)))
        else:  # what no writer does, written by hand: found by the check
            with node.engine.connect() as conn:
                conn.execute(appropriation_event.insert().values(**raw_event(GHOST)))
                assert references.dangling(conn) == [
                    f"appropriation_event.appropriation_id = {GHOST}"
                ]
                conn.rollback()
    assert events_without_appropriation(province.path / CITY) == (0, [])


def test_an_operator_cannot_change_an_appropriation_that_does_not_exist(
    province: Network,
) -> None:
    with Node.open(province.path / PROVINCE) as node, pytest.raises(InputError):
        appropriations.change(node, GHOST, "increase", 100, "豫财教〔2026〕30号", actor="t")
    assert events_without_appropriation(province.path / PROVINCE) == (0, [])


def test_a_received_change_of_an_unknown_appropriation_is_refused(province: Network) -> None:
    with Node.open(province.path / PROVINCE) as node, node.engine.begin() as conn:
        signer = load_signer(node.home.keys)
        enqueue(conn, node.spool, signer, CITY, "appropriation", [increase(GHOST)], SYSTEM_CLOCK)
    assert sync_network(province.path, until_quiet=True, max_rounds=10).quiet
    with Node.open(province.path / CITY) as node, node.engine.connect() as conn:
        verdict = conn.execute(sa.select(changeset_log.c.verdict, changeset_log.c.reason)).one()
    assert verdict.verdict == "rejected"
    assert f"increase of unknown appropriation {GHOST}" in verdict.reason
    assert events_without_appropriation(province.path / CITY) == (0, [])


def test_an_own_change_set_taken_back_cannot_change_what_this_node_does_not_hold(
    province: Network,
) -> None:
    """What a restored issuer takes back (its own change-sets, returned by the recipient)
    is refused when it changes an appropriation the issuer does not hold."""
    with Node.open(province.path / PROVINCE) as node:
        with node.engine.begin() as conn:
            written = enqueue(
                conn, node.spool, load_signer(node.home.keys), CITY, "appropriation",
                [increase(GHOST)], SYSTEM_CLOCK,
            )  # fmt: skip
        verified = verify(written.path, node.trust(), recipient=CITY)
        with pytest.raises(InputError, match=f"changes appropriation {GHOST}"):
            with node.engine.begin() as conn:
                appropriations.adopt_issued(conn, verified)
    assert events_without_appropriation(province.path / PROVINCE) == (0, [])


def test_a_snapshot_holding_an_event_of_no_appropriation_is_not_loaded(
    province: Network, backend: str, request: pytest.FixtureRequest
) -> None:
    """On PostgreSQL a snapshot is loaded with COPY: the load checks every event (a backup
    taken of a database holding a dangling event, which SQLite would refuse to hold)."""
    if backend == "sqlite":
        pytest.skip("a SQLite snapshot is the database file, whose foreign key holds")
    parts: dict[str, io.BytesIO] = {}
    with Node.open(province.path / CITY) as node:
        with node.engine.begin() as conn:
            conn.execute(appropriation_event.insert().values(**raw_event(GHOST)))
        snap, _ = snapshot.export_postgresql(
            node.engine, CITY, lambda t: parts.setdefault(t, io.BytesIO())
        )
    target = str(request.getfixturevalue("pg_url_template")).format(code="restored")
    ensure_database(target)
    engine = open_engine(target)
    try:
        loaded = ((name, iter([part.getvalue()])) for name, part in parts.items())
        with pytest.raises(DatabaseError, match=f"appropriation_id = {GHOST}"):
            snapshot.load_postgresql(engine, snap.revision, loaded)
        with engine.connect() as conn:
            assert not sa.inspect(conn).has_table("appropriation_event")  # nothing loaded
    finally:
        engine.dispose()
