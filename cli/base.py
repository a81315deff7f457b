"""The root command, how failures leave it, and what every command shares: the node
home, the home lock for writers, amounts, tables and progress bars."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from nodes import (
    Node,
)
from nodes.fiscal import reports, tabular
from nodes.locks import home_lock
from nodes.topology import NodeSpec
from schema.engine import database_failure
from schema.errors import FiscalsyncError
from schema.types import parse_yuan
from sync.errors import (
    InputError,
    RowsRefused,
    TopologyError,
)

EXIT_STATUS = """\b
Exit status:
  0   success
  1   unexpected failure (a bug: please report it with its traceback)
  2   wrong command-line usage
  3   bad input: malformed file, unknown node code, bad amount
  4   node home missing, not empty, or not this node's
  5   database unreachable or unusable
  6   topology fails its checks (every problem is listed)
  7   parent or mailbox unreachable (nothing lost; the next sync resumes)
  8   key, certificate or CA unusable
  9   database schema newer or older than this fiscalsync
  10-15  change-set refused: 10 malformed, 11 integrity, 12 signature,
         13 certificate, 14 wrong recipient, 15 not authorized
  16  network sync --until-quiet ended with something still in flight (named)
  17  check found problems in the node home (each named, with what to do)
  74  disk or file-system failure (e.g. disk full); nothing half-written
"""


LARGE_TRANSFER = 512 * 1024
"""Downloads at least this large show a progress bar."""


HOME_OPTION_HELP = "Node home folder (default: $FISCALSYNC_HOME)."


class Failure(click.ClickException):
    """A fiscalsync error on its way out: ``Error: <what>`` and a hint, its own status."""

    def __init__(self, message: str, hint: str = "", details: Sequence[str] = (), code: int = 1):
        super().__init__(message)
        self.hint = hint
        self.details = list(details)
        self.exit_code = code

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.message}", err=True)
        for line in self.details:
            click.echo(f"  {line}", err=True)
        if self.hint:
            click.echo(f"Hint: {self.hint}", err=True)


class Group(click.Group):
    """Lists commands in declared order and translates our errors into :class:`Failure`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FiscalsyncError as exc:
            details = exc.problems if isinstance(exc, TopologyError | RowsRefused) else ()
            raise Failure(exc.message, exc.hint, details, exc.exit_code) from exc
        except BrokenPipeError:
            sys.stderr.close()  # the reader went away (e.g. `| head`): stop quietly
            sys.exit(0)
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            hint = "free disk space and run the command again" if exc.errno == errno.ENOSPC else ""
            raise Failure(f"{exc.strerror or exc}{where}", hint, code=74) from exc
        except Exception as exc:
            failure = database_failure(exc)
            if failure is None:
                raise
            raise Failure(failure.message, failure.hint, code=failure.exit_code) from exc


def node_home(ctx: click.Context) -> Path:
    home = ctx.find_root().params.get("home")
    if home is None:
        raise click.UsageError("no node home: pass --home DIR or set FISCALSYNC_HOME")
    return Path(home)


@contextlib.contextmanager
def writing(
    ctx: click.Context, *, exclusive: bool = False, check_schema: bool = True
) -> Iterator[Node]:
    """The node, for a command that writes to it: under the home lock (shared, or
    ``exclusive`` for what must be alone with the home)."""
    home = node_home(ctx)
    with Node.open(home, check_schema=check_schema) as node, home_lock(home, exclusive=exclusive):
        yield node


def pad(text: str, width: int) -> str:
    """Left-align text in a terminal column; CJK characters take two cells."""
    cells = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - cells, 1)


def describe(spec: NodeSpec | None) -> str:
    return f"{spec.code} {spec.name} ({spec.role})" if spec else "-"


@click.group(
    cls=Group, epilog=EXIT_STATUS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="FISCALSYNC_HOME",
    help=HOME_OPTION_HELP,
)
@click.version_option(package_name="fiscalsync")
def cli(home: Path | None) -> None:
    """fiscalsync: province → city → county sync of budget appropriations (预算指标),
    receipts, reports and reconciliation, as signed change-sets.

    \b
    Example:
      fiscalsync demo
      fiscalsync --home /srv/fiscalsync/410102 status
    """


def local_time(moment: datetime) -> str:
    return moment.astimezone(reports.LOCAL_TIME).strftime("%Y-%m-%d %H:%M")


def read_passphrase(passphrase_file: Path | None) -> bytes | None:
    """The CA passphrase: from a file, else $FISCALSYNC_CA_PASSPHRASE, else none."""
    if passphrase_file is not None:
        try:
            return passphrase_file.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise click.BadParameter(f"cannot read {passphrase_file}: {exc.strerror}") from exc
    value = os.environ.get("FISCALSYNC_CA_PASSPHRASE")
    return value.encode("utf-8") if value else None


passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the CA key's passphrase (default: $FISCALSYNC_CA_PASSPHRASE).",
)


def yuan(value: str, field: str) -> int:
    try:
        return parse_yuan(value)
    except ValueError as exc:
        raise InputError(
            f"{field}: {exc}", hint="an amount in 元 with at most two decimals, e.g. 1234.56"
        ) from exc


def output_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--format`` and ``--output`` for a listing (xlsx needs a file)."""
    func = click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write to this file instead of the terminal (required for xlsx).",
    )(func)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "csv", "xlsx", "json"]),
        default="table",
        show_default=True,
        help="table for the terminal; csv, xlsx or json for other programs.",
    )(func)


def emit(
    columns: Sequence[tabular.Column],
    rows: list[Sequence[Any]],
    fmt: str,
    output: Path | None,
    *,
    title: str,
    empty: str,
) -> None:
    """Render a listing: an aligned table, or a csv/xlsx/json file (or standard output)."""
    if fmt == "table":
        text = tabular.render_text(columns, rows) if rows else empty
        if output is None:
            click.echo(text)
        else:
            output.write_text(text + "\n", encoding="utf-8")
        return
    tabular.write_table(columns, rows, fmt, output, title=title)
    if output is not None:
        click.echo(f"Wrote {len(rows)} row(s) to {output}", err=True)


def progress_bar(total: int, label: str) -> Any:
    """A progress bar on standard error for long work (hidden when it is not a terminal)."""
    return click.progressbar(length=total, label=label, file=sys.stderr)


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


@contextlib.contextmanager
def bytes_bar(label: str, length: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on standard error for long work (nothing when it is short)."""
    if length is not None and length < LARGE_TRANSFER:
        yield lambda _n: None
        return
    with click.progressbar(length=length or 0, label=label, file=sys.stderr) as bar:
        yield bar.update


def utc_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(
            f"--at {text!r} is not a time", hint="e.g. --at '2026-11-20 18:00' (Beijing time)"
        ) from exc
    if moment.tzinfo is None:
        from nodes.settings import LOCAL_TIME

        moment = moment.replace(tzinfo=LOCAL_TIME)
    return moment.astimezone(UTC)


lang_option = click.option(
    "--lang",
    type=click.Choice(["en", "zh"]),
    default=None,
    callback=lambda _ctx, _param, value: value or _locale_language(),
    help="Labels in English or Chinese (中文); default: the locale's (LANG=zh_CN.UTF-8: zh).",
)


def _locale_language() -> str:
    """``zh`` when the locale is Chinese (LC_ALL, LC_MESSAGES or LANG, as POSIX orders
    them: zh_CN.UTF-8), else ``en``."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"
