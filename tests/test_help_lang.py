"""``fiscalsync --lang en`` sets the language of everything below it: the help of
``fiscalsync`` and of every command (those without a ``--lang`` of their own too), their
output and their errors. ``CMD --help --lang en`` shows the help in English on any
command; ``--lang`` after a command without it, for a run, is a misuse that says where
it goes. The last ``--lang`` written decides, and a ``--lang`` given as another option's
value is not read as a language."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import _written_language, cli

CHINESE = {"LANG": "C.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}
ENGLISH = {"LANG": "en_US.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}


def _run(*args: str, env: dict[str, str | None] = CHINESE) -> Result:
    result = CliRunner(env=env).invoke(cli, list(args), prog_name="fiscalsync")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


@pytest.mark.parametrize(
    "args", [["--lang", "en", "--help"], ["--help", "--lang", "en"], ["--help", "--lang=en"]]
)
def test_fiscalsync_lang_en_shows_its_help_in_english(args: list[str]) -> None:
    shown = _run(*args)
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("Usage: fiscalsync [OPTIONS] COMMAND [ARGS]...")
    assert "Exit status:" in shown.output and "选项" not in shown.output
    assert _run("--help").output.startswith("用法：fiscalsync [OPTIONS]")


@pytest.mark.parametrize(
    "args",
    [
        ["--lang", "en", "purge", "--help"],
        ["purge", "--help", "--lang", "en"],
        ["purge", "--lang", "en", "--help"],
        ["purge", "--help", "--lang=en"],
        ["--lang", "zh", "purge", "--help", "--lang", "en"],
    ],
)
def test_a_command_without_its_own_lang_shows_its_help_in_english(args: list[str]) -> None:
    shown = _run(*args)
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("Usage: fiscalsync purge [OPTIONS]")
    assert "Purge the spool" in shown.output and "暂存目录" not in shown.output
    chinese = _run("--lang", "zh", "purge", "--help", env=ENGLISH).output
    assert chinese.startswith("用法：fiscalsync purge [OPTIONS]")


def test_fiscalsync_lang_en_makes_a_command_s_output_english(node_home: Path) -> None:
    home = ["--home", str(node_home)]
    english = _run("--lang", "en", *home, "codes", "list")
    assert english.exit_code == 0 and english.output.startswith("year  code"), english.output
    assert _run(*home, "codes", "list").output.startswith("年度  编码")
    own = _run("--lang", "en", *home, "codes", "list", "--lang", "zh").output
    assert own.startswith("年度  编码"), own  # the command's own --lang has the last word


def test_fiscalsync_lang_en_makes_a_command_s_errors_english(node_home: Path) -> None:
    home = ["--home", str(node_home)]
    refused = _run("--lang", "en", *home, "allocate")
    assert refused.exit_code == 2
    assert refused.output.startswith("Error: missing --to, --amount"), refused.output
    misused = _run("--lang", "en", *home, "codes", "list", "--year", "x")
    assert misused.exit_code == 2
    assert "Error: Invalid value 'x' for '--year'" in misused.output
    assert _run(*home, "allocate").output.startswith("错误：")


def test_lang_after_a_command_without_it_says_it_goes_before() -> None:
    english = _run("purge", "--lang", "en")
    assert english.exit_code == 2
    assert english.output == (
        "Error: No such option '--lang'.\n"
        "Hint: --lang goes before the command: 'fiscalsync --lang en purge'\n"
    )
    chinese = _run("backup", "prune", "--lang=zh", env=ENGLISH)
    assert chinese.exit_code == 2
    assert "提示：--lang 要写在命令之前：fiscalsync --lang zh backup prune" in chinese.output


def test_the_last_lang_written_decides_the_help() -> None:
    assert _run("allocate", "--lang", "zh", "--lang", "en", "--help").output.startswith("Usage:")
    assert _run("--lang", "en", "allocate", "--lang", "zh", "--help").output.startswith("用法：")


def test_a_lang_given_as_an_option_s_value_is_not_a_language() -> None:
    shown = _run("ledger", "add", "--memo", "--lang", "en", "--help")
    assert shown.output.startswith("用法：fiscalsync ledger add"), shown.output


@pytest.mark.parametrize(
    ("args", "language"),
    [
        (["--lang", "zh", "status", "--lang", "en"], "en"),
        (["--lang=en", "x", "--lang=zh"], "zh"),
        (["ledger", "add", "--memo", "--lang", "en"], None),
        (["ledger", "add", "--memo", "--lang=en"], None),
        (["--home", "--lang", "en"], None),
        (["status", "--", "--lang", "en"], None),
        (["status", "--json", "--lang", "en"], "en"),
        (["--lang", "fr"], None),
    ],
)
def test_the_written_language_is_the_last_lang_not_another_option_s_value(
    args: list[str], language: str | None
) -> None:
    assert _written_language(args) == language
