"""What an operator reads is in Chinese by default (中文), in English with ``--lang en``:
the listings of appropriations, the ledger and codes, the outbox, inbox and quarantine,
``status``; enumerated values in words (一般性转移支付, 已确认), amounts grouped by
thousands; ``--format json`` keeps its English keys and codes. Every time shown is in
the node's ``[node] time_zone``, while the database keeps UTC.

On a ``network init`` province, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from test_allocate import allocate, run, settle

from cli import cli
from nodes import Node
from nodes.fiscal import appropriations
from nodes.network import Network

FIRST = "410000-2026-000001"


def test_listings_are_chinese_by_default_and_english_with_lang_en(province: Network) -> None:
    assert allocate(province, "410000", "410100", "1234567.89").exit_code == 0
    waiting = run(province, "410000", "outbox")
    assert waiting.exit_code == 0, waiting.stderr
    header, _rule, row = waiting.output.splitlines()[:3]
    assert header.split() == ["接收方", "类型", "序号", "发送次数", "回执", "生成时间", "编号"]
    assert "410100" in row and "指标" in row and "待确认" in row
    english = run(province, "410000", "outbox", "--lang", "en").output.splitlines()
    assert english[0].split()[:3] == ["recipient", "kind", "seq"]
    assert "appropriation" in english[2]

    issued = run(province, "410000", "appropriations", "--issued").output
    assert "转移支付类型" in issued and "一般性转移支付" in issued and "下达数（元）" in issued
    assert "1,234,567.89" in issued  # thousands separators for the eye
    (kept,) = json.loads(
        run(province, "410000", "appropriations", "--issued", "--format", "json").output
    )
    assert (kept["transfer_type"], kept["amount"]) == ("general", "1234567.89")  # for programs
    settle(province)
    outbox = run(province, "410000", "outbox", "--all").output
    assert "已确认" in outbox.splitlines()[2]
    received = run(province, "410100", "appropriations").output
    assert "接收数（元）" in received and "可用数（元）" in received
    assert "received (元)" in run(province, "410100", "appropriations", "--lang", "en").output
    shown = run(province, "410100", "appropriations", "show", FIRST).output
    assert (
        "转移支付类型        一般性转移支付" in shown
        and "金额                1,234,567.89 元" in shown
    )
    assert "下达" in shown.splitlines()[-1] and "已确认" in shown.splitlines()[-1]

    status = run(province, "410100", "status").output.splitlines()
    assert status[0].split()[0] == "节点" and status[0].endswith("(市级)")
    assert status[1].startswith("上级") and "410000" in status[1]
    assert run(province, "410100", "status", "--lang", "en").output.startswith("Node ")
    status_json = json.loads(run(province, "410100", "status", "--json").output)
    assert status_json["code"] == "410100"

    assert run(province, "410100", "inbox").output.strip() == "收件箱为空：没有等待中的变更集。"
    assert run(province, "410100", "quarantine").output.strip() == "隔离区为空。"
    assert run(province, "410100", "quarantine", "--lang", "en").output.strip() == (
        "Quarantine empty."
    )
    spent = run(province, "410100", "ledger", "add", "--date", "2026-10-15", "--code", "2050202",
                "--amount", "1000.00", "--appropriation", FIRST, "--memo", "教师培训")  # fmt: skip
    assert spent.exit_code == 0, spent.stderr
    ledger = run(province, "410100", "ledger", "list").output.splitlines()
    assert ledger[0].split()[:3] == ["日期", "收支", "科目"] and "支出" in ledger[2]
    assert "1,000.00" in ledger[2]
    assert run(province, "410100", "ledger", "list", "--lang", "en").output.startswith("date")
    (entry,) = json.loads(run(province, "410100", "ledger", "list", "--format", "json").output)
    assert entry["amount"] == "1000.00" and entry["direction"] == "支出"  # as before
    codes = run(province, "410100", "codes", "list", "--codeset", "func", "--year", "2026")
    assert codes.output.split()[:3] == ["年度", "编码", "名称"]


def test_a_c_locale_gives_chinese_and_an_english_one_english(province: Network) -> None:
    home = ["--home", str(province.path / "410000"), "quarantine"]
    for env, shown in (
        ({"LANG": "C.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}, "隔离区为空。"),
        ({"LANG": None, "LC_ALL": None, "LC_MESSAGES": None}, "隔离区为空。"),
        ({"LANG": "zh_CN.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}, "隔离区为空。"),
        ({"LANG": "en_US.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}, "Quarantine empty."),
        (
            {"LANG": "zh_CN.UTF-8", "LC_ALL": "en_US.UTF-8", "LC_MESSAGES": None},
            "Quarantine empty.",
        ),
    ):
        assert CliRunner(env=env).invoke(cli, home).output.strip() == shown
    chosen = CliRunner(env={"LANG": "en_US.UTF-8", "LC_ALL": None}).invoke(
        cli, [*home, "--lang", "zh"]
    )
    assert chosen.output.strip() == "隔离区为空。"


def test_times_are_shown_in_the_nodes_zone_and_kept_in_utc(province: Network) -> None:
    settings = province.path / "410000" / "node.toml"
    text = settings.read_text("utf-8")
    settings.write_text(text.replace("Asia/Shanghai", "America/New_York"), "utf-8")
    assert allocate(province, "410000", "410100", "10.00").exit_code == 0
    with Node.open(province.path / "410000") as node:
        (entry,) = node.outbox()
        (event,) = appropriations.history(node, FIRST).events
    assert entry.created_at.utcoffset() == event.at.utcoffset() == UTC.utcoffset(None)
    york, beijing = ZoneInfo("America/New_York"), ZoneInfo("Asia/Shanghai")

    def shown(moment: object, zone: ZoneInfo) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")  # type: ignore[attr-defined]

    assert shown(entry.created_at, york) != shown(entry.created_at, beijing)
    outbox = run(province, "410000", "outbox").output.splitlines()[2]
    assert shown(entry.created_at, york) in outbox
    history = run(province, "410000", "appropriations", "show", FIRST).output.splitlines()[-1]
    assert shown(event.at, york) in history and shown(event.at, beijing) not in history
    settings.write_text(text, "utf-8")  # the default zone: Beijing time
    assert shown(entry.created_at, beijing) in run(province, "410000", "outbox").output
    history = run(province, "410000", "appropriations", "show", FIRST).output
    assert shown(event.at, beijing) in history
