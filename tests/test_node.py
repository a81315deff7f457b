"""Node homes from the command line: init, status, db upgrade, and every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from cli import cli
from nodes import Node
from schema import tables
from schema.engine import open_engine, sqlite_url


def run(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_init_creates_a_whole_home(
    tmp_path: Path, db_url: str, backend: str, demo_topology: Path
) -> None:
    home = tmp_path / "home"
    args = ["init", home, "--node", "410100", "--topology", demo_topology, "--lang", "en"]
    if backend == "postgresql":
        args += ["--db", db_url]
    result = run(*args)
    assert result.exit_code == 0, result.output + result.stderr
    assert "Created node home" in result.output
    assert {p.name for p in home.iterdir()} >= {
        "node.toml",
        "topology.toml",
        "keys",
        "spool",
        "mailboxes",
    }
    assert (home / "keys").stat().st_mode & 0o777 == 0o700
    assert (home / "node.db").exists() == (backend == "sqlite")
    engine = open_engine(db_url if backend == "postgresql" else sqlite_url(home / "node.db"))
    try:
        with engine.connect() as conn:
            identity = conn.execute(sa.select(tables.node_identity)).one()
            snapshot = conn.execute(
                sa.select(sa.func.count()).select_from(tables.topology_node)
            ).scalar()
    finally:
        engine.dispose()
    assert (identity.code, identity.role, identity.parent_code) == ("410100", "city", "410000")
    assert snapshot == 8


def test_status_shows_identity_family_database_and_schema(node_home: Path, backend: str) -> None:
    result = run("--home", node_home, "status", "--lang", "en")
    assert result.exit_code == 0, result.stderr
    assert "410102 中原区 (county)" in result.output
    assert "Parent      410100 郑州市 (city)" in result.output
    assert "(up to date" in result.output
    assert ("sqlite" if backend == "sqlite" else "postgresql") in result.output

    as_json = json.loads(run("--home", node_home, "status", "--json").output)
    assert as_json["code"] == "410102"
    assert as_json["parent"]["code"] == "410100"
    assert as_json["children"] == []
    assert as_json["database"]["up_to_date"] is True


def test_home_comes_from_the_environment(node_home: Path) -> None:
    result = run("status", "--json", env={"FISCALSYNC_HOME": str(node_home)})
    assert result.exit_code == 0
    assert json.loads(result.output)["code"] == "410102"


def test_db_upgrade_is_idempotent(node_home: Path) -> None:
    result = run("--home", node_home, "db", "upgrade")
    assert result.exit_code == 0
    assert "数据库结构已是最新版本" in result.output


def test_database_newer_than_the_code_is_refused(node_home: Path) -> None:
    with Node.open(node_home) as node, node.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    result = run("--home", node_home, "db", "upgrade")
    assert result.exit_code == 9
    assert result.stderr.startswith("错误：数据库结构版本为 9999_future，比本 fiscalsync 新")
    assert "提示：先在本机升级 fiscalsync" in result.stderr
    status = json.loads(run("--home", node_home, "status", "--json").output)
    assert status["database"]["up_to_date"] is False


def test_init_into_a_non_empty_home_changes_nothing(tmp_path: Path, demo_topology: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "precious.txt").write_text("keep me")
    result = run("init", home, "--node", "410100", "--topology", demo_topology)
    assert result.exit_code == 4
    assert "不是空文件夹" in result.stderr and "提示：" in result.stderr
    assert leftovers(home) == ["precious.txt"]
    assert leftovers(tmp_path) == ["home"]


def test_init_with_an_unknown_node_code(tmp_path: Path, demo_topology: Path) -> None:
    result = run("init", tmp_path / "home", "--node", "419999", "--topology", demo_topology)
    assert result.exit_code == 3
    assert "节点 419999 不在拓扑 'demo' 中" in result.stderr
    again = ["--node", "419999", "--topology", demo_topology, "--lang", "en"]
    result = run("init", tmp_path / "home", *again)
    assert "node 419999 is not in topology 'demo'" in result.stderr
    assert leftovers(tmp_path) == []


def test_init_with_a_topology_that_fails_its_check(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[node]]\ncode = "410100"\nname = "x"\nrole = "city"\nparent = "410000"\n')
    result = run("init", tmp_path / "home", "--node", "410100", "--topology", bad)
    assert result.exit_code == 6
    assert "bad.toml:1：410100 的上级 410000 不存在" in result.stderr
    result = run("init", tmp_path / "home", "--node", "410100", "--topology", bad, "--lang", "en")
    assert "bad.toml:1: 410100 names unknown parent 410000" in result.stderr
    assert leftovers(tmp_path) == ["bad.toml"]


def test_init_with_unreachable_postgres(tmp_path: Path, demo_topology: Path) -> None:
    result = run(
        "init",
        tmp_path / "home",
        "--node",
        "410100",
        "--topology",
        demo_topology,
        "--db",
        "postgresql://fiscal:secret@127.0.0.1:1/fs_410100",
    )
    assert result.exit_code == 5
    first = result.stderr.splitlines()[0]
    assert first.startswith("错误：无法创建数据库 ") and "secret" not in first
    assert leftovers(tmp_path) == []


def test_init_into_a_database_already_in_use(
    tmp_path: Path, pg_url: str, demo_topology: Path
) -> None:
    assert (
        run(
            "init", tmp_path / "a", "--node", "410100", "--topology", demo_topology, "--db", pg_url
        ).exit_code
        == 0
    )
    result = run(
        "init", tmp_path / "b", "--node", "410300", "--topology", demo_topology, "--db", pg_url
    )
    assert result.exit_code == 4
    assert "中已有 fiscalsync 的数据库结构" in result.stderr
    again = ["--node", "410300", "--topology", demo_topology, "--db", pg_url, "--lang", "en"]
    result = run("init", tmp_path / "b", *again)
    assert "already holds a fiscalsync schema" in result.stderr
    assert leftovers(tmp_path) == ["a"]


def test_commands_without_a_home_say_how_to_give_one(tmp_path: Path) -> None:
    result = run("status", env={"FISCALSYNC_HOME": ""})
    assert result.exit_code == 2
    assert "FISCALSYNC_HOME" in result.stderr
    result = run("--home", tmp_path / "nowhere", "status")
    assert result.exit_code == 4
    assert "不存在" in result.stderr


def test_a_home_whose_database_belongs_to_another_node_is_refused(
    tmp_path: Path, demo_topology: Path
) -> None:
    for code in ("410100", "410300"):
        assert (
            run("init", tmp_path / code, "--node", code, "--topology", demo_topology).exit_code == 0
        )
    settings = tmp_path / "410100" / "node.toml"
    other = sqlite_url(tmp_path / "410300" / "node.db")
    settings.write_text(settings.read_text().replace("# url = ", f'url = "{other}"\n# '))
    result = run("--home", tmp_path / "410100", "db", "upgrade")
    assert result.exit_code == 0  # upgrading does not need the identity
    with pytest.raises(Exception, match="belongs to node 410300"):
        Node.open(tmp_path / "410100").close()
