"""The database layer's messages (schema/) reach an operator in the operator's language:
schema/ imports nothing of ours, so its errors carry their message by key
(:class:`schema.said.Said`, English as text) and cli.py's error handler shows them from
the word tables of nodes/. Through the real command line, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from cli import cli
from nodes import Node
from nodes.labels import labels, shown
from schema.engine import open_engine
from schema.errors import DatabaseError
from schema.limits import misfit
from schema.migrate import head_revision
from schema.tables import code_item
from schema.types import parse_yuan


def run(home: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--home", str(home), *args])


def test_an_amount_over_the_bound_is_refused_in_either_language(node_home: Path) -> None:
    args = ["recover", "410102-2026-000001", "--amount", "100000000000000", "--doc", "X"]
    chinese = run(node_home, *args)
    assert chinese.exit_code == 3, chinese.output
    assert chinese.stderr.splitlines() == [
        "错误：--amount：100000000000000 元超过单行最大金额 10,000,000,000,000.00 元",
        "提示：以元为单位、最多两位小数的金额，如 1234.56",
    ]
    english = run(node_home, *args, "--lang", "en")
    assert english.stderr.splitlines() == [
        "Error: --amount: 100000000000000 is more than the largest amount of one line, "
        "10,000,000,000,000.00 元",
        "Hint: an amount in 元 with at most two decimals, e.g. 1234.56",
    ]
    not_yuan = run(node_home, *args[:3], "12.345", *args[4:])
    assert not_yuan.stderr.startswith("错误：--amount：'12.345' 不是以元为单位、最多两位小数的金额")


def test_a_database_newer_than_the_code_is_refused_in_either_language(node_home: Path) -> None:
    with Node.open(node_home) as node, node.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    chinese = run(node_home, "outbox")
    assert chinese.exit_code == 9, chinese.output
    assert chinese.stderr.splitlines() == [
        f"错误：数据库结构版本为 9999，比本 fiscalsync 新（本程序只到 {head_revision()}）",
        "提示：先在本机升级 fiscalsync，再使用此数据库",
    ]
    english = run(node_home, "outbox", "--lang", "en")
    assert english.exit_code == 9
    assert english.stderr.splitlines() == [
        "Error: the database is at schema revision 9999, newer than this fiscalsync "
        f"(which knows up to {head_revision()})",
        "Hint: upgrade fiscalsync on this machine before using this database",
    ]
    status = run(node_home, "status")  # status still shows the node, and says so
    assert status.exit_code == 0, status.output
    assert f"9999（比本程序新：请升级 fiscalsync；程序版本 {head_revision()}）" in status.output


def test_a_database_older_than_the_code_is_refused_in_either_language(node_home: Path) -> None:
    with Node.open(node_home) as node, node.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0021'"))
    chinese = run(node_home, "outbox")
    assert chinese.exit_code == 9, chinese.output
    assert chinese.stderr.splitlines() == [
        f"错误：数据库结构版本为 0021，本 fiscalsync 为 {head_revision()}",
        "提示：运行 'fiscalsync db upgrade'",
    ]
    english = run(node_home, "outbox", "--lang", "en")
    assert english.stderr.startswith("Error: the database is at schema revision 0021, this")


@pytest.mark.parametrize(
    ("url", "chinese", "english"),
    [
        (
            "nonsense",
            ["错误：'nonsense' 不是数据库 URL", "提示：使用 sqlite:///PATH 或 postgresql://HOST/DBNAME"],
            ["Error: 'nonsense' is not a database URL",
             "Hint: use sqlite:///PATH or postgresql://HOST/DBNAME"],
        ),
        (
            "oracle://db.local/fs",
            ["错误：不支持数据库 'oracle'", "提示：使用 sqlite:///PATH 或 postgresql://HOST/DBNAME"],
            ["Error: database 'oracle' is not supported",
             "Hint: use sqlite:///PATH or postgresql://HOST/DBNAME"],
        ),
        (
            "postgresql://postgres@127.0.0.1:5433",
            ["错误：postgresql+psycopg2://postgres@127.0.0.1:5433 没有指明数据库",
             "提示：在 URL 末尾加上 /DBNAME"],
            ["Error: postgresql+psycopg2://postgres@127.0.0.1:5433 names no database",
             "Hint: end the URL with /DBNAME"],
        ),
    ],
)  # fmt: skip
def test_a_bad_database_url_is_refused_in_either_language(
    tmp_path: Path, demo_topology: Path, url: str, chinese: list[str], english: list[str]
) -> None:
    init = ["init", "--node", "410102", "--topology", str(demo_topology), "--db", url]
    said = CliRunner().invoke(cli, [*init[:1], str(tmp_path / "zh"), *init[1:]])
    assert said.exit_code == 5, said.output
    assert said.stderr.splitlines() == chinese
    said = CliRunner().invoke(cli, [*init[:1], str(tmp_path / "en"), *init[1:], "--lang", "en"])
    assert said.stderr.splitlines() == english


def test_a_postgresql_server_that_refuses_is_said_in_either_language(
    tmp_path: Path, demo_topology: Path
) -> None:
    closed = "postgresql://postgres@127.0.0.1:9/fs_nowhere"  # discard port: nothing listens
    init = ["--node", "410102", "--topology", str(demo_topology), "--db", closed]
    shown_url = closed.replace("postgresql:", "postgresql+psycopg2:")
    chinese = CliRunner().invoke(cli, ["init", str(tmp_path / "zh"), *init])
    assert chinese.exit_code == 5, chinese.output
    lines = chinese.stderr.splitlines()
    assert lines[0].startswith(f"错误：无法创建数据库 {shown_url}：")
    assert lines[1:] == ["提示：检查数据库 URL 以及服务器是否在运行"]
    english = CliRunner().invoke(cli, ["init", str(tmp_path / "en"), *init, "--lang", "en"])
    assert english.stderr.startswith(f"Error: cannot create database {shown_url}: ")
    hint = "Hint: check the database URL and that the server is running"
    assert english.stderr.splitlines()[1] == hint


def test_a_database_error_keeps_its_english_text_and_its_key(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError) as raised:
        open_engine(f"sqlite:///{tmp_path}/no/such/folder/node.db")
    message = raised.value.message
    assert str(message) == (
        f"cannot open database sqlite:///{tmp_path}/no/such/folder/node.db: "
        f"folder {tmp_path}/no/such/folder does not exist"
    )
    assert shown(message, labels("zh")).endswith(f"文件夹 {tmp_path}/no/such/folder 不存在")
    assert shown(raised.value.hint, labels("zh")) == "创建该文件夹，或修正 URL 中的路径"


def test_what_a_column_cannot_hold_is_said_by_key() -> None:
    row = {"codeset": "func", "year": 2026, "code": "1", "name": "名" * 201, "level": 1}
    problem = misfit(code_item, row)
    assert problem == "name is 201 characters long; at most 200 fit"
    assert shown(problem, labels("zh")) == "name 长 201 个字符；最多 200 个"
    with pytest.raises(ValueError) as raised:
        parse_yuan("1.001")
    assert shown(raised.value.args[0], labels("zh")) == "'1.001' 不是以元为单位、最多两位小数的金额"
