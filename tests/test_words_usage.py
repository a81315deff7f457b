"""A misuse of the command line that click itself finds (a missing option or argument,
an unknown option or command, a value its option does not take, an extra argument) is
said in the operator's language: one error line and a hint to the command's help, in
Chinese by default, in English by ``--lang en`` (before or after the failing option) or
an English locale; the exit status stays click's, 2. No database is touched."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from cli import cli

CHINESE = {"LANG": "C.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}
ENGLISH = {"LANG": "en_US.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}


def _run(*args: str, env: dict[str, str | None] = CHINESE) -> Result:
    return CliRunner(env=env).invoke(cli, list(args), prog_name="fiscalsync")


@pytest.mark.parametrize(
    ("args", "chinese", "english", "command"),
    [
        (["codes", "import", "x.csv", "--year"], "选项 '--year' 须带一个值",
         "Option '--year' requires a value.", "fiscalsync codes import"),
        (["init", "/nowhere/home"], "缺少选项 '--node'", "Missing option '--node'.",
         "fiscalsync init"),
        (["codes", "import"], "缺少参数 'FILE'", "Missing argument 'FILE'.",
         "fiscalsync codes import"),
        (["codes", "import", "x.csv", "--yeer", "2027"], "未知选项 '--yeer'（是否指 --year？）",
         "No such option '--yeer'. Did you mean --year?", "fiscalsync codes import"),
        (["codes", "import", "x.csv", "--year", "abc"],
         "'--year' 的值 'abc' 无效：须为 2000 至 2100 之间的整数",
         "Invalid value 'abc' for '--year': it must be a whole number from 2000 to 2100",
         "fiscalsync codes import"),
        (["codes", "import", "x.csv", "y.csv", "z.csv"], "多余的参数（y.csv z.csv）",
         "Got unexpected extra argument(s) (y.csv z.csv).", "fiscalsync codes import"),
        (["codes", "impor", "x.csv"], "未知命令 'impor'（是否指 import？）",
         "No such command 'impor'. Did you mean import?", "fiscalsync codes"),
        (["--bogus", "status"], "未知选项 '--bogus'", "No such option '--bogus'.",
         "fiscalsync"),
        (["--home", "/nowhere"], "缺少命令", "Missing command.", "fiscalsync"),
        (["allocate", "--to", "410100", "--status", "x"], "未知选项 '--status'",
         "No such option '--status'.", "fiscalsync allocate"),
        (["codes", "list", "func"], "多余的参数（func）",
         "Got unexpected extra argument(s) (func).", "fiscalsync codes list"),
    ],
)  # fmt: skip
def test_click_finds_a_misuse_and_it_is_said_in_either_language(
    args: list[str], chinese: str, english: str, command: str
) -> None:
    said = _run(*args)
    assert said.exit_code == 2, said.output
    assert said.stderr.splitlines() == [f"错误：{chinese}", f"提示：用 {command} --help 查看用法"]
    words = len(command.split()) - 1  # --lang right after the command's name, or at the end
    named: click.Command = cli
    for name in command.split()[1:]:
        named = named.commands[name]  # type: ignore[attr-defined]
    at = len(args) if isinstance(named, click.Group) else words
    by_option = [] if not words else [_run(*args[:at], "--lang", "en", *args[at:])]
    for in_english in (*by_option, _run(*args, env=ENGLISH)):
        assert in_english.exit_code == 2, in_english.output
        assert in_english.stderr.splitlines() == [
            f"Error: {english}",
            f"Hint: see '{command} --help'",
        ]


def test_the_language_is_read_wherever_it_is_given() -> None:
    before = _run("codes", "import", "--lang", "en", "x.csv", "--bogus")
    after = _run("codes", "import", "x.csv", "--bogus", "--lang=en")
    assert (
        before.stderr
        == after.stderr
        == ("Error: No such option '--bogus'.\nHint: see 'fiscalsync codes import --help'\n")
    )
    chosen = _run("codes", "import", "x.csv", "--lang", "fr")
    assert chosen.exit_code == 2
    assert chosen.stderr.splitlines()[0] == "错误：'--lang' 的值 'fr' 无效：须为 zh, en 之一"
    english = _run("codes", "import", "x.csv", "--lang", "fr", env=ENGLISH)
    assert english.stderr.splitlines()[0] == (
        "Error: Invalid value 'fr' for '--lang': it must be one of zh, en"
    )
    # a misuse found by the command itself reads the same way, with the same hint
    own = _run("year", "close", "2026", "--doc", "x", "--lang", "en")
    assert own.exit_code == 2
    assert own.stderr.splitlines()[-1] == "Hint: see 'fiscalsync year close --help'"


def test_help_and_a_bare_group_still_show_the_help() -> None:
    assert _run("codes", "import", "--help").exit_code == 0
    bare = _run("codes")
    assert bare.exit_code == 2 and "用法：fiscalsync codes" in bare.output
    assert "Usage: fiscalsync codes" in _run("codes", env=ENGLISH).output


def test_a_message_of_thousands_of_parts_is_said_in_either_language() -> None:
    from nodes.labels import joined, labels, shown

    parts = [f"第 {n} 项" for n in range(5000)]
    message = joined(parts)
    assert str(message) == "; ".join(parts)
    assert shown(message, labels("zh")) == "；".join(parts)
    assert len(json.dumps(message.as_json())) > 5000  # kept whole, as a column keeps it


def test_a_path_refused_for_another_reason_than_its_kind_keeps_that_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unread = tmp_path / "codes.csv"
    unread.write_text("codeset,year,code,name,parent,level\n", "utf-8")
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: str(p) != str(unread) and real_access(p, mode, **kw)
    )
    said = _run("--home", str(tmp_path), "codes", "import", str(unread), "--lang", "en")
    assert said.exit_code == 2
    assert "is not readable" in said.stderr and "not a folder" not in said.stderr
    folder = _run("--home", str(tmp_path), "codes", "import", str(tmp_path))
    assert "须为文件，不能是目录" in folder.stderr


def test_a_value_given_twice_is_quoted_as_click_keeps_it_the_last() -> None:
    said = _run("codes", "import", "x.csv", "--year", "1", "--year", "abc")
    assert "'--year' 的值 'abc' 无效：须为 2000 至 2100 之间的整数" in said.stderr


def test_what_the_operating_system_refuses_is_said_in_either_language() -> None:
    """An error of the operating system no command expects (its own words kept inside)
    goes out as one line, exit 74; a full disk with a hint."""
    from cli import _Group

    group = _Group("fiscalsync")

    @group.command("write")
    def write() -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "/srv/fiscalsync/x.csv")

    @group.command("open")
    def open_() -> None:
        raise OSError(errno.EIO, "Input/output error")

    said = [
        (
            CHINESE,
            "错误：操作系统报错：No space left on device（/srv/fiscalsync/x.csv）",
            "提示：腾出磁盘空间后再运行一次",
            "错误：操作系统报错：Input/output error",
        ),
        (
            ENGLISH,
            "Error: No space left on device (/srv/fiscalsync/x.csv)",
            "Hint: free disk space and run the command again",
            "Error: Input/output error",
        ),
    ]
    for env, full, hint, failed in said:
        result = CliRunner(env=env).invoke(group, ["write"])
        assert result.exit_code == 74, result.output
        assert result.stderr.splitlines() == [full, hint], result.stderr
        result = CliRunner(env=env).invoke(group, ["open"])
        assert (result.exit_code, result.stderr.splitlines()) == (74, [failed]), result.stderr

    @group.command("move")
    def move() -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link", "/srv/a.fcs", None, "/mnt/b.fcs")

    moved = CliRunner(env=ENGLISH).invoke(group, ["move"])
    assert moved.stderr.splitlines() == [
        "Error: Invalid cross-device link (/srv/a.fcs -> /mnt/b.fcs)"
    ]
