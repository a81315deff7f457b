"""Reconciliation between levels (上下级对账), on SQLite and PostgreSQL provinces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from click.testing import CliRunner

from cli import cli
from nodes import Node
from nodes.fiscal.appropriations import Allocation, allocate
from nodes.fiscal.reconcile.records import stale
from nodes.network import Network, sync_network
from schema.channels import outbox
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
            with node.engine.connect() as conn:
                if node.engine.dialect.name == "sqlite":  # batch mode rebuilds tables
                    conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
                with conn.begin():
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
        session = start(node, "410100", full=True)
    for code in ("410000", "410100", "410000", "410100", "410000"):  # not seq 3
        assert CliRunner().invoke(cli, ["--home", str(province.path / code), "sync"]).exit_code == 0
    kinds = {(f.kind, f.subject) for f in findings_at(province, "410000", session)}
    assert ("duplicate", first[0]) in kinds and again
    assert ("late_receipt", "seq 1") in kinds
    assert ("unacknowledged", "seq 3") in kinds and ("in_transit", "seq 3") in kinds


def backend_of(network: Network) -> str:
    with Node.open(network.path / "410000") as node:
        return node.engine.dialect.name


def run(network: Network, code: str, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--home", str(network.path / code), *args])


def test_from_the_command_line_with_every_statement_format(
    province: Network, tmp_path: Path
) -> None:
    ids = issue(province, "410000", "410100", 100_00, 200_00)
    assert sync_network(province.path, until_quiet=True).quiet
    edit(province, "410100", f"UPDATE appropriation SET econ_code = '50202' WHERE id = '{ids[0]}'")
    result = run(province, "410000", "reconcile", "--with", "410100", "--full", "--wait")
    assert result.exit_code == 0, result.output + result.stderr
    assert "发现 1 处差异" in result.output and "科目不符" in result.output
    shown = run(province, "410100", "reconcile", "show", "--format", "json")
    assert shown.exit_code == 0, shown.stderr
    statement = json.loads(shown.output)
    assert statement["role"] == "peer" and statement["discrepancies"] == 1
    assert statement["findings"][0]["issuer"] == "50201"
    assert statement["findings"][0]["recipient"] == "50202"
    page = tmp_path / "statement.html"
    assert (
        run(province, "410000", "reconcile", "show", "--format", "html", "-o", str(page)).exit_code
        == 0
    )
    text = page.read_text(encoding="utf-8")
    assert "上下级指标对账单" in text and "410100 郑州市" in text and "50202" in text
    fingerprints = statement["summary"]["fingerprints"]
    assert set(fingerprints) == {"410000", "410100"} and all(fingerprints.values())
    for fmt in ("csv", "xlsx"):
        out = tmp_path / f"s.{fmt}"
        assert (
            run(province, "410000", "reconcile", "show", "--format", fmt, "-o", str(out)).exit_code
            == 0
        )
        assert out.stat().st_size > 0
    listed = run(province, "410000", "reconcile", "show", "--all")
    assert "410000-R000001" in listed.output
    for code in ("410000", "410100"):  # a discrepancy is an alert on both sides
        alerts = json.loads(run(province, code, "status", "--json").output)["alerts"]
        assert [a["kind"] for a in alerts] == ["reconcile"], alerts
        assert "1 discrepancy(ies)" in alerts[0]["detail"]
        # each side reads the finding's detail and the alert in its operator's language
        other = "410100" if code == "410000" else "410000"
        chinese = run(province, code, "reconcile", "show").output
        assert "econ：上级为 '50201'，下级为 '50202'" in chinese, chinese
        english = run(province, code, "reconcile", "show", "--lang", "en").output
        assert "econ: '50201' issued, '50202' held below" in english, english
        assert f"与 {other} 对账有 1 处不符" in run(province, code, "status").output
        assert (
            f"1 discrepancy(ies) with {other}"
            in run(province, code, "status", "--lang", "en").output
        )


def test_bad_requests_are_refused_with_a_clear_error(province: Network) -> None:
    aside = run(province, "410100", "reconcile", "--with", "410322")
    assert aside.exit_code == 3
    assert (
        "410100 既未向 410322 下达指标，也不向其报送报表：拒收 410100 发往 410322 的指标变更集："
        "只有上级可以下达指标；410100 不是 410322 的上级" in aside.stderr
    )
    aside = run(province, "410100", "reconcile", "--with", "410322", "--lang", "en")
    assert aside.exit_code == 3
    assert (
        "410100 issues no appropriations to 410322, nor reports to it: appropriation from "
        "410100 to 410322 refused: only an ancestor issues appropriations" in aside.stderr
    )
    unknown = run(province, "410000", "reconcile", "show", "410000-R999999")
    assert unknown.exit_code == 3 and "本节点没有对账 410000-R999999" in unknown.stderr
    none = run(province, "410000", "reconcile", "show")
    assert none.exit_code == 3 and "提示：" in none.stderr


@pytest.mark.slow
def test_a_whole_province_is_reconciled_edge_by_edge(province: Network) -> None:
    parent = issue(province, "410000", "410100", 1000_00)[0]
    issue(province, "410000", "410181", 50_00)
    assert sync_network(province.path, until_quiet=True).quiet
    with Node.open(province.path / "410100") as node:
        line = Allocation(
            "410102", 100_00, FUNC, ECON, FUND, "郑财预〔2026〕1号", YEAR, parent_id=parent
        )
        allocate(node, [line], actor="test")
    assert sync_network(province.path, until_quiet=True).quiet
    result = CliRunner().invoke(cli, ["network", "reconcile", str(province.path), "--lang", "en"])
    assert result.exit_code == 0, result.output + result.stderr
    # 3 edges of appropriations, and every node's reports to its parent and the center
    assert "16 edge(s) reconciled" in result.output
    assert "16 agree, 0 with discrepancies" in result.output


def test_a_breakdown_made_long_after_its_appropriation_arrived_is_late(province: Network) -> None:
    parent = issue(province, "410000", "410100", 1000_00)[0]
    assert sync_network(province.path, until_quiet=True).quiet
    with Node.open(province.path / "410100") as node:
        line = Allocation(
            "410102", 100_00, FUNC, ECON, FUND, "郑财预〔2026〕1号", YEAR, parent_id=parent
        )
        (child,) = allocate(node, [line], actor="test")
    later = (
        "created_at + INTERVAL '40 days'"
        if backend_of(province) == "postgresql"
        else "datetime(created_at, '+40 days')"
    )
    edit(province, "410100", f"UPDATE appropriation SET created_at = {later} WHERE id = '{child}'")
    session = reconcile(province, "410000", "410100", full=False)
    assert found(province, "410000", session) == {("late_breakdown", child, None)}


def reported_held(node: Node, code: str, **options: Any) -> dict[str, Any]:
    from nodes.fiscal.reconcile.reported import held

    with reading(node.engine) as conn:
        return held(conn, code, **options)


def test_reports_sent_up_are_reconciled_with_the_parent_and_the_center(province: Network) -> None:
    from datetime import date

    from nodes.fiscal import reports
    from nodes.fiscal.ledger import Entry, record
    from sync.clock import SYSTEM_CLOCK as clock

    with Node.open(province.path / "410102") as node:
        record(node, [Entry(date(2026, 10, 15), "revenue", "10101", 123_45)], actor="t")
        reports.generate(node, "2026-10", actor="t", clock=clock)
        reports.submit(node, "2026-10", actor="t", clock=clock)
    assert sync_network(province.path, until_quiet=True).quiet
    for peer in ("410100", "410000-dc"):
        result = run(province, "410102", "reconcile", "--with", peer)
        assert result.exit_code == 0, result.stderr
    assert sync_network(province.path, until_quiet=True).quiet
    assert [(s.dataset, s.agree) for s in sessions(province, "410102")] == [
        ("report", True),
        ("report", True),
    ]
    edit(province, "410100", "UPDATE report_line SET period_fen = period_fen + 1 WHERE level = 3")
    session = reconcile(province, "410102", "410100")
    assert found(province, "410102", session) == {("report_mismatch", "2026-10", None)}
    assert found(province, "410100", session) == {("report_mismatch", "2026-10", None)}

    # the city's 全辖 (level by level, to its parent only) is reconciled beside its own
    edit(province, "410100", "UPDATE report_line SET period_fen = period_fen - 1 WHERE level = 3")
    with Node.open(province.path / "410100") as node:
        reports.generate(node, "2026-10", actor="t", clock=clock)
        reports.submit(node, "2026-10", actor="t", clock=clock)
    assert sync_network(province.path, until_quiet=True).quiet
    session = reconcile(province, "410100", "410000")
    assert found(province, "410100", session) == set()
    with Node.open(province.path / "410100") as node:
        mine = reported_held(node, "410100", own=True, region=True)
    assert set(mine) == {"2026-10", "2026-10 全辖"}
    assert found(province, "410100", reconcile(province, "410100", "410000-dc")) == set()
    edit(
        province,
        "410000",
        "UPDATE region_report_line SET ytd_fen = ytd_fen + 1 WHERE level = 3",
    )
    session = reconcile(province, "410100", "410000")
    assert found(province, "410100", session) == {("report_mismatch", "2026-10 全辖", None)}
    assert found(province, "410000", session) == {("report_mismatch", "2026-10 全辖", None)}


@pytest.mark.slow
def test_a_recipient_restored_behind_the_cut_is_reported_behind_not_as_discrepancies(
    province: Network,
) -> None:
    """郑州市 is restored from a backup that holds the province's channel up to seq 1 of 3;
    it rejoins (seq 2 and 3 come back to it). The province's next reconciliation says
    so (下级落后, not a discrepancy), lists what is in transit (在途), agrees, and the one
    after says nothing of the restore any more."""
    from test_backup import backup, bring_back, lose

    from nodes.fiscal.reconcile.protocol import start

    issue(province, "410000", "410100", 100_00)
    assert sync_network(province.path, until_quiet=True).quiet
    backup(province, "410100")
    assert sync_network(province.path, until_quiet=True).quiet
    issue(province, "410000", "410100", 200_00)
    issue(province, "410000", "410100", 300_00)
    assert sync_network(province.path, until_quiet=True).quiet
    bring_back(province, "410100", lose(province, "410100"))
    assert sync_network(province.path, until_quiet=True).quiet  # it rejoins
    issue(province, "410000", "410100", 555_00)  # seq 4: sent, its receipt not back yet
    with Node.open(province.path / "410000") as node:
        session = start(node, "410100")
    assert sync_network(province.path, until_quiet=True).quiet
    for code in ("410000", "410100"):
        listed = [(f.kind, f.subject, f.discrepancy) for f in findings_at(province, code, session)]
        assert listed == [("in_transit", "seq 4", False), ("behind", "410100", False)], code
        (behind,) = [f for f in findings_at(province, code, session) if f.kind == "behind"]
        assert (json.loads(behind.ours), json.loads(behind.theirs)) == (3, 1)
    mine = next(s for s in sessions(province, "410000") if s.id == session)
    assert (mine.state, mine.agree, mine.cut, mine.discrepancies, mine.in_transit) == (
        "concluded",
        True,
        3,
        0,
        1,
    )
    again = reconcile(province, "410000", "410100")
    assert found(province, "410000", again) == set()


def _sm3_tree(records: dict[str, Any]) -> dict[tuple[int, int], tuple[int, int]]:
    """The buckets of ``records`` (id → content) with every digest computed here: SM3,
    by ``cryptography``, over the record's canonical bytes."""
    from cryptography.hazmat.primitives import hashes

    from sync import merkle
    from sync.changeset.codec import encode_line

    def sm3(content: Any) -> int:
        hashed = hashes.Hash(hashes.SM3())
        hashed.update(encode_line(content))
        return int.from_bytes(hashed.finalize(), "big")

    return merkle.tree((ident, sm3(content)) for ident, content in records.items())


def test_an_sm2_network_digests_its_records_with_sm3(
    tmp_path: Path, db_url_template: str | None, demo_topology: Path
) -> None:
    """Both sides of an SM2 network keep SM3 digests over the canonical record bytes (not
    SHA-256), the request carries their root, the two agree after a sync and find an
    amount changed below."""
    import provinces

    from nodes.fiscal.reconcile import records
    from sync import changeset, merkle

    network = provinces.make(tmp_path / "sm2", demo_topology, db_url_template, suite="sm2")
    ids = issue(network, "410000", "410100", 100_00, 200_00, 300_00)
    assert sync_network(network.path, until_quiet=True).quiet
    edge = records.scope("410000", "410100")
    for code, side in (("410000", records.ISSUER), ("410100", records.RECIPIENT)):
        with Node.open(network.path / code) as node, reading(node.engine) as conn:
            held = records.view(conn, side, ids)
            expected = _sm3_tree({i: r.content for i, r in held.items()})
            assert merkle.stored(conn, edge) == expected, code
            sha = merkle.tree((i, merkle.record_digest(r.content)) for i, r in held.items())
            assert sha != expected
            assert stale(conn, code) == []
    session = reconcile(network, "410000", "410100", full=False)
    assert [(s.agree, s.discrepancies) for s in sessions(network, "410000")] == [(True, 0)]
    with Node.open(network.path / "410000") as node, reading(node.engine) as conn:
        request = conn.execute(
            sa.select(outbox.c.filename).where(outbox.c.kind == "reconcile").order_by(outbox.c.seq)
        ).scalars()
        (step,) = changeset.iter_operations(node.home.spool / "outbox" / next(request))
        assert (step["session"], step["step"]) == (session, "request")
        assert step["root"] == f"{expected[(0, 0)][0]:064x}"
    edit(
        network,
        "410100",
        f"UPDATE appropriation_event SET amount_fen = amount_fen + 1 "
        f"WHERE appropriation_id = '{ids[1]}'",
    )
    changed = reconcile(network, "410000", "410100")
    assert found(network, "410000", changed) == {("amount", ids[1], "amount")}
    assert found(network, "410100", changed) == {("amount", ids[1], "amount")}


def test_an_upgrade_records_the_sm2_suite_and_digests_again_with_sm3(
    tmp_path: Path, db_url_template: str | None, demo_topology: Path
) -> None:
    """A node of an SM2 network whose database does not name the suite yet (from before
    revision 0014, its digests SHA-256) gets it from its installed root at ``db upgrade``,
    and its digests recomputed with SM3."""
    import provinces

    from nodes.fiscal.reconcile import records
    from schema.tables import node_identity
    from sync import merkle

    network = provinces.make(tmp_path / "sm2", demo_topology, db_url_template, suite="sm2")
    ids = issue(network, "410000", "410100", 100_00, 200_00)
    assert sync_network(network.path, until_quiet=True).quiet
    edge = records.scope("410000", "410100")
    home = network.path / "410100"
    with Node.open(home) as node:
        with reading(node.engine) as conn:
            held = records.view(conn, records.RECIPIENT, ids)
        sha = {i: merkle.record_digest(r.content) for i, r in held.items()}
        with node.engine.begin() as conn:  # as a node from before kept them
            merkle.rebuild(conn, edge, sha.items())
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with node.engine.connect() as conn:
            if node.engine.dialect.name == "sqlite":
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
            with conn.begin():
                config.attributes["connection"] = conn
                command.downgrade(config, "0013")
    result = CliRunner().invoke(cli, ["--home", str(home), "db", "upgrade"])
    assert result.exit_code == 0, result.output + result.stderr
    with Node.open(home) as node, reading(node.engine) as conn:
        assert conn.execute(sa.select(node_identity.c.suite)).scalar_one() == "sm2"
        assert merkle.stored(conn, edge) == _sm3_tree({i: r.content for i, r in held.items()})
    session = reconcile(network, "410000", "410100", full=False)
    assert found(network, "410000", session) == set()


def test_reports_sent_up_in_an_sm2_network_are_compared_by_their_sm3(
    tmp_path: Path, db_url_template: str | None, demo_topology: Path
) -> None:
    """The hash of a report's lines that a report reconciliation compares is SM3 in an SM2
    network (computed here with ``cryptography``), and the two sides agree on it."""
    from datetime import date

    import provinces
    from cryptography.hazmat.primitives import hashes

    from nodes.fiscal import reports
    from nodes.fiscal.ledger import Entry, record
    from nodes.fiscal.reconcile import reported
    from schema.tables import report, report_line
    from sync.changeset.codec import encode_line
    from sync.clock import SYSTEM_CLOCK as clock

    network = provinces.make(tmp_path / "sm2", demo_topology, db_url_template, suite="sm2")
    with Node.open(network.path / "410102") as node:
        record(node, [Entry(date(2026, 10, 15), "revenue", "10101", 123_45)], actor="t")
        reports.generate(node, "2026-10", actor="t", clock=clock)
        reports.submit(node, "2026-10", actor="t", clock=clock)
    assert sync_network(network.path, until_quiet=True).quiet
    with Node.open(network.path / "410102") as node, reading(node.engine) as conn:
        (version, held) = reported.held(conn, "410102", own=True)["2026-10"]
        lines = sorted(
            [r.section, r.level, r.code, int(r.budget_fen), int(r.period_fen), int(r.ytd_fen),
             int(r.month_fen), int(r.last_year_fen)]
            for r in conn.execute(
                sa.select(report_line).join(report).where(
                    report.c.node_code == "410102", report.c.period == "2026-10",
                    report.c.version == version, report.c.state == "submitted",
                )
            )
        )  # fmt: skip
    hashed = hashes.Hash(hashes.SM3())
    hashed.update(encode_line(lines))
    assert held == hashed.finalize().hex()
    with Node.open(network.path / "410100") as node, reading(node.engine) as conn:
        assert reported.held(conn, "410102", own=False)["2026-10"] == [version, held]
    session = reconcile(network, "410102", "410100")
    assert found(network, "410102", session) == set()


def test_the_provinces_quanxia_is_reconciled_with_the_centers_province_wide_sum(
    province: Network,
) -> None:
    """The province's 全辖 (its own report, each city's 全辖, its direct counties) against
    the center's 全省汇总 (every node's own): equal while every 全辖 is up to date; a
    county's correction the city has not passed up yet is found, and its 全辖 sent again
    settles it."""
    from datetime import date

    from nodes.fiscal import reports
    from nodes.fiscal.ledger import Entry, record
    from sync.clock import SYSTEM_CLOCK as clock

    def submit(code: str, amount: int) -> None:
        with Node.open(province.path / code) as node:
            record(node, [Entry(date(2026, 10, 15), "revenue", "10101", amount)], actor="t")
            reports.generate(node, "2026-10", actor="t", clock=clock)
            reports.submit(node, "2026-10", actor="t", clock=clock)
        assert sync_network(province.path, until_quiet=True).quiet

    for code, amount in (("410102", 100_00), ("410100", 20_00), ("410000", 3_00)):
        submit(code, amount)
    session = reconcile(province, "410000", "410000-dc")
    assert found(province, "410000", session) == set()
    with Node.open(province.path / "410000") as node:
        assert "2026-10 全省" in reported_held_wide(node)

    submit("410102", 7_00)  # a correction: version 2 reaches the city and the center
    session = reconcile(province, "410000", "410000-dc")
    assert found(province, "410000", session) == {("report_mismatch", "2026-10 全省", None)}
    shown = run(province, "410000", "reconcile", "show", session).output
    assert "省级 2026-10 全辖与数据中心的全省汇总不符" in shown, shown

    result = run(province, "410100", "report", "submit", "2026-10", "--scope", "all")
    assert result.exit_code == 0, result.stderr
    assert sync_network(province.path, until_quiet=True).quiet
    session = reconcile(province, "410000", "410000-dc")
    assert found(province, "410000", session) == set()


def reported_held_wide(node: Node) -> dict[str, Any]:
    from nodes.fiscal.reconcile.reported import region_wide

    with reading(node.engine) as conn:
        return region_wide(conn, node.topology, node.spec.code, at_center=False)


def _submit(province: Network, code: str, amount: int) -> None:
    """Record revenue at ``code`` and submit (a correction once submitted) its 2026-10."""
    from datetime import date

    from nodes.fiscal import reports
    from nodes.fiscal.ledger import Entry, record
    from sync.clock import SYSTEM_CLOCK as clock

    with Node.open(province.path / code) as node:
        record(node, [Entry(date(2026, 10, 15), "revenue", "10101", amount)], actor="t")
        reports.generate(node, "2026-10", actor="t", clock=clock)
        reports.submit(node, "2026-10", actor="t", clock=clock)
    assert sync_network(province.path, until_quiet=True).quiet


def shift_at_center(province: Network, code: str, column: str, fen: int) -> None:
    """Change the leaf lines of ``code``'s reports the center holds, behind its back."""
    edit(
        province,
        "410000-dc",
        f"UPDATE report_line SET {column} = {column} + ({fen}) WHERE level = 3 AND report_id IN "
        f"(SELECT id FROM report WHERE node_code = '{code}')",
    )


def test_a_city_that_has_not_reported_leaves_its_counties_out_of_both_sides(
    province: Network,
) -> None:
    """A county reported, its city not yet: the city sent no 全辖, so the province's 全辖
    holds nothing of that city (it lists it missing), and the center's 全省汇总 it is
    compared with leaves the county out too, as the 全辖 would count it level by level;
    once the city reports, both count the county."""
    _submit(province, "410102", 100_00)
    _submit(province, "410000", 3_00)
    session = reconcile(province, "410000", "410000-dc")
    assert found(province, "410000", session) == set()

    _submit(province, "410100", 20_00)
    session = reconcile(province, "410000", "410000-dc")
    assert found(province, "410000", session) == set()
    shift_at_center(province, "410102", "ytd_fen", 1)
    session = reconcile(province, "410000", "410000-dc")
    assert found(province, "410000", session) == {("report_mismatch", "2026-10 全省", None)}


def test_a_citys_quanxia_is_reconciled_with_the_centers_city_sum(province: Network) -> None:
    """A city's 全辖, as it sent it up, against the center's 市级汇总 of it (2026-10 市级):
    a matching month concludes; a line changed at the center is found; so is a county's
    correction the city has not sent up again, until it does."""
    _submit(province, "410102", 100_00)
    _submit(province, "410100", 20_00)
    session = reconcile(province, "410100", "410000-dc")
    assert found(province, "410100", session) == set()
    with Node.open(province.path / "410100") as node:
        assert set(reported_held_wide(node)) == {"2026-10 市级"}
    with Node.open(province.path / "410102") as node:
        assert reported_held_wide(node) == {}
    assert found(province, "410102", reconcile(province, "410102", "410000-dc")) == set()

    shift_at_center(province, "410102", "period_fen", +1)
    session = reconcile(province, "410100", "410000-dc")
    assert found(province, "410100", session) == {("report_mismatch", "2026-10 市级", None)}
    assert found(province, "410000-dc", session) == {("report_mismatch", "2026-10 市级", None)}
    shown = run(province, "410100", "reconcile", "show", session).output
    assert "本级报送的 2026-10 全辖与数据中心的市级汇总不符" in shown, shown
    english = run(province, "410100", "reconcile", "show", session, "--lang", "en").output
    assert "the 全辖 of 2026-10 this node sent up is not the center's 市级汇总" in english, english
    shift_at_center(province, "410102", "period_fen", -1)

    _submit(province, "410102", 7_00)  # a correction the city has not passed up yet
    session = reconcile(province, "410100", "410000-dc")
    assert found(province, "410100", session) == {("report_mismatch", "2026-10 市级", None)}
    result = run(province, "410100", "report", "submit", "2026-10", "--scope", "all")
    assert result.exit_code == 0, result.stderr
    assert sync_network(province.path, until_quiet=True).quiet
    session = reconcile(province, "410100", "410000-dc")
    assert found(province, "410100", session) == set()
