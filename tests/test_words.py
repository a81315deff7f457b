"""The word tables (nodes/words_zh.py, nodes/words_en.py) say the same things: every key
in both languages, each message naming the same values in both, and every message the
code says by key (``said("key", ...)``) present in both, so that nothing an operator
reads falls back to English or fails to format.

Refusals reach an operator in Chinese by default (错误：…，提示：…), by locale, or in
English with ``--lang en``; their English text is what logs, JSON and ``str()`` keep.
On a ``network init`` province, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_allocate import run

from cli import cli
from nodes import restore, words_en, words_zh
from nodes.fiscal.yearend.closing import named as named_ids
from nodes.labels import labels, recalled, said, shown
from nodes.network import Network
from sync.errors import InputError
from sync.said import said as below

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("LABELS", "LISTINGS", "MESSAGES")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_is_in_both_languages_with_the_same_values() -> None:
    for table in TABLES:
        chinese, english = getattr(words_zh, table), getattr(words_en, table)
        assert set(chinese) == set(english), (table, set(chinese) ^ set(english))
        for key, text in chinese.items():
            assert _fields(text) <= _fields(english[key]), (key, text, english[key])
    every = [k for table in TABLES for k in getattr(words_en, table)]
    assert len(every) == len(set(every)), "a key is in two tables"


def test_every_message_said_in_the_code_is_in_both_tables() -> None:
    said_here = re.compile(r"""\bsaid\(\s*["']([a-z0-9_]+)["']""")
    keys: set[str] = set()
    for package in ("nodes", "sync", "schema", "cli.py"):
        for path in [ROOT / package] if package.endswith(".py") else (ROOT / package).rglob("*.py"):
            if path.name not in ("labels.py", "said.py"):  # their docstrings' examples
                keys |= set(said_here.findall(path.read_text("utf-8")))
    assert len(keys) > 150
    for lang in ("zh", "en"):
        words = labels(lang)
        missing = sorted(k for k in keys if f"m.{k}" not in words)
        assert not missing, (lang, missing)


def test_a_refusal_is_english_as_text_and_chinese_when_shown() -> None:
    refusal = InputError(said("no_appropriation", ident="X"), hint=said("no_appropriation_hint"))
    assert str(refusal) == "no appropriation X here"
    assert shown(refusal.message, labels("zh")) == "本节点没有指标 X"
    assert shown(refusal.hint, labels("en")).startswith("list them with")


def test_refusals_are_chinese_by_default_and_english_with_lang_en(province: Network) -> None:
    home = province.path / "410000"
    for args, chinese, english in (
        (
            ["appropriations", "show", "410000-2026-000404"],
            "错误：本节点没有指标 410000-2026-000404\n提示：用 'fiscalsync appropriations",
            "Error: no appropriation 410000-2026-000404 here\nHint: list them with",
        ),
        (
            ["ledger", "list", "--from", "yesterday"],
            "错误：--from 'yesterday' 不是日期",
            "Error: --from 'yesterday' is not a date",
        ),
        (
            ["report", "show", "2026-01", "--region", "999999"],
            "错误：'999999' 不是拓扑",
            "Error: region '999999' is not a reporting node",
        ),
    ):
        refused = run(province, "410000", *args)
        assert refused.exit_code == 3, refused.output
        assert refused.stderr.startswith(chinese), refused.stderr
        assert "提示：" in refused.stderr
        english_run = run(province, "410000", *args, "--lang", "en")
        assert english_run.exit_code == 3, (args, english_run.output)
        assert english_run.stderr.startswith(english), english_run.stderr
        assert "Hint: " in english_run.stderr
    by_locale = CliRunner(env={"LANG": "en_US.UTF-8", "LC_ALL": None, "LC_MESSAGES": None})
    none_yet = by_locale.invoke(cli, ["--home", str(home), "reconcile", "show"])
    assert none_yet.exit_code == 3
    assert none_yet.stderr.startswith("Error: no reconciliation yet at this node"), none_yet.stderr
    chinese = CliRunner(env={"LANG": "zh_CN.UTF-8", "LC_ALL": None}).invoke(
        cli, ["--home", str(home), "reconcile", "show"]
    )
    assert chinese.stderr.startswith("错误：本节点尚无对账"), chinese.stderr


def test_a_settings_refusal_is_said_in_the_locales_language(province: Network) -> None:
    settings = province.path / "410100" / "node.toml"
    text = settings.read_text("utf-8")
    settings.write_text(text.replace("Asia/Shanghai", "Mars/Olympus"), "utf-8")
    home = ["--home", str(province.path / "410100"), "status"]
    chinese = CliRunner(env={"LANG": "zh_CN.UTF-8", "LC_ALL": None}).invoke(cli, home)
    assert chinese.exit_code == 3
    assert "[node] time_zone 'Mars/Olympus' 不是时区" in chinese.stderr
    assert "提示：填写 IANA 名称" in chinese.stderr
    english = CliRunner(env={"LANG": "en_US.UTF-8", "LC_ALL": None}).invoke(cli, home)
    assert "'Mars/Olympus' is not a time zone" in english.stderr and "Hint: " in english.stderr


def test_a_message_may_name_a_value_called_key() -> None:
    refusal = said("codes_op_wrong_type", index=2, key="year", value="2026")
    assert str(refusal) == "operation 2: year '2026' has the wrong type"
    assert shown(refusal, labels("zh")) == "第 2 项操作：year '2026' 类型不对"


def test_what_the_fiscal_commands_did_is_said_in_either_language(province: Network) -> None:
    issued = run(province, "410000", "allocate", "--to", "410100", "--amount", "1000.00",
                 "--func", "2050202", "--econ", "50201", "--fund", "111",
                 "--doc", "豫财预〔2026〕1号", "--year", "2026")  # fmt: skip
    assert issued.exit_code == 0, issued.stderr
    ident = "410000-2026-000001"
    assert issued.output.strip() == f"已下达 {ident}：1,000.00 元至 410100；下次同步时发出。"
    adjusted = run(province, "410000", "adjust", ident, "--delta", "-1.00",
                   "--doc", "豫财预〔2026〕2号", "--lang", "en")  # fmt: skip
    assert adjusted.output.strip() == (
        f"{ident}: decrease of 1.00 元 recorded as event 2; it travels at the next sync."
    )
    recovered = run(province, "410000", "recover", ident, "--amount", "2.00",
                    "--doc", "豫财预〔2026〕3号")  # fmt: skip
    assert recovered.output.strip() == f"{ident}：收回 2.00 元，记为第 3 个事件；下次同步时发出。"


def test_a_topology_change_is_refused_in_either_language(province: Network) -> None:
    args = ["network", "move-node", "--code", "410102", "--parent", "410100"]
    chinese = run(province, "410000", *args)
    assert chinese.exit_code == 3, chinese.output
    assert chinese.stderr.splitlines() == [
        "错误：410102 已在 410100 之下",
        "提示：指定它要迁往的上级",
    ]
    english = run(province, "410000", *args, "--lang", "en")
    assert english.stderr.splitlines() == [
        "Error: 410102 is under 410100 already",
        "Hint: name the parent it should move to",
    ]
    retired = run(province, "410000", "network", "retire-node", "--code", "410000",
                  "--ca", str(province.ca_dir))  # fmt: skip
    assert retired.stderr.startswith("错误：省级节点 410000 不能撤销\n"), retired.stderr


def test_a_join_and_the_agent_are_refused_in_the_locales_language(
    province: Network, tmp_path: Path
) -> None:
    join = ["join", str(tmp_path / "410183"), "--node", "410183", "-o", str(tmp_path / "out"),
            "--topology", str(province.path / "topology.toml")]  # fmt: skip
    by_locale = CliRunner(env={"LANG": "zh_CN.UTF-8", "LC_ALL": None, "LC_MESSAGES": None})
    chinese = by_locale.invoke(cli, join)
    assert chinese.exit_code == 3
    assert chinese.stderr.splitlines() == [
        f"错误：{province.path / 'topology.toml'} 中没有列出 410183",
        "提示：先由省级添加（'network add-node'）；使用它发来的拓扑文件",
    ]
    english = CliRunner(env={"LANG": "en_US.UTF-8", "LC_ALL": None}).invoke(cli, join)
    assert english.stderr.startswith(f"Error: {province.path / 'topology.toml'} does not list")
    agent = by_locale.invoke(cli, ["agent", "--homes", str(tmp_path)])
    assert agent.exit_code == 3
    assert agent.stderr.startswith(f"错误：{tmp_path} 中没有节点目录（含 node.toml 的文件夹）")


def test_a_restore_is_refused_in_either_language(tmp_path: Path) -> None:
    with pytest.raises(InputError) as none:
        restore.choose([], datetime(2026, 11, 20, 10, 0, tzinfo=UTC), "410102")
    assert (
        str(none.value) == "the keeper holds no backup of 410102 at or before 2026-11-20 10:00 UTC"
    )
    assert (
        shown(none.value.message, labels("zh"))
        == "保管方没有 410102 在 2026-11-20 10:00 UTC 或之前的备份"
    )
    assert shown(none.value.hint, labels("zh")) == "在保管方用 'fiscalsync backup list' 列出"


def test_a_year_close_is_refused_in_either_language(province: Network) -> None:
    chinese = run(province, "410102", "year", "close", "2026")
    assert chinese.exit_code == 3, chinese.output
    assert chinese.stderr.splitlines() == [
        "错误：410102 没有收到 2026 年度的指标：无可结转",
        "提示：用 'fiscalsync appropriations --year 2026' 查看收到的指标",
    ]
    english = run(province, "410102", "year", "close", "2026", "--lang", "en")
    assert english.stderr.startswith(
        "Error: 410102 received no appropriation of 2026: there is nothing to close\n"
    )
    many = said(
        "close_in_flight", year=2026, count=12, ids=named_ids([f"A{i:02}" for i in range(12)])
    )
    assert str(many).endswith("A07, A08, A09 and 2 more"), str(many)
    assert shown(many, labels("zh")).endswith("A07, A08, A09 等（另有 2 个）")


def test_a_misuse_of_the_command_line_is_said_in_either_language(province: Network) -> None:
    args = ["report", "generate", "2026-09", "--period", "2026-10"]
    chinese = run(province, "410181", *args)
    assert chinese.exit_code == 2
    assert "给出了两个期间：2026-09 和 --period 2026-10" in chinese.stderr
    english = run(province, "410181", *args, "--lang", "en")
    assert "two periods given: 2026-09 and --period 2026-10" in english.stderr
    nowhere = CliRunner(env={"LANG": "zh_CN.UTF-8", "LC_ALL": None, "FISCALSYNC_HOME": None})
    assert "没有节点目录：用 --home DIR 指定" in nowhere.invoke(cli, ["status"]).stderr


def test_what_the_key_commands_did_is_said_in_either_language(tmp_path: Path) -> None:
    made = CliRunner().invoke(
        cli, ["pki", "init-root", str(tmp_path / "zh"), "--province", "410000"]
    )
    assert made.exit_code == 0, made.stderr
    assert made.output.splitlines() == [
        f"已在 {tmp_path / 'zh'} 创建 410000 的根 CA（算法套件 ed25519，私钥未加密）。",
        f"将 {tmp_path / 'zh' / 'ca.crt'} 连同各节点证书分发给每个节点。",
    ]
    english = CliRunner().invoke(
        cli, ["pki", "init-root", str(tmp_path / "en"), "--province", "410000", "--lang", "en"]
    )
    assert english.output.startswith(f"Created root CA of 410000 in {tmp_path / 'en'} (suite")


def test_init_says_what_it_made_in_either_language(tmp_path: Path, demo_topology: Path) -> None:
    made = CliRunner().invoke(
        cli, ["init", str(tmp_path / "zh"), "--node", "410122", "--topology", str(demo_topology)]
    )
    assert made.exit_code == 0, made.stderr
    lines = made.output.splitlines()
    assert lines[:2] == [f"已为 410122 创建节点目录 {tmp_path / 'zh'}。", "下一步："]
    assert lines[2].endswith("# 在此：生成私钥和 node.csr")
    english = CliRunner().invoke(
        cli, ["init", str(tmp_path / "en"), "--node", "410122", "--topology", str(demo_topology),
              "--lang", "en"],
    )  # fmt: skip
    assert english.output.startswith(f"Created node home {tmp_path / 'en'} for 410122.\n")


def test_what_a_backup_did_is_said_in_either_language(province: Network) -> None:
    first = run(province, "410102", "backup")
    assert first.exit_code == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith("已为 410102 做第 1 号备份（"), lines
    assert lines[-1] == "其清单在下次同步时发给 410000-dc。"
    second = run(province, "410102", "backup", "--lang", "en")
    assert second.stdout.startswith("Backup #2 of 410102 taken at "), second.stdout


def test_an_error_said_below_nodes_is_shown_in_the_operators_language(tmp_path: Path) -> None:
    ca = str(tmp_path / "ca")
    assert CliRunner().invoke(cli, ["pki", "init-root", ca, "--province", "410000"]).exit_code == 0
    again = CliRunner().invoke(cli, ["pki", "init-root", ca, "--province", "410000"])
    assert again.exit_code == 8, again.stderr
    assert again.stderr.splitlines() == [
        f"错误：{ca} 中已有 CA（ca.key 已存在）",
        "提示：载入现有 CA，或为新 CA 另选一个空文件夹",
    ]
    english = CliRunner().invoke(
        cli, ["pki", "init-root", ca, "--province", "410000", "--lang", "en"]
    )
    assert english.stderr.startswith(f"Error: {ca} already holds a CA (ca.key exists)\nHint: load")
    kept = said("cannot_read", path="x", error=below("ca_passphrase_empty"))
    assert kept.as_json() == {
        "m": "cannot_read",
        "v": {"path": "x", "error": {"m": "ca_passphrase_empty", "v": {}}},
    }
    assert shown(kept, labels("zh")) == "无法读取 x：CA 口令不能为空"


@pytest.mark.parametrize(
    "value",
    [Decimal("1.5"), b"\x00seq", [1, "2"], 1.5, Path("/srv/fiscal"), "1.5"],
    ids=["decimal", "bytes", "list", "float", "path", "text"],
)
def test_a_stored_message_recalled_is_the_text_it_was(value: object) -> None:
    """A value kept with a message (neither text nor a whole number) is said again as
    it was, its repr under ``!r`` too: in English the stored text, in Chinese the same."""
    from schema.said import kept
    from schema.said import said as said_below

    stored = said_below("fit_not_whole", column="seq", value=value)
    assert str(stored) == f"seq {value!r} is not a whole number"
    again = recalled(str(stored), kept(stored))
    assert str(again) == str(stored)
    assert shown(again, labels("en")) == str(stored)
    assert shown(again, labels("zh")) == f"seq {value!r} 不是整数"
    named_too = said_below("db_cannot_open", url=value, error=value)
    assert shown(recalled(str(named_too), kept(named_too)), labels("en")) == str(named_too)


def test_a_topology_check_and_a_database_upgrade_are_said_in_either_language(
    tmp_path: Path, demo_topology: Path
) -> None:
    """What the plainer commands did is said in the operator's language too: the roles of a
    checked topology by their labels, a database already at the newest schema."""
    henan = Path(__file__).parent.parent / "config" / "topologies" / "henan.toml"
    chinese = CliRunner(env={"LANG": "zh_CN.UTF-8", "LC_ALL": None, "LC_MESSAGES": None})
    english = CliRunner(env={"LANG": "en_US.UTF-8", "LC_ALL": None, "LC_MESSAGES": None})
    said_zh = chinese.invoke(cli, ["topology", "check", str(henan)])
    assert said_zh.exit_code == 0, said_zh.output
    assert "检查通过：共 " in said_zh.output and "市级 " in said_zh.output
    assert "省直管县" in said_zh.output and " nodes " not in said_zh.output
    said_en = english.invoke(cli, ["topology", "check", str(henan)])
    assert said_en.exit_code == 0, said_en.output
    assert said_en.output.startswith(f"OK {henan}: ") and " city, " in said_en.output
    home = tmp_path / "410102"
    made = english.invoke(
        cli, ["init", str(home), "--node", "410102", "--topology", str(demo_topology)]
    )
    assert made.exit_code == 0, made.output
    upgraded_zh = chinese.invoke(cli, ["--home", str(home), "db", "upgrade"])
    assert upgraded_zh.exit_code == 0 and "数据库结构已是最新版本" in upgraded_zh.output
    upgraded_en = english.invoke(cli, ["--home", str(home), "db", "upgrade"])
    assert upgraded_en.output.startswith("Database already at schema ")


def test_a_report_period_that_is_none_is_refused_in_either_language(node_home: Path) -> None:
    """``report show`` of a month that does not exist: one line and a hint, by key."""
    chinese = CliRunner().invoke(cli, ["--home", str(node_home), "report", "show", "2026-13"])
    assert chinese.exit_code == 3, chinese.output
    assert chinese.stderr.splitlines() == [
        "错误：'2026-13' 不是报表期间",
        "提示：期间写作 2026-10（整月）、2026-10-D1（1—10 日）、2026-10-D2（11—20 日）"
        "或 2026-10-D3（21 日至月末）",
    ], chinese.stderr
    english = CliRunner().invoke(
        cli, ["--home", str(node_home), "report", "show", "2026-13", "--lang", "en"]
    )
    assert english.stderr.startswith("Error: '2026-13' is not a report period\nHint: write")
