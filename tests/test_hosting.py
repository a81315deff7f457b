"""``fiscalsync agent --homes``: one agent process for many node homes (市级集中部署)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from nodes.locks import agent_lock
from nodes.network import Network
from nodes.node import Node

FISCALSYNC = Path(sys.executable).parent / "fiscalsync"
CITY, COUNTIES = "410100", ("410102", "410122")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int, until: list[str], seconds: float = 90) -> str:
    """The agent's metrics once every line of ``until`` is in them (or at the deadline)."""
    text = ""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                text = r.read().decode()
            if all(line in text for line in until):
                break
        except OSError:
            pass
        time.sleep(0.2)
    return text


@pytest.mark.slow
def test_one_agent_runs_a_city_and_its_counties_and_a_locked_home_waits(
    province: Network, tmp_path: Path
) -> None:
    """The city's data center hosts 郑州市 and its two counties in one folder: one agent
    runs all three, each syncing on its own; a county whose home another agent holds is
    named and tried again, and runs once it is let go, while the others never stop."""
    hosted = tmp_path / "hosted"
    hosted.mkdir()
    for code in (CITY, *COUNTIES):
        (hosted / code).symlink_to(province.homes[code].path)
    (hosted / "notes").mkdir()  # not a home: passed over
    port = free_port()
    held = province.homes[COUNTIES[1]].path
    with agent_lock(held):
        process = subprocess.Popen(
            [str(FISCALSYNC), "agent", "--homes", str(hosted), "--log-format", "json"]
            + ["--metrics-port", str(port), "--retry-seconds", "5"],
            env={k: v for k, v in os.environ.items() if k != "FISCALSYNC_HOME"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            rounds = [f'fiscalsync_sync_rounds_total{{node="{c}"}} 1.0' for c in (CITY, "410102")]
            text = scrape(port, rounds)
            assert all(line in text for line in rounds), text
            assert f'fiscalsync_sync_rounds_total{{node="{COUNTIES[1]}"}}' not in text
            assert text.count("# TYPE fiscalsync_changesets_sent_total") == 1
        except BaseException:
            process.kill()
            raise
    try:  # let go: within the retry interval the third home runs too
        late = f'fiscalsync_sync_rounds_total{{node="{COUNTIES[1]}"}} 1.0'
        figures = f'fiscalsync_changesets_sent_total{{node="{COUNTIES[1]}"}}'
        text = scrape(port, [late, figures])
        assert late in text and figures in text, text
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "代理已启动：" in out and "代理已停止。" in out
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    synced = {line["node"] for line in lines if line["message"].startswith("sync:")}
    assert synced == {CITY, *COUNTIES}
    refused = [line for line in lines if "not running" in line["message"]]
    assert refused and all(str(held) in line["message"] for line in refused)
    assert "another agent is running" in refused[0]["message"]


def test_homes_must_name_a_folder_of_homes_and_once_takes_one_home(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    english = CliRunner(env={"LANG": "en_US.UTF-8", "LC_ALL": None, "LC_MESSAGES": None})
    result = english.invoke(cli, ["agent", "--homes", str(empty)])
    assert result.exit_code == 3
    assert "no node home (a folder with node.toml)" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    result = english.invoke(cli, ["agent", "--homes", str(empty), "--once"])
    assert result.exit_code == 2 and "--once runs one home" in result.stderr


@pytest.mark.parametrize("bad", ["missing", "file"])
def test_homes_refuses_what_is_not_a_folder(tmp_path: Path, bad: str) -> None:
    target = tmp_path / "x"
    if bad == "file":
        target.write_text("", encoding="utf-8")
    result = CliRunner().invoke(cli, ["agent", "--homes", str(target)])
    assert result.exit_code != 0
    assert "Traceback" not in result.output + result.stderr


REFUSE_UPDATES = {
    "sqlite": (
        "CREATE TRIGGER disk_full BEFORE UPDATE ON agent_jobs "
        "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
    ),
    "postgresql": (
        "CREATE FUNCTION disk_full() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'could not extend file: No space left on device'; END $$ "
        "LANGUAGE plpgsql",
        "CREATE TRIGGER disk_full BEFORE UPDATE ON agent_jobs "
        "FOR EACH ROW EXECUTE FUNCTION disk_full()",
    ),
}


@pytest.mark.slow
def test_a_home_whose_database_refuses_its_job_times_never_stops_the_others(
    province: Network, tmp_path: Path
) -> None:
    """中原区's database refuses every write to the agent's job table (as a full disk
    would) once its first round is recorded. The agent names it and holds its jobs back
    for a while, and runs 郑州市's rounds on time meanwhile; once the database takes
    writes again, 中原区's rounds go on. (The scheduler stopped for good, every home with
    it, when a job store failed to record a job's next time.)"""
    hosted = tmp_path / "hosted"
    hosted.mkdir()
    county = COUNTIES[0]
    for code in (CITY, county):
        home = province.homes[code].path
        settings = home / "node.toml"
        text = settings.read_text(encoding="utf-8")
        settings.write_text(
            text.replace("interval_seconds = 300", "interval_seconds = 10"), encoding="utf-8"
        )
        (hosted / code).symlink_to(home)
    node = Node.open(province.homes[county].path)
    engine = node.engine
    port = free_port()
    process = subprocess.Popen(
        [str(FISCALSYNC), "agent", "--homes", str(hosted), "--log-format", "json"]
        + ["--metrics-port", str(port), "--retry-seconds", "5"],
        env={k: v for k, v in os.environ.items() if k != "FISCALSYNC_HOME"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = [f'fiscalsync_sync_rounds_total{{node="{c}"}} 1.0' for c in (CITY, county)]
        text = scrape(port, first)
        assert all(line in text for line in first), text
        with engine.begin() as conn:
            for statement in REFUSE_UPDATES[engine.dialect.name]:
                conn.exec_driver_sql(statement)
        city_on = f'fiscalsync_sync_rounds_total{{node="{CITY}"}} 3.0'
        text = scrape(port, [city_on], seconds=60)
        assert city_on in text, text
        assert process.poll() is None
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "DROP TRIGGER disk_full"
                + (" ON agent_jobs" if engine.dialect.name == "postgresql" else "")
            )
        dropped = time.time()
        # Its jobs' times are recorded again: the sync job's next time moves past now.
        deadline = time.monotonic() + 90
        while _next_sync(engine) <= dropped:
            assert time.monotonic() < deadline, "its job times were never recorded again"
            time.sleep(0.5)
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        node.close()
    assert process.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    refused = [line for line in lines if "its database refused" in line["message"]]
    assert refused and all(line["message"].startswith(f"{county}:") for line in refused)
    assert "held back 5s" in refused[0]["message"]


def _next_sync(engine: Any) -> float:
    """When the agent's job table says a home's next sync is due (seconds since 1970)."""
    with engine.connect() as conn:
        due = conn.exec_driver_sql("SELECT next_run_time FROM agent_jobs WHERE id = 'sync'")
        return float(due.scalar_one())


def _lock_free(home: Path, seconds: float = 60) -> bool:
    """Whether the agent lock of ``home`` could be taken before the deadline."""
    from schema.errors import FiscalsyncError

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with agent_lock(home):
                return True
        except FiscalsyncError:
            time.sleep(0.2)
    return False


@pytest.mark.slow
def test_a_home_added_or_removed_under_the_folder_starts_or_stops_without_a_restart(
    province: Network, tmp_path: Path
) -> None:
    """The agent of a data center runs 郑州市; a county's home is added to the folder and
    runs at the next scan (SIGHUP: at once); the city's is taken away and stops, its
    lock let go, while the agent and the county go on."""
    hosted = tmp_path / "hosted"
    hosted.mkdir()
    (hosted / CITY).symlink_to(province.homes[CITY].path)
    port = free_port()
    process = subprocess.Popen(
        [str(FISCALSYNC), "agent", "--homes", str(hosted), "--log-format", "json"]
        + ["--metrics-port", str(port), "--retry-seconds", "3600"],
        env={k: v for k, v in os.environ.items() if k != "FISCALSYNC_HOME"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    county = COUNTIES[0]
    try:
        city_round = f'fiscalsync_sync_rounds_total{{node="{CITY}"}} 1.0'
        assert city_round in scrape(port, [city_round])
        (hosted / county).symlink_to(province.homes[county].path)
        process.send_signal(signal.SIGHUP)
        county_round = f'fiscalsync_sync_rounds_total{{node="{county}"}} 1.0'
        assert county_round in scrape(port, [county_round])
        (hosted / CITY).unlink()
        process.send_signal(signal.SIGHUP)
        assert _lock_free(province.homes[CITY].path)
        text = scrape(port, [county_round], seconds=5)
        assert f'node="{CITY}"' not in text and county_round in text
    except BaseException:
        print("exited:", process.poll())
        process.kill()
        print(process.communicate(timeout=60)[1][-3000:])
        raise
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    said = [line["message"] for line in lines]
    assert any(m.startswith(f"started: {county} (") for m in said), said
    assert any(m.startswith(f"stopped: {CITY} (") for m in said), said
