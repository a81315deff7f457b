"""Reconciliation between levels (上下级对账): run, show, a whole province."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cli.base import Group, cli, emit, node_home, writing
from cli.network import network
from nodes import (
    Node,
)
from nodes.fiscal import reconcile, tabular
from nodes.network import sync_network
from sync.errors import (
    InputError,
)


@network.command("reconcile")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--full", is_flag=True, help="Recompute every side's digests from its records.")
def network_reconcile(directory: Path, full: bool) -> None:
    """Reconcile every edge of a province hosted in one folder, and print its summary.

    \b
    Example:
      fiscalsync network reconcile /srv/province
    """
    statements, result = reconcile.rounds.reconcile_network(directory, full=full)
    rows = []
    for statement in statements:
        s = statement.session
        rows.append(
            [
                s.id,
                s.origin,
                s.recipient,
                s.role,
                s.state,
                s.cut,
                s.agree,
                s.discrepancies,
                s.in_transit,
            ]
        )
    click.echo(
        tabular.render_text(SESSION_COLUMNS, rows) if rows else "No appropriations to reconcile."
    )
    differ = sum(1 for st in statements if st.session.discrepancies)
    click.echo(
        f"{len(statements)} edge(s) reconciled in {result.rounds} round(s): "
        f"{len(statements) - differ} agree, {differ} with discrepancies."
    )


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


@cli.group("reconcile", cls=Group, invoke_without_command=True)
@click.option("--with", "peer", help="The node below this one to reconcile with.")
@click.option("--full", is_flag=True, help="Recompute both sides' digests from their records.")
@click.option("--wait", is_flag=True, help="Run the sync rounds of a local province until done.")
@click.pass_context
def reconcile_group(ctx: click.Context, peer: str | None, full: bool, wait: bool) -> None:
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
        raise click.UsageError("give --with CODE (a node this one issued appropriations to)")
    home = node_home(ctx)
    with writing(ctx) as node:
        session = reconcile.protocol.start(node, peer, full=full)
    click.echo(f"Reconciliation {session} with {peer} requested; the sync rounds conclude it.")
    if not wait:
        return
    network = home.resolve().parent
    if not (network / "topology.toml").is_file() or not (network / peer).is_dir():
        raise InputError(
            f"{home} is not in a province hosted in one folder: --wait cannot run its rounds",
            hint="leave out --wait and let the agents sync; then 'fiscalsync reconcile show'",
        )
    sync_network(network, until_quiet=True)
    with Node.open(home) as node:
        _show_statement(reconcile.statement.load(node, session))


def _show_statement(statement: Any) -> None:
    s = statement.session
    verdict = (
        "the two sides agree (双方一致)"
        if s.agree
        else f"{s.discrepancies} discrepancy(ies) (发现差异)"
        if s.state == "concluded"
        else f"not concluded yet ({s.state})"
    )
    click.echo(
        f"Reconciliation {s.id}: {s.origin} → {s.recipient} at seq {s.cut}: {verdict}; "
        f"{s.in_transit} change-set(s) in transit (在途)."
    )
    rows = statement.finding_rows()
    if rows:
        click.echo(tabular.render_text(RECONCILE_COLUMNS, rows))


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
@click.pass_context
def reconcile_show(
    ctx: click.Context, ident: str | None, list_all: bool, fmt: str, output: Path | None
) -> None:
    """Show a reconciliation's statement (对账单): the newest, or ID.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000 reconcile show
      fiscalsync --home /srv/fiscalsync/410000 reconcile show 410000-R000003 --format xlsx -o s.xlsx
    """
    with Node.open(node_home(ctx)) as node:
        if list_all:
            rows = [
                [
                    s.id,
                    s.origin,
                    s.recipient,
                    s.role,
                    s.state,
                    s.cut,
                    s.agree,
                    s.discrepancies,
                    s.in_transit,
                ]
                for s in reconcile.statement.sessions(node)
            ]
            emit(
                SESSION_COLUMNS,
                rows,
                "table" if fmt == "html" else fmt,
                output,
                title="reconciliations",
                empty="No reconciliation yet.",
            )
            return
        statement = reconcile.statement.load(node, ident)
    if fmt == "table":
        _show_statement(statement)
        return
    if fmt == "html":
        text = reconcile.statement.render_html(statement)
        if output is None:
            click.echo(text)
        else:
            output.write_text(text, encoding="utf-8")
            click.echo(f"Wrote the statement to {output}", err=True)
        return
    if fmt == "json" and output is None:
        click.echo(json.dumps(statement.as_dict(), ensure_ascii=False, indent=2))
        return
    emit(
        RECONCILE_COLUMNS,
        statement.finding_rows(),
        fmt,
        output,
        title=statement.session.id,
        empty="",
    )
