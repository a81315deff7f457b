"""The problems of a batch file are said in the operator's language: ``allocate --file``
and ``ledger import`` name every bad row in Chinese by default (or by a Chinese locale),
in English by an English locale or ``--lang en``, through the real command line, on a
``network init`` province (SQLite and PostgreSQL), and nothing is written either way."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from cli import cli
from nodes.network import Network

CHINESE = {"LANG": "zh_CN.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}
ENGLISH = {"LANG": "en_US.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}

BATCH = """recipient,amount,func,econ,fund,doc,title,type
410100,abc,2050201,50201,111,豫财预〔2026〕901号,x,general
999999,10,2050201,50201,111,x,y,general
410100,10,9999999,50201,111,豫财预〔2026〕902号,z,foo
"""

ENTRIES = """date,direction,code,econ,amount,appropriation,memo
2026-10-15,expenditure,2050201,,0,,a
2026-13-05,foo,2050201,,10,,b
"""


def _run(env: dict[str, str | None], home: Path, *args: str) -> Result:
    return CliRunner(env=env).invoke(cli, ["--home", str(home), *args])


def _problems(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("  ")]


def test_a_bad_allocation_file_is_refused_in_either_language(
    province: Network, tmp_path: Path
) -> None:
    batch = tmp_path / "bad.csv"
    batch.write_text(BATCH, "utf-8")
    home = province.path / "410000"
    chinese = _run(CHINESE, home, "allocate", "--file", str(batch))
    assert chinese.exit_code == 3, chinese.output
    lines = chinese.stderr.splitlines()
    assert "错误：5 处问题，未下达任何指标" in lines, chinese.stderr
    assert _problems(chinese) == [
        "  bad.csv 第 2 行：金额：'abc' 不是以元为单位、最多两位小数的金额",
        "  bad.csv 第 3 行：接收方 999999：999999 不是拓扑 'demo' 中的节点",
        "  bad.csv 第 3 行：文号 'x' 不符合 <简称><文种>〔YYYY〕N号 的格式（如 豫财预〔2026〕12号，"
        "用 〔 〕 括号）",
        "  bad.csv 第 4 行：转移支付类型 'foo' 不是 general, special, shared, 一般性, 专项, "
        "共同财政事权, 一般性转移支付, 专项转移支付, 共同财政事权转移支付 之一",
        "  bad.csv 第 4 行：功能分类 '9999999' 不是 2026 年度的科目编码",
    ]
    assert lines[-1] == "提示：改正所列各行；未下达任何指标（文号形如 豫财预〔2026〕12号）"
    assert not any(c.isascii() and c.isalpha() for c in lines[-1].split("（")[0])
    for english in (
        _run(ENGLISH, home, "allocate", "--file", str(batch)),
        _run(CHINESE, home, "allocate", "--file", str(batch), "--lang", "en"),
    ):
        assert english.exit_code == 3, english.output
        assert "Error: 5 problem(s), nothing issued" in english.stderr.splitlines()
        assert _problems(english) == [
            "  bad.csv row 2: amount: 'abc' is not an amount in yuan with at most two decimals",
            "  bad.csv row 3: recipient 999999: 999999 is not a node of topology 'demo'",
            "  bad.csv row 3: document number (文号) 'x' is not of the form "
            "<简称><kind>〔YYYY〕N号 (e.g. 豫财预〔2026〕12号, with the brackets 〔 〕)",
            "  bad.csv row 4: type 'foo' is not one of general, special, shared, 一般性, 专项, "
            "共同财政事权, 一般性转移支付, 专项转移支付, 共同财政事权转移支付",
            "  bad.csv row 4: functional classification (功能分类) '9999999' is not a code of 2026",
        ]
        assert english.stderr.splitlines()[-1] == (
            "Hint: fix the lines named; nothing was issued (文号 like 豫财预〔2026〕12号)"
        )
    listed = _run(ENGLISH, home, "appropriations", "--format", "csv")
    assert listed.exit_code == 0, listed.output
    assert "豫财预〔2026〕90" not in listed.output  # nothing was issued


def test_a_single_allocation_is_refused_in_either_language(province: Network) -> None:
    home = province.path / "410000"
    args = ["allocate", "--to", "410100", "--amount", "abc", "--func", "2050202",
            "--econ", "50201", "--fund", "111", "--doc", "豫财预〔2026〕1号"]  # fmt: skip
    chinese = _run(CHINESE, home, *args)
    assert chinese.exit_code != 0
    assert "'abc' 不是以元为单位、最多两位小数的金额" in chinese.stderr, chinese.stderr
    english = _run(CHINESE, home, *args, "--lang", "en")
    assert "'abc' is not an amount in yuan with at most two decimals" in english.stderr
    assert "不是" not in english.stderr


def test_bad_ledger_entries_are_refused_in_either_language(
    province: Network, tmp_path: Path
) -> None:
    entries = tmp_path / "badl.csv"
    entries.write_text(ENTRIES, "utf-8")
    home = province.path / "410102"
    chinese = _run(CHINESE, home, "ledger", "import", str(entries))
    assert chinese.exit_code == 3, chinese.output
    assert chinese.stderr.splitlines()[0] == "错误：3 处问题，未记录任何一笔"
    assert _problems(chinese) == [
        "  badl.csv 第 2 行：金额必须大于零",
        "  badl.csv 第 3 行：日期 '2026-13-05' 不是形如 2026-10-15 的日期",
        "  badl.csv 第 3 行：方向 'foo' 不是 expenditure（支出）或 revenue（收入）",
    ]
    assert chinese.stderr.splitlines()[-1].startswith("提示：表头一行为：date,direction,")
    for english in (
        _run(ENGLISH, home, "ledger", "import", str(entries)),
        _run(CHINESE, home, "ledger", "import", str(entries), "--lang", "en"),
    ):
        assert english.exit_code == 3, english.output
        assert english.stderr.splitlines() == [
            "Error: 3 problem(s), nothing recorded",
            "  badl.csv row 2: amount must be more than zero",
            "  badl.csv row 3: date '2026-13-05' is not a date like 2026-10-15",
            "  badl.csv row 3: direction 'foo' is not expenditure or revenue",
            "Hint: the header line is: date,direction,code,econ,amount,appropriation,memo",
        ]
    listed = _run(ENGLISH, home, "ledger", "list", "--format", "csv")
    assert listed.exit_code == 0, listed.output
    assert len(listed.output.strip().splitlines()) <= 1  # a header only: nothing recorded
