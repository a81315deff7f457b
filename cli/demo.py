"""``fiscalsync demo``: the demo province built on one machine, and a month of its work
run through signed change-sets."""

from __future__ import annotations

from pathlib import Path

import click

from cli.app import _Command, _lang_option
from cli.options import _suite_option
from cli.reports import _show_submitters
from nodes.fiscal import reports, tabular
from nodes.fiscal.demo import DEMO_ALLOCATIONS, DEMO_TODAY, run_demo
from nodes.labels import labels
from nodes.settings import LOCAL_TIME
from schema.types import format_yuan


@click.command(cls=_Command)
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@_suite_option
@_lang_option
def demo(directory: Path | None, suite: str, lang: str) -> None:
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
      fiscalsync demo --suite sm2
      fiscalsync demo --lang en
    """
    result = run_demo(directory, suite=suite)
    net = result.network
    topology = net.topology
    words = labels(lang)
    click.echo(words["demo.calendar"].format(start=f"{DEMO_TODAY:%Y-%m-%d %H:%M}"))
    click.echo(
        words["demo.created"].format(name=topology.name, path=net.path, count=len(net.homes))
    )
    click.echo(words["demo.each"])
    click.echo("")
    click.echo(words["demo.codes"].format(codes=result.codes, changesets=result.changesets))
    click.echo(
        words["demo.allocation"].format(
            lines=result.allocated,
            amount=format_yuan(result.allocated_fen),
            file=DEMO_ALLOCATIONS.name,
        )
    )
    click.echo(words["demo.breakdown"].format(lines=result.breakdowns))
    click.echo(words["demo.ledger"].format(entries=result.entries))
    sent = sum(1 for w in result.submitters if w.state != "missing")
    click.echo(
        words["demo.reports"].format(
            sent=sent,
            total=len(result.submitters),
            period=result.period.label,
            rounds=result.rounds,
        )
    )
    click.echo("")
    click.echo(words["demo.issued_title"])
    columns = [
        tabular.Column("id", words["a.id"]),
        tabular.Column("recipient", words["a.recipient"]),
        tabular.Column("func", words["a.func_code"]),
        tabular.Column("doc", words["a.doc_no"]),
        tabular.Column("issued", words["a.issued"], "money"),
        tabular.Column("acknowledged", words["a.acknowledged"], "money"),
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
    click.echo(words["demo.received_title"])
    columns = [
        tabular.Column("city", words["demo.city"]),
        tabular.Column("id", words["a.id"]),
        tabular.Column("func", words["a.func_code"]),
        tabular.Column("received", words["a.received"], "money"),
        tabular.Column("available", words["a.available"], "money"),
    ]
    rows = [
        [city, h.id, h.func_code, h.amount_fen, h.available_fen]
        for city, held in result.received.items()
        for h in held
    ]
    click.echo(tabular.render_text(columns, rows))
    click.echo("")
    click.echo(words["demo.consolidation_title"])
    click.echo(reports.render_text(result.consolidated, lang))
    click.echo("")
    _show_submitters(result.submitters, words, LOCAL_TIME)
    click.echo("")
    click.echo(words["demo.done"].format(seconds=result.seconds))
    center = net.homes[topology.center.code].path if topology.center else net.path
    command = f"fiscalsync --home {center} report show {result.period.label} --region 410100"
    click.echo(words["demo.try"].format(command=command))
