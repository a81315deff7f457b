"""A month of a small province's work, end to end."""

from __future__ import annotations

from pathlib import Path

import click

from cli.base import cli
from cli.reports import _show_report, _show_submitters
from nodes.fiscal import reports, tabular
from nodes.fiscal.demo import DEMO_ALLOCATIONS, DEMO_TODAY, run_demo
from schema.types import format_yuan


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def demo(directory: Path | None) -> None:
    """Run the product's main job on the demo province, on SQLite.

    Creates the demo province (a province, two cities, four counties, one of them
    managed directly by the province, and the data center) under DIRECTORY, or a new
    temporary folder. The province allocates from a spreadsheet, the cities break down
    to their counties, counties and cities record spending, the nodes submit their
    monthly report, and the data center consolidates; every step travels as signed
    change-sets with signed receipts back. It runs on its own calendar (from
    2026-11-02), so that its submission table shows reports on time, one late (孟津县)
    and one missing (中牟县) every time.

    \b
    Example:
      fiscalsync demo
      fiscalsync demo /tmp/demo-province
    """
    result = run_demo(directory)
    net = result.network
    topology = net.topology
    click.echo(f"The demo's calendar starts on {DEMO_TODAY:%Y-%m-%d %H:%M} (Beijing time).")
    click.echo(f"Demo province {topology.name!r} created under {net.path}: {len(net.homes)} nodes,")
    click.echo(
        "each with its own SQLite database, key and certificate from the province's root CA."
    )
    click.echo("")
    click.echo(
        f"1. Code sets: {result.codes} province extensions sent to every node "
        f"({result.changesets} signed change-sets)."
    )
    click.echo(
        f"2. Allocation: {result.allocated} lines, {format_yuan(result.allocated_fen)} 元, "
        f"from {DEMO_ALLOCATIONS.name} to the cities and the directly managed county."
    )
    click.echo(f"3. Breakdown: the cities issued {result.breakdowns} lines to their counties.")
    click.echo(
        f"4. Ledger: {result.entries} payments and receipts recorded at cities and counties."
    )
    sent = sum(1 for w in result.submitters if w.state != "missing")
    click.echo(
        f"5. Reports: {sent} of {len(result.submitters)} nodes submitted their "
        f"{result.period.label} monthly report; sync took {result.rounds} rounds in all."
    )
    click.echo("")
    click.echo("The province's view of what it issued (receipts signed by each recipient):")
    columns = [
        tabular.Column("id", "id"),
        tabular.Column("recipient", "recipient"),
        tabular.Column("func", "func"),
        tabular.Column("doc", "doc"),
        tabular.Column("issued", "issued (元)", "money"),
        tabular.Column("acknowledged", "acknowledged (元)", "money"),
    ]
    click.echo(
        tabular.render_text(
            columns,
            [
                [h.id, h.recipient, h.func_code, h.doc_no, h.amount_fen, h.acknowledged_fen]
                for h in result.issued
            ],
        )
    )
    click.echo("")
    click.echo("What the cities received and still have available (after breakdown and spending):")
    columns = [
        tabular.Column("city", "city"),
        tabular.Column("id", "id"),
        tabular.Column("func", "func"),
        tabular.Column("received", "received (元)", "money"),
        tabular.Column("available", "available (元)", "money"),
    ]
    rows = [
        [city, h.id, h.func_code, h.amount_fen, h.available_fen]
        for city, held in result.received.items()
        for h in held
    ]
    click.echo(tabular.render_text(columns, rows))
    click.echo("")
    click.echo("The data center's consolidation (全省汇总):")
    words = reports.labels("zh")
    _show_report(result.consolidated, words)
    click.echo("")
    _show_submitters(result.submitters, words)
    click.echo("")
    click.echo(f"Done in {result.seconds:.1f} s.")
    center = net.homes[topology.center.code].path if topology.center else net.path
    click.echo(f"Try: fiscalsync --home {center} report show {result.period.label} --region 410100")
