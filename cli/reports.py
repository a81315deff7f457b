"""Ten-day and monthly reports (旬报、月报): generate, submit, show."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import click

from cli.base import Group, cli, lang_option, local_time, node_home, output_option, writing
from nodes import (
    Node,
)
from nodes.fiscal import reports, tabular


def _report_columns(words: dict[str, str]) -> list[tabular.Column]:
    return [
        tabular.Column("section", words["section"]),
        tabular.Column("level", words["level"], "int"),
        tabular.Column("code", words["code"]),
        tabular.Column("name", words["name"]),
        tabular.Column("budget", f"{words['budget']} ({words['unit']})", "money"),
        tabular.Column("period", f"{words['period']} ({words['unit']})", "money"),
        tabular.Column("ytd", f"{words['ytd']} ({words['unit']})", "money"),
        tabular.Column("completion", words["completion"]),
    ]


def _report_rows(
    view: reports.ReportView, words: dict[str, str], *, indent: bool
) -> list[list[Any]]:
    rows = []
    for line in view.lines:
        name = words["total"] if line.level == 0 else (line.name or "")
        if indent and line.level:
            name = "  " * (len(line.code) // 2 - 1) + name
        rows.append(
            [
                words[line.section],
                line.level,
                line.code,
                name,
                line.budget_fen,
                line.period_fen,
                line.ytd_fen,
                line.completion,
            ]
        )
    return rows


def _show_report(view: reports.ReportView, words: dict[str, str]) -> None:
    """A report on the terminal: a heading, then its lines with subtotals indented."""
    kind = words[view.period.kind]
    scope = words[view.scope]
    click.echo(f"{view.region} {view.region_name} · {view.period.label} {kind} · {scope}")
    columns = _report_columns(words)
    del columns[1]
    rows = [row[:1] + row[2:] for row in _report_rows(view, words, indent=True)]
    click.echo(tabular.render_text(columns, rows))
    if view.scope == "all":
        versions = ", ".join(f"{s.node} v{s.version}" for s in view.sources)
        click.echo(f"Reports summed ({len(view.sources)}): {versions or '-'}")
    if view.missing:
        click.echo(f"No report held from: {', '.join(view.missing)}")


def _show_submitters(who: list[reports.Submitter], words: dict[str, str]) -> None:
    behind = [w for w in who if w.state != "on time"]
    on_time = len(who) - len(behind)
    click.echo(f"{on_time} of {len(who)} node(s) reported on time.")
    if behind:
        columns = [
            tabular.Column("code", words["node"]),
            tabular.Column("name", words["region"]),
            tabular.Column("state", words["state"]),
            tabular.Column("deadline", words["deadline"]),
            tabular.Column("submitted", words["submitted_at"]),
        ]
        rows = [
            [
                w.code,
                w.name,
                words[w.state],
                w.due_date.isoformat(),
                local_time(w.submitted_at) if w.submitted_at else "-",
            ]
            for w in behind
        ]
        click.echo(tabular.render_text(columns, rows))


@cli.group("report", cls=Group)
def report_group() -> None:
    """Revenue and expenditure reports: ten-day (旬报) and monthly (月报), and their
    consolidation (汇总) at the data center.

    Periods: 2026-10 (the month), 2026-10-D1 (days 1-10), 2026-10-D2 (days 11-20),
    2026-10-D3 (day 21 to the month's end).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 report submit 2026-10
    """


@report_group.command("generate")
@click.argument("period", required=False)
@click.option("--period", "period_option", hidden=True, help="The same as PERIOD (older form).")
@lang_option
@click.pass_context
def report_generate(
    ctx: click.Context, period: str | None, period_option: str | None, lang: str
) -> None:
    """Generate this node's report for a period from its ledger and appropriations.

    Lines by classification code for revenue and expenditure, with the budget
    (appropriations held for this level's own spending), the period and the year to
    date; subtotals at 类 and 款; every sum is checked. It stays a draft until
    `fiscalsync report submit`; generating again replaces the draft, or after a
    submission makes a correction (the next version).

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 report generate 2026-10
      fiscalsync --home /srv/fiscalsync/410102 report generate 2026-10-D2

    PERIOD is a month (2026-10) or one of its ten-day periods (2026-10-D1, D2, D3), as
    for `report submit` and `report show`.
    """
    if period and period_option and period != period_option:
        raise click.UsageError(f"two periods given: {period} and --period {period_option}")
    period = period or period_option
    if not period:
        raise click.UsageError("missing PERIOD, e.g. 'fiscalsync report generate 2026-10'")
    words = reports.labels(lang)
    with writing(ctx) as node:
        view = reports.generate(node, period, actor=getpass.getuser())
        (current, *_) = reversed(reports.versions(node, view.period))
    _show_report(view, words)
    click.echo(f"Version {current.version}, {current.state}.")


@report_group.command("submit")
@click.argument("period")
@click.pass_context
def report_submit(ctx: click.Context, period: str) -> None:
    """Send this node's report to its parent and a copy to the data center.

    Two signed change-sets (the province sends to the center only). Generates the
    report first when there is none; to correct a submitted report, generate it again
    and submit: the new version supersedes the old, which stays in the history.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 report submit 2026-10
    """
    with writing(ctx) as node:
        sent = reports.submit(node, period, actor=getpass.getuser())
    click.echo(
        f"Submitted version {sent.version} of {sent.period} to {' and '.join(sent.recipients)} "
        f"({len(sent.changesets)} signed change-set(s)); they travel at the next sync."
    )


@report_group.command("show")
@click.argument("period")
@click.option("--region", help="Whose report (default: this node; at the center, the province).")
@click.option(
    "--scope",
    type=click.Choice(["own", "all"]),
    default=None,
    help="own: the region's own report (本级); all: its consolidation (全辖汇总). "
    "Default: all at the center, own elsewhere.",
)
@output_option
@lang_option
@click.pass_context
def report_show(
    ctx: click.Context,
    period: str,
    region: str | None,
    scope: str | None,
    fmt: str,
    output: Path | None,
    lang: str,
) -> None:
    """Show a report, or consolidate a region's reports (市级汇总, 全省汇总).

    At the data center, which holds every report, --scope all sums a city with its
    counties, or the whole province, and lists who has not reported by the deadline
    (set in node.toml, [reports]). A city holds its own and its counties' reports.
    Amounts are in 元 with two decimals.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000-dc report show 2026-10 --lang zh
      fiscalsync --home /srv/fiscalsync/410000-dc report show 2026-10 --region 410100 \\
          --format xlsx -o zhengzhou-2026-10.xlsx
    """
    words = reports.labels(lang)
    with Node.open(node_home(ctx)) as node:
        at_center = node.spec.role == "center"
        scope = scope or ("all" if at_center else "own")
        view = reports.view(node, period, region=region, scope=scope)
        who = reports.submitters(node, period, region=region) if at_center else []
    if fmt == "json":
        document = view.as_dict()
        if at_center:
            document["submitters"] = [w.as_dict() for w in who]
        text = json.dumps(document, ensure_ascii=False, indent=2)
        if output is None:
            click.echo(text)
        else:
            output.write_text(text + "\n", encoding="utf-8")
        return
    if fmt in ("csv", "xlsx"):
        rows = _report_rows(view, words, indent=False)
        title = f"{view.region} {view.period.label}"
        tabular.write_table(_report_columns(words), rows, fmt, output, title=title)
        return
    _show_report(view, words)
    if at_center:
        click.echo("")
        _show_submitters(who, words)
