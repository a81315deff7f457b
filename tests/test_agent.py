"""The agent: scheduled sync and reports on APScheduler, a lock per home, a clean stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import provinces
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cli import cli
from nodes import Node, agent
from nodes.fiscal import ledger, reports
from nodes.fiscal.reports.job import report_job
from nodes.labels import labels, shown
from nodes.locks import agent_lock, home_lock
from nodes.network import Network
from schema.backups import rejoin_peer
from schema.tables import code_item
from sync.clock import FixedClock
from sync.errors import ConfigError, HomeError, InputError

EXE = Path(sys.executable).parent / "fiscalsync"
BEIJING = ZoneInfo("Asia/Shanghai")
CENTER = "410000-dc"


@pytest.fixture
def province(tmp_path: Path, db_url_template: str | None, demo_topology: Path) -> Network:
    # Keys issued on 1 September, before the report periods the tests run through.
    issued = FixedClock(datetime(2026, 9, 1, tzinfo=BEIJING))
    network = provinces.make(tmp_path / "province", demo_topology, db_url_template, clock=issued)
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
        query = sa.select(code_item.c.code).where(code_item.c.is_extension)
        return set(conn.execute(query).scalars())


def test_agent_once_runs_the_sync_job(province: Network) -> None:
    for code in ("410000", "410181", "410000"):
        result = CliRunner().invoke(cli, ["--home", str(province.path / code), "agent", "--once"])
        assert result.exit_code == 0, result.stderr
        assert result.output.startswith("同步：发送 "), result.output
    result = CliRunner().invoke(
        cli, ["--home", str(province.path / "410181"), "agent", "--once", "--lang", "en"]
    )
    assert result.output.startswith("sync: sent "), result.output
    assert codes_at(province, "410181") == {"2059901"}
    # what the scheduled purge did, in English in its log line, in either language to read
    note = agent.purge_job(str(province.path / "410181"))
    assert str(note).startswith("purged 0 sent and 0 taken change-set(s), 0 quarantine entries")
    assert shown(note, labels("zh")).startswith("已清理已发送变更集 0 个、已接收变更集 0 个")


def test_two_agents_cannot_run_on_one_home(province: Network) -> None:
    home = province.path / "410181"
    with agent_lock(home):
        with pytest.raises(HomeError, match="another agent is running"):
            with agent_lock(home):
                pass
        result = CliRunner().invoke(cli, ["--home", str(home), "agent", "--once"])
        assert result.exit_code == 4
        assert f"{home} 上已有另一个代理在运行（pid " in result.stderr, result.stderr
    with agent_lock(home):  # released
        pass


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_agent_syncs_on_start_keeps_its_jobs_in_the_database_and_stops_on_a_signal(
    province: Network, stop: signal.Signals
) -> None:
    """SIGTERM, or SIGHUP (a closed terminal, a dropped ssh session: it used to end the
    agent at once, in the middle of a round), stops it once its running job is done."""
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
        assert sorted(jobs) == ["backup", "check", "purge", "reconcile", "report", "sync"]
        agent.send_signal(stop)
        out, err = agent.communicate(timeout=30)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.communicate()
    assert agent.returncode == 0, err
    assert "代理已启动：每 300 秒同步一次，每天 03:30（Asia/Shanghai）自检" in out
    assert "代理已停止。" in out


def test_the_report_job_is_scheduled_on_the_period_boundaries(province: Network) -> None:
    scheduled = {}
    for code in ("410181", CENTER):
        with Node.open(province.path / code) as node:
            scheduler = agent.scheduler_for(node)
            described = agent.schedule_jobs(scheduler, node, node.settings.home)
            scheduled[code] = {job.id: job for job in scheduler.get_jobs()}
        assert len(described) == len(scheduled[code])
    assert set(scheduled[CENTER]) == {
        "backup",
        "backup-check",
        "sync",
        "check",
        "purge",
    }  # no reports
    report = scheduled["410181"]["report"]
    assert report.func is report_job
    fires = []
    moment = datetime(2026, 10, 31, 23, 0, tzinfo=BEIJING)
    for _ in range(4):
        moment = report.trigger.get_next_fire_time(None, moment)
        fires.append(moment.astimezone(BEIJING).strftime("%m-%d %H:%M"))
        moment = moment.replace(minute=11)
    assert fires == ["11-01 00:10", "11-11 00:10", "11-21 00:10", "12-01 00:10"]


def test_the_report_job_submits_the_periods_just_ended_once(province: Network) -> None:
    home = province.path / "410181"
    with Node.open(home) as node:
        entry = ledger.Entry(date(2026, 10, 25), "expenditure", "2050202", 1234)
        ledger.record(node, [entry], actor="tester")
    clock = FixedClock(datetime(2026, 11, 1, 0, 10, tzinfo=BEIJING))
    done = report_job(str(home), clock=clock)
    assert [(s.period, s.version, s.recipients) for s in done] == [
        ("2026-10", 1, ["410000", CENTER]),
        ("2026-10-D3", 1, ["410000", CENTER]),
    ]
    assert report_job(str(home), clock=clock) == []  # already submitted: left alone
    with Node.open(home) as node:
        queued = sorted((e.recipient, e.kind) for e in node.outbox())
        month = reports.view(node, "2026-10")
    assert queued == [("410000", "report")] * 2 + [(CENTER, "report")] * 2
    assert month.total("expenditure").period_fen == 1234
    assert [s.state for s in month.sources] == ["submitted"]
    assert report_job(str(province.path / CENTER), clock=clock) == []
    # A period submitted is left alone whatever holds the node back meanwhile (here a
    # rejoin after a restore, which refuses anything new until every peer answers).
    with Node.open(home) as node, node.engine.begin() as conn:
        conn.execute(
            rejoin_peer.insert().values(
                peer="410000", request_id="a" * 64, asked_at=datetime(2026, 11, 1, tzinfo=UTC)
            )
        )
    assert report_job(str(home), clock=clock) == []


def test_an_operator_submitting_while_the_report_job_runs_gets_no_second_version(
    province: Network,
) -> None:
    """The operator's ``report submit`` is made to run the moment the job first reads the
    period's reports: it is either seen there (the job leaves the period alone) or made
    after the job's submission (and refused), never followed by a version 2."""
    home = province.path / "410181"
    with Node.open(home) as node:
        entry = ledger.Entry(date(2026, 10, 25), "expenditure", "2050202", 1234)
        ledger.record(node, [entry], actor="tester")
    clock = FixedClock(datetime(2026, 11, 1, 0, 10, tzinfo=BEIJING))
    looked, operator_done = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first_look(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        values = params.values() if isinstance(params, dict) else params or ()
        read = re.search(r"\bFROM report\b(?!_)", statement) and "2026-10" in values
        if threading.current_thread().name == "agent" and read and not looked.is_set():
            looked.set()
            operator_done.wait(2)  # long enough for it to finish, unless it is made to wait

    def operator() -> None:
        looked.wait(60)
        try:
            with home_lock(home), Node.open(home) as node:
                outcome["operator"] = reports.submit(node, "2026-10", actor="operator", clock=clock)
        except InputError as exc:
            outcome["operator"] = exc
        finally:
            operator_done.set()

    def job() -> None:
        outcome["agent"] = report_job(str(home), clock=clock)

    sa.event.listen(sa.engine.Engine, "after_cursor_execute", first_look)
    try:
        threads = [threading.Thread(target=operator), threading.Thread(target=job, name="agent")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        sa.event.remove(sa.engine.Engine, "after_cursor_execute", first_look)
    assert looked.is_set() and operator_done.is_set()
    with Node.open(home) as node:
        held = [(v.version, v.state, v.generated_by) for v in reports.versions(node, "2026-10")]
    agent_sent = [s.period for s in outcome["agent"]]  # type: ignore[attr-defined]
    if isinstance(outcome["operator"], InputError):  # the job's submission came first
        assert held == [(1, "submitted", "fiscalsync agent")]
        assert agent_sent == ["2026-10", "2026-10-D3"]
    else:  # the operator's came first: the month is left alone
        assert held == [(1, "submitted", "operator")]
        assert agent_sent == ["2026-10-D3"]


def test_the_province_schedules_the_revocation_list_when_it_holds_its_ca(
    province: Network,
) -> None:
    home = province.path / "410000"
    settings = home / "node.toml"
    with Node.open(home) as node:
        scheduler = agent.scheduler_for(node)
        agent.schedule_jobs(scheduler, node, home)
        assert "revocation" not in {job.id for job in scheduler.get_jobs()}
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace('# ca = "/secure/ca"', 'ca = "../ca"'), encoding="utf-8")
    with Node.open(home) as node:
        scheduler = agent.scheduler_for(node)
        described = agent.schedule_jobs(scheduler, node, home)
        (job,) = [job for job in scheduler.get_jobs() if job.id == "revocation"]
    assert job.func is agent.revocation_job
    assert f"revocation list from {province.ca_dir} re-published at half-life" in described


def test_the_report_job_submits_only_what_the_settings_say(province: Network) -> None:
    clock = FixedClock(datetime(2026, 11, 1, 0, 10, tzinfo=BEIJING))
    for code, kinds, expected in (
        ("410300", "[]", []),
        ("410122", '["monthly"]', ["2026-10"]),
    ):
        settings = province.path / code / "node.toml"
        text = settings.read_text("utf-8")
        assert 'agent_submits = ["monthly", "tenday"]' in text  # what a new node says
        settings.write_text(
            text.replace('agent_submits = ["monthly", "tenday"]', f"agent_submits = {kinds}"),
            "utf-8",
        )
        assert [s.period for s in report_job(str(province.path / code), clock=clock)] == expected
        with Node.open(province.path / code) as node:
            assert [e.kind for e in node.outbox()] == ["report"] * 2 * len(expected)
    settings.write_text(text.replace('["monthly", "tenday"]', '["weekly"]'), "utf-8")
    with pytest.raises(ConfigError, match="agent_submits must list"):
        Node.open(province.path / "410122")
