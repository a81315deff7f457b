"""Running a node as a service: the systemd units ``install-service`` writes, and the
agent's JSON log lines and metrics, from a real agent process."""

from __future__ import annotations

import json
import os
import shutil
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
from nodes import service
from nodes.network import Network
from sync.errors import InputError

FISCALSYNC = Path(sys.executable).parent / "fiscalsync"


def test_the_units_are_hardened_and_systemd_accepts_them(tmp_path: Path) -> None:
    home = Path("/srv/fiscalsync/410102")
    made = service.units("410102", "中原区", home, FISCALSYNC, metrics_port=9470)
    written = service.write_units(tmp_path, made)
    assert [p.name for p in written] == [
        "fiscalsync-agent-410102.service",
        "fiscalsync-serve-410102.service",
    ]
    agent, serve = (p.read_text(encoding="utf-8") for p in written)
    assert f"ExecStart={FISCALSYNC} agent --log-format json --metrics-port 9470\n" in agent
    assert f"ExecStart={FISCALSYNC} serve --port 8470\n" in serve
    for text in (agent, serve):
        for line in (
            "User=fiscalsync",
            f"Environment=FISCALSYNC_HOME={home}",
            "Restart=on-failure",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            f"ReadWritePaths={home}",
            "CapabilityBoundingSet=",
        ):
            assert line + "\n" in text
    analyze = shutil.which("systemd-analyze")
    if analyze is not None:
        checked = subprocess.run(
            [analyze, "verify", *map(str, written)], capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stderr
    for hidden in (Path("/tmp/fiscalsync/410102"), Path("/home/finance/410102")):
        with pytest.raises(InputError, match="which the units hide from the service"):
            service.units("410102", "中原区", hidden, FISCALSYNC)
    with pytest.raises(InputError, match="emptied at every restart"):
        service.units("410102", "中原区", Path("/dev/shm/410102"), FISCALSYNC)


def test_install_service_from_the_command_line(node_home: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--home", str(node_home), "install-service", "--dir", str(tmp_path)]
    )
    assert result.exit_code != 0  # the test's home is under /tmp or /dev/shm: not for a service
    assert result.output.startswith("错误：节点目录 ")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_agent_logs_json_lines_naming_the_node_and_serves_its_metrics(
    province: Network,
) -> None:
    port = _free_port()
    env = {**os.environ, "FISCALSYNC_HOME": str(province.path / "410102")}
    process = subprocess.Popen(
        [str(FISCALSYNC), "agent", "--log-format", "json", "--metrics-port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        text = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    text = r.read().decode()
                if 'fiscalsync_sync_rounds_total{node="410102"} 1.0' in text:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert 'fiscalsync_sync_rounds_total{node="410102"} 1.0' in text
        assert 'fiscalsync_changesets_sent_total{node="410102"}' in text
        assert 'fiscalsync_round_bytes_total{direction="received",node="410102"}' in text
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines and all(line["node"] == "410102" for line in lines)
    assert any(
        line["logger"] == "fiscalsync.agent" and "sync:" in line["message"] for line in lines
    )
