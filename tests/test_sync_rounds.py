"""A sync round never stops and never lies, on SQLite and on PostgreSQL.

Each fault a round meets: a read error between verification and apply, a file that
fails every round, a file whose name and header disagree, a forged signature, a file
sent back the way it came, a damaged copy in the origin's outbox, a power cut while a
receipt is stored, and the same bad file arriving again and again. Real databases,
real keys, real files.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import provinces
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from test_sync import (
    codes_at,
    import_codes,
    mailbox,
    rows,
    run_round,
    settle,
    sync_until_crash,
)

from cli import cli
from nodes import Node, appliers
from nodes.exchange import Exchange
from nodes.network import Network, sync_network
from schema import migrate
from schema.channels import changeset_log, channel_head, file_attempt, outbox, quarantine
from schema.engine import open_engine
from sync import changeset, channel, pki
from sync import quarantine as quarantine_module
from sync.attempts import MAX_ATTEMPTS
from sync.changeset import Verified
from sync.channel import Spool
from sync.clock import SYSTEM_CLOCK, FixedClock
from sync.signing import Ed25519Suite
from sync.trust import TrustStore

CODESET_OP = {
    "op": "code",
    "codeset": "func",
    "year": 2026,
    "code": "2059997",
    "name": "测试",
    "parent": "20599",
    "level": 3,
    "extension": True,
}
EIO_FILE = Path("/proc/self/mem")
"""Reading it from offset 0 fails with EIO: a real I/O error, for whoever reads it."""


@pytest.fixture
def province(tmp_path: Path, db_url_template: str | None, demo_topology: Path) -> Network:
    return provinces.make(tmp_path / "province", demo_topology, db_url_template)


def cli_run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def status_alerts(network: Network, code: str) -> list[dict[str, str]]:
    result = cli_run("--home", str(network.path / code), "status", "--json")
    assert result.exit_code == 0, result.stderr
    alerts: list[dict[str, str]] = json.loads(result.output)["alerts"]
    return alerts


def quarantine_files(network: Network, code: str) -> list[str]:
    return sorted(p.name for p in (network.homes[code].spool / "quarantine").iterdir())


@dataclasses.dataclass
class Opened:
    node: Node
    exchange: Exchange


@pytest.fixture
def opened(province: Network) -> Iterator[Callable[[str], Opened]]:
    """Open a node of the province with an exchange ready to run its rounds."""
    held: list[Opened] = []

    def open_node(code: str) -> Opened:
        node = Node.open(province.path / code)
        held.append(Opened(node, Exchange(node)))
        return held[-1]

    yield open_node
    for item in held:
        item.exchange.close()
        item.node.close()


# --- 1. a local failure is not refused content ----------------------------------------------


def test_a_read_error_during_apply_signs_no_receipt_and_the_change_set_is_applied_later(
    province: Network, opened: Callable[[str], Opened]
) -> None:
    import_codes(province)
    run_round(province, "410000")
    county = opened("410181")
    real_applier = county.exchange.applier
    broken = {"rounds": 1}

    def disk_fails_once(conn: sa.Connection, verified: Verified) -> None:
        """Between verification and apply the disk fails: the file reads as EIO."""
        assert verified.path is not None
        if broken["rounds"]:
            broken["rounds"] -= 1
            aside = verified.path.with_name("aside")
            os.replace(verified.path, aside)
            os.symlink(EIO_FILE, verified.path)
            try:
                real_applier(conn, verified)
            finally:
                verified.path.unlink()
                os.replace(aside, verified.path)
        real_applier(conn, verified)

    county.exchange.applier = disk_fails_once
    summary = county.exchange.run_round()
    # nothing was judged: no log entry, no receipt, the channel did not move
    assert rows(province, "410181", changeset_log) == []
    assert rows(province, "410181", channel_head, channel_head.c.origin == "410000") == []
    assert list((province.homes["410181"].spool / "receipts").iterdir()) == []
    assert summary.failed == 1 and summary.applied == 0
    assert "Input/output error" in summary.problems[0]
    assert [p.name for p in (province.homes["410181"].spool / "incoming").iterdir()]
    # the next round takes it; the origin gets a positive receipt
    summary = county.exchange.run_round()
    assert summary.applied == 1 and summary.failed == 0
    settle(province)
    assert codes_at(province, "410181") == {"2059901"}
    entry = next(e for e in rows(province, "410000", outbox) if e.recipient == "410181")
    assert entry.receipt_verdict == "applied"
    assert rows(province, "410181", file_attempt) == []


# --- 2. each file isolated inside a round ---------------------------------------------------


def test_a_file_failing_every_round_never_stops_the_rest_and_is_parked_after_five(
    province: Network, opened: Callable[[str], Opened]
) -> None:
    import_codes(province)
    run_round(province, "410000")
    city = opened("410100")

    def buggy(conn: sa.Connection, verified: Verified) -> None:
        raise ValueError("a bug in the applier")

    city.exchange.applier = buggy
    first = city.exchange.run_round()
    # the city's own change-set failed; the ones for its counties went on
    assert first.failed == 1 and first.relayed == 2, first
    assert "not taken (1 of 5 rounds): ValueError: a bug in the applier" in first.problems[0]
    run_round(province, "410102")
    assert codes_at(province, "410102") == {"2059901"}
    failing = rows(province, "410100", file_attempt)
    assert [(f.stage, f.attempts, f.parked_at) for f in failing] == [("take", 1, None)]
    alerts = status_alerts(province, "410100")
    assert [a["kind"] for a in alerts] == ["retrying"]
    for _ in range(MAX_ATTEMPTS - 2):
        assert city.exchange.run_round().failed == 1
    last = city.exchange.run_round()
    assert last.parked == 1 and last.failed == 0
    # parked: in quarantine with the reason, out of incoming, named in status
    assert list((province.homes["410100"].spool / "incoming").iterdir()) == []
    held = rows(province, "410100", quarantine)
    assert [(q.reason, q.seen_count) for q in held] == [("parked", 1)]
    assert "after 5 failed rounds" in held[0].detail and "a bug in the applier" in held[0].detail
    assert rows(province, "410100", file_attempt) == []
    alerts = status_alerts(province, "410100")
    assert [a["kind"] for a in alerts] == ["parked"]
    text = cli_run("--home", str(province.path / "410100"), "status", "--lang", "en")
    assert "Alerts      1" in text.output and "parked" in text.output
    # once the bug is fixed, the operator releases it and it is applied
    city.exchange.applier = appliers.for_node(city.node, city.exchange.trust)
    released = cli_run(
        "--home", str(province.path / "410100"), "quarantine", "release", str(held[0].id)
    )
    assert released.exit_code == 0, released.stderr
    assert city.exchange.run_round().applied == 1
    assert codes_at(province, "410100") == {"2059901"}


def test_an_unreadable_file_is_named_by_sync_retried_and_parked(province: Network) -> None:
    import_codes(province)
    name = f"410181_410000_0000000001_{'ab' * 32}.fcs"
    # taken from a child's mailbox, and now a file the disk cannot read
    os.symlink(EIO_FILE, province.homes["410000"].spool / "incoming" / name)
    home = str(province.path / "410000")
    result = cli_run("--home", home, "sync", "--lang", "en")
    assert result.exit_code == 0, result.stderr
    assert "could not take or send 1 file(s):" in result.output
    assert name in result.output and "Input/output error" in result.output
    # the rest of the round went on: every child got its code set
    assert "sent 7" in result.output
    for _ in range(MAX_ATTEMPTS - 1):
        result = cli_run("--home", home, "sync")
        assert result.exit_code == 0, result.stderr
    # in the operator's language, Chinese by default
    assert "搁置 1" in result.output and "失败 5 轮后移入隔离区" in result.output, result.output
    held = rows(province, "410000", quarantine)
    assert [(q.reason, q.sha256) for q in held] == [("parked", None)]
    assert [a["kind"] for a in status_alerts(province, "410000")] == ["parked"]
    result = cli_run("--home", home, "sync", "--lang", "en")
    assert "sent 0" in result.output and "could not take" not in result.output


def test_a_link_a_child_leaves_in_its_mailbox_is_removed_not_followed(
    province: Network, tmp_path: Path
) -> None:
    """A symbolic link in a child's ``up/`` (to a change-set the child signed and may
    rewrite later, or to any file of the parent's machine) is neither read nor moved into
    the spool (nor kept in ``taken/`` as if it were the file): it is removed, its target
    left alone, and named once; the round goes on."""
    import_codes(province)
    up = mailbox(province, "410000", "410181", "up")
    signer = pki.load_signer(province.homes["410181"].keys)
    own = changeset.write_changeset(
        tmp_path, signer, "410000", "codeset", 1, "", [CODESET_OP], clock=SYSTEM_CLOCK
    ).path
    kept = own.read_bytes()
    os.symlink(own, up / own.name)
    elsewhere = f"410181_410000_0000000002_{'ab' * 32}.fcs"
    os.symlink("/etc/hostname", up / elsewhere)
    home = str(province.path / "410000")
    result = cli_run("--home", home, "sync", "--lang", "en")
    assert result.exit_code == 0, result.stderr
    for name in (own.name, elsewhere):
        assert f"{name} (from 410181): a symbolic link, not a file: removed" in result.output
    assert "sent 7" in result.output  # every child got its code set
    assert list(up.iterdir()) == []
    assert own.read_bytes() == kept and Path("/etc/hostname").exists()
    spool = province.homes["410000"].spool
    assert [p for p in spool.rglob("*") if p.is_symlink()] == []
    assert rows(province, "410000", quarantine) == []
    assert rows(province, "410000", changeset_log, changeset_log.c.origin == "410181") == []
    again = cli_run("--home", home, "sync", "--lang", "en")
    assert "symbolic link" not in again.output and again.exit_code == 0


def test_a_round_run_with_the_clock_far_ahead_does_not_hold_back_the_retransmissions(
    province: Network,
) -> None:
    """A round made while the node's clock was years ahead set the next attempt of what
    it sent from that clock: once the clock is right, a copy lost on its way is sent
    again by the next rounds (it waited for that year to come, with no round's help but
    ``network sync --until-quiet``'s)."""
    import_codes(province)

    def round_at(code: str, clock: Any) -> Any:
        with Node.open(province.path / code) as node:
            exchange = Exchange(node, clock)
            try:
                return exchange.run_round()
            finally:
                exchange.close()

    assert round_at("410000", FixedClock(datetime(2099, 1, 1, tzinfo=UTC))).sent == 7
    down = mailbox(province, "410000", "410100", "down")
    lost = [p for p in down.iterdir() if p.name.startswith("410000_410100_")]
    assert lost
    for path in lost:
        path.unlink()  # lost on its way
    now = FixedClock(datetime.now(UTC) + timedelta(hours=1))
    assert round_at("410000", now).resent == 7  # none acknowledged yet: all again
    assert round_at("410100", now).applied == 1
    assert codes_at(province, "410100") == {"2059901"}


# --- 3. relays ------------------------------------------------------------------------------


def _codeset_for(
    network: Network, recipient: str, folder: Path, signer: pki.Signer | None = None
) -> Path:
    signer = signer or pki.load_signer(network.homes["410000"].keys)
    written = changeset.write_changeset(
        folder, signer, recipient, "codeset", 1, "", [CODESET_OP], clock=SYSTEM_CLOCK
    )
    return written.path


def _relays_over(network: Network, rounds: int) -> tuple[int, bool]:
    """Files relayed by every node in up to ``rounds`` rounds, and whether all went quiet."""
    result = sync_network(network.path, until_quiet=True, max_rounds=rounds)
    return result.totals.relayed, result.quiet


def _quarantined_everywhere(network: Network) -> dict[str, list[str]]:
    found = {}
    for spec in network.topology:
        reasons = [q.reason for q in rows(network, spec.code, quarantine)]
        if reasons:
            found[spec.code] = reasons
    return found


def test_a_file_whose_name_and_header_disagree_is_quarantined_once_at_the_first_hop(
    province: Network, tmp_path: Path
) -> None:
    # signed for the county 中原区, named for its city 郑州市, left by the province for the city
    made = _codeset_for(province, "410102", tmp_path)
    misnamed = made.name.replace("410000_410102_", "410000_410100_")
    shutil.copy(made, mailbox(province, "410000", "410100") / misnamed)
    relayed, quiet = _relays_over(province, 20)
    assert relayed == 0 and quiet
    assert _quarantined_everywhere(province) == {"410100": ["malformed"]}
    assert "does not match its header" in rows(province, "410100", quarantine)[0].detail
    assert codes_at(province, "410102") == set()


def test_a_file_with_a_zero_signature_is_quarantined_at_the_first_hop(
    province: Network, tmp_path: Path
) -> None:
    class ZeroSuite(Ed25519Suite):
        def sign(self, private_key: Any, message: bytes) -> bytes:
            return bytes(64)

    signer = dataclasses.replace(pki.load_signer(province.homes["410000"].keys), suite=ZeroSuite())
    forged = _codeset_for(province, "410102", tmp_path, signer)
    # delivered by another city's county, to go up and down the tree
    shutil.copy(forged, mailbox(province, "410300", "410322", "up") / forged.name)
    relayed, quiet = _relays_over(province, 20)
    assert relayed == 0 and quiet
    assert _quarantined_everywhere(province) == {"410300": ["signature"]}
    assert codes_at(province, "410102") == set()


def test_a_relay_never_sends_a_file_back_the_way_it_came(province: Network, tmp_path: Path) -> None:
    # a good change-set for Luoyang, left by the province in Zhengzhou's down folder
    made = _codeset_for(province, "410300", tmp_path)
    shutil.copy(made, mailbox(province, "410000", "410100") / made.name)
    relayed, _quiet = _relays_over(province, 20)
    assert relayed == 0
    held = rows(province, "410100", quarantine)
    assert [q.reason for q in held] == ["route"]
    assert "would go back to 410000, where it came from" in held[0].detail


def test_a_change_set_coming_back_from_another_neighbour_is_a_loop(
    province: Network, opened: Callable[[str], Opened], tmp_path: Path
) -> None:
    county = pki.load_signer(province.homes["410102"].keys)
    # a change-set of 中原区 for the province, relayed by its city once from 中原区 ...
    up_of = {code: mailbox(province, "410100", code, "up") for code in ("410102", "410122")}
    made = changeset.write_changeset(
        tmp_path, county, "410000", "reconcile", 1, "", [{"op": "x"}], clock=SYSTEM_CLOCK
    )
    shutil.copy(made.path, up_of["410102"] / made.path.name)
    city = opened("410100")
    assert city.exchange.run_round().relayed == 1
    # ... and now once more from 中牟县: it went round somewhere
    shutil.copy(made.path, up_of["410122"] / made.path.name)
    summary = city.exchange.run_round()
    assert summary.relayed == 0 and summary.quarantined == 1
    held = rows(province, "410100", quarantine)
    assert [q.reason for q in held] == ["route"] and "a loop" in held[0].detail
    # a retransmission coming the same way as the first copy is relayed again
    shutil.copy(made.path, up_of["410102"] / made.path.name)
    assert city.exchange.run_round().relayed == 1


# --- 4. damaged own copies ------------------------------------------------------------------


def _damage(path: Path, how: str) -> None:
    if how == "missing":
        path.unlink()
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        data = bytearray(path.read_bytes())
        data[len(data) - 20] ^= 0x01
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["bit-flipped", "truncated", "missing"])
def test_a_damaged_outbox_copy_is_named_and_never_sent(province: Network, how: str) -> None:
    import_codes(province)
    entry = next(e for e in rows(province, "410000", outbox) if e.recipient == "410181")
    copy = province.homes["410000"].spool / "outbox" / entry.filename
    good = copy.read_bytes()
    _damage(copy, how)
    result = cli_run("network", "sync", str(province.path), "--until-quiet")
    assert result.exit_code == 16, result.output + result.stderr
    assert "错误：全省在" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    line = next(x for x in result.output.splitlines() if "410000 -> 410181" in x)
    assert "已损坏" in line and "代码集 序号 1：" in line
    english = cli_run("network", "sync", str(province.path), "--until-quiet", "--lang", "en")
    assert english.exit_code == 16 and "Error: the province did not go quiet" in english.stderr
    line = next(x for x in english.output.splitlines() if "410000 -> 410181" in x)
    assert "damaged" in line and "codeset seq 1: " in line
    # never reached the county: nothing in its quarantine; everyone else has the codes
    assert rows(province, "410181", quarantine) == []
    assert codes_at(province, "410181") == set() and codes_at(province, "410100") == {"2059901"}
    (alert,) = status_alerts(province, "410000")
    assert alert["kind"] == "damaged" and alert["subject"] == entry.filename
    listing = cli_run("--home", str(province.path / "410000"), "outbox", "--lang", "en")
    assert f"DAMAGED, not sent: {entry.filename}" in listing.output
    sync = cli_run("--home", str(province.path / "410000"), "sync", "--lang", "en")
    assert f"{entry.filename}: not sent, this node's copy is damaged" in sync.output
    # restored from a backup, it goes out at the next round and the province goes quiet
    copy.write_bytes(good)
    settle(province)
    assert codes_at(province, "410181") == {"2059901"}
    assert status_alerts(province, "410000") == []


def test_after_a_copy_is_quarantined_in_transit_the_damaged_origin_copy_adds_nothing(
    province: Network,
) -> None:
    import_codes(province)
    run_round(province, "410000")
    delivered = next(mailbox(province, "410000", "410181").iterdir())
    _damage(delivered, "bit-flipped")  # damaged on the way: the county quarantines it
    entry = next(e for e in rows(province, "410000", outbox) if e.recipient == "410181")
    _damage(province.homes["410000"].spool / "outbox" / entry.filename, "bit-flipped")
    result = sync_network(province.path, until_quiet=True, max_rounds=40)
    assert not result.quiet and result.rounds < 40
    assert [(u.node, u.state) for u in result.unsettled] == [("410000", "damaged")]
    assert len(rows(province, "410181", quarantine)) <= 1


# --- 5. bounded backoff -----------------------------------------------------------------------


def test_backoff_is_bounded_for_any_number_of_attempts() -> None:
    assert channel.backoff(0) == channel.backoff(1) == timedelta(seconds=30)
    assert channel.backoff(2) == timedelta(seconds=60)
    delays = [channel.backoff(n) for n in range(1, 60)]
    assert delays == sorted(delays)
    assert channel.backoff(10_000) == channel.backoff(10**9) == timedelta(hours=6)


# --- 7. durable receipts at the origin ------------------------------------------------------


@pytest.mark.parametrize("point", ["receipt-stored", "receipt-committed"])
def test_a_power_cut_while_a_receipt_is_stored_leaves_it_whole_or_untaken(
    province: Network, point: str
) -> None:
    import_codes(province)
    run_round(province, "410000")
    run_round(province, "410181")  # applied; its receipt waits in the province's mailbox
    sync_until_crash(province, "410000", point)
    spool = province.homes["410000"].spool
    trust = TrustStore.load(province.homes["410000"].keys)
    entry = next(e for e in rows(province, "410000", outbox) if e.recipient == "410181")
    if point == "receipt-stored":
        assert entry.acked_at is None  # the commit never happened
        assert any(p.name.startswith("410181_410000_") for p in (spool / "incoming").iterdir())
    else:
        assert entry.acked_at is not None
    if entry.acked_at is not None:  # an acknowledged entry always has its whole receipt
        changeset.verify(spool / "outbox" / entry.receipt_file, trust, recipient="410000")
    settle(province)
    entry = next(e for e in rows(province, "410000", outbox) if e.recipient == "410181")
    assert entry.receipt_verdict == "applied"
    kept = changeset.verify(spool / "outbox" / entry.receipt_file, trust, recipient="410000")
    assert kept.id == entry.receipt_id
    assert not any(p.name.endswith(".tmp") for p in (spool / "outbox").iterdir())


# --- 6. quarantine by content, with retention -----------------------------------------------


def test_the_same_bad_copy_arriving_again_is_counted_not_added(province: Network) -> None:
    import_codes(province)
    run_round(province, "410000")
    delivered = next(mailbox(province, "410000", "410181").iterdir())
    _damage(delivered, "bit-flipped")
    bad = delivered.read_bytes()
    for _ in range(3):
        (mailbox(province, "410000", "410181") / delivered.name).write_bytes(bad)
        run_round(province, "410181")
    (entry,) = rows(province, "410181", quarantine)
    assert entry.seen_count == 3 and entry.last_seen_at > entry.received_at
    assert len(quarantine_files(province, "410181")) == 1
    listing = cli_run("--home", str(province.path / "410181"), "quarantine", "--lang", "en")
    assert "(x3, last" in listing.output
    shown = cli_run(
        "--home", str(province.path / "410181"), "quarantine", "show", str(entry.id), "--lang", "en"
    )
    assert "seen_count    3" in shown.output
    # released, refused again: the same entry opens again, with its one file
    cli_run("--home", str(province.path / "410181"), "quarantine", "release", str(entry.id))
    run_round(province, "410181")
    (again,) = rows(province, "410181", quarantine)
    assert again.id == entry.id and again.seen_count == 4 and again.released_at is None
    assert len(quarantine_files(province, "410181")) == 1
    # dropped, and still arriving: counted, and the copy deleted
    cli_run("--home", str(province.path / "410181"), "quarantine", "drop", str(entry.id))
    (mailbox(province, "410000", "410181") / delivered.name).write_bytes(bad)
    run_round(province, "410181")
    (dropped,) = rows(province, "410181", quarantine)
    assert dropped.seen_count == 5 and dropped.dropped_at is not None
    assert quarantine_files(province, "410181") == []


def test_two_processes_quarantining_one_content_at_once_make_one_entry(
    tmp_path: Path, db_url: str
) -> None:
    engine = open_engine(db_url)
    migrate.upgrade(engine)
    spool = Spool(tmp_path / "spool").ensure()
    copies = []
    for n in range(4):
        copy = spool.incoming / f"copy-{n}"
        copy.write_bytes(b"the same bad bytes")
        copies.append(copy)
    barrier = threading.Barrier(4, timeout=30)

    def take(path: Path) -> bool:
        barrier.wait()
        done = quarantine_module.quarantine_file(
            engine, spool, path, "malformed", "bad", SYSTEM_CLOCK
        )
        return done.new

    try:
        with ThreadPoolExecutor(4) as pool:
            news = list(pool.map(take, copies))
        assert sorted(news) == [False, False, False, True]
        (entry,) = quarantine_module.entries(engine)
        assert entry.seen_count == 4
        assert [p.name for p in spool.quarantine.iterdir()] == [entry.filename]
        assert list(spool.incoming.iterdir()) == []
    finally:
        engine.dispose()


def test_closed_entries_are_purged_after_the_retention_time(tmp_path: Path, db_url: str) -> None:
    engine = open_engine(db_url)
    migrate.upgrade(engine)
    spool = Spool(tmp_path / "spool").ensure()
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    ids = []
    for n in range(3):
        path = spool.incoming / f"bad-{n}"
        path.write_bytes(f"bad {n}".encode())
        ids.append(
            quarantine_module.quarantine_file(engine, spool, path, "malformed", "x", clock).entry_id
        )
    try:
        quarantine_module.drop(engine, spool, ids[0], clock)
        quarantine_module.release(engine, spool, ids[1], clock)
        retention = timedelta(days=90)
        clock.advance(timedelta(days=89))
        assert quarantine_module.purge(engine, spool, retention, clock) == 0
        clock.advance(timedelta(days=2))
        assert quarantine_module.purge(engine, spool, retention, clock) == 2
        left = quarantine_module.entries(engine, include_closed=True)
        assert [e.id for e in left] == [ids[2]]  # the open one stays, however old
        assert [p.name for p in spool.quarantine.iterdir()] == [left[0].filename]
    finally:
        engine.dispose()


def test_the_round_purges_with_the_retention_of_node_toml(province: Network) -> None:
    home = province.homes["410181"]
    settings = home.path / "node.toml"
    text = settings.read_text(encoding="utf-8")
    assert "[quarantine]\n" in text and "retention_days = 90" in text
    settings.write_text(text.replace("retention_days = 90", "retention_days = 1"), "utf-8")
    with Node.open(home.path) as node:
        spool = node.spool
        bad = spool.incoming / "old-junk"
        bad.write_bytes(b"junk")
        past = FixedClock(datetime.now(UTC) - timedelta(days=3))
        done = quarantine_module.quarantine_file(node.engine, spool, bad, "malformed", "x", past)
        quarantine_module.drop(node.engine, spool, done.entry_id, past)
    result = cli_run("--home", str(home.path), "sync")
    assert result.exit_code == 0, result.stderr
    assert rows(province, "410181", quarantine) == []
    settings.write_text(text.replace("retention_days = 90", "retention_days = 0"), "utf-8")
    refused = cli_run("--home", str(home.path), "status")
    assert refused.exit_code == 3 and "retention_days 须为 1 到 36500" in refused.stderr


def test_quarantine_entries_from_before_are_kept_by_the_upgrade(db_url: str) -> None:
    engine = open_engine(db_url)
    try:
        migrate.upgrade(engine, "0003")
        received = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
        with engine.begin() as conn:
            conn.execute(
                quarantine.insert().values(
                    filename="f", reason="malformed", detail="d", received_at=received
                )
            )
        migrate.upgrade(engine)
        with engine.connect() as conn:
            (entry,) = conn.execute(sa.select(quarantine)).all()
        assert (entry.seen_count, entry.last_seen_at, entry.sha256) == (1, received, None)
    finally:
        engine.dispose()


def test_a_round_counts_the_bytes_it_moves(
    province: Network, opened: Callable[[str], Opened]
) -> None:
    import_codes(province)
    sent = opened("410000").exchange.run_round()
    files = sorted((province.path / "410000" / "spool" / "outbox").glob("*.fcs"))
    assert sent.sent == len(files) > 0
    assert sent.bytes_sent == sum(f.stat().st_size for f in files)
    below = {"410100", *(c.code for c in province.topology.children("410100"))}
    via_city = [f for f in files if f.name.split("_")[1] in below]
    city = opened("410100").exchange.run_round()
    assert city.received == len(via_city) > 0
    assert city.bytes_received == sum(f.stat().st_size for f in via_city)
    assert city.bytes_sent > 0  # its receipt, and what it relays below


def test_a_detail_holding_a_nul_is_quarantined_on_every_backend(
    tmp_path: Path, db_url: str
) -> None:
    """A peer's notice may say anything: a NUL in it is kept as U+FFFD, not refused by
    PostgreSQL round after round."""
    engine = open_engine(db_url)
    migrate.upgrade(engine)
    spool = Spool(tmp_path / "spool").ensure()
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    path = spool.incoming / "notice"
    path.write_bytes(b"notice")
    try:
        quarantine_module.quarantine_file(engine, spool, path, "notice", "a\x00b", clock)
        [entry] = quarantine_module.entries(engine)
        assert entry.detail == "a\ufffdb"
    finally:
        engine.dispose()
