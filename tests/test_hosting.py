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

import pytest
from click.testing import CliRunner

from cli import cli
from nodes.locks import agent_lock
from nodes.network import Network

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
    assert "Agent started:" in out and "Agent stopped." in out
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    synced = {line["node"] for line in lines if line["message"].startswith("sync:")}
    assert synced == {CITY, *COUNTIES}
    refused = [line for line in lines if "not running" in line["message"]]
    assert refused and all(str(held) in line["message"] for line in refused)
    assert "another agent is running" in refused[0]["message"]


def test_homes_must_name_a_folder_of_homes_and_once_takes_one_home(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["agent", "--homes", str(empty)])
    assert result.exit_code == 3
    assert "no node home (a folder with node.toml)" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    result = CliRunner().invoke(cli, ["agent", "--homes", str(empty), "--once"])
    assert result.exit_code == 2 and "--once runs one home" in result.stderr


@pytest.mark.parametrize("bad", ["missing", "file"])
def test_homes_refuses_what_is_not_a_folder(tmp_path: Path, bad: str) -> None:
    target = tmp_path / "x"
    if bad == "file":
        target.write_text("", encoding="utf-8")
    result = CliRunner().invoke(cli, ["agent", "--homes", str(target)])
    assert result.exit_code != 0
    assert "Traceback" not in result.output + result.stderr
