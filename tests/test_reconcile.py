"""Reconciliation between levels (上下级对账), on SQLite and PostgreSQL provinces."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from click.testing import CliRunner

from cli import cli
from nodes import Node
from nodes.fiscal.appropriations import Allocation, allocate
from nodes.fiscal.reconcile.records import stale
from nodes.network import Network, sync_network
from schema.digests import digest_bucket
from schema.engine import reading
from schema.migrate import MIGRATIONS

YEAR, FUNC, ECON, FUND = 2026, "2050202", "50201", "111"


def issue(network: Network, origin: str, recipient: str, *amounts: int) -> list[str]:
    with Node.open(network.path / origin) as node:
        lines = [
            Allocation(recipient, a, FUNC, ECON, FUND, f"豫财预〔{YEAR}〕{i}号", YEAR)
            for i, a in enumerate(amounts, 1)
        ]
        return allocate(node, lines, actor="test")


def test_an_upgrade_past_the_digests_builds_them_from_the_records(province: Network) -> None:
    issue(province, "410000", "410100", 100_00, 200_00, 300_00)
    assert sync_network(province.path, until_quiet=True).quiet
    for code in ("410000", "410100"):
        with Node.open(province.path / code) as node:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            with node.engine.begin() as conn:
                config.attributes["connection"] = conn
                command.downgrade(config, "0005")
        result = CliRunner().invoke(cli, ["--home", str(province.path / code), "db", "upgrade"])
        assert result.exit_code == 0, result.output + result.stderr
        with Node.open(province.path / code) as node, reading(node.engine) as conn:
            kept = conn.execute(sa.select(sa.func.count()).select_from(digest_bucket)).scalar()
            assert kept and stale(conn, code) == []


def sessions(network: Network, code: str) -> list[sa.Row]:
    from schema.tables import reconciliation

    with Node.open(network.path / code) as node, reading(node.engine) as conn:
        return list(conn.execute(sa.select(reconciliation).order_by(reconciliation.c.id)))


def findings_at(network: Network, code: str, session: str) -> list[sa.Row]:
    from schema.tables import reconciliation_finding as rf

    with Node.open(network.path / code) as node, reading(node.engine) as conn:
        return list(
            conn.execute(
                sa.select(rf).where(rf.c.reconciliation_id == session).order_by(rf.c.number)
            )
        )


def test_identical_sides_sign_an_agreement(province: Network) -> None:
    from nodes.fiscal.reconcile.protocol import start

    issue(province, "410000", "410100", 100_00, 200_00, 300_00)
    assert sync_network(province.path, until_quiet=True).quiet
    with Node.open(province.path / "410000") as node:
        session = start(node, "410100")
    assert sync_network(province.path, until_quiet=True).quiet
    (mine,) = sessions(province, "410000")
    (theirs,) = sessions(province, "410100")
    assert mine.id == theirs.id == session
    assert (mine.state, mine.agree, theirs.state, theirs.agree) == (
        "concluded",
        True,
        "concluded",
        True,
    )


def reconcile(network: Network, issuer: str, recipient: str, *, full: bool = True) -> str:
    from nodes.fiscal.reconcile.protocol import start

    with Node.open(network.path / issuer) as node:
        session = start(node, recipient, full=full)
    assert sync_network(network.path, until_quiet=True).quiet
    return session


def found(network: Network, code: str, session: str) -> set[tuple[str, str, str | None]]:
    return {(f.kind, f.subject, f.field) for f in findings_at(network, code, session)}


def edit(network: Network, code: str, *statements: str) -> None:
    """Change a node's database by hand, behind the product's back."""
    with Node.open(network.path / code) as node, node.engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


def test_every_discrepancy_injected_by_hand_is_found_exactly(province: Network) -> None:
    ids = issue(province, "410000", "410100", *(100_00 * n for n in range(1, 9)))
    assert sync_network(province.path, until_quiet=True).quiet
    gone, more, coded, renamed, lost_above = ids[:5]
    edit(
        province,
        "410100",
        f"DELETE FROM appropriation_event WHERE appropriation_id = '{gone}'",
        f"DELETE FROM appropriation WHERE id = '{gone}'",
        f"UPDATE appropriation_event SET amount_fen = amount_fen + 1 WHERE appropriation_id = '{more}'",
        f"UPDATE appropriation SET func_code = '2050201' WHERE id = '{coded}'",
        f"UPDATE appropriation SET doc_no = '豫财预〔2026〕99号' WHERE id = '{renamed}'",
    )
    edit(
        province,
        "410000",
        f"DELETE FROM appropriation_event WHERE appropriation_id = '{lost_above}'",
        f"DELETE FROM appropriation WHERE id = '{lost_above}'",
    )
    session = reconcile(province, "410000", "410100")
    expected = {
        ("missing_below", gone, None),
        ("amount", more, "amount"),
        ("classification", coded, "func"),
        ("doc", renamed, "doc"),
        ("unknown_above", lost_above, None),
    }
    assert found(province, "410000", session) == expected
    assert found(province, "410100", session) == expected  # the peer holds the statement
    (mine,) = [s for s in sessions(province, "410000") if s.id == session]
    assert (mine.agree, mine.discrepancies) == (False, len(expected))
    values = {
        (f.kind, f.subject): (f.ours, f.theirs) for f in findings_at(province, "410000", session)
    }
    assert values[("amount", more)] == (str(200_00), str(200_01))
    assert values[("classification", coded)] == ('"2050202"', '"2050201"')


def test_in_transit_is_listed_never_a_discrepancy(province: Network) -> None:
    issue(province, "410000", "410100", 100_00)
    assert sync_network(province.path, until_quiet=True).quiet
    issue(province, "410000", "410100", 555_00)  # sent, its receipt not back yet
    from nodes.fiscal.reconcile.protocol import start

    with Node.open(province.path / "410000") as node:
        session = start(node, "410100")
    assert sync_network(province.path, until_quiet=True).quiet
    kinds = [f.kind for f in findings_at(province, "410000", session)]
    assert kinds == ["in_transit"]
    (mine,) = sessions(province, "410000")
    assert (mine.agree, mine.cut, mine.in_transit) == (True, 1, 1)


def test_duplicates_and_receipts_late_or_missing_are_found(province: Network) -> None:
    first = issue(province, "410000", "410100", 100_00)
    with Node.open(province.path / "410000") as node:
        line = Allocation("410100", 100_00, FUNC, ECON, FUND, f"豫财预〔{YEAR}〕1号", YEAR)
        (again,) = allocate(node, [line], actor="test", allow_duplicate=True)
    assert sync_network(province.path, until_quiet=True).quiet
    edit(
        province,
        "410000",
        "UPDATE outbox SET acked_at = created_at + INTERVAL '10 days' WHERE seq = 1"
        if backend_of(province) == "postgresql"
        else "UPDATE outbox SET acked_at = datetime(created_at, '+10 days') WHERE seq = 1",
    )
    issue(province, "410000", "410100", 7_00)  # never synced: no receipt
    edit(
        province,
        "410000",
        "UPDATE outbox SET created_at = created_at - INTERVAL '10 days' WHERE seq = 3"
        if backend_of(province) == "postgresql"
        else "UPDATE outbox SET created_at = datetime(created_at, '-10 days') WHERE seq = 3",
    )
    from nodes.fiscal.reconcile.protocol import start

    with Node.open(province.path / "410000") as node:
        session = start(node, "410100")
    for code in ("410000", "410100", "410000", "410100", "410000"):  # not seq 3
        assert CliRunner().invoke(cli, ["--home", str(province.path / code), "sync"]).exit_code == 0
    kinds = {(f.kind, f.subject) for f in findings_at(province, "410000", session)}
    assert ("duplicate", first[0]) in kinds and again
    assert ("late_receipt", "seq 1") in kinds
    assert ("unacknowledged", "seq 3") in kinds and ("in_transit", "seq 3") in kinds


def backend_of(network: Network) -> str:
    with Node.open(network.path / "410000") as node:
        return node.engine.dialect.name
