"""Retention: ``fiscalsync purge`` lets go of old acknowledged files, on SQLite and
PostgreSQL provinces, and a node restored from a backup still kept rejoins afterwards."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from test_backup import amounts, backup, bring_back, check_books, issue, lose, settle

from cli import cli
from nodes import Node
from nodes.check import check_home
from nodes.network import Network
from nodes.retention import Purge, horizon, purge, taken_name
from schema.channels import changeset_log, outbox
from sync.clock import SYSTEM_CLOCK, FixedClock

PROVINCE, CITY, COUNTY = "410000", "410100", "410102"


def _files(node: Node) -> tuple[set[str], set[str]]:
    """The spool files of the outbox and of the change-sets taken, by purged or not."""
    spool = node.spool
    purged, kept = set(), set()
    with node.engine.connect() as conn:
        for row in conn.execute(sa.select(outbox)):
            names = [spool.outbox / row.filename]
            names += [spool.outbox / row.receipt_file] if row.receipt_file else []
            (purged if row.purged_at else kept).update(str(p) for p in names)
        for row in conn.execute(sa.select(changeset_log)):
            names = [spool.taken / taken_name(row.origin, row.recipient, row.seq, row.id)]
            names += [spool.receipts / row.receipt_file]
            (purged if row.purged_at else kept).update(str(p) for p in names)
    return purged, kept


def _purge_twice_at_once(home: Path, clock: FixedClock) -> Purge:
    """Two purges of one home at once: one lets go of everything, the other of nothing."""
    results: list[Purge] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            with Node.open(home) as node:
                results.append(purge(node, clock=clock))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    first, second = sorted(results, key=lambda r: r.sent, reverse=True)
    assert (second.sent, second.taken, second.files) == (0, 0, 0)
    return first


@pytest.mark.slow
def test_purge_lets_go_of_old_acknowledged_files_only_and_a_restore_still_rejoins(
    province: Network,
) -> None:
    first = issue(province, PROVINCE, CITY, 900_00, "豫财预〔2026〕1号")
    settle(province)
    down = issue(province, CITY, COUNTY, 400_00, "郑财预〔2026〕1号", parent=first)
    settle(province)
    assert backup(province, COUNTY).number == 1
    settle(province)
    marker = SYSTEM_CLOCK.now()
    later = issue(province, CITY, COUNTY, 123_45, "郑财预〔2026〕2号", parent=first)
    settle(province)
    with Node.open(province.path / CITY) as node:
        clock = FixedClock(marker + horizon(node.settings))
        size_before = node.status().spool_bytes
        dry = purge(node, dry_run=True, clock=clock)
        assert dry.sent > 0 and dry.taken > 0 and dry.files > 0
        assert _files(node)[0] == set()  # a dry run marks nothing
        done = _purge_twice_at_once(province.path / CITY, clock)
        assert (done.sent, done.taken, done.files, done.bytes) == (
            dry.sent,
            dry.taken,
            dry.files,
            dry.bytes,
        )
        assert done.spool_bytes == node.status().spool_bytes < size_before
        purged, kept = _files(node)
        assert purged and not any(Path(p).exists() for p in purged)
        assert kept and all(Path(p).exists() for p in kept)
        with node.engine.connect() as conn:
            # what was acknowledged after the marker (the later breakdown) is kept
            waiting = conn.execute(
                sa.select(outbox.c.acked_at, outbox.c.purged_at).where(outbox.c.recipient == COUNTY)
            ).all()
        assert any(r.purged_at is None and r.acked_at > marker for r in waiting)
        assert all(r.purged_at is None for r in waiting if r.acked_at > marker)
        assert check_home(node, read_data=True).problems == []
        assert purge(node, clock=clock).files == 0  # nothing twice
    for code in (PROVINCE, COUNTY):
        with Node.open(province.path / code) as node:
            purge(node, clock=clock)
            assert check_home(node, read_data=True).problems == []
    url = lose(province, COUNTY)
    done_restore = bring_back(province, COUNTY, url)
    assert done_restore.number == 1
    settle(province)
    assert amounts(province, COUNTY, "received") == {down: 400_00, later: 123_45}
    check_books(province)


def test_nothing_young_or_unacknowledged_is_purged(province: Network) -> None:
    issue(province, PROVINCE, CITY, 500_00, "豫财预〔2026〕3号")
    with Node.open(province.path / PROVINCE) as node:
        far = FixedClock(SYSTEM_CLOCK.now() + horizon(node.settings) * 3)
        assert purge(node, clock=far).sent == 0  # not acknowledged yet: kept however old
        now_done = purge(node)
        assert (now_done.sent, now_done.taken, now_done.files) == (0, 0, 0)
    settle(province)
    with Node.open(province.path / PROVINCE) as node:
        assert purge(node).sent == 0  # acknowledged just now: younger than the horizon
        assert purge(node, clock=far).sent > 0


def test_purge_and_status_from_the_command_line(province: Network) -> None:
    issue(province, PROVINCE, CITY, 100_00, "豫财预〔2026〕4号")
    settle(province)
    home = str(province.path / PROVINCE)
    runner = CliRunner()
    shown = runner.invoke(cli, ["--home", home, "status", "--lang", "en"])
    assert shown.exit_code == 0, shown.output
    assert "Spool" in shown.output
    result = runner.invoke(cli, ["--home", home, "purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "将清理 " in result.output and "0 个已发送、0 个已接收变更集的文件" in result.output
    result = runner.invoke(cli, ["--home", home, "purge", "--json"])
    assert result.exit_code == 0, result.output
    assert '"dry_run": false' in result.output
