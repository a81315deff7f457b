"""Issuing (下达) and breaking down (分解) appropriations, with balance control (指标控制).

Through real change-sets on a ``network init`` province, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from cli import cli
from nodes import Node
from nodes.network import Network, sync_network
from schema.channels import outbox
from schema.tables import appropriation
from schema.types import parse_yuan
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK
from sync.pki import load_signer

LINE = ["--func", "2050202", "--econ", "50201", "--fund", "111"]
ABBREVIATION = {"410000": "豫财", "410100": "郑财", "410300": "洛财", "410102": "中原财"}


def doc(code: str, number: int = 1) -> str:
    """A document number (文号) of the demo node ``code``: 豫财预〔2026〕1号."""
    return f"{ABBREVIATION[code]}预〔2026〕{number}号"


def run(network: Network, code: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--home", str(network.path / code), *args])


def allocate(network: Network, code: str, to: str, amount: str, *extra: str) -> Result:
    return run(
        network,
        code,
        "allocate",
        "--to",
        to,
        "--amount",
        amount,
        *LINE,
        "--doc",
        doc(code),
        "--year",
        "2026",
        *extra,
    )


def listing(network: Network, code: str, which: str) -> list[dict[str, object]]:
    """The listing as JSON, amounts (元 text there) turned back into fen."""
    result = run(network, code, "appropriations", f"--{which}", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = list(json.loads(result.output))
    for row in rows:
        for key in ("amount", "acknowledged", "available"):
            if key in row:
                row[f"{key}_fen"] = parse_yuan(row.pop(key))
    return rows


def settle(network: Network) -> None:
    assert sync_network(network.path, until_quiet=True, max_rounds=20).quiet


def test_issue_down_and_break_down_conserve_every_fen(province: Network) -> None:
    assert allocate(province, "410000", "410100", "1000000.00").exit_code == 0
    assert allocate(province, "410000", "410181", "250000.50").exit_code == 0
    settle(province)
    received = listing(province, "410100", "received")
    assert [(r["id"], r["amount_fen"], r["available_fen"]) for r in received] == [
        ("410000-2026-000001", 100_000_000, 100_000_000)
    ]
    first = allocate(province, "410100", "410102", "600000", "--from", "410000-2026-000001")
    second = allocate(province, "410100", "410122", "399999.99", "--from", "410000-2026-000001")
    assert first.exit_code == 0 and second.exit_code == 0, first.stderr + second.stderr
    settle(province)
    issued = sum(int(r["amount_fen"]) for r in listing(province, "410000", "issued"))
    got = sum(
        int(r["amount_fen"]) for c in ("410100", "410181") for r in listing(province, c, "received")
    )
    assert issued == got == 125_000_050
    broken_down = sum(int(r["amount_fen"]) for r in listing(province, "410100", "issued"))
    counties = sum(
        int(r["amount_fen"]) for c in ("410102", "410122") for r in listing(province, c, "received")
    )
    assert broken_down == counties == 99_999_999
    assert listing(province, "410100", "received")[0]["available_fen"] == 1
    county = listing(province, "410102", "received")[0]
    assert (county["issuer"], county["doc_no"]) == ("410100", "郑财预〔2026〕1号")
    with Node.open(province.path / "410100") as node, node.engine.connect() as conn:
        upper = (
            conn.execute(
                sa.select(appropriation.c.upper_doc_no).where(appropriation.c.issuer == "410100")
            )
            .scalars()
            .all()
        )
    assert upper == ["豫财预〔2026〕1号", "豫财预〔2026〕1号"]


def test_a_breakdown_beyond_the_available_balance_is_refused(province: Network) -> None:
    allocate(province, "410000", "410100", "100.00")
    settle(province)
    allocate(province, "410100", "410102", "60.00", "--from", "410000-2026-000001")
    result = allocate(province, "410100", "410122", "40.01", "--from", "410000-2026-000001",
                      "--lang", "en")  # fmt: skip
    assert result.exit_code == 3
    assert "exceeds its available balance of 40.00 元" in result.stderr
    with Node.open(province.path / "410100") as node, node.engine.connect() as conn:
        sent = conn.execute(sa.select(outbox.c.recipient)).scalars().all()
    assert sent == ["410102"]  # nothing of the refused line was issued or queued


def test_only_an_appropriation_received_here_can_be_broken_down(province: Network) -> None:
    allocate(province, "410000", "410300", "100.00")
    settle(province)
    result = allocate(province, "410100", "410102", "1.00", "--from", "410000-2026-000001")
    assert result.exit_code == 3
    assert "410000-2026-000001 不是本节点收到的指标" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("code", "to", "why"),
    [
        ("410102", "410100", "只有上级可以下达指标"),
        ("410100", "410322", "410100 不是 410322 的上级"),
        ("410100", "410181", "410100 不是 410181 的上级"),
    ],
)
def test_only_down_the_tree(province: Network, code: str, to: str, why: str) -> None:
    result = allocate(province, code, to, "1.00")
    assert result.exit_code == 3
    assert why in result.stderr


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        ("1.234", "不是以元为单位、最多两位小数的金额"),
        ("abc", "不是以元为单位、最多两位小数的金额"),
        ("0", "金额必须大于零"),
        ("-5", "金额必须大于零"),
    ],
)
def test_bad_amounts_are_refused(province: Network, amount: str, why: str) -> None:
    result = allocate(province, "410000", "410100", amount)
    assert result.exit_code == 3
    assert why in result.stderr
    assert listing(province, "410000", "issued") == []


def test_bad_classification_codes_are_refused(province: Network) -> None:
    result = run(
        province,
        "410000",
        "allocate",
        "--to",
        "410100",
        "--amount",
        "1",
        "--func",
        "205",
        "--econ",
        "5020",
        "--fund",
        "111",
        "--doc",
        doc("410000"),
        "--lang",
        "en",
    )
    assert result.exit_code == 3
    assert "'205' is not 7 digits" in result.stderr and "'5020' is not 5 digits" in result.stderr


def test_codes_unknown_for_the_year_are_refused(province: Network) -> None:
    unknown = run(
        province,
        "410000",
        "allocate",
        "--to",
        "410100",
        "--amount",
        "1",
        "--func",
        "2059998",
        "--econ",
        "50201",
        "--fund",
        "111",
        "--doc",
        doc("410000"),
        "--year",
        "2026",
        "--lang",
        "en",
    )
    assert unknown.exit_code == 3
    assert "functional classification (功能分类) '2059998' is not a code of 2026" in unknown.stderr
    no_year = allocate(province, "410000", "410100", "1.00", "--year", "2031", "--lang", "en")
    assert no_year.exit_code == 3
    assert "no functional classification (功能分类) code set is known for 2031" in no_year.stderr
    assert listing(province, "410000", "issued") == []


def test_a_change_set_carrying_an_unknown_code_is_rejected_by_its_recipient(
    province: Network,
) -> None:
    """Defence in depth: what the issuer's checks would have refused, the recipient refuses."""
    operation = {
        "op": "issue",
        "id": "410000-2026-900001",
        "year": 2026,
        "doc": doc("410000"),
        "title": "",
        "upper_doc": None,
        "parent_id": None,
        "func": "2059998",
        "econ": "50201",
        "fund": "111",
        "type": "general",
        "project": None,
        "amount": 100,
        "actor": "x",
        "at": "2026-11-23T08:00:00Z",
    }
    with Node.open(province.path / "410000") as node, node.engine.begin() as conn:
        enqueue(
            conn,
            node.spool,
            load_signer(node.home.keys),
            "410100",
            "appropriation",
            [operation],
            SYSTEM_CLOCK,
        )
    settle(province)
    with Node.open(province.path / "410000") as node:
        (entry,) = node.outbox(include_acknowledged=True)
    assert entry.receipt_verdict == "rejected"
    assert "'2059998' is not a code of 2026" in entry.receipt_reason
    assert listing(province, "410100", "received") == []


BATCH_HEADER = "recipient,amount,func,econ,fund,doc,title,type"


def test_a_batch_file_is_issued_all_or_nothing(province: Network, tmp_path: Path) -> None:
    good = tmp_path / "batch.csv"
    good.write_text(
        BATCH_HEADER + "\n"
        "410100,1000.00,2050201,51301,111,豫财教〔2026〕1号,学前教育,general\n"
        "410300,2000.50,2050202,51301,111,豫财教〔2026〕1号,小学教育,special\n"
        "410181,300,2050203,51301,111,豫财教〔2026〕1号,初中教育,专项\n",
        encoding="utf-8",
    )
    result = run(province, "410000", "allocate", "--file", str(good), "--year", "2026")
    assert result.exit_code == 0, result.stderr
    assert "已下达 3 笔指标，共 3,300.50 元，接收单位 3 个" in result.output
    settle(province)
    issued = listing(province, "410000", "issued")
    assert [(r["recipient"], r["amount_fen"], r["acknowledged_fen"]) for r in issued] == [
        ("410100", 100_000, 100_000),
        ("410300", 200_050, 200_050),
        ("410181", 30_000, 30_000),
    ]
    assert [r["transfer_type"] for r in issued] == ["general", "special", "special"]


def test_every_bad_row_of_a_spreadsheet_is_named(province: Network, tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["下达对象", "金额", "功能分类", "经济分类", "资金性质", "文号"])
    sheet.append(["410100", 1000.5, "2050201", "51301", "111", "豫财教〔2026〕2号"])  # row 2 fine
    sheet.append(["410100", "12.345", "2050201", "51301", "111", doc("410000", 3)])  # 3 decimals
    sheet.append(["410100", "一千", "2050201", "51301", "111", doc("410000", 4)])  # row 4: text
    sheet.append(["410100", -5, "2050201", "51301", "111", doc("410000", 5)])  # row 5: negative
    sheet.append(["410322", 1, "2050201", "51301", "111", doc("410000", 6)])  # row 6: fine
    sheet.append(["410100", 1, "2059998", "51301", "111", doc("410000", 7)])  # row 7: unknown
    sheet.append(["410100", 1, "2050201", "51301", "111", ""])  # row 8: no doc
    sheet.append(["410100", "x", "2059998", "51301", "111", "d"])  # row 9: three at once
    path = tmp_path / "batch.xlsx"
    book.save(path)
    result = run(
        province, "410000", "allocate", "--file", str(path), "--year", "2026", "--lang", "en"
    )
    assert result.exit_code == 3
    # every problem, those of the file as written and those the database finds, in one run
    for row in (
        "row 3: amount",
        "row 4: amount",
        "row 5: amount must be more than zero",
        "row 7: functional classification (功能分类) '2059998'",
        "row 8: doc is empty",
        "row 9: amount",
        "row 9: functional classification (功能分类) '2059998'",
        "row 9: document number (文号) 'd' is not of the form",
    ):
        assert f"batch.xlsx {row}" in result.stderr
    assert "row 2" not in result.stderr and "row 6" not in result.stderr
    assert "指标控制" not in result.stderr  # the hint is that of what was found
    assert listing(province, "410000", "issued") == []


def test_lines_sharing_a_refused_recipient_or_document_are_each_named(
    province: Network, tmp_path: Path
) -> None:
    """A batch checks each recipient and each 文号 once and keeps the answer: every line
    that shares a refused one is still named, by its own row, and no good line is. A
    文号 of the year before is good for an advance (提前下达) line only, whichever of the
    two kinds of line shows it first."""
    path = tmp_path / "batch.csv"
    path.write_text(
        BATCH_HEADER + ",indicator\n"
        "419999,1,2050201,51301,111,豫财教〔2026〕1号,a,general,annual\n"  # 2: not a member
        "410100,1,2050201,51301,111,豫财教〔2025〕1号,b,general,annual\n"  # 3: the year before
        "410100,2,2050201,51301,111,豫财教〔2026〕1号,c,general,annual\n"  # 4: fine
        "419999,3,2050201,51301,111,豫财教〔2026〕1号,d,general,annual\n"  # 5: row 2's recipient
        "410300,4,2050201,51301,111,豫财教〔2025〕1号,e,general,annual\n"  # 6: row 3's 文号
        "410300,5,2050201,51301,111,豫财教〔2025〕1号,f,general,advance\n"  # 7: fine, advance
        "410100,6,2050201,51301,111,豫财教〔2025〕2号,g,general,advance\n"  # 8: fine, advance
        "410300,7,2050201,51301,111,豫财教〔2025〕2号,h,general,annual\n",  # 9: row 8's, annual
        encoding="utf-8",
    )
    result = run(
        province, "410000", "allocate", "--file", str(path), "--year", "2026", "--lang", "en"
    )
    assert result.exit_code == 3, result.output
    named = [line for line in result.stderr.splitlines() if "batch.csv row" in line]
    rows = sorted(line.split("batch.csv row ")[1].split(":")[0] for line in named)
    assert rows == ["2", "3", "5", "6", "9"], result.stderr
    for row in ("2", "5"):
        assert any(f"row {row}: recipient 419999" in line for line in named), result.stderr
    for row in ("3", "6", "9"):
        assert any(f"row {row}: " in line and "2025" in line for line in named), result.stderr
    assert listing(province, "410000", "issued") == []


def test_a_batch_file_with_missing_columns_is_refused(province: Network, tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    path.write_text("recipient,amount\n410100,1\n", encoding="utf-8")
    result = run(province, "410000", "allocate", "--file", str(path))
    assert result.exit_code == 3
    for column in ("func", "econ", "fund", "doc"):
        assert column in result.stderr
    assert listing(province, "410000", "issued") == []


def test_adjust_recover_and_the_history_of_each_event(province: Network) -> None:
    allocate(province, "410000", "410100", "1000.00")
    settle(province)
    ident = "410000-2026-000001"
    assert (
        run(
            province, "410000", "adjust", ident, "--delta", "500.00", "--doc", doc("410000", 2)
        ).exit_code
        == 0
    )
    assert (
        run(
            province, "410000", "adjust", ident, "--delta", "-200.00", "--doc", doc("410000", 3)
        ).exit_code
        == 0
    )
    assert (
        run(
            province, "410000", "recover", ident, "--amount", "300", "--doc", doc("410000", 4)
        ).exit_code
        == 0
    )
    too_much = run(
        province, "410000", "recover", ident, "--amount", "1000.01", "--doc", doc("410000", 5)
    )
    assert too_much.exit_code == 3 and "的现有数" in too_much.stderr
    settle(province)
    (received,) = listing(province, "410100", "received")
    assert (received["amount_fen"], received["available_fen"]) == (100_000, 100_000)
    (issued,) = listing(province, "410000", "issued")
    assert issued["acknowledged_fen"] == 100_000
    shown = run(province, "410100", "appropriations", "show", ident, "--lang", "en")
    assert shown.exit_code == 0, shown.stderr
    for text in ("issue", "increase", "decrease", "recover", doc("410000", 2), "applied"):
        assert text in shown.output
    history = json.loads(run(province, "410000", "appropriations", "show", ident, "--json").output)
    assert [e["kind"] for e in history["events"]] == ["issue", "increase", "decrease", "recover"]
    assert [e["amount_fen"] for e in history["events"]] == [100_000, 50_000, -20_000, -30_000]
    assert all(e["verdict"] == "applied" and e["receipt_id"] for e in history["events"])
    not_mine = run(province, "410100", "adjust", ident, "--delta", "1", "--doc", doc("410100"))
    assert not_mine.exit_code == 3 and "只有下达单位可以调整" in not_mine.stderr


def test_listings_as_csv_and_xlsx(province: Network, tmp_path: Path) -> None:
    allocate(province, "410000", "410100", "1234.56")
    csv_out = run(province, "410000", "appropriations", "--issued", "--format", "csv")
    assert csv_out.exit_code == 0
    assert "410000-2026-000001" in csv_out.output and "1234.56" in csv_out.output
    target = tmp_path / "issued.xlsx"
    xlsx = run(
        province, "410000", "appropriations", "--issued", "--format", "xlsx", "-o", str(target)
    )
    assert xlsx.exit_code == 0, xlsx.stderr
    openpyxl = pytest.importorskip("openpyxl")
    rows = list(openpyxl.load_workbook(target).active.iter_rows(values_only=True))
    assert rows[1][0] == "410000-2026-000001"
    issued = rows[1][rows[0].index("下达数（元）")]  # a sheet for people: Chinese labels
    assert Decimal(repr(issued)) == Decimal("1234.56")  # the issued column, as a number
    no_file = run(province, "410000", "appropriations", "--issued", "--format", "xlsx")
    assert no_file.exit_code == 3 and "--output" in no_file.stderr


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("amount_fen", 1.5, "amount 1.5 is not a whole number of fen"),
        ("amount_fen", True, "amount True is not a whole number of fen"),
        ("amount_fen", Decimal("150"), "amount Decimal('150') is not a whole number of fen"),
        ("amount_fen", float("nan"), "amount nan is not a whole number of fen"),
        ("year", 2026.0, "year 2026.0 is not a year"),
        ("year", "abc", "year 'abc' is not a year"),
        ("year", None, "year None is not a year"),
        ("year", True, "year True is not a year"),
        ("year", 10**20, "year 100000000000000000000 is not a year"),
        ("doc", "豫财预〔2026〕1号\x00", "document number (文号) holds a NUL character"),
        (
            "parent_id",
            "410000-2026-0\x00",
            "appropriation broken down (from) holds a NUL character",
        ),
        ("title", "学前\x00教育", "title holds a NUL character"),
        ("project", "P\x001", "project holds a NUL character"),
        (
            "project",
            {"P1"},
            "project is not text (set)",
        ),
        ("project", [], "project is not text (list)"),
        ("title", "学前\ud800教育", "a field is not valid Unicode (a lone surrogate)"),
        ("recipient", 410100, "recipient 410100: 410100 is not a node of topology 'demo'"),
        ("func", 2050202, "func is not text (int)"),
        ("econ", None, "econ is not text (NoneType)"),
        ("fund", 111, "fund is not text (int)"),
        ("doc", None, "document number (文号) is not text (NoneType)"),
        ("transfer_type", None, "type must be one of general, special, shared"),
        ("indicator", 1, "指标类型 must be one of annual, additional, advance, carryover"),
        ("level", 5, "预算级次 must be one of central, province, city, county"),
        ("upper_doc", 7, "upper document number (上级文号) is not text (int)"),
        ("parent_id", 7, "appropriation broken down (from) is not text (int)"),
        ("direct", "no", "direct (直达资金) is neither true nor false ('no')"),
    ],
)
def test_a_line_no_column_can_hold_is_named_and_nothing_is_written(
    province: Network, field: str, value: object, why: str
) -> None:
    """A line given through the API with an amount that is not integer fen (a float, a
    Decimal, True), a year that is not an integer, text no database stores (a NUL, a
    lone surrogate), a code or a 文号 that is not text, or a 直达 that is neither true nor
    false (``bool("no")`` is true) is named with the rest of the batch's problems, and
    nothing of its batch stays (no row, no queued change-set, no file in the outbox)."""
    import dataclasses

    from nodes.fiscal.appropriations import Allocation
    from nodes.fiscal.appropriations import allocate as issue
    from sync.errors import RowsRefused

    def counts(node: Node) -> tuple[int, int, list[str]]:
        with node.engine.connect() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(appropriation)).scalar()
            queued = conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar()
        return rows, queued, sorted(p.name for p in node.spool.outbox.iterdir())

    good = Allocation("410100", 100, "2050202", "50201", "111", doc("410000"), 2026)
    with Node.open(province.path / "410000") as node:
        before = counts(node)
        lines = [good, dataclasses.replace(good, **{field: value}), good]
        with pytest.raises(RowsRefused) as refused:
            issue(node, lines, actor="test", allow_duplicate=True)
        assert f"line 2: {why}" in refused.value.problems, refused.value.problems
        assert not [p for p in refused.value.problems if p.startswith(("line 1", "line 3"))]
        assert counts(node) == before
        issue(node, [good, good], actor="test", allow_duplicate=True)
        rows, queued, _files = counts(node)
        assert (rows, queued) == (before[0] + 2, before[1] + 1)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("410100,1000.00,2050201,51301,111,豫财教〔2026〕1号,学前\x00教育,general", "title"),
        (
            "410100,1000.00,2050201,51301,111,豫财教〔2026〕1号\x00,学前教育,general",
            "document number (文号)",
        ),
    ],
)
def test_a_file_line_holding_a_nul_is_refused_by_its_row(
    province: Network, tmp_path: Path, line: str, why: str
) -> None:
    """A NUL in a batch file's title or 文号 is named by its row, as any other bad
    field, not a database's refusal (PostgreSQL stores no NUL, nor takes one in a query);
    nothing is written."""
    bad = tmp_path / "batch.csv"
    bad.write_text(BATCH_HEADER + "\n" + line + "\n", encoding="utf-8")
    result = run(
        province, "410000", "allocate", "--file", str(bad), "--year", "2026", "--lang", "en"
    )
    assert result.exit_code == 3, result.stderr
    assert f"batch.csv row 2: {why} holds a NUL character" in result.stderr, result.stderr
    assert listing(province, "410000", "issued") == []


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (("--doc", "豫财预〔2026〕1号\n"), "is not of the form"),  # a newline after it
        (("--from", ""), "appropriation broken down (from) is empty"),
    ],
)
def test_a_document_number_with_a_newline_or_an_empty_from_is_refused(
    province: Network, extra: tuple[str, str], why: str
) -> None:
    """A 文号 is its form to its very end: one with a newline after it was taken, stored
    as given and never found again by the duplicate look-up (which strips it), so the same
    line could be issued twice; an empty ``--from`` was left to the database's foreign
    key. Both are named; nothing is written."""
    args = ["allocate", "--to", "410100", "--amount", "100.00", *LINE, "--year", "2026"]
    if extra[0] != "--doc":
        args += ["--doc", doc("410000")]
    result = run(province, "410000", *args, *extra, "--lang", "en")
    assert result.exit_code == 3, result.output + result.stderr
    assert why in result.stderr, result.stderr
    assert listing(province, "410000", "issued") == []


def test_a_batch_refused_before_its_look_ups_still_names_its_repeats(province: Network) -> None:
    """A batch refused before anything is looked up (a NUL in a 文号) still names what
    needs no look-up: a line repeating another line of the batch."""
    from nodes.fiscal.appropriations import Allocation
    from nodes.fiscal.appropriations import allocate as issue
    from sync.errors import RowsRefused

    good = Allocation("410100", 100, "2050202", "50201", "111", doc("410000"), 2026)
    bad = Allocation("410100", 100, "2050202", "50201", "111", doc("410000") + "\x00", 2026)
    with Node.open(province.path / "410000") as node, pytest.raises(RowsRefused) as refused:
        issue(node, [bad, good, good], actor="test")
    assert "line 3: repeats line 2 (the same 文号, recipient, function and amount)" in (
        refused.value.problems
    ), refused.value.problems


def test_the_lines_after_one_that_cannot_be_kept_keep_their_numbers(province: Network) -> None:
    """A line the batch's scratch file cannot keep as it is (text that is not Unicode,
    given through the API) keeps its place there: a repeat after it is named by its own
    number."""
    import dataclasses

    from nodes.fiscal.appropriations import Allocation
    from nodes.fiscal.appropriations import allocate as issue
    from sync.errors import RowsRefused

    good = Allocation("410100", 100, "2050202", "50201", "111", doc("410000"), 2026)
    odd = dataclasses.replace(good, amount_fen=200, title="学前\ud800教育")
    with Node.open(province.path / "410000") as node, pytest.raises(RowsRefused) as refused:
        issue(node, [good, odd, good], actor="test")
    assert refused.value.problems == [
        "line 2: a field is not valid Unicode (a lone surrogate)",
        "line 3: repeats line 1 (the same 文号, recipient, function and amount)",
    ], refused.value.problems


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("doc", "豫财预〔2026〕1号\udcff"),  # a byte the terminal could not decode
        ("parent_id", "410000-2026-000001\udcff"),
        ("doc", "豫财预〔２０２６〕1号"),  # full-width digits: another spelling of 1号
        ("title", None),
    ],
)
def test_a_line_that_cannot_be_looked_up_is_named_not_a_raw_error(
    province: Network, field: str, value: object
) -> None:
    """What would reach a query, or a column, as it cannot (a lone surrogate, given
    through the API or by a terminal's undecodable byte; a 文号 with digits that are not
    ASCII, which the duplicate look-up would not know as the same document; no title) is
    named by its line, and nothing is written."""
    import dataclasses

    from nodes.fiscal.appropriations import Allocation
    from nodes.fiscal.appropriations import allocate as issue
    from sync.errors import RowsRefused

    good = Allocation("410100", 100, "2050202", "50201", "111", doc("410000"), 2026)
    with Node.open(province.path / "410000") as node, pytest.raises(RowsRefused) as refused:
        issue(
            node, [good, dataclasses.replace(good, amount_fen=200, **{field: value})], actor="test"
        )
    assert [p for p in refused.value.problems if p.startswith("line 2: ")], refused.value.problems
    assert not [p for p in refused.value.problems if "repeats" in p]
    assert listing(province, "410000", "issued") == []


def test_a_breakdown_whose_amount_is_not_fen_is_named(province: Network) -> None:
    """A breakdown given through the API with an amount that is not integer fen is named
    by its line, not a raw error of the balance check."""
    from decimal import Decimal as D

    from nodes.fiscal.appropriations import Allocation
    from nodes.fiscal.appropriations import allocate as issue
    from sync.errors import RowsRefused

    assert allocate(province, "410000", "410100", "900.00").exit_code == 0
    settle(province)
    received = listing(province, "410100", "received")[0]["id"]
    line = Allocation(
        "410102", D(100), "2050202", "50201", "111", doc("410100"), 2026, parent_id=received
    )
    with Node.open(province.path / "410100") as node, pytest.raises(RowsRefused) as refused:
        issue(node, [line], actor="test")
    assert refused.value.problems == ["line 1: amount Decimal('100') is not a whole number of fen"]
