"""Reconciliation (对账) with a node below: ``reconcile`` and ``reconcile show``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click

from cli.app import _Group, _home, _in_language, _lang_option, _usage, _writing
from cli.render import _emit, _for_people
from nodes import Node
from nodes.fiscal import reconcile, tabular
from nodes.labels import labels, said, say
from nodes.network import sync_network
from sync.errors import InputError

RECONCILE_COLUMNS = [
    tabular.Column("kind", "kind"),
    tabular.Column("label", "类型"),
    tabular.Column("subject", "subject"),
    tabular.Column("field", "field"),
    tabular.Column("issuer", "issuer (上级)"),
    tabular.Column("recipient", "recipient (下级)"),
    tabular.Column("detail", "detail"),
]


SESSION_COLUMNS = [
    tabular.Column("id", "id"),
    tabular.Column("issuer", "issuer"),
    tabular.Column("recipient", "recipient"),
    tabular.Column("role", "role"),
    tabular.Column("state", "state"),
    tabular.Column("cut", "cut", "int"),
    tabular.Column("agree", "agree"),
    tabular.Column("discrepancies", "discrepancies", "int"),
    tabular.Column("in_transit", "in transit", "int"),
]


@click.group("reconcile", cls=_Group, invoke_without_command=True)
@click.option("--with", "peer", help="The node below this one to reconcile with.")
@click.option("--full", is_flag=True, help="Recompute both sides' digests from their records.")
@click.option("--wait", is_flag=True, help="Run the sync rounds of a local province until done.")
@_lang_option
@click.pass_context
def reconcile_group(
    ctx: click.Context, peer: str | None, full: bool, wait: bool, lang: str
) -> None:
    """Reconcile (上下级对账) the appropriations this node issued a node below it.

    Both sides compare what they hold at the same channel position (the cut); what is
    still in flight is listed as 在途 (in transit), never as a discrepancy. The request
    travels at the next sync and the rounds do the rest; both sides then hold the same
    statement, the issuer's conclusion signed by it after the recipient's signed answers.
    Nothing is corrected automatically: each finding says what would correct it.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 reconcile --with 410100
      fiscalsync --home /srv/fiscalsync/410000 reconcile show --format html -o statement.html
    """
    if ctx.invoked_subcommand is not None:
        return
    if peer is None:
        raise _usage("reconcile_needs_peer")
    words = labels(lang)
    home = _home(ctx)
    with _writing(ctx) as node:
        session = reconcile.protocol.start(node, peer, full=full)
    click.echo(words["r.requested"].format(id=session, peer=peer))
    if not wait:
        return
    network = home.resolve().parent
    if not (network / "topology.toml").is_file() or not (network / peer).is_dir():
        raise InputError(
            said("wait_needs_province", home=home),
            hint=said("wait_needs_province_hint"),
        )
    sync_network(network, until_quiet=True)
    with Node.open(home) as node:
        _show_statement(reconcile.statement.load(node, session), lang)


def _show_statement(statement: Any, lang: str) -> None:
    """A statement for the terminal: its verdict, then its findings, in ``lang``."""
    words = labels(lang)
    s = statement.session
    verdict = (
        words["r.agree_text"]
        if s.agree
        else words["r.differ_text"].format(n=s.discrepancies)
        if s.state == "concluded"
        else words["r.pending_text"].format(state=say(words, "rstate", s.state))
    )
    click.echo(
        words["r.heading"].format(
            id=s.id,
            origin=s.origin,
            recipient=s.recipient,
            cut=s.cut,
            verdict=verdict,
            transit=s.in_transit,
        )
    )
    tabular.write_text(
        sys.stdout,
        _finding_columns(lang),
        lambda: _finding_words(statement.finding_rows(words), lang),
    )


def _finding_columns(lang: str) -> list[tabular.Column]:
    words = labels(lang)
    return [tabular.Column(c.key, words[f"r.{c.key}"], c.kind) for c in RECONCILE_COLUMNS]


def _finding_words(rows: Iterable[list[Any]], lang: str) -> Iterator[list[Any]]:
    """Findings for people: the label of each kind in ``lang`` alone (the statement's
    labels read "下级缺失 missing below"), as they come."""
    for kind, label, *rest in rows:
        chinese, _, english = str(label).partition(" ")
        yield [kind, english or chinese if lang == "en" else chinese, *rest]


def _echo_json(head: dict[str, Any], key: str, items: Iterable[Any]) -> None:
    """Print ``{**head, key: [*items]}`` as ``json.dumps(..., indent=2)`` would, the items
    written as they come (bounded memory) and printed once read whole
    (:func:`tabular.standard_output`); ``key`` comes last."""
    text = json.dumps({**head, key: []}, ensure_ascii=False, indent=2)
    opening, _, _closing = text.rpartition("[]")
    with tabular.standard_output() as out:
        out.write(opening + "[")
        first = True
        for item in items:
            dumped = json.dumps(item, ensure_ascii=False, indent=2).replace("\n", "\n    ")
            out.write(("\n    " if first else ",\n    ") + dumped)
            first = False
        out.write(("]" if first else "\n  ]") + "\n}\n")


def _session_rows(sessions: Iterable[Any], words: dict[str, str] | None) -> list[list[Any]]:
    """Reconciliations, one row each; in words when ``words`` is given (else as codes)."""
    rows = []
    for s in sessions:
        if words is None:
            rows.append([s.id, s.origin, s.recipient, s.role, s.state, s.cut, s.agree,
                         s.discrepancies, s.in_transit])  # fmt: skip
        else:
            rows.append([s.id, s.origin, s.recipient, say(words, "rrole", s.role),
                         say(words, "rstate", s.state), s.cut,
                         words["r.yes" if s.agree else "r.no"] if s.agree is not None else "-",
                         s.discrepancies, s.in_transit])  # fmt: skip
    return rows


def _session_columns(words: dict[str, str]) -> list[tabular.Column]:
    names = {"issuer": "r.issuer", "recipient": "r.recipient"}
    return [
        tabular.Column(c.key, words[names.get(c.key, f"r.{c.key}")], c.kind)
        for c in SESSION_COLUMNS
    ]


@reconcile_group.command("show")
@click.argument("ident", metavar="[ID]", required=False)
@click.option("--all", "list_all", is_flag=True, help="List every reconciliation instead.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "xlsx", "json", "html"]),
    default="table",
    show_default=True,
    help="table for the terminal; csv, xlsx, json or a printable html statement.",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File.")
@_lang_option
@click.pass_context
def reconcile_show(
    ctx: click.Context, ident: str | None, list_all: bool, fmt: str, output: Path | None, lang: str
) -> None:
    """Show a reconciliation's statement (对账单): the newest, or ID.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 reconcile show
      fiscalsync --home /srv/fiscalsync/410000 reconcile show 410000-R000003 --format xlsx -o s.xlsx
    """
    words = labels(lang)
    with Node.open(_home(ctx)) as node:
        zone = node.settings.time_zone
        if list_all:
            fmt = "table" if fmt == "html" else fmt
            human = _for_people(fmt)
            _emit(
                _session_columns(words) if human else SESSION_COLUMNS,
                _session_rows(reconcile.statement.sessions(node), words if human else None),
                fmt,
                output,
                title="reconciliations",
                empty=words["r.empty"],
            )
            return
        statement = reconcile.statement.load(node, ident)  # its findings read as written
        if fmt == "table":
            _show_statement(statement, lang)
            return
        if fmt == "html":
            parts = reconcile.statement.html_parts(statement, zone)
            if output is None:
                with tabular.standard_output() as out:
                    out.writelines(parts)
                    out.write("\n")
            else:
                with tabular.text_file(output) as written:
                    written.writelines(parts)
                click.echo(_in_language(said("statement_written", path=output)), err=True)
            return
        if fmt == "json" and output is None:
            _echo_json(statement.head(), "findings", statement.finding_dicts())
            return
        if _for_people(fmt):
            columns = _finding_columns(lang)

            def rows() -> Iterator[list[Any]]:
                return _finding_words(statement.finding_rows(labels(lang)), lang)

        else:
            columns = RECONCILE_COLUMNS

            def rows() -> Iterator[list[Any]]:
                return statement.finding_rows()

        _emit(columns, rows, fmt, output, title=statement.session.id, empty="")
