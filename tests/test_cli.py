"""The command line: every command has help with an example and appears in the README."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli import cli

ENGLISH = {"LANG": "en_US.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}
"""The English help these tests read (Chinese is the default: see test_help_zh)."""

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def all_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, click.Group):
            found.extend(all_commands(command, path))
        else:
            found.append(path)
    return found


COMMANDS = all_commands()


def test_the_command_tree_is_not_empty() -> None:
    assert ("init",) in COMMANDS and (
        "network",
        "init",
    ) in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner(env=ENGLISH).invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    examples = re.sub(r"--home \S+ ", "", result.output)
    assert f"fiscalsync {' '.join(path)}" in examples


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_is_in_the_readme(path: tuple[str, ...]) -> None:
    assert f"`fiscalsync {' '.join(path)}" in README


def test_top_level_help_lists_the_exit_statuses() -> None:
    result = CliRunner(env=ENGLISH).invoke(cli, ["--help"])
    assert "Exit status:" in result.output
    listed = {
        line.split()[0]
        for line in result.output.split("Exit status:")[1].splitlines()
        if line.strip()
    }
    assert {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "74"} <= listed


def test_readme_shows_the_two_make_commands() -> None:
    assert "make demo" in README and "make test" in README
