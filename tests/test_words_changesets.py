"""What ``changeset inspect`` and ``changeset verify`` print, and the lines an agent says
when it starts and stops, are in the operator's language: Chinese by default, English
by ``--lang en`` or an English locale (the agent: the locale it starts in). Its log lines
(standard error) stay in English. On a ``network init`` province, SQLite and PostgreSQL;
the agent as a real process, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from cli import cli
from nodes.network import Network

EXE = Path(sys.executable).parent / "fiscalsync"
CHINESE = {"LANG": "C.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}
ENGLISH = {"LANG": "en_US.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}


def _run(env: dict[str, str | None], *args: str | Path) -> Result:
    return CliRunner(env=env).invoke(cli, [str(a) for a in args])


def _outgoing(province: Network, tmp_path: Path) -> Path:
    """A real change-set from the province to Zhengzhou (a code set)."""
    csv = tmp_path / "codes.csv"
    csv.write_text("codeset,year,code,name,parent,level\nfunc,2026,2059901,扩展,20599,3\n", "utf-8")
    assert _run(CHINESE, "--home", province.path / "410000", "codes", "import", csv).exit_code == 0
    return next((province.path / "410000" / "spool" / "outbox").glob("410000_410100_*.fcs"))


def test_a_change_set_is_inspected_and_verified_in_either_language(
    province: Network, tmp_path: Path
) -> None:
    outgoing = _outgoing(province, tmp_path)
    chinese = _run(CHINESE, "changeset", "inspect", outgoing, "--ops", "1")
    assert chinese.exit_code == 0, chinese.stderr
    lines = chinese.output.splitlines()
    assert [line.split()[0] for line in lines[:12]] == [
        "编号", "类型", "发送方", "接收方", "序号", "前一编号", "生成时间", "操作数",
        "正文摘要", "算法套件", "签名证书", "epoch",
    ]  # fmt: skip
    assert lines[1] == "类型       codeset" and lines[4] == "序号       1"
    assert lines[12] == "操作（前 1 项，共 1 项）："
    for english in (
        _run(ENGLISH, "changeset", "inspect", outgoing, "--ops", "1"),
        _run(CHINESE, "changeset", "inspect", outgoing, "--ops", "1", "--lang", "en"),
    ):
        lines = english.output.splitlines()
        assert lines[1] == "kind       codeset" and lines[4] == "seq        1"
        assert lines[12] == "operations (first 1 of 1):"

    home = province.path / "410100"
    verified = _run(CHINESE, "--home", home, "changeset", "verify", outgoing)
    assert verified.exit_code == 0, verified.stderr
    ok, detail = verified.output.splitlines()
    assert ok == f"核验通过 {outgoing.name.split('_')[-1].split('.')[0]}"
    assert detail == "   代码集 410000 → 410100，序号 1，1 项操作，签名者 410000（省级）"
    for english in (
        _run(ENGLISH, "--home", home, "changeset", "verify", outgoing),
        _run(CHINESE, "--home", home, "changeset", "verify", outgoing, "--lang", "en"),
    ):
        ok, detail = english.output.splitlines()
        assert ok.startswith("OK ") and ok[3:] == verified.output.split()[1]
        assert (
            detail
            == "   codeset 410000 -> 410100, seq 1, 1 operations, signed by 410000 (province)"
        )


def _agent(province: Network, lang: str) -> tuple[str, str]:
    """Start the county's agent in the locale ``lang``, stop it once it has started."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FISCALSYNC_", "LC_"))}
    process = subprocess.Popen(
        [str(EXE), "--home", str(province.path / "410102"), "agent"],
        env={**env, "LANG": lang},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        started = process.stdout.readline()  # written once the jobs are scheduled
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    return started + out, err


def test_the_agent_says_its_start_and_stop_in_the_language_it_starts_in(
    province: Network,
) -> None:
    out, err = _agent(province, "C.UTF-8")
    assert out.splitlines() == [
        "代理已启动：每 300 秒同步一次，每天 03:30（Asia/Shanghai）自检，每天 04:30 清理 400 天前的文件，"
        "每晚 01:00 备份，每月 1、11、21 日 00:10（Asia/Shanghai）生成报表，"
        "每月 1 日 02:00（Asia/Shanghai）对账",
        "代理已停止。",
    ]
    assert "signal 15: stopping after the running job" in err  # the log stays in English
    out, _err = _agent(province, "en_US.UTF-8")
    assert out.splitlines() == [
        "Agent started: sync every 300s, check daily at 03:30 Asia/Shanghai, purge daily at "
        "04:30, files older than 400 days, backup every night at 01:00, report on days "
        "1,11,21 at 00:10 Asia/Shanghai, reconcile on day 1 at 02:00 Asia/Shanghai",
        "Agent stopped.",
    ]
