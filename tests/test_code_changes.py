"""Changed codes (科目变动对照): the mapping of the codes of one year that change in the
next, imported beside the next year's code set (or shipped with a national one), sent to
every node with it, shown by ``codes list --year 2027 --changes``, and taken by a
carry-over (结转) of an appropriation whose code changed.

From the command line on a ``network init`` province, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner
from test_allocate import allocate, run, settle
from test_year_close import CODESETS, held

from cli import cli
from nodes import Node
from nodes.fiscal import code_changes
from nodes.fiscal.codes import load_national
from nodes.network import Network, database_url_for
from schema.channels import outbox
from schema.engine import reading
from schema.tables import code_change, code_item
from sync.errors import InputError

P1 = "410000-2026-000001"


def codes_2027(tmp_path: Path, *extra: str) -> Path:
    """The 2027 code set: the 2026 one again, and ``extra`` rows (codeset,code,name,parent,level)."""
    rows = ["codeset,code,name,parent,level"]
    for name in ("func", "econ", "fund"):
        for line in (CODESETS / f"{name}.csv").read_text(encoding="utf-8").splitlines()[1:]:
            codeset, _year, rest = line.split(",", 2)
            rows.append(f"{codeset},{rest}")
    path = tmp_path / "codes-2027.csv"
    path.write_text("\n".join([*rows, *extra]) + "\n", encoding="utf-8")
    return path


def mapping(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "changes-2027.csv"
    path.write_text("\n".join(["codeset,old,new", *rows]) + "\n", encoding="utf-8")
    return path


NEW_CODE = "func,2050299,小学教育（含原小学教育）,20502,3"


def stored(network: Network, code: str) -> tuple[int, int, int]:
    """Changed codes, codes of 2027 and outbox entries held at ``code``."""
    with Node.open(network.path / code) as node, reading(node.engine) as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar()
            for table, where in (
                (code_change, ()),
                (code_item, (code_item.c.year == 2027,)),
                (outbox, ()),
            )
        )


def test_a_carry_over_takes_the_new_code_of_a_changed_code(
    province: Network, tmp_path: Path
) -> None:
    assert allocate(province, "410000", "410100", "1000.00").exit_code == 0
    settle(province)
    imported = run(
        province, "410000", "codes", "import", str(codes_2027(tmp_path, NEW_CODE)),
        "--year", "2027", "--changes", str(mapping(tmp_path, "func,2050202,2050299")),
    )  # fmt: skip
    assert imported.exit_code == 0, imported.stderr
    assert imported.output.startswith("已导入 ")

    shown = run(province, "410000", "codes", "list", "--year", "2027", "--changes")
    assert shown.exit_code == 0, shown.stderr
    header, _rule, row = shown.output.splitlines()
    assert header.split()[:4] == ["年度", "编码集", "原编码（上年）", "原名称（上年）"]
    assert row.split()[:6] == ["2027", "功能分类", "2050202", "小学教育", "2050299", "小学教育（含原小学教育）"]  # fmt: skip
    english = run(
        province, "410000", "codes", "list", "--year", "2027", "--changes", "--lang", "en"
    )
    assert english.output.splitlines()[0].split()[:3] == ["year", "code", "set"]
    assert run(
        province, "410000", "codes", "list", "--year", "2026", "--changes"
    ).output.strip() == ("没有变动的编码。")
    settle(province)  # the mapping travels with the code set, to every node
    (sent,) = json.loads(
        run(province, "410100", "codes", "list", "--year", "2027", "--changes", "--format", "json").output
    )  # fmt: skip
    assert (sent["codeset"], sent["old"], sent["new"], sent["extension"]) == (
        "func", "2050202", "2050299", "扩展",
    )  # fmt: skip
    assert stored(province, "410102")[0] == 1

    assert run(province, "410100", "year", "close", "2026").exit_code == 0
    settle(province)
    accepted = run(
        province, "410000", "year", "close", "2026", "--accept", "410100",
        "--doc", "豫财预〔2027〕1号",
    )  # fmt: skip
    assert accepted.exit_code == 0, accepted.stderr
    assert f"{P1}：功能分类 2050202 → 2050299（2027 年变动）" in accepted.output
    settle(province)
    (old,) = (row for _fen, row in held(province, "410100", 2026).values())
    (carried,) = (row for _fen, row in held(province, "410100", 2027).values())
    assert (old.func_code, carried.func_code) == ("2050202", "2050299")
    assert (carried.econ_code, carried.fund_code) == (old.econ_code, old.fund_code)
    assert (carried.indicator_kind, carried.upper_doc_no) == ("carryover", old.doc_no)
    with Node.open(province.path / "410000") as node, reading(node.engine) as conn:
        issued = conn.execute(
            sa.select(code_item.c.code).where(
                code_item.c.year == 2026, code_item.c.code == "2050202"
            )
        ).scalar()
    assert issued == "2050202"  # the old year keeps its code


def test_a_mapping_to_codes_not_in_the_code_sets_is_refused_and_nothing_is_written(
    province: Network, tmp_path: Path
) -> None:
    before = stored(province, "410000")
    codes = codes_2027(tmp_path)
    unknown = run(
        province, "410000", "codes", "import", str(codes), "--year", "2027",
        "--changes", str(mapping(tmp_path, "func,2050202,2050299", "econ,59998,50201")),
    )  # fmt: skip
    assert unknown.exit_code == 3
    assert unknown.stderr.startswith("错误：2 个变动编码不在编码集中："), unknown.stderr
    assert "func 2050299 不是 2027 年度的编码" in unknown.stderr
    assert "econ 59998 不是 2026 年度的编码" in unknown.stderr
    assert "提示：原编码须为上一年度的编码" in unknown.stderr
    assert stored(province, "410000") == before

    bad = run(
        province, "410000", "codes", "import", str(codes), "--year", "2027", "--lang", "en",
        "--changes", str(mapping(tmp_path, "region,410100,410199", "func,2050202,2050202",
                                 "func,2050203,2050201", "func,2050203,2050202")),
    )  # fmt: skip
    assert bad.exit_code == 3
    assert bad.stderr.startswith("Error: 3 problem(s), nothing imported\n")
    for problem in ("changes-2027.csv row 2: codeset 'region'",
                    "changes-2027.csv row 3: 2050202 is mapped to itself",
                    "changes-2027.csv row 5: func 2050203 is mapped twice"):  # fmt: skip
        assert problem in bad.stderr
    no_year = run(
        province, "410000", "codes", "import", str(codes),
        "--changes", str(mapping(tmp_path, "func,2050202,2050203")),
    )  # fmt: skip
    assert no_year.exit_code == 3 and "请给出 --year" in no_year.stderr
    assert stored(province, "410000") == before


def test_a_national_code_set_ships_its_changes(province: Network, tmp_path: Path) -> None:
    shipped = tmp_path / "codesets"
    shutil.copytree(CODESETS, shipped / "2026")
    shutil.copytree(CODESETS, shipped / "2027")
    for path in (shipped / "2027").glob("*.csv"):
        path.write_text(path.read_text("utf-8").replace(",2026,", ",2027,"), "utf-8")
    (shipped / "2027" / "changes.csv").write_text(
        "codeset,old,new\nfunc,2050202,2050203\n", "utf-8"
    )
    with Node.open(province.path / "410102") as node:
        with node.engine.begin() as conn:
            conn.execute(code_item.delete())
            load_national(conn, shipped)
        with reading(node.engine) as conn:
            assert code_changes.renamed(conn, 2027) == {("func", "2050202"): "2050203"}
            (change,) = code_changes.changes(conn)
    assert not change.extension


def test_a_node_that_joins_later_receives_the_changed_codes(
    province: Network, db_url_template: str | None, tmp_path: Path
) -> None:
    imported = run(
        province, "410000", "codes", "import", str(codes_2027(tmp_path, NEW_CODE)),
        "--year", "2027", "--changes", str(mapping(tmp_path, "func,2050202,2050299")),
    )  # fmt: skip
    assert imported.exit_code == 0, imported.stderr
    settle(province)
    joining = "410183"  # 新密市, under 郑州市
    added = CliRunner().invoke(
        cli,
        ["network", "add-node", str(province.path), "--code", joining, "--parent", "410100",
         *(["--db-url", str(database_url_for(db_url_template, joining))]
           if db_url_template else [])],
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    settle(province)
    (sent,) = json.loads(
        run(province, joining, "codes", "list", "--year", "2027", "--changes", "--format", "json").output
    )  # fmt: skip
    assert (sent["codeset"], sent["old"], sent["new"]) == ("func", "2050202", "2050299")
    assert stored(province, joining)[:2] == stored(province, "410102")[:2]


def test_a_changed_code_once_sent_is_not_mapped_anew(province: Network, tmp_path: Path) -> None:
    codes = str(codes_2027(tmp_path, NEW_CODE))
    first = ["--changes", str(mapping(tmp_path, "func,2050202,2050299"))]
    imported = run(province, "410000", "codes", "import", codes, "--year", "2027", *first)
    assert imported.exit_code == 0, imported.stderr
    settle(province)
    before = stored(province, "410000")

    # A carry-over made now takes 2050299; one made after a remapping would take another
    # code: a mapping, once sent, stays. The same one again is no change.
    again = run(province, "410000", "codes", "import", codes, "--year", "2027", *first)
    assert again.exit_code == 0, again.stderr
    other = mapping(tmp_path, "func,2050202,2050204", "func,2050203,2050299")
    remapped = run(
        province, "410000", "codes", "import", codes, "--year", "2027", "--changes", str(other)
    )
    assert remapped.exit_code == 3, remapped.output
    assert remapped.stderr.splitlines() == [
        "错误：1 个 2027 年变动编码已有其他对照：func 2050202 → 2050299 ≠ 2050204",
        "提示：变动对照一经发出即保持不变（结转可能已按其办理）：文件中保留原有新编码，"
        "或只对尚未对照的编码设置变动",
    ]
    english = run(
        province, "410000", "codes", "import", codes, "--year", "2027", "--changes", str(other),
        "--lang", "en",
    )  # fmt: skip
    assert english.stderr.startswith("Error: 1 changed code(s) of 2027 already mapped otherwise")
    assert stored(province, "410000")[0] == before[0]  # nothing written
    with Node.open(province.path / "410000") as node, reading(node.engine) as conn:
        assert [(c.old, c.new) for c in code_changes.changes(conn, 2027)] == [
            ("2050202", "2050299")
        ]
    settle(province)
    with Node.open(province.path / "410102") as node, reading(node.engine) as conn:
        assert [(c.old, c.new) for c in code_changes.changes(conn, 2027)] == [
            ("2050202", "2050299")
        ]


def test_a_national_changed_code_once_held_is_not_mapped_anew(
    province: Network, tmp_path: Path
) -> None:
    shipped = tmp_path / "codesets"
    shutil.copytree(CODESETS, shipped / "2026")
    shutil.copytree(CODESETS, shipped / "2027")
    for path in (shipped / "2027").glob("*.csv"):
        path.write_text(path.read_text("utf-8").replace(",2026,", ",2027,"), "utf-8")
    national = shipped / "2027" / "changes.csv"
    national.write_text("codeset,old,new\nfunc,2050202,2050203\n", "utf-8")

    def load(code: str) -> None:
        with Node.open(province.path / code) as node, node.engine.begin() as conn:
            conn.execute(code_item.delete())
            load_national(conn, shipped)

    def held(code: str) -> list[tuple[str, str, bool]]:
        with Node.open(province.path / code) as node, reading(node.engine) as conn:
            return [(c.old, c.new, c.extension) for c in code_changes.changes(conn, 2027)]

    load("410000")
    assert held("410000") == [("2050202", "2050203", False)]
    load("410000")  # the same mapping again changes nothing
    assert held("410000") == [("2050202", "2050203", False)]

    # the province's import may not map the national changed code anew
    codes = str(codes_2027(tmp_path, NEW_CODE))
    remapped = run(
        province, "410000", "codes", "import", codes, "--year", "2027",
        "--changes", str(mapping(tmp_path, "func,2050202,2050299")),
    )  # fmt: skip
    assert remapped.exit_code == 3, remapped.output
    assert remapped.stderr.splitlines()[0] == (
        "错误：1 个 2027 年变动编码已有其他对照：func 2050202 → 2050203 ≠ 2050299"
    )

    # nor may a national changes.csv shipped later map anew what the province sent
    imported = run(
        province, "410000", "codes", "import", codes, "--year", "2027",
        "--changes", str(mapping(tmp_path, "func,2050201,2050299", "func,2050204,2050299")),
    )  # fmt: skip
    assert imported.exit_code == 0, imported.stderr
    settle(province)
    assert held("410102") == [("2050201", "2050299", True), ("2050204", "2050299", True)]
    national.write_text(
        "codeset,old,new\nfunc,2050201,2050203\nfunc,2050202,2050203\nfunc,2050204,2050205\n",
        "utf-8",
    )
    with Node.open(province.path / "410102") as node:
        with reading(node.engine) as conn:
            items = conn.execute(sa.select(sa.func.count()).select_from(code_item)).scalar()
        with node.engine.begin() as conn:
            conn.execute(code_item.delete())
            try:
                load_national(conn, shipped)
            except InputError as exc:
                refused = exc
            else:
                raise AssertionError("a national mapping replaced one already held")
            conn.rollback()
        with reading(node.engine) as conn:
            after = conn.execute(sa.select(sa.func.count()).select_from(code_item)).scalar()
    assert str(refused.message) == (
        "2 changed code(s) of 2027 already mapped otherwise: func 2050201 → 2050299 ≠ 2050203; "
        "func 2050204 → 2050299 ≠ 2050205"
    )  # every conflict named
    assert after == items  # nothing written
    assert held("410102") == [("2050201", "2050299", True), ("2050204", "2050299", True)]
