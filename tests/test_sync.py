"""Sync end to end on a ``network init`` province, on SQLite and on PostgreSQL.

Every fault of the issue list: a dropped file, a duplicate, out-of-order arrival, a
bit-flipped copy, a replay, a forgery, refused content, crashes at each step of apply,
an unreachable parent. Real databases, real keys, real files; nothing mocked.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import provinces
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cli import cli
from nodes import Node
from nodes.network import Network, sync_network
from schema.channels import changeset_log, channel_head, outbox, quarantine
from schema.tables import code_item, metadata
from sync import changeset, pki
from sync.channel import Spool, enqueue
from sync.clock import SYSTEM_CLOCK

CODES = "codeset,year,code,name,parent,level\nfunc,2026,{code},扩展项目{code},{parent},3\n"


@pytest.fixture
def province(tmp_path: Path, db_url_template: str | None, demo_topology: Path) -> Network:
    return provinces.make(tmp_path / "province", demo_topology, db_url_template)


def import_codes(network: Network, code: str = "2059901") -> None:
    csv = network.path.parent / f"codes-{code}.csv"
    csv.write_text(CODES.format(code=code, parent=code[:5]), encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["--home", str(network.path / "410000"), "codes", "import", str(csv)]
    )
    assert result.exit_code == 0, result.stderr


def run_round(network: Network, code: str) -> None:
    result = CliRunner().invoke(cli, ["--home", str(network.path / code), "sync"])
    assert result.exit_code == 0, result.output + result.stderr


def rows(
    network: Network, code: str, table: sa.Table, *where: sa.ColumnElement[bool]
) -> list[sa.Row]:
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        return list(conn.execute(sa.select(table).where(*where)).all())


def codes_at(network: Network, code: str) -> set[str]:
    return {r.code for r in rows(network, code, code_item) if r.is_extension}


def snapshot(network: Network, code: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table but the quarantine log, to prove nothing else changed."""
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        return {
            table.name: sorted(tuple(map(str, r)) for r in conn.execute(sa.select(table)))
            for table in metadata.sorted_tables
            if table.name != "quarantine"
        }


def mailbox(network: Network, parent: str, child: str, direction: str = "down") -> Path:
    folder = network.path / parent / "mailboxes" / child / direction
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def settle(network: Network) -> None:
    result = sync_network(network.path, until_quiet=True, max_rounds=30)
    assert result.quiet, result


def test_code_sets_reach_every_node_and_every_receipt_comes_back(province: Network) -> None:
    import_codes(province)
    result = CliRunner().invoke(cli, ["network", "sync", str(province.path), "--until-quiet"])
    assert result.exit_code == 0, result.stderr
    assert "；已静止。" in result.stdout.splitlines()[0]
    assert result.stderr.startswith("第 1 轮：发送 ")
    for spec in province.topology:
        assert codes_at(province, spec.code) == {"2059901"}, spec.code
    sent = rows(province, "410000", outbox)
    assert len(sent) == 7 and all(e.receipt_verdict == "applied" for e in sent)
    # each receipt is kept next to its change-set, with both signatures
    for entry in sent:
        assert (province.homes["410000"].spool / "outbox" / entry.receipt_file).is_file()
    # the county's channel head agrees with the receipt's state digest
    head = rows(province, "410102", channel_head, channel_head.c.origin == "410000")[0]
    receipt = (
        province.homes["410000"].spool
        / "outbox"
        / next(e.receipt_file for e in sent if e.recipient == "410102")
    )
    assert next(changeset.iter_operations(receipt))["state"] == head.state


def test_the_channel_state_in_receipts_is_hashed_as_the_suite_hashes(
    tmp_path: Path, db_url_template: str | None, demo_topology: Path, suite_name: str
) -> None:
    """A receipt's channel state digest is SHA-256 in an Ed25519 network (as it always
    was) and SM3 in an SM2 one, computed here with ``cryptography``: the hash of the
    label for an empty channel, then of ``state:id:verdict`` at each change-set; ``check``
    replays it from the history."""
    from cryptography.hazmat.primitives import hashes

    def digest(data: bytes) -> str:
        hashed = hashes.Hash(hashes.SM3() if suite_name == "sm2" else hashes.SHA256())
        hashed.update(data)
        return hashed.finalize().hex()

    network = provinces.make(
        tmp_path / "province", demo_topology, db_url_template, suite=suite_name
    )
    import_codes(network)
    import_codes(network, "2059902")
    settle(network)
    sent = sorted(
        rows(network, "410000", outbox, outbox.c.recipient == "410100"), key=lambda e: e.seq
    )
    state = digest(b"fiscalsync-channel-v1")
    for entry in sent:
        receipt = network.homes["410000"].spool / "outbox" / entry.receipt_file
        state = digest(f"{state}:{entry.id}:applied".encode())
        assert next(changeset.iter_operations(receipt))["state"] == state
    (head,) = rows(network, "410100", channel_head, channel_head.c.origin == "410000")
    assert (head.seq, head.state) == (2, state)
    checked = CliRunner().invoke(cli, ["--home", str(network.path / "410100"), "check"])
    assert checked.exit_code == 0, checked.output + checked.stderr


def test_a_dropped_file_is_retransmitted_and_applied_once(province: Network) -> None:
    import_codes(province)
    run_round(province, "410000")
    delivered = list(mailbox(province, "410000", "410100").iterdir())
    assert delivered
    for item in delivered:
        item.unlink()  # lost on the way
    settle(province)
    assert codes_at(province, "410100") == {"2059901"}
    logged = rows(province, "410100", changeset_log, changeset_log.c.origin == "410000")
    assert len(logged) == 1
    attempts = {e.recipient: e.attempts for e in rows(province, "410000", outbox)}
    assert attempts["410100"] >= 2


def test_a_duplicate_is_applied_once_and_its_receipt_resent_byte_identical(
    province: Network,
) -> None:
    import_codes(province)
    run_round(province, "410000")
    original = next(mailbox(province, "410000", "410181").iterdir())
    kept = province.path.parent / original.name
    shutil.copy(original, kept)
    run_round(province, "410181")
    first_receipt = next(mailbox(province, "410000", "410181", "up").iterdir())
    first_bytes = first_receipt.read_bytes()
    first_receipt.unlink()
    shutil.copy(kept, mailbox(province, "410000", "410181") / kept.name)  # delivered again
    result = CliRunner().invoke(
        cli, ["--home", str(province.path / "410181"), "sync", "--lang", "en"]
    )
    assert "duplicates 1" in result.output
    again = next(mailbox(province, "410000", "410181", "up").iterdir())
    assert again.read_bytes() == first_bytes
    assert len(rows(province, "410181", changeset_log)) == 1


def test_out_of_order_arrival_is_applied_in_order(province: Network) -> None:
    import_codes(province, "2059901")
    import_codes(province, "2059902")
    run_round(province, "410000")
    down = mailbox(province, "410000", "410181")
    first, second = sorted(down.iterdir())
    held = province.path.parent / first.name
    shutil.move(first, held)
    run_round(province, "410181")
    assert codes_at(province, "410181") == set()
    waiting = CliRunner().invoke(
        cli, ["--home", str(province.path / "410181"), "inbox", "--lang", "en"]
    )
    (header, _rule, row) = waiting.output.splitlines()
    assert header.split()[:4] == ["origin", "kind", "seq", "channel"]
    assert row.split()[:4] == ["410000", "codeset", "2", "1"]  # seq 2 waits for seq 1
    shutil.move(held, down / held.name)
    run_round(province, "410181")
    assert codes_at(province, "410181") == {"2059901", "2059902"}
    logged = rows(province, "410181", changeset_log)
    assert [r.seq for r in sorted(logged, key=lambda r: r.applied_at)] == [1, 2]


def test_a_bit_flipped_copy_is_quarantined_and_the_retransmission_heals(province: Network) -> None:
    import_codes(province)
    run_round(province, "410000")
    copy = next(mailbox(province, "410000", "410181").iterdir())
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x10
    copy.write_bytes(bytes(data))
    before = snapshot(province, "410181")
    run_round(province, "410181")
    # a failed verification writes nothing but its quarantine record
    assert snapshot(province, "410181") == before
    refused = rows(province, "410181", quarantine)
    assert len(refused) == 1 and refused[0].changeset_id is not None
    assert codes_at(province, "410181") == set()
    settle(province)
    assert codes_at(province, "410181") == {"2059901"}
    listing = CliRunner().invoke(
        cli, ["--home", str(province.path / "410181"), "quarantine", "--lang", "en"]
    )
    assert refused[0].reason in listing.output


def test_a_replayed_old_change_set_changes_nothing(province: Network) -> None:
    import_codes(province, "2059901")
    run_round(province, "410000")
    old = next(mailbox(province, "410000", "410181").iterdir())
    kept = province.path.parent / old.name
    shutil.copy(old, kept)
    settle(province)
    import_codes(province, "2059902")
    settle(province)
    before = rows(province, "410181", channel_head)
    shutil.copy(kept, mailbox(province, "410000", "410181") / kept.name)
    settle(province)
    assert rows(province, "410181", channel_head) == before
    assert len(rows(province, "410181", changeset_log)) == 2


def test_a_change_set_forged_with_another_nodes_key_is_rejected(province: Network) -> None:
    # Luoyang's valid key and certificate sign a code set claiming to come from the province.
    forger = dataclasses.replace(pki.load_signer(province.homes["410300"].keys), code="410000")
    forged = changeset.write_changeset(
        province.path.parent,
        forger,
        "410181",
        "codeset",
        1,
        "",
        [
            {
                "op": "code",
                "codeset": "func",
                "year": 2026,
                "code": "2059999",
                "name": "伪造",
                "parent": "20599",
                "level": 3,
                "extension": True,
            }
        ],
        clock=SYSTEM_CLOCK,
    )
    shutil.copy(forged.path, mailbox(province, "410000", "410181") / forged.path.name)
    run_round(province, "410181")
    refused = rows(province, "410181", quarantine)
    assert [r.reason for r in refused] == ["certificate"]
    assert codes_at(province, "410181") == set()


def test_a_city_may_not_send_code_sets_its_content_is_rejected_with_a_negative_receipt(
    province: Network,
) -> None:
    city = Node.open(province.path / "410100")
    try:
        with city.engine.begin() as conn:
            enqueue(
                conn,
                Spool(city.home.spool).ensure(),
                pki.load_signer(city.home.keys),
                "410102",
                "codeset",
                [
                    {
                        "op": "code",
                        "codeset": "func",
                        "year": 2026,
                        "code": "2059998",
                        "name": "市级",
                        "parent": "20599",
                        "level": 3,
                        "extension": True,
                    }
                ],
                SYSTEM_CLOCK,
            )
    finally:
        city.close()
    settle(province)
    assert codes_at(province, "410102") == set()
    logged = rows(province, "410102", changeset_log)
    assert [(r.verdict, "only the province" in (r.reason or "")) for r in logged] == [
        ("rejected", True)
    ]
    sent = rows(province, "410100", outbox)
    assert sent[0].receipt_verdict == "rejected"


def sync_until_crash(network: Network, code: str, point: str) -> None:
    """Run ``fiscalsync sync`` for ``code`` in a process that dies, as in a power cut, at
    the crash point ``point``."""
    exe = Path(sys.executable).parent / "fiscalsync"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FISCALSYNC_")}
    crashed = subprocess.run(
        [str(exe), "--home", str(network.path / code), "sync"],
        env={**env, "FISCALSYNC_CRASH_AT": point},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert crashed.returncode == 99, crashed.stderr


@pytest.mark.parametrize("point", ["before-commit", "after-commit"])
def test_a_crash_at_each_step_of_apply_leaves_all_or_nothing(province: Network, point: str) -> None:
    import_codes(province)
    run_round(province, "410000")
    sync_until_crash(province, "410181", point)
    applied = codes_at(province, "410181")
    logged = rows(province, "410181", changeset_log)
    if point == "before-commit":
        assert applied == set() and logged == []
    else:
        assert applied == {"2059901"} and len(logged) == 1 and logged[0].receipt_sent_at is None
    settle(province)
    assert codes_at(province, "410181") == {"2059901"}
    assert len(rows(province, "410181", changeset_log)) == 1
    entry = next(e for e in rows(province, "410000", outbox) if e.recipient == "410181")
    assert entry.receipt_verdict == "applied"


def test_an_unreachable_parent_fails_cleanly_and_the_next_round_succeeds(province: Network) -> None:
    import_codes(province)
    settle(province)
    import_codes(province, "2059902")
    run_round(province, "410000")
    mailboxes = province.path / "410000" / "mailboxes"
    hidden = province.path / "mailboxes-offline"
    mailboxes.rename(hidden)  # the province's endpoint is gone
    result = CliRunner().invoke(cli, ["--home", str(province.path / "410181"), "sync"])
    assert result.exit_code == 7
    assert result.stderr.startswith(f"错误：无法连接上级：邮箱文件夹 {mailboxes} 不存在")
    sync = ["--home", str(province.path / "410181"), "sync", "--lang", "en"]
    result = CliRunner().invoke(cli, sync)
    assert result.stderr.startswith("Error: parent unreachable")
    hidden.rename(mailboxes)
    run_round(province, "410181")
    assert codes_at(province, "410181") == {"2059901", "2059902"}


def test_revocation_flows_down_and_the_revoked_node_is_refused(province: Network) -> None:
    runner = CliRunner()
    revoked = runner.invoke(
        cli, ["pki", "revoke", "--ca", str(province.ca_dir), "--node", "410322"]
    )
    assert revoked.exit_code == 0, revoked.stderr
    published = runner.invoke(
        cli,
        [
            "--home",
            str(province.path / "410000"),
            "revocation",
            "publish",
            "--ca",
            str(province.ca_dir),
        ],
    )
    assert published.exit_code == 0, published.stderr
    settle(province)
    current = (province.ca_dir / "crl.pem").read_bytes()
    for spec in province.topology:
        crl = (province.homes[spec.code].keys / "crl.pem").read_bytes()
        # the revoked county is left out: it could never sign a receipt for the list
        assert (crl == current) == (spec.code != "410322"), spec.code
    # the revoked county's reports are refused by its city from now on
    signer = pki.load_signer(province.homes["410322"].keys)
    report = changeset.write_changeset(
        province.path.parent,
        signer,
        "410300",
        "report",
        1,
        "",
        [{"op": "line"}],
        clock=SYSTEM_CLOCK,
    )
    up = mailbox(province, "410300", "410322", "up")
    shutil.copy(report.path, up / report.path.name)
    run_round(province, "410300")
    refused = rows(province, "410300", quarantine)
    assert [r.reason for r in refused] == ["certificate"]
    assert "revoked" in refused[0].detail
