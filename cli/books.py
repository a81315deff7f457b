"""The books a node keeps beside its appropriations: code sets (``codes``), the budget
(``budget``), the ledger of payments (``ledger``) and the year-end close (``year``,
年终结转)."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import click

from cli.app import _Group, _home, _lang_option, _usage, _writing
from cli.options import _yuan
from cli.render import _emit, _for_people, _local, _output_option
from nodes import Node
from nodes.fiscal import ledger, reports, tabular, yearend
from nodes.fiscal.budget import import_budget
from nodes.fiscal.budget import lines as budget_lines
from nodes.fiscal.code_changes import listed as changed_codes
from nodes.fiscal.codes import import_codes
from nodes.fiscal.codes import items as code_items
from nodes.labels import labels, said, say
from schema.types import format_yuan
from sync.errors import InputError


@click.group(cls=_Group)
def codes() -> None:
    """Code sets (基础数据规范): classification codes, fund and transfer types.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 codes import extensions.csv
    """


@codes.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--year",
    type=int,
    help="Every row is of this fiscal year (the year column may then be left out): "
    "a new year's code set (新年度科目).",
)
@click.option(
    "--changes",
    "changes_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --year: the codes of the year before that change in it (科目变动对照), a CSV "
    "codeset,old,new; a carry-over (结转) into the year takes the new code.",
)
@_lang_option
@click.pass_context
def codes_import(
    ctx: click.Context, file: Path, year: int | None, changes_file: Path | None, lang: str
) -> None:
    """Import the province's code-set extensions and send them to every node.

    FILE is a CSV with the columns codeset,year,code,name,parent,level. Every bad row is
    reported and nothing is imported unless all are good.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 codes import extensions.csv
      fiscalsync --home /srv/fiscalsync/410000 codes import codes-2027.csv --year 2027 \\
          --changes changes-2027.csv
    """
    with _writing(ctx) as node:
        items, sent = import_codes(node, file, year, changes=changes_file)
    click.echo(labels(lang)["m.codes_imported"].format(items=items, sent=sent))


@codes.command("list")
@click.option(
    "--codeset",
    default="func",
    show_default=True,
    help="func, econ, fund, transfer, revenue or region.",
)
@click.option("--year", type=int, help="Only this year.")
@click.option(
    "--changes",
    "show_changes",
    is_flag=True,
    help="The codes of the year before that changed in --year (科目变动对照), every code set.",
)
@_output_option
@_lang_option
@click.pass_context
def codes_list(
    ctx: click.Context,
    codeset: str,
    year: int | None,
    show_changes: bool,
    fmt: str,
    output: Path | None,
    lang: str,
) -> None:
    """List the codes known here (national code sets and the province's extensions).

    With --changes, the codes that changed from the year before into --year, each with
    its old and new name: what a carry-over (结转) into that year does to them.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 codes list --codeset func --year 2026
      fiscalsync --home /srv/fiscalsync/410102 codes list --year 2027 --changes
    """
    if show_changes:
        _code_changes(ctx, year, fmt, output, lang)
        return
    with Node.open(_home(ctx)) as node:
        found = code_items(node, codeset, year)
    words = labels(lang)
    columns = [
        tabular.Column("year", "year", "int"),
        tabular.Column("code", "code (编码)"),
        tabular.Column("name", "name (名称)"),
        tabular.Column("parent", "parent"),
        tabular.Column("tier", "tier (层次)", "int"),
        tabular.Column("extension", "extension (扩展)"),
    ]
    if _for_people(fmt):
        columns = [tabular.Column(c.key, words[f"k.{c.key}"], c.kind) for c in columns]
    extension = words["k.is_extension"] if _for_people(fmt) else "扩展"
    rows = [
        [i.year, "  " * (i.level - 1) + i.code if fmt == "table" else i.code, i.name,
         i.parent or "", i.level, extension if i.extension else ""]
        for i in found
    ]  # fmt: skip
    _emit(columns, rows, fmt, output, title=f"codes {codeset}", empty=words["k.empty"])


def _code_changes(
    ctx: click.Context, year: int | None, fmt: str, output: Path | None, lang: str
) -> None:
    """``codes list --changes``: each changed code with its old and new name."""
    with Node.open(_home(ctx)) as node:
        found = changed_codes(node, year)
    words = labels(lang)
    keys = ("year", "codeset", "old", "old_name", "new", "new_name", "extension")
    columns = [tabular.Column(k, k, "int" if k == "year" else "text") for k in keys]
    if _for_people(fmt):
        columns = [
            tabular.Column(
                c.key,
                words[f"k.{c.key}" if c.key in ("year", "extension") else f"g.{c.key}"],
                c.kind,
            )
            for c in columns
        ]
    extension = words["k.is_extension"] if _for_people(fmt) else "扩展"
    rows = [
        [c.year, say(words, "codeset", c.codeset) if _for_people(fmt) else c.codeset, c.old,
         c.old_name, c.new, c.new_name, extension if c.extension else ""]
        for c in found
    ]  # fmt: skip
    _emit(columns, rows, fmt, output, title="code changes", empty=words["g.empty"])


@click.group("ledger", cls=_Group)
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
@_lang_option
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
    lang: str,
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
        raise InputError(said("date_bad", when=when), hint=said("date_bad_hint")) from exc
    entry = ledger.Entry(
        entry_date=day,
        direction=direction,
        code=code,
        amount_fen=_yuan(amount, "--amount"),
        econ=econ,
        appropriation_id=appropriation_id,
        memo=memo,
    )
    with _writing(ctx) as node:
        ledger.record(node, [entry], actor=getpass.getuser())
    words = labels(lang)
    click.echo(
        words["m.done_recorded"].format(
            direction=words.get(direction, direction),
            amount=format_yuan(entry.amount_fen),
            code=code,
            day=day,
        )
    )


@ledger_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_lang_option
@click.pass_context
def ledger_import(ctx: click.Context, file: Path, lang: str) -> None:
    """Record every payment and receipt of a CSV or XLSX file, all or nothing.

    Columns (English or Chinese headers): date, direction (expenditure/revenue or
    支出/收入), code, amount, and optionally econ, appropriation, memo. Every bad row
    is named; one bad row and nothing is recorded.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 ledger import payments-2026-10.csv
    """
    entries = ledger.read_entries(file)  # streamed: read once, a row at a time
    with _writing(ctx) as node:
        count = ledger.record(node, entries, actor=getpass.getuser())
    spent, received = entries.spent_fen, entries.received_fen
    click.echo(
        labels(lang)["m.done_recorded_file"].format(
            count=count, name=file.name, spent=format_yuan(spent), received=format_yuan(received)
        )
    )


@ledger_group.command("list")
@click.option("--from", "start", help="From this date, e.g. 2026-10-01.")
@click.option("--to", "end", help="Up to this date, included.")
@click.option("--appropriation", "appropriation_id", help="Only what was spent against it.")
@_output_option
@_lang_option
@click.pass_context
def ledger_list(
    ctx: click.Context,
    start: str | None,
    end: str | None,
    appropriation_id: str | None,
    fmt: str,
    output: Path | None,
    lang: str,
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
            raise InputError(
                said("option_date_bad", option=option, text=text), hint=said("date_bad_hint")
            ) from exc
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
    words = labels(lang)
    if _for_people(fmt):
        columns = [tabular.Column(c.key, words[f"l.{c.key}"], c.kind) for c in columns]
        direction = {d: say(words, "direction", d) for d in ("expenditure", "revenue")}
    else:
        direction = {"expenditure": "支出", "revenue": "收入"}
    with Node.open(_home(ctx)) as node:

        def rows() -> Iterator[list[Any]]:
            found = ledger.iter_entries(
                node, start=days[0], end=days[1], appropriation_id=appropriation_id
            )
            for e in found:
                yield [e.entry_date.isoformat(), direction[e.direction], e.code, e.econ or "",
                       e.amount_fen, e.appropriation_id or "", e.memo, e.recorded_by]  # fmt: skip

        _emit(columns, rows, fmt, output, title="ledger", empty=words["l.empty"])


@click.group("budget", cls=_Group)
def budget_group() -> None:
    """This node's own budget (本级预算): revenue and expenditure budget lines by code.

    They are the budget column (预算数) of its reports, revenue included, beside the
    appropriations it holds.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 budget import budget-2026.xlsx --year 2026
    """


@budget_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--year", type=int, required=True, help="The budget year, e.g. 2026.")
@_lang_option
@click.pass_context
def budget_import(ctx: click.Context, file: Path, year: int, lang: str) -> None:
    """Replace this node's budget lines of a year with those of FILE (.csv or .xlsx).

    Columns: section (收支: 收入/支出), code (科目编码), amount (金额, 元). Every bad line
    is named at once and nothing is written unless all are good; importing the same
    file again changes nothing.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 budget import budget-2026.csv --year 2026
    """
    with _writing(ctx) as node:
        done = import_budget(node, file, year, actor=getpass.getuser())
    click.echo(
        labels(lang)["m.done_budget"].format(
            lines=done.lines,
            year=done.year,
            revenue=format_yuan(done.revenue_fen),
            expenditure=format_yuan(done.expenditure_fen),
            replaced=done.replaced,
        )
    )


@budget_group.command("list")
@click.option("--year", type=int, required=True, help="The budget year, e.g. 2026.")
@_output_option
@_lang_option
@click.pass_context
def budget_list(ctx: click.Context, year: int, fmt: str, output: Path | None, lang: str) -> None:
    """This node's budget lines of a year, revenue first, by code.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 budget list --year 2026
    """
    with Node.open(_home(ctx)) as node:
        found = budget_lines(node, year)
    if not _for_people(fmt):  # csv and json are for programs: English, whatever the language
        lang = "en"
    words = reports.labels(lang)
    columns = [
        tabular.Column("section", words["section"]),
        tabular.Column("code", words["code"]),
        tabular.Column("amount", words["budget"], "money"),
        tabular.Column("source", "来源文件" if lang == "zh" else "File"),
    ]
    rows = [[words[b.section], b.code, b.amount_fen, b.source] for b in found]
    empty = f"{year}年没有本级预算。" if lang == "zh" else f"No budget lines for {year}."
    _emit(columns, rows, fmt, output, title=f"budget {year}", empty=empty)


@click.group("year", cls=_Group)
def year_group() -> None:
    """Year-end close (年终结转): unspent balances carried over or recovered.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 year close 2026
      fiscalsync --home /srv/fiscalsync/410100 year close 2026 --accept 410102 \\
          --doc "郑财预〔2027〕5号"
    """


@year_group.command("close")
@click.argument("year", type=int)
@click.option("--accept", "recipient", help="Accept this node's statement (at the issuer).")
@click.option("--doc", help="With --accept: the 文号 of the next year that carries it over.")
@_lang_option
@click.pass_context
def year_close(
    ctx: click.Context, year: int, recipient: str | None, doc: str | None, lang: str
) -> None:
    """Close YEAR here, or accept the close of a node below.

    Without --accept: send each issuer a signed statement of what is still available of
    every appropriation of YEAR received from it; nothing more of YEAR is spent or
    broken down here. A node closes after the nodes it issued YEAR's appropriations to
    (counties first, then their city), and not while what it issued is in flight.

    With --accept CODE --doc 文号: recover every balance CODE stated; when [year] close
    is "carry" (the default), issue each again, in the same transaction, as an
    appropriation of YEAR+1 of 指标类型 结转, linked to the old one; when "recover",
    only recover it.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 year close 2026
      fiscalsync --home /srv/fiscalsync/410100 year close 2026 --accept 410102 \\
          --doc "郑财预〔2027〕5号"
    """
    words = labels(lang)
    if recipient is None:
        if doc is not None:
            raise _usage("doc_with_accept")
        with _writing(ctx) as node:
            sent = yearend.close(node, year, actor=getpass.getuser())
        for s in sent:
            click.echo(
                words["y.sent"].format(
                    year=year,
                    issuer=s.issuer,
                    amount=format_yuan(s.balance_fen),
                    count=s.appropriations,
                )
            )
        return
    if not doc:
        raise _usage("accept_needs_doc")
    with _writing(ctx) as node:
        done = yearend.accept(node, year, recipient, doc, actor=getpass.getuser())
    click.echo(
        words["y.accepted"].format(
            recipient=recipient,
            year=year,
            doc=doc,
            stated=format_yuan(done.stated_fen),
            carried=format_yuan(done.carried_fen),
            recovered=format_yuan(done.recovered_fen),
        )
    )
    for old, new in done.carried.items():
        click.echo(f"  {old} → {new}")
    for old, codeset, was, now in done.recoded:
        changed = dict(ident=old, codeset=say(words, "codeset", codeset), old=was, new=now)
        click.echo(words["m.carried_recoded"].format(**changed, year=year + 1))


_YEAR_KINDS = {"balance": "money", "lines": "int", "year": "int"}


@year_group.command("list")
@click.option("--year", type=int, help="Only this year.")
@_output_option
@_lang_option
@click.pass_context
def year_list(
    ctx: click.Context, year: int | None, fmt: str, output: Path | None, lang: str
) -> None:
    """List the year-end statements here: sent up, and received from below.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 year list --year 2026
    """
    with Node.open(_home(ctx)) as node:
        zone = node.settings.time_zone
        found = yearend.closes(node, year)
    keys = ["year", "issuer", "recipient", "state", "balance", "lines", "closed", "mode", "doc"]
    words = labels(lang)
    people = _for_people(fmt)
    columns = [
        tabular.Column(k, words[f"y.{k}"] if people else k, _YEAR_KINDS.get(k, "text"))
        for k in keys
    ]
    rows = [
        [
            c.year,
            c.issuer,
            c.recipient,
            say(words, "y.state", c.state) if people else c.state,
            c.balance_fen,
            c.appropriations,
            _local(c.closed_at, zone) if people else c.closed_at.isoformat(),
            (say(words, "y.mode", c.mode) if people else c.mode) if c.mode else "",
            c.doc or "",
        ]
        for c in found
    ]
    _emit(columns, rows, fmt, output, title="year closes", empty=words["y.empty"])
