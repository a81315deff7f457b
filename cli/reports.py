"""Reports (报表): ``report`` generate, submit, show, and the 直达资金 report ``direct``."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from datetime import tzinfo
from pathlib import Path
from typing import Any

import click

from cli.app import _Group, _home, _lang_option, _usage, _writing
from cli.render import _emit, _for_people, _local, _output_option
from nodes import Node
from nodes.fiscal import appropriations, reports, tabular
from nodes.labels import labels


def _show_submitters(who: list[reports.Submitter], words: dict[str, str], zone: tzinfo) -> None:
    behind = [w for w in who if w.state != "on time"]
    on_time = len(who) - len(behind)
    click.echo(words["demo.on_time"].format(on_time=on_time, total=len(who)))
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
                _local(w.submitted_at, zone) if w.submitted_at else "-",
            ]
            for w in behind
        ]
        click.echo(tabular.render_text(columns, rows))


@click.group("report", cls=_Group)
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
@_lang_option
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
        raise _usage("two_periods", period=period, option=period_option)
    period = period or period_option
    if not period:
        raise _usage("missing_period")
    words = reports.labels(lang)
    with _writing(ctx) as node:
        view = reports.generate(node, period, actor=getpass.getuser())
        (current, *_) = reversed(reports.versions(node, view.period))
        zone = node.settings.time_zone
    click.echo(reports.render_text(view, lang, zone))
    click.echo(f"{words['version']} {current.version}, {words[current.state]}.")


@report_group.command("submit")
@click.argument("period")
@click.option(
    "--scope",
    type=click.Choice(["own", "all"]),
    default="own",
    show_default=True,
    help="all: send the parent this node's consolidation (全辖) again, after a report "
    "below it changed.",
)
@_lang_option
@click.pass_context
def report_submit(ctx: click.Context, period: str, scope: str, lang: str) -> None:
    """Send this node's report to its parent and a copy to the data center.

    Two signed change-sets (the province sends to the center only). Generates the
    report first when there is none; to correct a submitted report, generate it again
    and submit: the new version supersedes the old, which stays in the history. A node
    with nodes below it also sends its parent its consolidation (全辖, 逐级): its own
    report with what its children sent.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410102 report submit 2026-10
      fiscalsync --home /srv/fiscalsync/410100 report submit 2026-10 --scope all
    """
    with _writing(ctx) as node:
        if scope == "all":
            version = reports.submit_region(node, period, actor=getpass.getuser())
            click.echo(labels(lang)["m.done_submitted_all"].format(version=version, period=period))
            return
        sent = reports.submit(node, period, actor=getpass.getuser())
    words = labels(lang)
    click.echo(
        words["m.done_submitted"].format(
            version=sent.version,
            period=sent.period,
            recipients=words["m.and"].join(sent.recipients),
            count=len(sent.changesets),
        )
    )
    if sent.consolidated is not None:
        click.echo(words["m.done_submitted_with"].format(version=sent.consolidated))


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
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "table", "csv", "xlsx", "html", "json"]),
    default="text",
    show_default=True,
    help="text for the terminal (table is the same); csv, xlsx, html or json for files.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of the terminal (required for xlsx).",
)
@_lang_option
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

    Every layout opens with the title block (title, 编制单位, 报送日期, 金额单位：元)
    and has the columns 预算数, 本期数, 本月累计 (ten-day reports), 累计数, 完成预算%,
    上年同期 and 增减%. At the data center, which holds every report, --scope all sums
    a city with its counties, or the whole province, and lists who has not reported by
    the deadline (set in node.toml, [reports]). A city holds its own and its counties'
    reports.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410000-dc report show 2026-10 --lang zh
      fiscalsync --home /srv/fiscalsync/410000-dc report show 2026-10 --region 410100 \\
          --format xlsx -o zhengzhou-2026-10.xlsx
      fiscalsync --home /srv/fiscalsync/410102 report show 2026-10-D2 --format html -o d2.html
    """
    words = reports.labels(lang)
    with Node.open(_home(ctx)) as node:
        at_center = node.spec.role == "center"
        scope = scope or ("all" if at_center else "own")
        view = reports.view(node, period, region=region, scope=scope)
        who = reports.submitters(node, period, region=region) if at_center else []
        zone = node.settings.time_zone
    extra = {"submitters": [w.as_dict() for w in who]} if at_center else None
    fmt = "text" if fmt == "table" else fmt
    text = reports.write(view, fmt, output, lang, zone, extra=extra)
    if text is not None:
        click.echo(text, nl=False)
    if fmt == "text" and output is None and at_center:
        click.echo("")
        _show_submitters(who, words, zone)


@report_group.command("direct")
@click.option("--year", type=int, help="Only appropriations of this year (default: every year).")
@_output_option
@_lang_option
@click.pass_context
def report_direct(
    ctx: click.Context, year: int | None, fmt: str, output: Path | None, lang: str
) -> None:
    """The 直达资金 report: direct funds issued, received, allocated below, spent, left.

    One row per direct-fund appropriation held at this level (received, or issued from
    its own budget), then the total; every level runs it on its own data.

    \b
    Example:
      fiscalsync --home /srv/fiscalsync/410100 report direct --year 2026
      fiscalsync --home /srv/fiscalsync/410100 report direct --format xlsx -o direct.xlsx
    """
    # csv and json are for programs: English keys and words, whatever the language.
    words = lang if _for_people(fmt) else "en"
    empty = "没有直达资金。" if lang == "zh" else "No direct funds."
    with Node.open(_home(ctx)) as node:
        shape = reports.direct_layout(f"{node.spec.code} {node.spec.name}", [], words)

        def rows() -> Iterator[list[Any]]:  # streamed: read again for each pass
            return reports.direct_rows(appropriations.iter_direct_funds(node, year), words)

        if fmt == "table" and output is None:
            probe = appropriations.iter_direct_funds(node, year)
            if next(probe, None) is not None:
                click.echo("\n".join(shape.heading))
            probe.close()
        _emit(shape.columns, rows, fmt, output, title="direct", empty=empty)
