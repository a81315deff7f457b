"""The agent: scheduled sync on APScheduler, a lock per home, a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cli import cli
from nodes import Node, init_network
from nodes.agent import agent_lock
from nodes.network import Network
from schema.tables import code_item
from sync.errors import HomeError

EXE = Path(sys.executable).parent / "fiscalsync"


@pytest.fixture
def province(tmp_path: Path, db_url_template: str | None, demo_topology: Path) -> Network:
    network = init_network(tmp_path / "province", demo_topology, db_url_template)
    csv = tmp_path / "codes.csv"
    csv.write_text(
        "codeset,year,code,name,parent,level\nfunc,2026,2059901,扩展,20599,3\n", encoding="utf-8"
    )
    result = CliRunner().invoke(
        cli, ["--home", str(network.path / "410000"), "codes", "import", str(csv)]
    )
    assert result.exit_code == 0, result.stderr
    return network


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FISCALSYNC_")}


def codes_at(network: Network, code: str) -> set[str]:
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        return set(conn.execute(sa.select(code_item.c.code)).scalars())


def test_agent_once_runs_the_sync_job(province: Network) -> None:
    for code in ("410000", "410181", "410000"):
        result = CliRunner().invoke(cli, ["--home", str(province.path / code), "agent", "--once"])
        assert result.exit_code == 0, result.stderr
        assert result.output.startswith("sync: ")
    assert codes_at(province, "410181") == {"2059901"}


def test_two_agents_cannot_run_on_one_home(province: Network) -> None:
    home = province.path / "410181"
    with agent_lock(home):
        with pytest.raises(HomeError, match="another agent is running"):
            with agent_lock(home):
                pass
        result = CliRunner().invoke(cli, ["--home", str(home), "agent", "--once"])
        assert result.exit_code == 4
        assert "another agent is running" in result.stderr
    with agent_lock(home):  # released
        pass


def test_agent_syncs_on_start_keeps_its_jobs_in_the_database_and_stops_on_sigterm(
    province: Network,
) -> None:
    CliRunner().invoke(cli, ["--home", str(province.path / "410000"), "sync"])
    home = province.path / "410181"
    agent = subprocess.Popen(
        [str(EXE), "--home", str(home), "agent"],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and codes_at(province, "410181") != {"2059901"}:
            time.sleep(0.2)
        assert codes_at(province, "410181") == {"2059901"}
        with Node.open(home) as node, node.engine.connect() as conn:
            jobs = conn.execute(sa.text("SELECT id FROM agent_jobs")).scalars().all()
        assert jobs == ["sync"]
        agent.send_signal(signal.SIGTERM)
        out, err = agent.communicate(timeout=30)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.communicate()
    assert agent.returncode == 0, err
    assert "Agent started: sync every 300s" in out
    assert "Agent stopped." in out
