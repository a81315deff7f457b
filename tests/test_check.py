"""``fiscalsync check`` on SQLite and on PostgreSQL, on a province after a month of work.

A healthy province passes on every node. Then every kind of inconsistency the check
knows is injected (an outbox file deleted or swapped, a receipt truncated or deleted, a
log row dropped, orphans, temporary files, leftovers, forks, a file for another node,
two files under one seq, quarantine rows without files and files without rows, a byte
flipped in stored change-sets): each is found exactly once, nothing else is, and
``--repair`` deletes the safe ones and nothing else. Real databases, keys and files.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cli import cli
from nodes import Node, agent
from nodes.check import STALE, check_home
from nodes.fiscal.codes import import_codes
from nodes.fiscal.demo import work_a_month
from nodes.locks import home_lock, sync_lock
from nodes.network import Network, sync_network
from schema.channels import changeset_log, check_run, outbox
from sync import changeset, quarantine
from sync.clock import SYSTEM_CLOCK, FixedClock
from sync.pki import load_signer

PROVINCE, CITY, CITY2, DIRECT, CENTER = "410000", "410100", "410300", "410181", "410000-dc"
COUNTY_OF_CITY2 = "410322"
CODES = "codeset,year,code,name,parent,level\nfunc,2026,2059902,扩展项目二,20599,3\n"
OP = {"op": "note", "text": "not what was sent"}


def check(network: Network, code: str, *args: str) -> tuple[int, dict[str, Any]]:
    """``fiscalsync check --json`` at node ``code``: its exit status and its report."""
    result = CliRunner().invoke(cli, ["--home", str(network.path / code), "check", "--json", *args])
    assert result.exit_code in (0, 17), result.output + result.stderr
    assert "Traceback" not in result.stderr
    return result.exit_code, json.loads(result.stdout)


def found(report: dict[str, Any], *, repaired: bool = False) -> set[tuple[str, str]]:
    return {(f["kind"], f["subject"]) for f in report["findings"] if f["repaired"] is repaired}


def age(network: Network, by: timedelta = timedelta(days=1)) -> None:
    """Make every spooled file as old as it would be after a month: older than STALE."""
    moment = time.time() - by.total_seconds()
    for home in network.homes.values():
        for path in home.spool.rglob("*"):
            if path.is_file():
                os.utime(path, (moment, moment))


def old(path: Path) -> Path:
    moment = time.time() - 2 * STALE.total_seconds()
    os.utime(path, (moment, moment))
    return path


def spool(network: Network, code: str) -> Path:
    return network.homes[code].spool


def entry(network: Network, code: str, recipient: str, seq: int) -> Any:
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        return conn.execute(
            sa.select(outbox).where(outbox.c.recipient == recipient, outbox.c.seq == seq)
        ).one()


def logged(network: Network, code: str, origin: str, seq: int) -> Any:
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        return conn.execute(
            sa.select(changeset_log).where(
                changeset_log.c.origin == origin, changeset_log.c.seq == seq
            )
        ).one()


def forge(
    network: Network,
    to: Path,
    recipient: str,
    seq: int,
    text: str,
    *,
    by: str = PROVINCE,
    kind: str = "codeset",
) -> Path:
    """A change-set really signed by node ``by`` (the province), but never enqueued."""
    signer = load_signer(network.homes[by].keys)
    op = dict(OP, text=text)
    prev = "" if seq == 1 else "ab" * 32
    written = changeset.write_changeset(to, signer, recipient, kind, seq, prev, [op], SYSTEM_CLOCK)
    return old(written.path)


def flip_byte(path: Path, offset: int = -40) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def month(province: Network) -> Network:
    """The demo province after a month of its work, every file older than a minute."""
    result = work_a_month(province)
    assert all(sync.quiet for sync in result.syncs)
    age(province)
    return province


@pytest.fixture
def settled(province: Network) -> Network:
    """The demo province after the province sent its code sets, every receipt back."""
    csv = province.path.parent / "codes.csv"
    csv.write_text(CODES, encoding="utf-8")
    with Node.open(province.path / PROVINCE) as node:
        import_codes(node, csv)
    assert sync_network(province.path, until_quiet=True, max_rounds=20).quiet
    age(province)
    return province


@pytest.mark.slow
def test_a_month_of_work_is_consistent_then_every_inconsistency_is_found_and_repaired_safely(
    month: Network,
) -> None:
    # a province after a month of work: nothing to report on any node
    for spec in month.topology:
        result = CliRunner().invoke(
            cli, ["--home", str(month.path / spec.code), "check", "--read-data", "--lang", "en"]
        )
        assert result.exit_code == 0, spec.code + result.output + result.stderr
        assert result.stdout.startswith(f"Checked {spec.code}: ")
        assert result.stdout.endswith("No problems found.\n")
        assert "reading stored change-sets" in result.stderr  # the progress bar
    status, report = check(month, PROVINCE, "--read-data")
    assert status == 0 and report["problems"] == 0 and report["findings"] == []
    checked = report["checked"]
    # taken: the month's report of the province-managed county, and each city's own
    # report and its 全辖 (reports go up level by level)
    assert checked["outbox_entries"] == 11 and checked["logged"] == 5
    # copies, their receipts, its own receipts, and the journal of what it took
    assert checked["files_read"] == 11 + 11 + 5 + 5

    expected: dict[str, set[tuple[str, str]]] = {spec.code: set() for spec in month.topology}
    read_data: dict[str, set[tuple[str, str]]] = {spec.code: set() for spec in month.topology}
    repairable: dict[str, set[tuple[str, str]]] = {spec.code: set() for spec in month.topology}

    # --- the province: its outbox, its receipts, orphans, temporary files ---------------
    out = spool(month, PROVINCE) / "outbox"
    csv = month.path.parent / "codes.csv"
    csv.write_text(CODES, encoding="utf-8")
    with Node.open(month.path / PROVINCE) as node:
        import_codes(node, csv)  # seven change-sets waiting for their receipts
    gone = entry(month, PROVINCE, "410102", 2).filename
    (out / gone).unlink()
    expected[PROVINCE].add(("missing-copy", gone))
    swapped = entry(month, PROVINCE, "410122", 2).filename
    shutil.copyfile(out / entry(month, PROVINCE, COUNTY_OF_CITY2, 2).filename, out / swapped)
    expected[PROVINCE].add(("wrong-copy", swapped))
    truncated = entry(month, PROVINCE, DIRECT, 1).receipt_file
    (out / truncated).write_bytes((out / truncated).read_bytes()[:300])
    expected[PROVINCE].add(("damaged", truncated))
    lost = entry(month, PROVINCE, CITY2, 1).receipt_file
    (out / lost).unlink()
    expected[PROVINCE].add(("missing-receipt", lost))
    orphan = forge(month, out, "410102", 99, "rolled back").name
    expected[PROVINCE].add(("orphan", orphan))
    repairable[PROVINCE].add(("orphan", orphan))
    stale = out / f".{orphan}.x1y2.tmp"
    stale.write_bytes(b"half")
    old(stale)
    expected[PROVINCE].add(("temporary", f"outbox/{stale.name}"))
    repairable[PROVINCE].add(("temporary", f"outbox/{stale.name}"))
    fresh = out / ".body-being-written.tmp"
    fresh.write_bytes(b"being written")  # younger than a minute: not judged
    arrived = spool(month, PROVINCE) / "incoming"
    twice = entry(month, PROVINCE, CITY, 2).receipt_file  # a receipt that came twice
    shutil.copyfile(out / twice, arrived / twice)
    expected[PROVINCE].add(("taken", twice))
    repairable[PROVINCE].add(("taken", twice))
    unsent = forge(month, arrived, PROVINCE, 9, "for nothing sent", by=CITY, kind="receipt")
    expected[PROVINCE].add(("fork", unsent.name))
    flipped = entry(month, PROVINCE, CITY2, 2).filename  # acknowledged: read only whole
    flip_byte(out / flipped)
    read_data[PROVINCE].add(("damaged", flipped))

    # --- a city: a change-set dropped from its log --------------------------------------
    dropped = logged(month, CITY, PROVINCE, 1)
    with Node.open(month.path / CITY) as node, node.engine.begin() as conn:
        conn.execute(changeset_log.delete().where(changeset_log.c.id == dropped.id))
    expected[CITY].add(("head", f"{PROVINCE} -> {CITY}"))
    expected[CITY].add(("orphan", dropped.receipt_file))  # kept: its channel disagrees

    # --- a county: a change-set dropped from its outbox; the center: a verdict changed -----
    sent = entry(month, "410102", CITY, 1)
    with Node.open(month.path / "410102") as node, node.engine.begin() as conn:
        conn.execute(outbox.delete().where(outbox.c.id == sent.id))
    expected["410102"].add(("head", f"410102 -> {CITY}"))
    expected["410102"].add(("orphan", sent.filename))  # kept: its channel disagrees
    expected["410102"].add(("orphan", sent.receipt_file))
    changed = logged(month, CENTER, CITY, 1)
    with Node.open(month.path / CENTER) as node, node.engine.begin() as conn:
        conn.execute(
            changeset_log.update()
            .where(changeset_log.c.id == changed.id)
            .values(verdict="rejected")
        )
    expected[CENTER].add(("head", f"{CITY} -> {CENTER}"))

    # --- the other city: what waits in incoming/, a receipt of its own, a relay ---------
    incoming = spool(month, CITY2) / "incoming"
    taken = entry(month, PROVINCE, CITY2, 1).filename
    shutil.copyfile(out / taken, incoming / taken)
    expected[CITY2].add(("taken", taken))
    repairable[CITY2].add(("taken", taken))
    fork = forge(month, incoming, CITY2, 1, "a fork").name
    expected[CITY2].add(("fork", fork))
    elsewhere = entry(month, PROVINCE, COUNTY_OF_CITY2, 1).filename
    shutil.copyfile(out / elsewhere, incoming / elsewhere)
    expected[CITY2].add(("misaddressed", elsewhere))
    forge(month, incoming, CITY2, 10, "one")
    forge(month, incoming, CITY2, 10, "another")
    expected[CITY2].add(("duplicate-seq", f"{PROVINCE} -> {CITY2} seq 10"))
    own_receipt = logged(month, CITY2, COUNTY_OF_CITY2, 1).receipt_file
    (spool(month, CITY2) / "receipts" / own_receipt).unlink()
    expected[CITY2].add(("missing-receipt", own_receipt))
    relayed = entry(month, PROVINCE, COUNTY_OF_CITY2, 2).filename  # on its way down
    shutil.copyfile(out / relayed, spool(month, CITY2) / "relay" / relayed)
    flip_byte(spool(month, CITY2) / "relay" / relayed)
    read_data[CITY2].add(("refused", relayed))

    # --- the directly managed county: its quarantine, an unreadable arrival -------------
    county = spool(month, DIRECT)
    with Node.open(month.path / DIRECT) as node:
        spooled = node.spool
        junk = []
        for n in range(3):
            path = spooled.incoming / f"junk-{n}.fcs"
            path.write_bytes(f"not a change-set {n}".encode())
            junk.append(
                quarantine.quarantine_file(
                    node.engine, spooled, path, "malformed", "junk", SYSTEM_CLOCK
                )
            )
        quarantine.drop(node.engine, spooled, junk[2].entry_id, SYSTEM_CLOCK)
        rows = {e.id: e.filename for e in node.quarantined(include_closed=True)}
    (county / "quarantine" / rows[junk[0].entry_id]).unlink()
    expected[DIRECT].add(("quarantine-missing", f"quarantine entry {junk[0].entry_id}"))
    (county / "quarantine" / rows[junk[2].entry_id]).write_bytes(b"left by a drop")
    expected[DIRECT].add(("quarantine-stray", rows[junk[2].entry_id]))
    repairable[DIRECT].add(("quarantine-stray", rows[junk[2].entry_id]))
    (county / "quarantine" / "unnamed.fcs").write_bytes(b"nobody's")
    expected[DIRECT].add(("quarantine-stray", "unnamed.fcs"))
    unreadable = f"{PROVINCE}_{DIRECT}_0000000009_{'ab' * 32}.fcs"
    (county / "incoming" / unreadable).write_bytes(b"garbage")
    expected[DIRECT].add(("unreadable", unreadable))
    genuine = entry(month, PROVINCE, DIRECT, 2)
    renamed = genuine.filename.replace("_0000000002_", "_0000000005_")
    shutil.copyfile(out / genuine.filename, county / "incoming" / renamed)
    expected[DIRECT].add(("unreadable", renamed))  # its name is not its header's

    # each found exactly, nothing else anywhere; --read-data finds the damaged bytes too
    for spec in month.topology:
        status, report = check(month, spec.code)
        assert found(report) == expected[spec.code], spec.code
        assert status == (17 if expected[spec.code] else 0), spec.code
        assert report["problems"] == len(report["findings"]) == len(expected[spec.code])
        assert all(f["action"] for f in report["findings"])
        flagged = {(f["kind"], f["subject"]) for f in report["findings"] if f["repairable"]}
        assert flagged == repairable[spec.code], spec.code
        status, report = check(month, spec.code, "--read-data")
        assert found(report) == expected[spec.code] | read_data[spec.code], spec.code

    # --repair deletes the safe ones and says so; everything else stays as it was
    for spec in month.topology:
        status, report = check(month, spec.code, "--repair")
        assert found(report, repaired=True) == repairable[spec.code], spec.code
        assert found(report) == expected[spec.code] - repairable[spec.code], spec.code
        assert status == (17 if found(report) else 0)
        status, again = check(month, spec.code)
        assert found(again) == expected[spec.code] - repairable[spec.code], spec.code
    assert not (out / orphan).exists() and not stale.exists()
    assert not (arrived / twice).exists() and (out / twice).exists()
    assert fresh.exists()
    assert not (incoming / taken).exists()
    assert not (county / "quarantine" / rows[junk[2].entry_id]).exists()
    for kept in (
        spool(month, CITY) / "receipts" / dropped.receipt_file,
        spool(month, "410102") / "outbox" / sent.filename,
        incoming / fork,
        unsent,
        incoming / elsewhere,
        county / "quarantine" / "unnamed.fcs",
        county / "incoming" / unreadable,
        county / "incoming" / renamed,
    ):
        assert kept.exists(), kept
    assert len(list(incoming.glob(f"{PROVINCE}_{CITY2}_0000000010_*.fcs"))) == 2


def test_each_problem_is_named_with_what_to_do_and_shown_in_status_until_it_is_fixed(
    settled: Network,
) -> None:
    home = settled.path / CITY
    receipts = settled.homes[CITY].spool / "receipts"
    name = logged(settled, CITY, PROVINCE, 1).receipt_file
    aside = settled.path.parent / "aside.fcs"
    shutil.move(receipts / name, aside)
    result = CliRunner().invoke(cli, ["--home", str(home), "check", "--lang", "en"])
    assert result.exit_code == 17
    lines = result.stdout.splitlines()
    assert lines[1] == "1 problem(s):"
    assert lines[2].startswith(f"  missing-receipt    {name}: this node's receipt for codeset ")
    assert "→ restore it from a backup of this home" in lines[2]
    chinese = CliRunner().invoke(cli, ["--home", str(home), "check"]).stdout.splitlines()
    assert chinese[0].startswith(f"已检查 {CITY}：") and chinese[1] == "1 个问题："
    assert f"{name}: 本节点对来自 {PROVINCE} 的 codeset 序号 1 的回执 已丢失" in chinese[2]
    assert "→ 从本目录的备份恢复：发送方索要时会再次发送" in chinese[2]
    # and status, from the check kept in the database, in either language
    status = CliRunner().invoke(cli, ["--home", str(home), "status"]).stdout
    assert "本节点对来自" in status and "发送方索要时会再次发送" in status, status
    status = CliRunner().invoke(cli, ["--home", str(home), "status", "--lang", "en"]).stdout
    assert "it is sent again whenever the origin asks" in status
    assert result.stderr.splitlines() == [
        f"Error: 1 problem(s) in the home of {CITY}",
        "Hint: do what each problem above says; 'fiscalsync check --repair' fixes the safe ones",
    ]

    def alerts() -> list[dict[str, str]]:
        result = CliRunner().invoke(cli, ["--home", str(home), "status", "--json"])
        assert result.exit_code == 0, result.stderr
        return [a for a in json.loads(result.output)["alerts"] if a["kind"] == "check"]

    shown = alerts()
    assert [a["subject"] for a in shown] == [name]
    assert shown[0]["detail"].startswith("missing-receipt (check of ")
    shutil.move(aside, receipts / name)  # restored from a backup
    assert check(settled, CITY)[0] == 0
    assert alerts() == []


def test_the_agent_checks_every_day_logs_what_it_found_and_keeps_it_for_status(
    settled: Network, caplog: pytest.LogCaptureFixture
) -> None:
    home = settled.path / PROVINCE
    with Node.open(home) as node:
        scheduler = agent.scheduler_for(node)
        described = agent.schedule_jobs(scheduler, node, home)
        job = scheduler.get_job("check")
    assert job.func is agent.check_job
    assert "check daily at 03:30 Asia/Shanghai" in described
    beijing = timedelta(hours=8)
    first = job.trigger.get_next_fire_time(None, datetime(2026, 11, 1, 12, 0, tzinfo=UTC))
    assert first == datetime(2026, 11, 2, 3, 30, tzinfo=UTC) - beijing
    later = job.trigger.get_next_fire_time(first, first + timedelta(minutes=1))
    assert later - first == timedelta(days=1)

    copy = entry(settled, PROVINCE, DIRECT, 1).filename
    flip_byte(settled.homes[PROVINCE].spool / "outbox" / copy)  # only a whole read finds it
    with caplog.at_level(logging.INFO, logger="fiscalsync.agent"):
        report = agent.check_job(str(home))
    assert report.read_data
    assert [(f.kind, f.subject) for f in report.problems] == [("damaged", copy)]
    assert f"check: damaged {copy}: in outbox/: the body member fails" in caplog.text
    assert "1 problem(s)" in caplog.text
    with Node.open(home) as node:
        shown = [a for a in node.status().alerts if a.kind == "check"]
        with node.engine.connect() as conn:
            runs = conn.execute(sa.select(check_run)).all()
    assert [a.subject for a in shown] == [copy]
    assert [(r.read_data, r.problems, r.repaired) for r in runs] == [(True, 1, 0)]
    # a quicker check by hand cannot see it go: status still names it, from the last
    # check that read every file
    assert check(settled, PROVINCE)[0] == 0
    with Node.open(home) as node:
        assert [a.subject for a in node.status().alerts if a.kind == "check"] == [copy]


def test_a_check_waits_for_a_sync_round_and_repair_for_every_writer_then_says_so(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = province.path / CITY
    monkeypatch.setenv("FISCALSYNC_LOCK_WAIT", "0")
    with sync_lock(home):
        result = CliRunner().invoke(cli, ["--home", str(home), "check"])
    assert result.exit_code == 4
    assert result.stderr.startswith(f"错误：{home} 已有一轮同步在运行"), result.stderr
    assert "提示：" in result.stderr and "Traceback" not in result.stderr
    with sync_lock(home):
        result = CliRunner().invoke(cli, ["--home", str(home), "check", "--lang", "en"])
    assert result.stderr.startswith(f"Error: a sync round is already running on {home}")
    assert "Hint: the agent or another 'fiscalsync sync'" in result.stderr
    with Node.open(home) as node:
        stale = node.spool.outbox / ".left.fcs.abc.tmp"
    stale.write_bytes(b"half written")
    old(stale)
    with home_lock(home):  # an operator is writing: nothing is deleted under them
        result = CliRunner().invoke(cli, ["--home", str(home), "check", "--repair"])
        assert result.exit_code == 4
        assert result.stderr.startswith(f"错误：节点目录 {home} 正被另一个命令使用\n")
        assert stale.exists()
        assert CliRunner().invoke(cli, ["--home", str(home), "check"]).exit_code == 17
    assert check(province, CITY, "--repair")[0] == 0
    assert not stale.exists()


def test_a_young_file_may_belong_to_a_transaction_in_flight_and_is_not_judged(
    province: Network,
) -> None:
    with Node.open(province.path / PROVINCE) as node:
        out = node.spool.outbox
        young = forge(province, out, "410102", 99, "being committed")
        os.utime(young)  # written just now
        (out / ".half.fcs.abc.tmp").write_bytes(b"being written")
        assert check_home(node).problems == []
        later = FixedClock(datetime.now(UTC) + 2 * STALE)
        report = check_home(node, clock=later, repair=True)
    assert {(f.kind, f.repaired) for f in report.findings} == {
        ("orphan", True),
        ("temporary", True),
    }
    assert not young.exists()


def test_check_of_a_home_that_is_not_one_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "nowhere"), "check"])
    assert result.exit_code == 4
    assert result.stderr.startswith("错误：节点目录 ")
    assert "提示：" in result.stderr and "Traceback" not in result.stderr
    result = CliRunner().invoke(cli, ["check"], env={"FISCALSYNC_HOME": ""})
    assert result.exit_code == 2


def test_a_round_after_repair_leaves_the_province_quiet_and_consistent(settled: Network) -> None:
    """What --repair deletes was never needed: the province still settles and checks clean."""
    incoming = settled.homes[CITY2].spool / "incoming"
    taken = entry(settled, PROVINCE, CITY2, 1).filename
    shutil.copyfile(settled.homes[PROVINCE].spool / "outbox" / taken, incoming / taken)
    assert check(settled, CITY2, "--repair")[0] == 0
    assert sync_network(settled.path, until_quiet=True, max_rounds=10).quiet
    for spec in settled.topology:
        assert check(settled, spec.code, "--read-data")[0] == 0, spec.code


def test_read_data_reads_the_journal_of_what_was_taken(settled: Network) -> None:
    """``check --read-data`` reads every file of ``spool/taken/`` (the journal a backup
    holds and a rejoin answer sends again): one damaged on disk is named, with what to
    do; the check without ``--read-data`` does not read it."""
    taken = sorted((settled.path / CITY / "spool" / "taken").iterdir())
    assert taken
    data = bytearray(taken[0].read_bytes())
    data[len(data) // 2] ^= 0x01
    taken[0].write_bytes(bytes(data))
    status, report = check(settled, CITY)
    assert status == 0, report["findings"]
    status, report = check(settled, CITY, "--read-data")
    assert status == 17
    (finding,) = report["findings"]
    assert (finding["kind"], finding["subject"]) == ("damaged", taken[0].name)
    assert finding["problem"].startswith("in taken/: ")


def test_what_in_the_spool_is_not_a_file_is_named_and_never_waited_on(
    settled: Network, tmp_path: Path
) -> None:
    """A pipe, a folder or a link to nothing in ``spool/incoming/`` is named by ``check``
    (no round reads it, none removes it); listing what waits (``inbox``, and every
    ``network sync`` after its rounds) skips it: opening the pipe waited for a writer
    that never came, for ever."""
    incoming = settled.path / CITY / "spool" / "incoming"
    name = f"{PROVINCE}_{CITY}_{{}}_{'ab' * 32}.fcs"
    os.mkfifo(incoming / name.format("0000000091"))
    (incoming / name.format("0000000092")).mkdir()
    (incoming / name.format("0000000093")).symlink_to(tmp_path / "gone.fcs")
    status, report = check(settled, CITY)
    assert status == 17
    assert found(report) == {
        ("unreadable", f"incoming/{name.format(n)}")
        for n in ("0000000091", "0000000092", "0000000093")
    }
    assert all("not a file" in f["problem"] for f in report["findings"])
    listed = CliRunner().invoke(cli, ["--home", str(settled.path / CITY), "inbox", "--lang", "en"])
    assert listed.exit_code == 0, listed.output
    assert sync_network(settled.path, until_quiet=True, max_rounds=5).quiet
