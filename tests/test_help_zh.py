"""``fiscalsync ... --help`` is Chinese by default (用法, 选项, 命令 and every command's text
from :mod:`nodes.help_zh`), English with ``--lang en`` or an English locale; the catalogue
covers every command and option of the command tree and names nothing else, and its
examples are the English ones, verbatim."""

from __future__ import annotations

import hashlib
import inspect
import re
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from cli import cli
from nodes import help_zh, help_zh_sources

CHINESE = {"LANG": "C.UTF-8", "LC_ALL": None, "LC_MESSAGES": None, "COLUMNS": "80"}
ENGLISH = {"LANG": "en_US.UTF-8", "LC_ALL": None, "LC_MESSAGES": None, "COLUMNS": "80"}


def _tree(command: click.Command = cli, path: str = "") -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _tree(sub, f"{path} {name}".strip())


TREE = dict(_tree())


def _options(path: str) -> list[click.Option]:
    """The options of the command at ``path`` shown in its help, click's own included."""
    command = TREE[path]
    ctx = click.Context(command)
    params = command.get_params(ctx)
    return [p for p in params if isinstance(p, click.Option) and p.help and not p.hidden]


def _name(option: click.Option) -> str:
    return next((o for o in option.opts if o.startswith("--")), option.opts[0])


def _examples(text: str) -> list[str]:
    """The lines of the example paragraph of a help ``text``, under its heading."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    found = [p for p in paragraphs if p.startswith(("\b\nExample:", "\b\n示例："))]
    assert len(found) == 1, text
    return found[0].splitlines()[2:]


def _help(*args: str, env: dict[str, str | None] = CHINESE, width: int = 80) -> Result:
    """The help of the command ``args`` on a terminal ``width`` cells wide (click reads
    no COLUMNS under CliRunner: the width is given to the command's context)."""
    result = CliRunner(env=env).invoke(
        cli, [*args, "--help"], prog_name="fiscalsync", terminal_width=width
    )
    assert result.exit_code == 0, result.output
    assert result.exception is None and "Traceback" not in result.output
    return result


def _cells(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _kept(path: str) -> set[str]:
    """The lines of the Chinese help of ``path`` that click shows as they are (``\\b``
    paragraphs: examples, the exit statuses), as it does in English."""
    found = help_zh.command_help(path)
    text = inspect.cleandoc(found[1] if found else "") + "\n\n" + help_zh.EPILOGS.get(path, "")
    kept = [p for p in text.split("\n\n") if p.startswith("\b")]
    return {line.strip() for p in kept for line in p.splitlines()}


def _help_column(line: str) -> str:
    """The help of an option's or a command's row, after its first column."""
    return line.strip().split("  ", 1)[-1].strip() if "  " in line.strip() else line.strip()


def test_every_command_and_option_has_its_chinese_help() -> None:
    missing = [path for path in TREE if help_zh.command_help(path) is None]
    missing += [
        f"{path} {_name(option)}"
        for path in TREE
        for option in _options(path)
        if help_zh.option_help(path, _name(option), option.help or "") is None
    ]
    assert missing == []
    assert all(short and text for short, text in help_zh.COMMANDS.values())


def test_the_catalogue_names_no_command_or_option_that_is_gone() -> None:
    options = {(path, _name(option)) for path in TREE for option in _options(path)}
    english = {option.help for path in TREE for option in _options(path)}
    assert set(help_zh.COMMANDS) - set(TREE) == set()
    assert set(help_zh.EPILOGS) - set(TREE) == set()
    assert set(help_zh.OPTIONS) - options == set()
    assert set(help_zh.SHARED) - english == set()


@pytest.mark.parametrize("path", list(TREE), ids=lambda path: path or "fiscalsync")
def test_each_chinese_example_is_the_english_one(path: str) -> None:
    found = help_zh.command_help(path)
    assert found is not None
    assert _examples(found[1]) == _examples(TREE[path].help or "")


def test_fiscalsync_help_is_chinese_by_default_and_english_by_locale() -> None:
    chinese = _help().output
    assert chinese.startswith("用法：fiscalsync [OPTIONS] COMMAND [ARGS]...")
    for phrase in ("示例：", "选项:", "命令:", "显示此帮助并退出。", "显示版本并退出。",
                   "节点目录（默认：$FISCALSYNC_HOME）。", "向下级下达指标，或用 --from 分解收到的指标。",
                   "退出状态：", "  74  磁盘或文件系统故障"):  # fmt: skip
        assert phrase in chinese
    assert "    fiscalsync --home /srv/fiscalsync/410102 status\n" in chinese
    assert "Usage:" not in chinese and "Options:" not in chinese and "Show this" not in chinese
    english = _help(env=ENGLISH).output
    assert english.startswith("Usage: fiscalsync [OPTIONS] COMMAND [ARGS]...")
    assert "Exit status:" in english and "Show the version and exit." in english
    assert "用法" not in english and "选项" not in english


def test_allocate_help_is_chinese_by_default_english_with_lang_en_or_the_locale() -> None:
    chinese = _help("allocate").output
    assert chinese.startswith("用法：fiscalsync allocate [OPTIONS]")
    for phrase in ("指标控制", "--allow-duplicate", "接收单位的节点代码（须为下级）。",
                   "--type [general|shared|special"):  # fmt: skip
        assert phrase in chinese
    assert "[默认：annual]" in "".join(chinese.split())  # the note of click, in Chinese
    example = (
        "    fiscalsync --home /srv/fiscalsync/410000 allocate --to 410100 --amount 1234.56 \\\n"
        '        --func 2050201 --econ 50201 --fund 111 --doc "豫财教〔2026〕12号"\n'
    )
    assert example in chinese
    for english in (
        _help("allocate", "--lang", "en").output,
        _help("allocate", env=ENGLISH).output,
    ):
        assert english.startswith("Usage: fiscalsync allocate [OPTIONS]")
        assert "Recipient node code (a descendant)." in english and "[default: annual]" in english
        assert example in english and "接收单位" not in english
    assert "接收单位" in _help("allocate", "--lang=zh", env=ENGLISH).output


def test_backup_verify_help_is_chinese_by_default_english_with_lang_en_or_the_locale() -> None:
    chinese = _help("--home", "/nowhere", "backup", "verify").output
    assert chinese.startswith("用法：fiscalsync backup verify [OPTIONS]")
    assert "不用任何密钥检查此处保管的备份（类似 restic check）。" in chinese
    assert "同时读取每个对象并检查其哈希。" in chinese and "只检查此节点的备份。" in chinese
    example = "    fiscalsync --home /srv/fiscalsync/410000-dc backup verify --read-data\n"
    assert example in chinese
    lang_en = _help("backup", "verify", "--lang", "en").output
    for english in (lang_en, _help("backup", "verify", env=ENGLISH).output):
        assert "Check the backups kept here, without any key (like restic check)." in english
        assert "Show this message and exit." in english and example in english
        assert "备份" not in english


def test_a_group_lists_its_commands_in_chinese() -> None:
    chinese = _help("backup").output
    assert "命令:" in chinese and "不用任何密钥检查此处保管的备份（类似 restic check）。" in chinese
    assert "重新上传每个数据块（不复用以前的备份）。" in chinese


@pytest.mark.parametrize("width", [50, 80, 120])
@pytest.mark.parametrize("path", list(TREE), ids=lambda path: path or "fiscalsync")
def test_chinese_help_lines_fit_the_terminal(path: str, width: int) -> None:
    """Click counts characters; a Chinese one takes two cells. A line longer than the
    terminal is an example or a value list, the same in English. No line starts with a
    closing mark or ends with an opening one, the rows of options and commands too
    (their help, after the first column)."""
    english = _help(*path.split(), env=ENGLISH, width=width).output.splitlines()
    verbatim = {line.strip() for line in english} | _kept(path)
    for line in _help(*path.split(), width=width).output.splitlines():
        if line.strip() not in verbatim:
            assert _cells(line) <= width, line
            text = _help_column(line)
            assert text[:1] not in "，。、；：）" and text[-1:] not in "（", line


def _installed(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command line ``args`` run as a program, without a locale, on a narrow terminal."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "60"},
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )


def test_the_installed_command_shows_chinese_help_without_a_locale(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "fiscalsync"
    shown = _installed(tmp_path, str(script), "backup", "verify", "--help")
    assert shown.returncode == 0 and shown.stderr == ""
    assert shown.stdout.startswith("用法：fiscalsync backup verify [OPTIONS]")
    assert all(_cells(line) <= 60 for line in shown.stdout.splitlines()[2:8]), shown.stdout


def test_python_m_cli_knows_every_command(tmp_path: Path) -> None:
    shown = _installed(tmp_path, sys.executable, "-m", "cli", "year", "--help")
    assert shown.returncode == 0 and shown.stderr == ""
    assert "年终结转" in shown.stdout and "close" in shown.stdout


def test_the_chinese_exit_statuses_are_the_english_ones() -> None:
    def statuses(text: str) -> list[str]:
        return re.findall(r"^ +(\d+) ", text, re.MULTILINE)

    assert statuses(help_zh.EPILOGS[""]) == statuses(cli.epilog or "")
    assert len(statuses(help_zh.EPILOGS[""])) >= 10


def _translated() -> dict[str, str]:
    """What each entry of the catalogue translates, by the name of the entry in
    :data:`nodes.help_zh_sources.TRANSLATED`: the first 8 hex digits of the SHA-256 of
    the English text (a command's help, its epilog, an option's help)."""
    found: dict[str, str] = {}
    for path, command in TREE.items():
        here = f"fiscalsync {path}".strip()
        if path in help_zh.COMMANDS:
            found[here] = command.help or ""
        if path in help_zh.EPILOGS:
            found[f"{here} (epilog)"] = command.epilog or ""
        for option in _options(path):
            if (path, _name(option)) in help_zh.OPTIONS:
                found[f"{here} {_name(option)}"] = option.help or ""
    return {name: hashlib.sha256(text.encode()).hexdigest()[:8] for name, text in found.items()}


def test_each_chinese_entry_translates_the_english_of_today() -> None:
    """An English help changed since its Chinese was written: the Chinese is revisited,
    then the new hash written down (``python tests/test_help_zh.py`` prints them all)."""
    now, then = _translated(), help_zh_sources.TRANSLATED
    stale = [
        f"{name!r}: the English changed; revisit its Chinese in nodes/help_zh_*.py, then "
        f"write {name!r}: {digest!r} in nodes/help_zh_sources.py"
        for name, digest in now.items()
        if then.get(name) != digest
    ]
    stale += [
        f"{name!r}: no such entry; remove it from nodes/help_zh_sources.py"
        for name in then.keys() - now.keys()
    ]
    assert stale == [], "\n".join(stale)


if __name__ == "__main__":
    print("TRANSLATED: dict[str, str] = {")
    for name, digest in _translated().items():
        print(f"    {name!r}: {digest!r},")
    print("}")
