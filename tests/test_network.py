"""A whole province on one machine, on SQLite and on PostgreSQL (one database per node)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import config
from cli import cli
from nodes import Node, init_network, load_topology
from schema import migrate
from schema.engine import ensure_database, open_engine
from sync.errors import HomeError, InputError


def test_network_init_creates_every_node(
    tmp_path: Path, db_url_template: str | None, demo_topology: Path
) -> None:
    network = init_network(tmp_path / "province", demo_topology, db_url_template)
    assert sorted(network.homes) == sorted(n.code for n in load_topology(demo_topology))
    for code, home in network.homes.items():
        with Node.open(home.path) as node:
            status = node.status()
        assert status.code == code
        assert status.schema_revision == migrate.head_revision()
        if db_url_template:
            assert status.database_url.endswith("_" + code.replace("-", "_"))
    # every parent and the center host mailboxes; the topology points children at them
    topo = network.topology
    for spec in topo:
        if topo.children(spec.code) or spec.role == "center":
            assert spec.endpoint is not None and spec.endpoint.kind == "local"
            assert spec.endpoint.path == network.homes[spec.code].mailboxes
            assert spec.endpoint.path.is_dir()


def test_henan_province_on_sqlite(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "network",
            "init",
            str(tmp_path / "henan"),
            "--topology",
            str(config.TOPOLOGIES / "henan.toml"),
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert "下创建 177 个节点目录。" in result.output
    homes = [p for p in (tmp_path / "henan").iterdir() if (p / "node.toml").is_file()]
    assert len(homes) == 177
    assert (tmp_path / "henan" / "ca" / "ca.crt").is_file()
    status = CliRunner().invoke(
        cli, ["--home", str(tmp_path / "henan" / "410526"), "status", "--json"]
    )
    # 滑县 carries Anyang's prefix but is managed by the province
    assert json.loads(status.output)["parent"]["code"] == "410000"


def test_failed_network_init_leaves_nothing(
    tmp_path: Path, pg_url_template: str, demo_topology: Path
) -> None:
    # One node's database is already in use: the whole province must not be half-created.
    taken = pg_url_template.replace("{code}", "410300")
    ensure_database(taken)
    engine = open_engine(taken)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    with pytest.raises(HomeError, match="already holds a fiscalsync schema"):
        init_network(tmp_path / "province", demo_topology, pg_url_template)
    assert list(tmp_path.iterdir()) == []
    server = pg_url_template.rsplit("/", 1)[0]
    prefix = pg_url_template.rsplit("/", 1)[1].replace("{code}", "")
    admin = open_engine(server + "/postgres")
    try:
        with admin.connect() as conn:
            names = (
                conn.execute(
                    sa.text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                    {"p": prefix + "%"},
                )
                .scalars()
                .all()
            )
    finally:
        admin.dispose()
    assert names == [prefix + "410300"]  # only the one that existed before


def test_template_without_code_is_refused(tmp_path: Path, demo_topology: Path) -> None:
    with pytest.raises(InputError, match="has no"):
        init_network(tmp_path / "p", demo_topology, "postgresql://127.0.0.1/fs")
    assert list(tmp_path.iterdir()) == []


def test_network_init_into_a_non_empty_folder(tmp_path: Path, demo_topology: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "x").write_text("x")
    result = CliRunner().invoke(
        cli, ["network", "init", str(tmp_path / "p"), "--topology", str(demo_topology)]
    )
    assert result.exit_code == 4
    assert "不是空文件夹" in result.stderr


@pytest.mark.slow
def test_demo_runs_from_the_installed_command(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "fiscalsync"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FISCALSYNC_")}
    env.update(LANG="C.UTF-8", LC_ALL="", LC_MESSAGES="")  # a server's locale names none
    done = subprocess.run(
        [*command, "demo", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    # in the operator's language: Chinese by default
    assert "共 8 个节点" in out and "向各市和省直管县下达指标 8 条，共 18,750,000.00 元。" in out
    # Every line the province issued is acknowledged in full by its recipient's receipt.
    issued = [line.split() for line in out.splitlines() if line.startswith("410000-2026-")]
    assert len(issued) == 8 and all(cells[-1] == cells[-2] for cells in issued)
    # The consolidation spends what the cities and counties recorded, out of 18,750,000.00.
    (total,) = [
        line.split() for line in out.splitlines() if line.startswith("支出") and "合计" in line
    ]
    # (the budget of the county that did not report is not in it)
    budget = Decimal(total[2].replace(",", ""))
    assert 0 < budget < Decimal("18750000.00") and total[3] == total[4] != "0.00"
    # revenue has a budget (预算数): each city's and county's 年初预算, imported from a
    # file the demo writes as an operator would, with a year's receipts
    (revenue,) = [
        line.split() for line in out.splitlines() if line.startswith("收入") and "合计" in line
    ]
    assert Decimal(revenue[2].replace(",", "")) > Decimal(revenue[3].replace(",", "")) > 0
    assert revenue[5] == "8.3%"  # a month of twelve
    assert (
        (tmp_path / "demo" / "budgets" / "410102-2026.csv")
        .read_text(encoding="utf-8")
        .startswith("section,code,amount\n收入,10101,")
    )
    assert "汇总报表 (6)" in out and "410181 v1" in out  # 巩义市, 省直管县
    assert "财政收支月报" in out and "金额单位：元" in out  # the title block
    # on the demo's own calendar: on time, one late and one missing, every time
    assert "7 个单位中 5 个按时报送。" in out
    assert "410322  孟津县  逾期  2026-11-05  2026-11-07 15:00" in out
    assert "410122  中牟县  未报  2026-11-05  -" in out
    status = subprocess.run(
        [*command, "--home", str(tmp_path / "demo" / "410000"), "status", "--lang", "en"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    assert "410000 河南省 (province)" in status.stdout


@pytest.mark.slow
def test_the_demo_reports_are_dated_by_the_demo_calendar(tmp_path: Path) -> None:
    done = CliRunner().invoke(cli, ["demo", str(tmp_path / "demo")])
    assert done.exit_code == 0, done.output
    # the consolidation's 报送日期 is the latest of the reports summed: 孟津县's, sent
    # late on the demo's calendar (2026-11-07), never the day the demo is run
    assert "报送日期：2026-11-07" in done.output.splitlines()
    with Node.open(tmp_path / "demo" / "410000") as node, node.engine.connect() as conn:
        stamps = conn.execute(sa.text("SELECT created_at FROM outbox")).scalars().all()
    assert stamps and all(str(s) < "2026-11-08" for s in stamps)
