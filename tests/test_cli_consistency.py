"""The command line as an operator meets it: the real next steps after ``init``, one form
of the period (and hints that work as written), every problem of a file in one run,
hints only where they apply, ``codes list``, ``ledger list`` and ``appropriations
--refused``.

On a ``network init`` province, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from click.testing import CliRunner
from test_allocate import allocate, run, settle
from test_direct_funds import ISSUE, crafted

from cli import cli
from nodes.network import Network

FIRST = "410000-2026-000001"


def test_init_prints_the_real_next_steps(tmp_path: Path, demo_topology: Path, db_url: str) -> None:
    home = tmp_path / "410122"
    result = CliRunner().invoke(
        cli, ["init", str(home), "--node", "410122", "--topology", str(demo_topology),
              "--db", db_url],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = result.output.splitlines()
    steps = [line.split("#")[0].split(maxsplit=1)[1].strip() for line in lines[2:]]
    assert steps == [
        f"fiscalsync --home {home} keys new",
        f"fiscalsync --home PROVINCE pki sign {home}/keys/node.csr --ca CA_DIR --role county",
        f"fiscalsync --home {home} keys install 410122.crt --ca-cert ca.crt",
        f"fiscalsync --home {home} revocation install crl.pem",
        f"fiscalsync --home {home} status",
    ]
    first = CliRunner().invoke(cli, shlex.split(steps[0])[1:])  # it works as printed
    assert first.exit_code == 0, first.stderr
    assert (home / "keys" / "node.csr").is_file()


def test_one_form_of_the_period_and_the_hint_works_as_written(province: Network) -> None:
    missing = run(province, "410181", "report", "show", "2026-09")
    assert missing.exit_code == 3
    hint = missing.stderr.split("'")[1]
    assert hint == "fiscalsync report generate 2026-09"
    generated = run(province, "410181", *shlex.split(hint)[1:])
    assert generated.exit_code == 0, generated.stderr
    assert run(province, "410181", "report", "show", "2026-09").exit_code == 0
    older = run(province, "410181", "report", "generate", "--period", "2026-09-D1")
    assert older.exit_code == 0, older.stderr  # the older form still works
    none = run(province, "410181", "report", "generate", "--lang", "en")
    assert none.exit_code == 2 and "missing PERIOD" in none.stderr
    in_chinese = run(province, "410181", "report", "generate")
    assert in_chinese.exit_code == 2 and "缺少期间 PERIOD" in in_chinese.stderr


def test_an_unknown_code_gets_the_hint_that_applies(province: Network) -> None:
    result = run(province, "410000", "allocate", "--to", "410100", "--amount", "1.00",
                 "--func", "2059998", "--econ", "50201", "--fund", "111",
                 "--doc", "豫财预〔2026〕1号", "--year", "2026", "--lang", "en")  # fmt: skip
    assert result.exit_code == 3
    assert "'2059998' is not a code of 2026" in result.stderr
    assert "指标控制" not in result.stderr
    assert allocate(province, "410000", "410100", "10.00").exit_code == 0
    settle(province)
    over = run(province, "410100", "allocate", "--to", "410102", "--amount", "11.00",
               "--func", "2050202", "--econ", "50201", "--fund", "111",
               "--doc", "郑财预〔2026〕1号", "--year", "2026", "--from", FIRST)  # fmt: skip
    assert over.exit_code == 3 and "指标控制" in over.stderr


def test_ledger_problems_in_one_pass_and_no_file_talk_for_one_entry(
    province: Network, tmp_path: Path
) -> None:
    assert allocate(province, "410000", "410181", "100.00").exit_code == 0
    settle(province)
    one = run(province, "410181", "ledger", "add", "--date", "2026-10-01", "--code", "2059998",
              "--amount", "1.00")  # fmt: skip
    assert one.exit_code == 3
    assert "header" not in one.stderr and "codes list" in one.stderr
    book = tmp_path / "book.csv"
    book.write_text(
        "date,direction,code,amount,appropriation\n"
        "2026-13-01,expenditure,2050202,1.00,\n"  # row 2: a bad date
        "2026-10-02,revenue,99999,1.00,\n"  # row 3: unknown code
        f"2026-10-03,expenditure,2050202,12.345,{FIRST}\n"  # row 4: three decimals
        f"2026-10-04,expenditure,2050202,100.01,{FIRST}\n",  # row 5: beyond the balance
        encoding="utf-8",
    )
    result = run(province, "410181", "ledger", "import", str(book), "--lang", "en")
    assert result.exit_code == 3
    for text in ("row 2: date", "row 3: revenue classification", "row 4: amount",
                 "row 5: spending 100.01 元 exceeds"):  # fmt: skip
        assert f"book.csv {text}" in result.stderr
    assert "Error: 4 problem(s)" in result.stderr


def test_codes_list_and_ledger_list(province: Network) -> None:
    listed = run(province, "410102", "codes", "list", "--year", "2026", "--format", "json")
    assert listed.exit_code == 0, listed.stderr
    codes = {row["code"]: row["name"] for row in json.loads(listed.output)}
    assert codes["2050202"] == "小学教育"
    types = run(province, "410102", "codes", "list", "--codeset", "transfer", "--format", "json")
    assert {row["code"] for row in json.loads(types.output)} == {"general", "special", "shared"}
    unknown = run(province, "410102", "codes", "list", "--codeset", "roads")
    assert unknown.exit_code == 3 and "未知的编码集 'roads'" in unknown.stderr

    assert allocate(province, "410000", "410181", "100.00").exit_code == 0
    settle(province)
    for day, amount, against in (("2026-10-01", "10.00", FIRST), ("2026-10-20", "5.00", "")):
        args = ["--appropriation", against] if against else []
        added = run(province, "410181", "ledger", "add", "--date", day, "--code", "2050202",
                    "--amount", amount, *args)  # fmt: skip
        assert added.exit_code == 0, added.stderr
    rows = json.loads(run(province, "410181", "ledger", "list", "--format", "json").output)
    assert [(r["date"], r["amount"], r["appropriation"]) for r in rows] == [
        ("2026-10-01", "10.00", FIRST),
        ("2026-10-20", "5.00", ""),
    ]
    late = run(province, "410181", "ledger", "list", "--from", "2026-10-10", "--format", "json")
    assert [r["date"] for r in json.loads(late.output)] == ["2026-10-20"]
    against = run(province, "410181", "ledger", "list", "--appropriation", FIRST)
    assert "2026-10-01" in against.output and "2026-10-20" not in against.output
    bad = run(province, "410181", "ledger", "list", "--to", "October")
    assert bad.exit_code == 3 and "--to 'October' 不是日期" in bad.stderr


def test_refused_change_sets_are_listed_on_both_sides(province: Network) -> None:
    assert run(province, "410000", "appropriations", "--refused").output.strip() == (
        "没有被拒收的变更集。"
    )
    assert run(
        province, "410000", "appropriations", "--refused", "--lang", "en"
    ).output.strip() == ("No refused change-sets.")
    reason = crafted(province, "appropriation", "410100", [{**ISSUE, "doc": "x"}])
    sent = json.loads(run(province, "410000", "appropriations", "--refused", "--format",
                          "json").output)  # fmt: skip
    taken = json.loads(run(province, "410100", "appropriations", "--refused", "--format",
                           "json").output)  # fmt: skip
    assert [(r["side"], r["route"], r["reason"]) for r in sent] == [
        ("by recipient 对方拒收", "410000 → 410100", reason)
    ]
    assert [(r["side"], r["kind"], r["reason"]) for r in taken] == [
        ("here 本级拒收", "appropriation", reason)
    ]


def test_labels_follow_the_locale_and_lang_overrides(province: Network) -> None:
    assert run(province, "410181", "report", "generate", "2026-10").exit_code == 0
    home = ["--home", str(province.path / "410181")]
    show = [*home, "report", "show", "2026-10", "--format", "csv"]
    chinese = CliRunner(env={"LANG": "zh_CN.UTF-8", "LC_ALL": None}).invoke(cli, show)
    assert chinese.exit_code == 0, chinese.stderr
    title, *_, header = chinese.output.splitlines()[:5]  # the title block, then the header
    assert title == "2026年10月财政收支月报"
    assert (
        "科目编码" in header and "科目层次" in header and "级次" not in header.replace("层次", "")
    )
    english = CliRunner(env={"LANG": "zh_CN.UTF-8", "LC_ALL": None}).invoke(
        cli, [*show, "--lang", "en"]
    )
    assert "Code tier" in english.output.splitlines()[4]
    plain = CliRunner(env={"LANG": "C.UTF-8", "LC_ALL": None}).invoke(cli, show)
    assert plain.output.splitlines()[0] == "2026年10月财政收支月报"  # Chinese by default
    american = CliRunner(env={"LANG": "en_US.UTF-8", "LC_ALL": None}).invoke(cli, show)
    assert american.output.startswith('"Revenue and expenditure monthly report, October 2026"')
    assert "Code" in american.output.splitlines()[4]


def test_a_report_shows_what_of_its_budget_is_spent(province: Network) -> None:
    assert allocate(province, "410000", "410181", "100.00").exit_code == 0
    settle(province)
    spent = run(province, "410181", "ledger", "add", "--date", "2026-10-15", "--code", "2050202",
                "--amount", "33.35", "--appropriation", FIRST)  # fmt: skip
    assert spent.exit_code == 0, spent.stderr
    assert run(province, "410181", "report", "generate", "2026-10").exit_code == 0
    shown = run(province, "410181", "report", "show", "2026-10", "--lang", "zh", "--format", "csv")
    lines = [line.split(",") for line in shown.output.splitlines()[4:]]  # below the title block
    assert lines[0][7] == "完成预算%"
    leaf = next(line for line in lines if line[2] == "2050202")
    assert (leaf[4], leaf[6], leaf[7]) == ("100.00", "33.35", "33.4%")  # rounded half up
    revenue = next(line for line in lines if line[0] == "收入")
    assert (revenue[4], revenue[7]) == ("", "")  # no budget, no percentage


def test_a_year_no_fiscal_year_can_be_is_a_usage_error(province: Network) -> None:
    """A year past any a date or a database column holds is refused as the command is
    read (SQLite raised a raw OverflowError from ``year close`` and ``allocate``), in
    the operator's language, and nothing is written."""
    huge = "99999999999999999999"
    issued = run(province, "410000", "appropriations", "--issued", "--format", "json").output
    for code, args in (
        ("410102", ("year", "close", huge)),
        ("410000", ("allocate", "--to", "410100", "--amount", "1.00", "--func", "2050202",
                    "--econ", "50201", "--fund", "111", "--doc", "豫财预〔2026〕1号",
                    "--year", huge)),
        ("410000", ("appropriations", "--issued", "--year", "0")),
    ):  # fmt: skip
        refused = run(province, code, *args, "--lang", "en")
        assert refused.exit_code == 2, refused.output
        assert "must be a whole number from 2000 to 2100" in refused.stderr
        assert "Traceback" not in refused.output + refused.stderr
    chinese = run(province, "410102", "year", "close", huge)
    assert chinese.exit_code == 2 and "2000" in chinese.stderr and "2100" in chinese.stderr
    after = run(province, "410000", "appropriations", "--issued", "--format", "json").output
    assert after == issued
