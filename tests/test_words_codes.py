"""The problems of a code-set file are said in the operator's language: ``codes import``
(with and without ``--year``, and its ``--changes`` mapping) names every bad row of the
file in one run, in Chinese by default, in English by ``--lang en`` or an English locale,
through the real command line on a ``network init`` province (SQLite and PostgreSQL),
and imports nothing either way. A code set arriving with a bad operation is refused with
the same words, in English where it is kept."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner, Result

from cli import cli
from nodes import Node
from nodes.fiscal.codes import parse_operations
from nodes.labels import labels, shown
from nodes.network import Network
from schema.engine import reading
from schema.tables import code_change, code_item
from sync.errors import InputError

CHINESE = {"LANG": "C.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}
ENGLISH = {"LANG": "en_US.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}

CODES = """codeset,year,code,name,parent,level
func,2026,2059901,扩展,20599,3
bogus,2026,abc,,9,7
func,1990,2059902,其他,20599,3
"""

CHANGES = """codeset,old,new
region,410100,410199
func,2050202,2050202
func,20502x,2050299
func,2050203,2050201
func,2050203,2050204
"""


def _run(env: dict[str, str | None], home: Path, *args: str) -> Result:
    return CliRunner(env=env).invoke(cli, ["--home", str(home), *args])


def _held(network: Network) -> tuple[int, int]:
    """Code items and changed codes held at the province."""
    with Node.open(network.path / "410000") as node, reading(node.engine) as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            for table in (code_item, code_change)
        )


def test_every_bad_row_of_a_code_set_is_named_in_either_language(
    province: Network, tmp_path: Path
) -> None:
    codes = tmp_path / "codes.csv"
    codes.write_text(CODES, "utf-8")
    home = province.path / "410000"
    before = _held(province)
    chinese = _run(CHINESE, home, "codes", "import", str(codes))
    assert chinese.exit_code == 3, chinese.output
    assert chinese.stderr.splitlines() == [
        "错误：6 处问题，未导入任何内容",
        "  codes.csv 第 3 行：编码集 'bogus' 不是 func, econ, fund, transfer, revenue, region 之一",
        "  codes.csv 第 3 行：编码 'abc' 不是数字编码",
        "  codes.csv 第 3 行：名称为空",
        "  codes.csv 第 3 行：上级编码 9 不是 abc 的前缀",
        "  codes.csv 第 3 行：级次 '7' 不在 1 至 5 之间",
        "  codes.csv 第 4 行：年度 '1990' 不是预算年度",
        "提示：第一行应为：codeset,year,code,name,parent,level",
    ]
    for english in (
        _run(ENGLISH, home, "codes", "import", str(codes)),
        _run(CHINESE, home, "codes", "import", str(codes), "--lang", "en"),
    ):
        assert english.exit_code == 3
        assert english.stderr.splitlines() == [
            "Error: 6 problem(s), nothing imported",
            "  codes.csv row 3: codeset 'bogus' is not one of func, econ, fund, transfer, "
            "revenue, region",
            "  codes.csv row 3: code 'abc' is not a code of digits",
            "  codes.csv row 3: name is empty",
            "  codes.csv row 3: parent 9 is not a prefix of abc",
            "  codes.csv row 3: level '7' is not 1 to 5",
            "  codes.csv row 4: year '1990' is not a fiscal year",
            "Hint: the first line must be: codeset,year,code,name,parent,level",
        ]
    of_year = _run(CHINESE, home, "codes", "import", str(codes), "--year", "2027")
    assert of_year.exit_code == 3
    assert of_year.stderr.splitlines()[:2] == [
        "错误：3 处问题，未导入任何内容",
        "  codes.csv 第 2 行：年度 2026 不是 2027",
    ]
    assert _held(province) == before  # nothing imported


def test_every_bad_row_of_a_mapping_is_named_in_either_language(
    province: Network, tmp_path: Path
) -> None:
    codes = tmp_path / "codes-2027.csv"
    codes.write_text(
        "codeset,code,name,parent,level\nfunc,2050299,其他,20502,3\necon,50201,办公费,502,2\n",
        "utf-8",
    )
    changes = tmp_path / "changes.csv"
    changes.write_text(CHANGES, "utf-8")
    home = province.path / "410000"
    before = _held(province)
    args = ("codes", "import", str(codes), "--year", "2027", "--changes", str(changes))
    chinese = _run(CHINESE, home, *args)
    assert chinese.exit_code == 3, chinese.output
    assert chinese.stderr.splitlines() == [
        "错误：4 处问题，未导入任何内容",
        "  changes.csv 第 2 行：编码集 'region' 不是 func, econ, fund 之一",
        "  changes.csv 第 3 行：2050202 对照为其自身",
        "  changes.csv 第 4 行：原编码 '20502x' 不是数字编码",
        "  changes.csv 第 6 行：func 2050203 对照了两次",
        "提示：第一行应为：codeset,old,new",
    ]
    english = _run(CHINESE, home, *args, "--lang", "en")
    assert english.stderr.splitlines()[0] == "Error: 4 problem(s), nothing imported"
    assert "  changes.csv row 6: func 2050203 is mapped twice" in english.stderr.splitlines()

    changes.write_text("codeset,old,new\nfunc,2050202,2059998\necon,59998,50201\n", "utf-8")
    unknown = _run(CHINESE, home, *args)
    assert unknown.exit_code == 3
    assert unknown.stderr.splitlines()[0] == (
        "错误：2 个变动编码不在编码集中：func 2059998 不是 2027 年度的编码；"
        "econ 59998 不是 2026 年度的编码"
    )
    english = _run(ENGLISH, home, *args)
    assert english.stderr.splitlines()[0] == (
        "Error: 2 changed code(s) not in the code sets: func 2059998 is not a code of 2027; "
        "econ 59998 is not a code of 2026"
    )
    assert _held(province) == before  # nothing imported


def test_a_mapping_of_many_unknown_codes_names_the_first_fifty_and_counts_the_rest(
    province: Network, tmp_path: Path
) -> None:
    codes = tmp_path / "codes-2027.csv"
    codes.write_text("codeset,code,name,parent,level\nfunc,2050299,其他,20502,3\n", "utf-8")
    changes = tmp_path / "changes.csv"
    rows = "".join(f"func,{3000000 + n},2050299\n" for n in range(600))
    changes.write_text("codeset,old,new\n" + rows, "utf-8")
    home = province.path / "410000"
    before = _held(province)
    args = ("codes", "import", str(codes), "--year", "2027", "--changes", str(changes))
    chinese = _run(CHINESE, home, *args)
    assert chinese.exit_code == 3, chinese.output
    (line, hint) = chinese.stderr.splitlines()
    assert line.startswith("错误：600 个变动编码不在编码集中：func 3000000 不是 2026 年度的编码；")
    assert line.count("不是 2026 年度的编码") == 50 and line.endswith("；……另有 550 处")
    english = _run(ENGLISH, home, *args)
    assert english.stderr.splitlines()[0].endswith("; ... and 550 more")
    assert _held(province) == before  # nothing imported


def test_a_bad_code_operation_is_refused_in_english_and_said_in_chinese() -> None:
    bad = {"op": "code", "codeset": "func", "year": 2026, "code": "2059901", "name": " ",
           "parent": "9", "level": 3, "extension": True}  # fmt: skip
    try:
        list(parse_operations([bad]))
    except InputError as exc:
        refused = exc.message
    else:
        raise AssertionError("a code without a name was taken")
    assert str(refused) == "operation 1: name is empty; parent 9 is not a prefix of 2059901"
    assert shown(refused, labels("zh")) == "第 1 项操作：名称为空；上级编码 9 不是 2059901 的前缀"
    change = {"op": "change", "codeset": "func", "year": 2027, "old": "1", "new": "1",
              "extension": True}  # fmt: skip
    try:
        list(parse_operations([bad | {"name": "x", "parent": None}, change]))
    except InputError as exc:
        assert str(exc.message) == "operation 2: 1 is mapped to itself"
        assert shown(exc.message, labels("zh")) == "第 2 项操作：1 对照为其自身"
    else:
        raise AssertionError("a code mapped to itself was taken")
