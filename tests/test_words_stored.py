"""What a node stored about a refused file or change-set is shown in the reader's language:
a quarantine entry's detail and the reason of a change-set refused here are kept in
English (what a receipt and JSON carry) and, when said by key, by key beside it (schema
revision 0023); rows from before show their English text. On a ``network init``
province, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner, Result
from test_appropriations_apply import ID, adjust, send
from test_sync import mailbox, rows
from test_sync_rounds import _codeset_for

from cli import cli
from nodes import Node
from nodes.network import Network, sync_network
from schema.channels import changeset_log, outbox, quarantine


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
