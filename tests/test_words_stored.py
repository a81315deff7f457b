"""What a node stored about a refused file or change-set is shown in the reader's language:
a quarantine entry's detail and the reason of a change-set refused here are kept in
English (what a receipt and JSON carry) and, when said by key, by key beside it (schema
revision 0023); so are a failure record's error and the reason a recipient's receipt
gives, which the receipt carries by key beside its English text (schema revision 0026).
Rows from before, and receipts signed without the key (an earlier fiscalsync), show their
English text. On a ``network init`` province, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner, Result
from test_appropriations_apply import COUNTY, ID, adjust, send
from test_backup import backup, bring_back, lose
from test_sync import import_codes, mailbox, rows, run_round
from test_sync_rounds import _codeset_for, _damage

from cli import cli
from nodes import Node
from nodes.exchange import Exchange
from nodes.labels import Said, labels, recalled, said
from nodes.network import Network, sync_network
from schema.channels import changeset_log, file_attempt, outbox, quarantine
from sync import attempts, changeset, pki
from sync.attempts import MAX_ATTEMPTS, Stage
from sync.changeset import Verified
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK
from sync.reasons import kept_from
from sync.said import said as said_below


def run(network: Network, code: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--home", str(network.path / code), *args])


def test_a_quarantine_entrys_detail_is_shown_in_either_language(
    province: Network, tmp_path: Path
) -> None:
    # a good change-set for Luoyang, left by the province in Zhengzhou's down folder
    made = _codeset_for(province, "410300", tmp_path)
    shutil.copy(made, mailbox(province, "410000", "410100") / made.name)
    sync_network(province.path, until_quiet=True, max_rounds=20)
    [entry] = rows(province, "410100", quarantine)
    english = f"{made.name}: for 410300, it would go back to 410000, where it came from"
    assert (entry.reason, entry.detail) == ("route", english)
    chinese = f"{made.name}：发往 410300 须经 410000，即它的来处，不会原路送回"
    listed = run(province, "410100", "quarantine")
    assert listed.exit_code == 0, listed.output
    assert "无法转发" in listed.output and chinese in listed.output
    listed = run(province, "410100", "quarantine", "--lang", "en")
    assert english in listed.output and chinese not in listed.output
    shown = run(province, "410100", "quarantine", "show", str(entry.id))
    assert "说明" in shown.output and chinese in shown.output
    shown = run(province, "410100", "quarantine", "show", str(entry.id), "--lang", "en")
    assert english in shown.output
    status = run(province, "410100", "status")
    assert f"隔离条目 {entry.id}（无法转发）：{chinese}" in status.output
    status = run(province, "410100", "status", "--lang", "en")
    assert f"quarantine entry {entry.id} (route): {english}" in status.output
    # check says what it finds of the quarantine in either language too
    (province.path / "410100" / "spool" / "quarantine" / "stray.fcs").write_bytes(b"x")
    checked = run(province, "410100", "check")
    assert (
        "stray.fcs: 在 quarantine/ 中，但没有条目指向它 → 将其移到 spool/incoming/"
        in checked.output
    )
    checked = run(province, "410100", "check", "--lang", "en")
    assert "stray.fcs: in quarantine/, but no entry names it → move it to" in checked.output
    # an entry from before its detail was kept by key shows its English text
    with Node.open(province.path / "410100") as node, node.engine.begin() as conn:
        conn.execute(quarantine.update().values(detail_said=None))
    listed = run(province, "410100", "quarantine")
    assert english in listed.output and chinese not in listed.output


def test_a_change_set_refused_here_says_why_in_either_language(province: Network) -> None:
    unknown = ID(999999)
    send(province, [adjust("increase", unknown, 100)])
    english = f"increase of unknown appropriation {unknown}"
    [taken] = rows(province, "410181", changeset_log)
    assert (taken.verdict, taken.reason) == ("rejected", english)
    # the receipt the issuer got keeps the English text: the wire is unchanged
    [sent] = rows(province, "410000", outbox, outbox.c.id == taken.id)
    assert (sent.receipt_verdict, sent.receipt_reason) == ("rejected", english)
    chinese = f"调增的指标 {unknown} 在本节点不存在"
    refused = run(province, "410181", "appropriations", "--refused")
    assert refused.exit_code == 0, refused.output
    assert chinese in refused.output and "本级拒收" in refused.output
    refused = run(province, "410181", "appropriations", "--refused", "--lang", "en")
    assert english in refused.output
    as_csv = run(province, "410181", "appropriations", "--refused", "--format", "csv")
    assert english in as_csv.output and chinese not in as_csv.output
    with Node.open(province.path / "410181") as node, node.engine.begin() as conn:
        conn.execute(changeset_log.update().values(reason_said=sa.null()))
    refused = run(province, "410181", "appropriations", "--refused")
    assert english in refused.output and chinese not in refused.output


def test_a_failure_records_error_is_shown_in_either_language(province: Network) -> None:
    import_codes(province)
    entry = next(e for e in rows(province, "410000", outbox) if e.recipient == COUNTY)
    _damage(province.homes["410000"].spool / "outbox" / entry.filename, "bit-flipped")
    english = "this node's copy is damaged: the body member fails its gzip checksum"
    chinese = "本节点的副本已损坏：正文段的 gzip 校验和不符"
    synced = CliRunner().invoke(cli, ["network", "sync", str(province.path), "--until-quiet"])
    assert synced.exit_code == 16, synced.output + synced.stderr
    line = next(x for x in synced.output.splitlines() if f"410000 -> {COUNTY}" in x)
    assert f"已损坏         代码集 序号 1：{chinese}" in line, line
    [failure] = rows(province, "410000", file_attempt)
    assert failure.error.startswith(english) and failure.error_said
    status = run(province, "410000", "status")
    assert f"{entry.filename}: {chinese}（文件被改动或损坏）；未发送（已检查" in status.output
    status = run(province, "410000", "status", "--lang", "en")
    assert f"{entry.filename}: {english} (file altered or damaged); not sent" in status.output
    listed = run(province, "410000", "outbox")
    assert f"已损坏，未发送：{entry.filename}：{chinese}" in listed.output
    listed = run(province, "410000", "outbox", "--lang", "en")
    assert f"DAMAGED, not sent: {entry.filename}: {english}" in listed.output
    # a record from before its error was kept by key shows its English text
    with Node.open(province.path / "410000") as node, node.engine.begin() as conn:
        conn.execute(file_attempt.update().values(error_said=None))
    status = run(province, "410000", "status")
    assert english in status.output and chinese not in status.output


def test_a_file_parked_after_its_rounds_says_so_in_either_language(province: Network) -> None:
    import_codes(province)
    run_round(province, "410000")

    def buggy(conn: sa.Connection, verified: Verified) -> None:
        raise ValueError("a bug in the applier")

    with Node.open(province.path / "410100") as node:
        exchange = Exchange(node)
        exchange.applier = buggy
        try:
            for _ in range(MAX_ATTEMPTS):
                exchange.run_round()
        finally:
            exchange.close()
    [entry] = rows(province, "410100", quarantine)
    # a failure of no key (a bug, the operating system's) keeps its own text inside
    english = "parked after 5 failed rounds (take); the last: ValueError: a bug in the applier"
    chinese = "接收失败 5 轮后搁置；最后一次错误：ValueError: a bug in the applier"
    assert (entry.reason, entry.detail) == ("parked", english)
    listed = run(province, "410100", "quarantine")
    assert chinese in listed.output and english not in listed.output
    listed = run(province, "410100", "quarantine", "--lang", "en")
    assert english in listed.output and chinese not in listed.output


def test_the_reason_a_recipients_receipt_gives_is_shown_in_either_language(
    province: Network,
) -> None:
    unknown = ID(999999)
    send(province, [adjust("increase", unknown, 100)])
    english = f"increase of unknown appropriation {unknown}"
    chinese = f"调增的指标 {unknown} 在本节点不存在"
    [sent] = rows(province, "410000", outbox, outbox.c.recipient == COUNTY)
    # the receipt's English text is as before; its key and values travel beside it
    assert (sent.receipt_verdict, sent.receipt_reason) == ("rejected", english)
    receipt = province.homes["410000"].spool / "outbox" / sent.receipt_file
    [body] = changeset.iter_operations(receipt)
    assert body["reason"] == english
    assert body["reason_said"] == {"m": "recv_unknown", "v": {
        "kind": {"family": "event", "value": "increase"}, "ident": unknown}}  # fmt: skip
    refused = run(province, "410000", "appropriations", "--refused")
    assert refused.exit_code == 0, refused.output
    assert chinese in refused.output and english not in refused.output
    refused = run(province, "410000", "appropriations", "--refused", "--lang", "en")
    assert english in refused.output and chinese not in refused.output
    as_csv = run(province, "410000", "appropriations", "--refused", "--format", "csv")
    assert english in as_csv.output and chinese not in as_csv.output


def test_a_receipt_without_the_key_is_shown_in_its_english_text(province: Network) -> None:
    """A recipient of an earlier fiscalsync signs its receipt with the English reason only."""
    unknown = ID(999998)
    with Node.open(province.path / "410000") as node, node.engine.begin() as conn:
        signer = pki.load_signer(node.home.keys)
        ops = [adjust("decrease", unknown, 100)]
        enqueue(conn, node.spool, signer, COUNTY, "appropriation", ops, SYSTEM_CLOCK)
    run_round(province, "410000")
    run_round(province, COUNTY)
    [signed] = list(mailbox(province, "410000", COUNTY, "up").iterdir())
    header, _seal = changeset.read_header(signed)
    [body] = changeset.iter_operations(signed)
    del body["reason_said"]  # as the earlier fiscalsync wrote it
    signed.unlink()
    county = pki.load_signer(province.homes[COUNTY].keys)
    up = mailbox(province, "410000", COUNTY, "up")
    written = changeset.write_changeset(
        up, county, "410000", "receipt", header.seq, header.prev, [body], SYSTEM_CLOCK
    )
    run_round(province, "410000")
    [sent] = rows(province, "410000", outbox, outbox.c.recipient == COUNTY)
    english = f"decrease of unknown appropriation {unknown}"
    assert (sent.receipt_id, sent.receipt_verdict) == (written.id, "rejected")
    assert (sent.receipt_reason, sent.receipt_reason_said) == (english, None)
    refused = run(province, "410000", "appropriations", "--refused")
    assert refused.exit_code == 0, refused.output
    assert english in refused.output and "调减的指标" not in refused.output


def test_a_receipts_reason_by_key_is_kept_only_when_it_can_be_said_again() -> None:
    by_key = {"m": "recv_unknown", "v": {"kind": {"family": "event", "value": "increase"},
                                         "ident": "410000-2026-000007"}}  # fmt: skip
    kept = kept_from({"reason": "increase of unknown appropriation 410000-2026-000007",
                      "reason_said": by_key})  # fmt: skip
    shown = recalled("increase of unknown appropriation 410000-2026-000007", kept)
    assert isinstance(shown, Said)
    assert shown.said_in(labels("zh")) == "调增的指标 410000-2026-000007 在本节点不存在"
    # by key only as its English text says: a key of another message shows the English
    assert recalled("decrease of unknown appropriation 410000-2026-000007", kept) == (
        "decrease of unknown appropriation 410000-2026-000007"
    )
    # no reason in English, or by key as no message: nothing kept
    assert kept_from({"reason": None, "reason_said": by_key}) is None
    assert kept_from({"reason": "r", "reason_said": "调增"}) is None
    # a key this version does not know, or a reason nested past reading, shows the English
    assert recalled("r", kept_from({"reason": "r", "reason_said": {"m": "?", "v": {}}})) == "r"
    deep = by_key
    for _ in range(300):
        deep = {"m": "labelled", "v": {"label": "x", "what": deep}}
    assert kept_from({"reason": "r", "reason_said": deep}) is None


def test_a_receipt_carries_its_reason_by_key_only_when_its_reader_keeps_it() -> None:
    from sync.reasons import MOST, in_receipt

    fits = in_receipt(said("recv_unknown", kind="increase", ident="410000-2026-000007"))
    assert fits["reason_said"]["m"] == "recv_unknown"
    huge = in_receipt(said("recv_unknown", kind="increase", ident="9" * (MOST + 1)))
    wide = in_receipt(said("recv_unknown", kind="increase", ident=2**70))
    for fields in (huge, wide):  # the English alone, and the receipt is still signed
        assert "reason_said" not in fields and fields["reason"].startswith("increase of")


def test_a_restored_node_taking_a_refused_change_set_again_keeps_its_reason_by_key(
    province: Network,
) -> None:
    assert backup(province, COUNTY).number == 1
    unknown = ID(999997)
    send(province, [adjust("increase", unknown, 100)])
    [before] = rows(province, COUNTY, changeset_log)
    assert before.verdict == "rejected" and before.reason_said
    bring_back(province, COUNTY, lose(province, COUNTY))
    assert sync_network(province.path, until_quiet=True, max_rounds=40).quiet
    # taken again with the receipt it signed then: its reason, by key too, as that says
    [after] = rows(province, COUNTY, changeset_log)
    assert (after.id, after.receipt_id) == (before.id, before.receipt_id)
    assert (after.reason, after.reason_said) == (before.reason, before.reason_said)
    refused = run(province, COUNTY, "appropriations", "--refused")
    assert f"调增的指标 {unknown} 在本节点不存在" in refused.output


def _receipt_rewritten(province: Network, ident: str, **changes: object) -> None:
    """The county refuses a decrease of ``ident``; its receipt is signed again with
    ``changes`` to its operation, as a faulty or hostile peer could sign it."""
    with Node.open(province.path / "410000") as node, node.engine.begin() as conn:
        signer = pki.load_signer(node.home.keys)
        enqueue(conn, node.spool, signer, COUNTY, "appropriation",
                [adjust("decrease", ident, 100)], SYSTEM_CLOCK)  # fmt: skip
    run_round(province, "410000")
    run_round(province, COUNTY)
    up = mailbox(province, "410000", COUNTY, "up")
    [signed] = list(up.iterdir())
    header, _seal = changeset.read_header(signed)
    [body] = changeset.iter_operations(signed)
    signed.unlink()
    county = pki.load_signer(province.homes[COUNTY].keys)
    changeset.write_changeset(up, county, "410000", "receipt", header.seq, header.prev,
                              [body | changes], SYSTEM_CLOCK)  # fmt: skip
    run_round(province, "410000")


def test_a_receipt_is_shown_as_its_english_says_and_a_nul_in_it_is_stored(
    province: Network,
) -> None:
    disk_full = {"m": "db_disk_full", "v": {"error": "disk I/O error"}}  # not what it says
    _receipt_rewritten(province, ID(999996), reason="no such\x00one", reason_said=disk_full)
    [sent] = rows(province, "410000", outbox, outbox.c.recipient == COUNTY)
    assert sent.receipt_verdict == "rejected" and sent.receipt_reason == "no such\ufffdone"
    for args in ([], ["--lang", "en"], ["--format", "csv"]):
        listed = run(province, "410000", "appropriations", "--refused", *args)
        assert listed.exit_code == 0, listed.output
        assert "no such\ufffdone" in listed.output and "disk" not in listed.output
        assert "数据库" not in listed.output


def test_a_receipt_of_no_known_verdict_is_not_taken(province: Network) -> None:
    _receipt_rewritten(province, ID(999995), verdict="x" * 40)
    [sent] = rows(province, "410000", outbox, outbox.c.recipient == COUNTY)
    assert sent.acked_at is None  # sent again until a well-formed receipt comes
    [kept] = rows(province, "410000", quarantine)
    assert kept.reason == "receipt" and "not a well-formed receipt" in kept.detail


def test_a_file_that_cannot_be_collected_names_its_mailbox_in_either_language(
    province: Network,
) -> None:
    # what the sync round counts when a file in the province's mailbox cannot be taken
    with Node.open(province.path / "410100") as node:
        error = said_below("link_unreachable", name="410000", error="timed out")
        attempts.failed(node.engine, Stage.FETCH, "410000:x.fcs", error, SYSTEM_CLOCK)
    status = run(province, "410100", "status")
    assert "x.fcs（在 410000 的信箱中）: 收取：5 轮中已失败 1 轮" in status.output, status.output
    status = run(province, "410100", "status", "--lang", "en")
    assert "x.fcs (in 410000's mailbox): to collect: failed 1 of 5 rounds" in status.output
    as_json = run(province, "410100", "status", "--json")
    assert '"subject": "x.fcs (in 410000\'s mailbox)"' in as_json.output, as_json.output
