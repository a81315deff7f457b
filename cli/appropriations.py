"""Appropriations (预算指标): ``allocate`` (下达, 分解), ``adjust``, ``recover`` (收回), and
``appropriations`` with what was issued, received, refused, traced and held."""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from cli.app import _Command, _Group, _home, _in_language, _lang_option, _usage, _writing
from cli.options import _yuan
from cli.render import _bar, _columns, _emit, _for_people, _local, _output_option, _pad
from nodes import Node
from nodes.fiscal import appropriations, tabular
from nodes.labels import labels, said, say, shown
from schema.types import format_yuan


@click.command("allocate", cls=_Command)
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
@_lang_option
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
    lang: str,
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
            raise _usage("file_replaces", options=", ".join(given))
        lines = appropriations.read_allocations(batch, default_year)
        with _writing(ctx) as node, contextlib.ExitStack() as stack:
            bars: list[Any] = []

            def advance(done: int, total: int) -> None:
                if not bars:  # the count is known once every line is checked
                    bars.append(
                        stack.enter_context(_bar(total, _in_language(said("rows_issuing"))))
                    )
                bars[0].update(done - bars[0].pos)

            ids = appropriations.allocate(
                node,
                lines,
                actor=getpass.getuser(),
                allow_duplicate=allow_duplicate,
                progress=advance,
            )
        total, recipients = ids.total_fen, len(ids.recipients)
        click.echo(
            labels(lang)["m.done_issued_many"].format(
                count=len(ids), amount=format_yuan(total), recipients=recipients,
                first=ids[0], last=ids[-1],
            )
        )  # fmt: skip
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
        raise _usage("allocate_missing", options=", ".join(missing))
    assert recipient and amount and func and econ and fund and doc
    line = appropriations.Allocation(
        recipient=recipient,
        amount_fen=_yuan(amount, "--amount"),
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
    with _writing(ctx) as node:
        (ident,) = appropriations.allocate(
            node, [line], actor=getpass.getuser(), allow_duplicate=allow_duplicate
        )
    click.echo(
        labels(lang)["m.done_issued"].format(
            ident=ident, amount=format_yuan(line.amount_fen), recipient=recipient
        )
    )


@click.command("adjust", cls=_Command)
@click.argument("ident", metavar="ID")
@click.option(
    "--delta",
    required=True,
    help="Change in 元: positive increases (调增), negative decreases (调减).",
)
@click.option("--doc", required=True, help="The document number (文号) of the adjustment.")
@_lang_option
@click.pass_context
def adjust_command(ctx: click.Context, ident: str, delta: str, doc: str, lang: str) -> None:
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
    fen = _yuan(text.lstrip("+-"), "--delta")
    kind = "decrease" if negative else "increase"
    with _writing(ctx) as node:
        seq = appropriations.change(node, ident, kind, fen, doc, actor=getpass.getuser())
    words = labels(lang)
    click.echo(
        words["m.done_changed"].format(
            ident=ident, kind=say(words, "event", kind), amount=format_yuan(fen), seq=seq
        )
    )


@click.command("recover", cls=_Command)
@click.argument("ident", metavar="ID")
@click.option("--amount", required=True, help="Amount in 元 to bring back up (收回).")
@click.option("--doc", required=True, help="The document number (文号) of the recovery.")
@_lang_option
@click.pass_context
def recover_command(ctx: click.Context, ident: str, amount: str, doc: str, lang: str) -> None:
    """Recover (收回) the unspent part of an appropriation issued here.

    The recipient refuses the recovery (negative receipt) when less than the amount is
    still available there (not spent, not broken down further); it counts once accepted.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 recover 410100-2026-000003 \\
          --amount 5000.00 --doc "郑财预〔2026〕40号"
    """
    fen = _yuan(amount, "--amount")
    with _writing(ctx) as node:
        seq = appropriations.change(node, ident, "recover", fen, doc, actor=getpass.getuser())
    click.echo(
        labels(lang)["m.done_changed"].format(
            ident=ident,
            kind=say(labels(lang), "event", "recover"),
            amount=format_yuan(fen),
            seq=seq,
        )
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


@click.group("appropriations", cls=_Group, invoke_without_command=True)
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
@_output_option
@_lang_option
@click.pass_context
def appropriations_command(
    ctx: click.Context, which: str, year: int | None, fmt: str, output: Path | None, lang: str
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
        _refused(ctx, fmt, output, lang)
        return
    words = labels(lang)
    columns = HOLDING_COLUMNS[which]
    fen = {"amount": "amount_fen", "acknowledged": "acknowledged_fen", "available": "available_fen"}
    human = _for_people(fmt)
    if human:
        columns = [
            tabular.Column(
                c.key, words[f"a.{which}" if c.key == "amount" else f"a.{c.key}"], c.kind
            )
            for c in columns
        ]
    with Node.open(_home(ctx)) as node:

        def rows() -> Iterator[list[Any]]:
            for h in appropriations.iter_holdings(node, issued=which == "issued", year=year):
                row = [getattr(h, fen.get(c.key, c.key)) for c in columns]
                yield _holding_words(columns, row, words) if human else row

        _emit(
            columns,
            rows,
            fmt,
            output,
            title=f"appropriations {which}",
            empty=words[f"a.empty_{which}"],
        )


def _holding_words(
    columns: Sequence[tabular.Column], row: list[Any], words: dict[str, str]
) -> list[Any]:
    """A row of appropriations with its transfer type and 直达 flag in words."""
    shown = list(row)
    for i, column in enumerate(columns):
        if column.key == "transfer_type":
            shown[i] = say(words, "transfer", row[i])
        elif column.key == "direct_label":
            shown[i] = words["direct.yes"] if row[i] else ""
    return shown


@appropriations_command.command("show")
@click.argument("ident", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_lang_option
@click.pass_context
def appropriations_show(ctx: click.Context, ident: str, as_json: bool, lang: str) -> None:
    """The full history of one appropriation: every event with its change-set and receipt.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 appropriations show 410000-2026-000012
    """
    with Node.open(_home(ctx)) as node:
        found = appropriations.history(node, ident)
        zone = node.settings.time_zone
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(found), ensure_ascii=False, indent=2, default=str))
        return
    words = labels(lang)
    a = found.appropriation
    side = words["side.issued" if found.issued_here else "side.received"]
    classification = words["show.classification_value"].format(
        func=a.func_code, econ=a.econ_code, fund=a.fund_code
    )
    rows = [
        ("show.appropriation", f"{a.id} ({side})"),
        ("show.year", str(a.year)),
        ("show.route", f"{a.issuer} → {a.recipient}"),
        ("show.doc", a.doc_no),
        ("show.title", a.title or "-"),
        ("show.classification", classification),
        ("show.transfer", say(words, "transfer", a.transfer_type)),
        ("show.direct", words["show.yes" if a.direct else "show.no"]),
        ("show.indicator", a.indicator_label),
        ("show.source", a.source_label),
        ("show.level", a.level_label or "-"),
        ("show.upper", a.upper_doc_no or "-"),
        ("show.from", a.parent_id or "-"),
        ("show.amount", f"{format_yuan(a.amount_fen)} 元"),
    ]
    if found.issued_here:
        rows.append(("show.acknowledged", f"{format_yuan(a.acknowledged_fen)} 元"))
    else:
        rows.append(("show.available", f"{format_yuan(a.available_fen)} 元"))
    width = 20
    for key, value in rows:
        click.echo(f"{_pad(words[key], width)}{value}")
    click.echo("")
    columns = _columns(
        words,
        "e",
        [("seq", "int"), ("kind", "text"), ("amount", "money"), ("doc", "text"),
         ("actor", "text"), ("at", "text"), ("changeset", "text"), ("receipt", "text")],
    )  # fmt: skip
    events = [
        [
            e.seq,
            say(words, "event", e.kind),
            e.amount_fen,
            e.doc_no,
            e.actor,
            _local(e.at, zone),
            (e.changeset_id or "-")[:12],
            _receipt_text(e, found.issued_here, words),
        ]
        for e in found.events
    ]
    click.echo(tabular.render_text(columns, events))
    if found.breakdowns:
        click.echo("")
        click.echo(words["show.breakdowns"])
        for b in found.breakdowns:
            click.echo(
                f"  {b.id}  {b.recipient}  {format_yuan(b.amount_fen):>16} 元"
                f"  {words['show.breakdown_ack']} {format_yuan(b.acknowledged_fen)} 元"
            )


def _receipt_text(event: appropriations.Event, issued_here: bool, words: dict[str, str]) -> str:
    if event.changeset_id is None:
        return "-"
    if event.verdict is None:
        return words["show.awaiting"] if issued_here else "-"
    receipt = (event.receipt_id or "")[:12]
    reason = f": {shown(event.reason, words)}" if event.reason else ""
    return f"{say(words, 'verdict', event.verdict)} {receipt}{reason}"


def _refused(ctx: click.Context, fmt: str, output: Path | None, lang: str) -> None:
    """``appropriations --refused``: refused change-sets of appropriations and why."""
    with Node.open(_home(ctx)) as node:
        found = appropriations.refused(node)
        zone = node.settings.time_zone
    columns = [
        tabular.Column("side", "refused"),
        tabular.Column("changeset", "change-set"),
        tabular.Column("kind", "kind"),
        tabular.Column("route", "origin → recipient"),
        tabular.Column("seq", "seq", "int"),
        tabular.Column("at", "at"),
        tabular.Column("reason", "reason"),
    ]
    sides = {"sent": "by recipient 对方拒收", "taken": "here 本级拒收"}
    words = labels(lang)
    human = _for_people(fmt)
    if human:
        names = {"side": "a.side", "changeset": "e.changeset", "kind": "c.kind",
                 "route": "a.route", "seq": "c.seq", "at": "a.at", "reason": "c.reason"}  # fmt: skip
        columns = [tabular.Column(c.key, words[names[c.key]], c.kind) for c in columns]
    rows = [
        [
            say(words, "refused", f.direction) if human else sides[f.direction],
            f.changeset_id[:12],
            say(words, "kind", f.kind) if human else f.kind,
            f"{f.origin} → {f.recipient}",
            f.seq,
            _local(f.at, zone),
            shown(f.reason, words) if human else str(f.reason),
        ]
        for f in found
    ]
    _emit(columns, rows, fmt, output, title="refused", empty=words["a.empty_refused"])


@appropriations_command.command("trace")
@click.argument("ident", metavar="ID")
@_output_option
@_lang_option
@click.pass_context
def appropriations_trace(
    ctx: click.Context, ident: str, fmt: str, output: Path | None, lang: str
) -> None:
    """Follow an appropriation down the chain (资金追踪, for 直达资金), from what this node
    knows: what it received (and the 上级文号), what it broke down from it to the nodes
    below with what their receipts acknowledge, what it spent against it; or the
    information copy (抄送) of one issued over its head.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 appropriations trace 410000-2026-000012
    """
    with Node.open(_home(ctx)) as node:
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
    words = labels(lang)
    roles = {"received": "received 收到", "issued": "issued 下达", "copy": "copy 抄送"}
    transfers = dict(appropriations.TRANSFER_LABELS)
    direct = "直达"
    if _for_people(fmt):
        names = {"id": "a.id", "role": "a.role", "route": "a.route", "type": "a.transfer_type",
                 "direct": "a.direct_label", "doc": "a.doc_no", "upper_doc": "a.upper_doc_no",
                 "amount": "e.amount", "acknowledged": "a.acknowledged", "spent": "a.spent",
                 "available": "a.available"}  # fmt: skip
        columns = [tabular.Column(c.key, words[names[c.key]], c.kind) for c in columns]
        roles = {role: say(words, "trace", role) for role in roles}
        transfers = {kind: say(words, "transfer", kind) for kind in transfers}
        direct = words["direct.yes"]
    rows = [
        [
            "  " * s.depth + s.id,
            roles[s.role],
            f"{s.issuer} → {s.recipient}",
            transfers[s.transfer_type],
            direct if s.direct else "",
            s.doc_no,
            s.upper_doc_no or "",
            s.amount_fen,
            s.acknowledged_fen,
            s.spent_fen,
            s.available_fen,
        ]
        for s in steps
    ]
    _emit(columns, rows, fmt, output, title=f"trace {ident}", empty="")


@appropriations_command.command("jurisdiction")
@click.option("--year", type=int, help="Only this fiscal year.")
@_output_option
@_lang_option
@click.pass_context
def appropriations_jurisdiction(
    ctx: click.Context, year: int | None, fmt: str, output: Path | None, lang: str
) -> None:
    """What came into this node's jurisdiction (全辖) from above: what it received, and the
    information copies (抄送) of what was issued over its head to the nodes below it,
    which count in the 全辖 total but not in this node's own balance.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 appropriations jurisdiction --year 2026
    """
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
    words = labels(lang)
    held = {True: "copy 抄送", False: "received 本级"}
    transfers = dict(appropriations.TRANSFER_LABELS)
    direct = "直达"
    if _for_people(fmt):
        names = {"id": "a.id", "held": "a.held", "issuer": "a.issuer", "recipient": "a.recipient",
                 "func": "a.func_code", "type": "a.transfer_type", "direct": "a.direct_label",
                 "doc": "a.doc_no", "amount": "a.received", "available": "a.available"}  # fmt: skip
        columns = [tabular.Column(c.key, words[names[c.key]], c.kind) for c in columns]
        held = {True: words["held.copy"], False: words["held.own"]}
        transfers = {kind: say(words, "transfer", kind) for kind in transfers}
        direct = words["direct.yes"]
    sums = {"own": 0, "all": 0, "shares": 0}  # as the rows stream by (the table's last pass)

    with Node.open(_home(ctx)) as node:

        def rows() -> Iterator[list[Any]]:
            sums.update(own=0, all=0, shares=0)
            for s in appropriations.iter_jurisdiction(node, year):
                sums["shares"] += 1
                sums["all"] += s.amount_fen
                sums["own"] += 0 if s.copy else s.amount_fen
                yield [s.id, held[s.copy], s.issuer, s.recipient, s.func_code,
                       transfers[s.transfer_type], direct if s.direct else "", s.doc_no,
                       s.amount_fen, s.available_fen]  # fmt: skip

        _emit(columns, rows, fmt, output, title="jurisdiction", empty=words["a.empty_jurisdiction"])
    if fmt == "table" and output is None and sums["shares"]:
        own, everything = format_yuan(sums["own"]), format_yuan(sums["all"])
        click.echo(words["a.totals"].format(own=own, all=everything))
