"""Appropriations (预算指标): allocate, adjust, recover, list and show."""

from __future__ import annotations

import dataclasses
import getpass
import json
from datetime import UTC, datetime
from pathlib import Path

import click

from cli.base import (
    Group,
    cli,
    emit,
    local_time,
    node_home,
    output_option,
    pad,
    progress_bar,
    writing,
    yuan,
)
from nodes import (
    Node,
)
from nodes.fiscal import appropriations, tabular
from schema.types import format_yuan


@cli.command("allocate")
@click.option("--to", "recipient", help="Recipient node code (a descendant).")
@click.option("--amount", help="Amount in 元, at most two decimals, e.g. 1234.56.")
@click.option("--func", "func", help="Functional classification, 7 digits (功能分类).")
@click.option("--econ", "econ", help="Economic classification, 5 digits (经济分类).")
@click.option("--fund", help="Fund type (资金性质), e.g. 111.")
@click.option("--doc", help="This level's document number (本级文号).")
@click.option("--title", default="", help="Title of the appropriation.")
@click.option("--year", type=int, help="Fiscal year (default: this year).")
@click.option(
    "--type",
    "transfer_type",
    type=click.Choice(sorted(appropriations.TRANSFER_WORDS)),
    default="general",
    show_default=True,
    help="general 一般性, special 专项 or shared 共同财政事权 (转移支付类型).",
)
@click.option(
    "--direct/--not-direct",
    default=None,
    help="直达资金 or not (default: not; a breakdown keeps the flag of what it is taken from).",
)
@click.option(
    "--indicator",
    type=click.Choice(sorted(appropriations.INDICATOR_WORDS)),
    default="annual",
    show_default=True,
    help="指标类型: annual 年初预算, additional 追加 or advance 提前下达 (its 文号 may be of the "
    "year before).",
)
@click.option(
    "--level",
    type=click.Choice(sorted(appropriations.LEVEL_WORDS)),
    help="预算级次 (default: the recipient's level).",
)
@click.option(
    "--upper-doc",
    help="上级文号: the document received from above this issue is made under, e.g. the "
    "central 财预〔2026〕3号 (a breakdown takes its parent's 文号).",
)
@click.option("--project", help="Project code.")
@click.option("--from", "parent_id", help="Break down (分解) this received appropriation.")
@click.option(
    "--file",
    "batch",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Issue every line of a CSV or XLSX file instead (all or nothing).",
)
@click.option(
    "--allow-duplicate",
    is_flag=True,
    help="Issue a line even if the same 文号, recipient, function and amount was issued already.",
)
@click.pass_context
def allocate_command(
    ctx: click.Context,
    recipient: str | None,
    amount: str | None,
    func: str | None,
    econ: str | None,
    fund: str | None,
    doc: str | None,
    title: str,
    year: int | None,
    transfer_type: str,
    project: str | None,
    parent_id: str | None,
    batch: Path | None,
    allow_duplicate: bool,
    direct: bool | None,
    indicator: str,
    level: str | None,
    upper_doc: str | None,
) -> None:
    """Issue (下达) an appropriation to a descendant, or break one down (分解) with --from.

    It is recorded here and sent to the recipient as a signed change-set at the next
    sync. A breakdown may not exceed what is still available of the received
    appropriation (指标控制); the refusal names the balance. Codes must be valid for
    the fiscal year (national code sets plus the province's extensions).

    A breakdown keeps the fund type and transfer type of what it is taken from, and
    its functional classification is the same or one below it. A line whose 文号,
    recipient, function and amount were issued already this year is refused as a
    duplicate (naming the earlier id) unless --allow-duplicate is given, so importing
    the same spreadsheet twice issues nothing twice. One line is at most
    10,000,000,000,000.00 元.

    With --file, every line of a spreadsheet (CSV or XLSX) is checked first and every
    bad row is named; one bad row and nothing is issued. Columns (English or Chinese
    headers): recipient, amount, func, econ, fund, doc, and optionally title, year,
    type, project, from, direct (直达: yes/no, 是/否), indicator (指标类型), level
    (预算级次), upper_doc (上级文号).

    A 文号 is <简称><kind>〔YYYY〕N号 with this node's abbreviation in the topology and one
    of its document kinds (豫财教〔2026〕12号), of the fiscal year (or the year before for
    提前下达).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 allocate --to 410100 --amount 1234.56 \\
          --func 2050201 --econ 50201 --fund 111 --doc "豫财教〔2026〕12号"
      fiscalsync --home /srv/fiscalsync/410000 allocate --file allocations-2026.xlsx
    """
    default_year = year or datetime.now(UTC).year
    if batch is not None:
        given = [
            n for n, v in (("--to", recipient), ("--amount", amount), ("--from", parent_id)) if v
        ]
        if given:
            raise click.UsageError(f"--file replaces {', '.join(given)}: give one or the other")
        lines = appropriations.read_allocations(batch, default_year)
        with writing(ctx) as node, progress_bar(len(lines), "Issuing") as bar:
            last = [0]

            def advance(done: int) -> None:
                bar.update(done - last[0])
                last[0] = done

            ids = appropriations.allocate(
                node,
                lines,
                actor=getpass.getuser(),
                allow_duplicate=allow_duplicate,
                progress=advance,
            )
        total = sum(line.amount_fen for line in lines)
        recipients = len({line.recipient for line in lines})
        click.echo(
            f"Issued {len(ids)} appropriation(s), {format_yuan(total)} 元, to {recipients} "
            f"recipient(s) ({ids[0]} … {ids[-1]}); they travel at the next sync."
        )
        return
    missing = [
        n
        for n, v in (
            ("--to", recipient),
            ("--amount", amount),
            ("--func", func),
            ("--econ", econ),
            ("--fund", fund),
            ("--doc", doc),
        )
        if not v
    ]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (or give --file)")
    assert recipient and amount and func and econ and fund and doc
    line = appropriations.Allocation(
        recipient=recipient,
        amount_fen=yuan(amount, "--amount"),
        func=func,
        econ=econ,
        fund=fund,
        doc=doc,
        year=default_year,
        title=title,
        transfer_type=appropriations.TRANSFER_WORDS[transfer_type],
        project=project,
        parent_id=parent_id,
        direct=direct,
        indicator=appropriations.INDICATOR_WORDS[indicator],
        level=appropriations.LEVEL_WORDS[level] if level else None,
        upper_doc=upper_doc,
    )
    with writing(ctx) as node:
        (ident,) = appropriations.allocate(
            node, [line], actor=getpass.getuser(), allow_duplicate=allow_duplicate
        )
    click.echo(
        f"Issued {ident}: {format_yuan(line.amount_fen)} 元 to {recipient}; it travels at the next sync."
    )


@cli.command("adjust")
@click.argument("ident", metavar="ID")
@click.option(
    "--delta",
    required=True,
    help="Change in 元: positive increases (调增), negative decreases (调减).",
)
@click.option("--doc", required=True, help="The document number (文号) of the adjustment.")
@click.pass_context
def adjust_command(ctx: click.Context, ident: str, delta: str, doc: str) -> None:
    """Increase (调增) or decrease (调减) an appropriation issued here.

    The change is a new event (nothing is overwritten) and travels to the recipient as
    a signed change-set. An increase of a breakdown takes from the received
    appropriation's balance. A decrease counts once the recipient's receipt accepts it;
    the recipient refuses it when less than that is still available down there.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 adjust 410000-2026-000012 \\
          --delta -100.00 --doc "豫财教〔2026〕31号"
    """
    text = delta.strip()
    negative = text.startswith("-")
    fen = yuan(text.lstrip("+-"), "--delta")
    kind = "decrease" if negative else "increase"
    with writing(ctx) as node:
        seq = appropriations.change(node, ident, kind, fen, doc, actor=getpass.getuser())
    click.echo(
        f"{ident}: {kind} of {format_yuan(fen)} 元 recorded as event {seq}; "
        "it travels at the next sync."
    )


@cli.command("recover")
@click.argument("ident", metavar="ID")
@click.option("--amount", required=True, help="Amount in 元 to bring back up (收回).")
@click.option("--doc", required=True, help="The document number (文号) of the recovery.")
@click.pass_context
def recover_command(ctx: click.Context, ident: str, amount: str, doc: str) -> None:
    """Recover (收回) the unspent part of an appropriation issued here.

    The recipient refuses the recovery (negative receipt) when less than the amount is
    still available there (not spent, not broken down further); it counts once accepted.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 recover 410100-2026-000003 \\
          --amount 5000.00 --doc "郑财预〔2026〕40号"
    """
    fen = yuan(amount, "--amount")
    with writing(ctx) as node:
        seq = appropriations.change(node, ident, "recover", fen, doc, actor=getpass.getuser())
    click.echo(
        f"{ident}: recovery of {format_yuan(fen)} 元 recorded as event {seq}; "
        "it travels at the next sync."
    )


HOLDING_COLUMNS = {
    "issued": [
        tabular.Column("id", "id"),
        tabular.Column("year", "year", "int"),
        tabular.Column("recipient", "recipient"),
        tabular.Column("func_code", "func"),
        tabular.Column("econ_code", "econ"),
        tabular.Column("fund_code", "fund"),
        tabular.Column("transfer_type", "type"),
        tabular.Column("direct_label", "直达"),
        tabular.Column("indicator_label", "指标类型"),
        tabular.Column("doc_no", "doc"),
        tabular.Column("upper_doc_no", "上级文号"),
        tabular.Column("parent_id", "from"),
        tabular.Column("amount", "issued (元)", "money"),
        tabular.Column("acknowledged", "acknowledged (元)", "money"),
    ],
    "received": [
        tabular.Column("id", "id"),
        tabular.Column("year", "year", "int"),
        tabular.Column("issuer", "issuer"),
        tabular.Column("func_code", "func"),
        tabular.Column("econ_code", "econ"),
        tabular.Column("fund_code", "fund"),
        tabular.Column("transfer_type", "type"),
        tabular.Column("direct_label", "直达"),
        tabular.Column("indicator_label", "指标类型"),
        tabular.Column("source_label", "指标来源"),
        tabular.Column("doc_no", "doc"),
        tabular.Column("upper_doc_no", "上级文号"),
        tabular.Column("amount", "received (元)", "money"),
        tabular.Column("available", "available (元)", "money"),
    ],
}


@cli.group("appropriations", cls=Group, invoke_without_command=True)
@click.option("--issued", "which", flag_value="issued", help="Those this node issued.")
@click.option(
    "--received",
    "which",
    flag_value="received",
    default=True,
    help="Those this node received (default).",
)
@click.option(
    "--refused",
    "which",
    flag_value="refused",
    help="Change-sets of appropriations refused, by their recipient or here, and why.",
)
@click.option("--year", type=int, help="Only this fiscal year.")
@output_option
@click.pass_context
def appropriations_command(
    ctx: click.Context, which: str, year: int | None, fmt: str, output: Path | None
) -> None:
    """List appropriations received (with what is still available) or issued.

    Issued ones show what stands (change-sets the recipient refused left out) and what
    the recipients' signed receipts acknowledge. `appropriations show ID` gives one
    appropriation's whole history.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 appropriations --received --year 2026
      fiscalsync --home /srv/fiscalsync/410000 appropriations --issued --format xlsx -o issued.xlsx
      fiscalsync --home /srv/fiscalsync/410000 appropriations --refused
    """
    if ctx.invoked_subcommand is not None:
        return
    if which == "refused":
        _refused(ctx, fmt, output)
        return
    with Node.open(node_home(ctx)) as node:
        held = appropriations.holdings(node, issued=which == "issued", year=year)
    columns = HOLDING_COLUMNS[which]
    fen = {"amount": "amount_fen", "acknowledged": "acknowledged_fen", "available": "available_fen"}
    rows = [[getattr(h, fen.get(c.key, c.key)) for c in columns] for h in held]
    emit(
        columns,
        rows,
        fmt,
        output,
        title=f"appropriations {which}",
        empty=f"No appropriations {which}.",
    )


@appropriations_command.command("show")
@click.argument("ident", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def appropriations_show(ctx: click.Context, ident: str, as_json: bool) -> None:
    """The full history of one appropriation: every event with its change-set and receipt.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 appropriations show 410000-2026-000012
    """
    with Node.open(node_home(ctx)) as node:
        found = appropriations.history(node, ident)
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(found), ensure_ascii=False, indent=2, default=str))
        return
    a = found.appropriation
    side = "issued here" if found.issued_here else "received here"
    rows = [
        ("Appropriation", f"{a.id} ({side})"),
        ("Year", str(a.year)),
        ("Issuer → recipient", f"{a.issuer} → {a.recipient}"),
        ("Document (文号)", a.doc_no),
        ("Title", a.title or "-"),
        ("Classification", f"func {a.func_code}, econ {a.econ_code}, fund {a.fund_code}"),
        ("Transfer type", f"{a.transfer_type} ({appropriations.TRANSFER_LABELS[a.transfer_type]})"),
        ("直达资金", "yes (直达)" if a.direct else "no"),
        ("指标类型", a.indicator_label),
        ("指标来源", a.source_label),
        ("预算级次", a.level_label or "-"),
        ("Upper doc (上级文号)", a.upper_doc_no or "-"),
        ("Broken down from", a.parent_id or "-"),
        ("Amount", f"{format_yuan(a.amount_fen)} 元"),
    ]
    if found.issued_here:
        rows.append(("Acknowledged", f"{format_yuan(a.acknowledged_fen)} 元"))
    else:
        rows.append(("Available", f"{format_yuan(a.available_fen)} 元"))
    for label, value in rows:
        click.echo(f"{pad(label, 20)}{value}")
    click.echo("")
    columns = [
        tabular.Column("seq", "#", "int"),
        tabular.Column("kind", "event"),
        tabular.Column("amount", "amount (元)", "money"),
        tabular.Column("doc", "doc"),
        tabular.Column("actor", "by"),
        tabular.Column("at", "at (北京时间)"),
        tabular.Column("changeset", "change-set"),
        tabular.Column("receipt", "receipt"),
    ]
    events = [
        [
            e.seq,
            e.kind,
            e.amount_fen,
            e.doc_no,
            e.actor,
            local_time(e.at),
            (e.changeset_id or "-")[:12],
            _receipt_text(e, found.issued_here),
        ]
        for e in found.events
    ]
    click.echo(tabular.render_text(columns, events))
    if found.breakdowns:
        click.echo("")
        click.echo("Broken down (分解) to:")
        for b in found.breakdowns:
            click.echo(
                f"  {b.id}  {b.recipient}  {format_yuan(b.amount_fen):>16} 元"
                f"  acknowledged {format_yuan(b.acknowledged_fen)} 元"
            )


def _receipt_text(event: appropriations.Event, issued_here: bool) -> str:
    if event.changeset_id is None:
        return "-"
    if event.verdict is None:
        return "awaiting receipt" if issued_here else "-"
    receipt = (event.receipt_id or "")[:12]
    reason = f": {event.reason}" if event.reason else ""
    return f"{event.verdict} {receipt}{reason}"


def _refused(ctx: click.Context, fmt: str, output: Path | None) -> None:
    """``appropriations --refused``: refused change-sets of appropriations and why."""
    with Node.open(node_home(ctx)) as node:
        found = appropriations.refused(node)
    columns = [
        tabular.Column("side", "refused"),
        tabular.Column("changeset", "change-set"),
        tabular.Column("kind", "kind"),
        tabular.Column("route", "origin → recipient"),
        tabular.Column("seq", "seq", "int"),
        tabular.Column("at", "at (北京时间)"),
        tabular.Column("reason", "reason"),
    ]
    sides = {"sent": "by recipient 对方拒收", "taken": "here 本级拒收"}
    rows = [
        [
            sides[f.direction],
            f.changeset_id[:12],
            f.kind,
            f"{f.origin} → {f.recipient}",
            f.seq,
            local_time(f.at),
            f.reason,
        ]
        for f in found
    ]
    emit(columns, rows, fmt, output, title="refused", empty="No refused change-sets.")


@appropriations_command.command("trace")
@click.argument("ident", metavar="ID")
@output_option
@click.pass_context
def appropriations_trace(ctx: click.Context, ident: str, fmt: str, output: Path | None) -> None:
    """Follow an appropriation down the chain (资金追踪, for 直达资金), from what this node
    knows: what it received (and the 上级文号), what it broke down from it to the nodes
    below with what their receipts acknowledge, what it spent against it; or the
    information copy (抄送) of one issued over its head.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 appropriations trace 410000-2026-000012
    """
    with Node.open(node_home(ctx)) as node:
        steps = appropriations.trace(node, ident)
    columns = [
        tabular.Column("id", "id"),
        tabular.Column("role", "here"),
        tabular.Column("route", "issuer → recipient"),
        tabular.Column("type", "type"),
        tabular.Column("direct", "直达"),
        tabular.Column("doc", "doc (文号)"),
        tabular.Column("upper_doc", "上级文号"),
        tabular.Column("amount", "amount (元)", "money"),
        tabular.Column("acknowledged", "acknowledged (元)", "money"),
        tabular.Column("spent", "spent (元)", "money"),
        tabular.Column("available", "available (元)", "money"),
    ]
    roles = {"received": "received 收到", "issued": "issued 下达", "copy": "copy 抄送"}
    rows = [
        [
            "  " * s.depth + s.id,
            roles[s.role],
            f"{s.issuer} → {s.recipient}",
            appropriations.TRANSFER_LABELS[s.transfer_type],
            "直达" if s.direct else "",
            s.doc_no,
            s.upper_doc_no or "",
            s.amount_fen,
            s.acknowledged_fen,
            s.spent_fen,
            s.available_fen,
        ]
        for s in steps
    ]
    emit(columns, rows, fmt, output, title=f"trace {ident}", empty="")


@appropriations_command.command("jurisdiction")
@click.option("--year", type=int, help="Only this fiscal year.")
@output_option
@click.pass_context
def appropriations_jurisdiction(
    ctx: click.Context, year: int | None, fmt: str, output: Path | None
) -> None:
    """What came into this node's jurisdiction (全辖) from above: what it received, and the
    information copies (抄送) of what was issued over its head to the nodes below it,
    which count in the 全辖 total but not in this node's own balance.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 appropriations jurisdiction --year 2026
    """
    with Node.open(node_home(ctx)) as node:
        shares = appropriations.jurisdiction(node, year)
    columns = [
        tabular.Column("id", "id"),
        tabular.Column("held", "here"),
        tabular.Column("issuer", "issuer"),
        tabular.Column("recipient", "recipient"),
        tabular.Column("func", "func"),
        tabular.Column("type", "type"),
        tabular.Column("direct", "直达"),
        tabular.Column("doc", "doc (文号)"),
        tabular.Column("amount", "amount (元)", "money"),
        tabular.Column("available", "available (元)", "money"),
    ]
    rows = [
        [
            s.id,
            "copy 抄送" if s.copy else "received 本级",
            s.issuer,
            s.recipient,
            s.func_code,
            appropriations.TRANSFER_LABELS[s.transfer_type],
            "直达" if s.direct else "",
            s.doc_no,
            s.amount_fen,
            s.available_fen,
        ]
        for s in shares
    ]
    emit(columns, rows, fmt, output, title="jurisdiction", empty="Nothing received.")
    if fmt == "table" and output is None and shares:
        own = sum(s.amount_fen for s in shares if not s.copy)
        click.echo(
            f"本级 own {format_yuan(own)} 元 · 全辖 jurisdiction "
            f"{format_yuan(sum(s.amount_fen for s in shares))} 元"
        )
