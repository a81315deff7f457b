"""How commands show what they found: tables and files (``--format``, ``--output``),
columns aligned by terminal cells, local times, sizes and progress bars."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import click

from cli.app import _in_language
from nodes.fiscal import tabular
from nodes.labels import said

LARGE_TRANSFER = 512 * 1024
"""Downloads at least this large show a progress bar."""


def _pad(text: str, width: int) -> str:
    """Left-align text in a terminal column; CJK characters take two cells."""
    return text + " " * max(width - tabular.display_width(text), 1)


def _local(moment: datetime, zone: tzinfo) -> str:
    """A time for people: in ``zone`` (the node's [node] time_zone), to the minute."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _output_option(func: Callable[..., Any]) -> Callable[..., Any]:
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


def _emit(
    columns: Sequence[tabular.Column],
    rows: Iterable[Sequence[Any]] | Callable[[], Iterable[Sequence[Any]]],
    fmt: str,
    output: Path | None,
    *,
    title: str,
    empty: str,
) -> None:
    """Render a listing: an aligned table, or a csv/xlsx/json file (or standard output).

    ``rows`` may be a function giving them afresh: then they stream in bounded memory,
    files in one pass, the table in two (the widths first)."""
    if fmt == "table":
        if callable(rows):
            if output is None:
                if not tabular.write_text(sys.stdout, columns, rows):
                    click.echo(empty)
                return
            with tabular.text_file(output) as stream:
                if not tabular.write_text(stream, columns, rows):
                    stream.write(empty + "\n")
            return
        rows = list(rows)
        text = tabular.render_text(columns, rows) if rows else empty
        if output is None:
            click.echo(text)
        else:
            with tabular.text_file(output) as stream:
                stream.write(text + "\n")
        return
    counted = _Counted(rows() if callable(rows) else rows)
    tabular.write_table(columns, counted, fmt, output, title=title)
    if output is not None:
        click.echo(_in_language(said("rows_written", count=counted.count, path=output)), err=True)


class _Counted:
    """Rows passed through as they come, counted."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self._rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[Sequence[Any]]:
        for row in self._rows:
            self.count += 1
            yield row


def _columns(
    words: dict[str, str], prefix: str, spec: Sequence[tuple[str, str]]
) -> list[tabular.Column]:
    """Columns ``(key, kind)`` labelled in the words of ``labels`` under ``prefix``."""
    return [tabular.Column(key, words[f"{prefix}.{key}"], kind) for key, kind in spec]


def _bar(total: int, label: str) -> Any:
    """A progress bar on standard error for long work (hidden when it is not a terminal)."""
    return click.progressbar(length=total, label=label, file=sys.stderr)


def _for_people(fmt: str) -> bool:
    """Whether a listing in ``fmt`` is read by people (the terminal table, an xlsx a
    finance office prints) and so shows labels and values in words; csv and json are
    for programs and keep their English keys and codes."""
    return fmt in ("table", "xlsx")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
