"""The ledger (支出与收入): add and import entries."""

from __future__ import annotations

import getpass
from datetime import date
from pathlib import Path

import click

from cli.base import Group, cli, emit, node_home, output_option, writing, yuan
from nodes import (
    Node,
)
from nodes.fiscal import ledger, tabular
from schema.types import format_yuan
from sync.errors import (
    InputError,
)


@cli.group("ledger", cls=Group)
def ledger_group() -> None:
    """Expenditure payments and revenue receipts at this node (the source of reports).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 ledger import payments-2026-10.xlsx
    """


@ledger_group.command("add")
@click.option("--date", "when", required=True, help="Date of the payment or receipt, 2026-10-15.")
@click.option(
    "--direction",
    type=click.Choice(["expenditure", "revenue"]),
    default="expenditure",
    show_default=True,
)
@click.option(
    "--code", required=True, help="功能分类 code (expenditure) or 收入分类 code (revenue)."
)
@click.option("--amount", required=True, help="Amount in 元, e.g. 1234.56.")
@click.option("--econ", help="Economic classification (经济分类), 5 digits.")
@click.option("--appropriation", "appropriation_id", help="The appropriation it is spent against.")
@click.option("--memo", default="", help="A note (摘要).")
@click.pass_context
def ledger_add(
    ctx: click.Context,
    when: str,
    direction: str,
    code: str,
    amount: str,
    econ: str | None,
    appropriation_id: str | None,
    memo: str,
) -> None:
    """Record one payment or receipt.

    Spending against an appropriation may not exceed what is still available of it.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 ledger add --date 2026-10-15 \\
          --code 2050202 --econ 50201 --amount 3000.00 --appropriation 410100-2026-000004
    """
    try:
        day = date.fromisoformat(when)
    except ValueError as exc:
        raise InputError(f"--date {when!r} is not a date", hint="e.g. 2026-10-15") from exc
    entry = ledger.Entry(
        entry_date=day,
        direction=direction,
        code=code,
        amount_fen=yuan(amount, "--amount"),
        econ=econ,
        appropriation_id=appropriation_id,
        memo=memo,
    )
    with writing(ctx) as node:
        ledger.record(node, [entry], actor=getpass.getuser())
    click.echo(f"Recorded {direction} of {format_yuan(entry.amount_fen)} 元 under {code} on {day}.")


@ledger_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def ledger_import(ctx: click.Context, file: Path) -> None:
    """Record every payment and receipt of a CSV or XLSX file, all or nothing.

    Columns (English or Chinese headers): date, direction (expenditure/revenue or
    支出/收入), code, amount, and optionally econ, appropriation, memo. Every bad row
    is named; one bad row and nothing is recorded.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 ledger import payments-2026-10.csv
    """
    entries = ledger.read_entries(file)
    with writing(ctx) as node:
        count = ledger.record(node, entries, actor=getpass.getuser())
    spent = sum(e.amount_fen for e in entries if e.direction == "expenditure")
    received = sum(e.amount_fen for e in entries if e.direction == "revenue")
    click.echo(
        f"Recorded {count} entries from {file.name}: expenditure {format_yuan(spent)} 元, "
        f"revenue {format_yuan(received)} 元."
    )


@ledger_group.command("list")
@click.option("--from", "start", help="From this date, e.g. 2026-10-01.")
@click.option("--to", "end", help="Up to this date, included.")
@click.option("--appropriation", "appropriation_id", help="Only what was spent against it.")
@output_option
@click.pass_context
def ledger_list(
    ctx: click.Context,
    start: str | None,
    end: str | None,
    appropriation_id: str | None,
    fmt: str,
    output: Path | None,
) -> None:
    """List the payments and receipts recorded here, by date.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 ledger list --from 2026-10-01 --to 2026-10-31
    """
    days = []
    for option, text in (("--from", start), ("--to", end)):
        try:
            days.append(date.fromisoformat(text) if text else None)
        except ValueError as exc:
            raise InputError(f"{option} {text!r} is not a date", hint="e.g. 2026-10-15") from exc
    with Node.open(node_home(ctx)) as node:
        found = ledger.entries(node, start=days[0], end=days[1], appropriation_id=appropriation_id)
    columns = [
        tabular.Column("date", "date (日期)"),
        tabular.Column("direction", "收支"),
        tabular.Column("code", "code (科目)"),
        tabular.Column("econ", "econ"),
        tabular.Column("amount", "amount (元)", "money"),
        tabular.Column("appropriation", "appropriation (指标)"),
        tabular.Column("memo", "memo (摘要)"),
        tabular.Column("by", "by"),
    ]
    words = {"expenditure": "支出", "revenue": "收入"}
    rows = [
        [e.entry_date.isoformat(), words[e.direction], e.code, e.econ or "", e.amount_fen,
         e.appropriation_id or "", e.memo, e.recorded_by]
        for e in found
    ]  # fmt: skip
    emit(columns, rows, fmt, output, title="ledger", empty="No entries.")
