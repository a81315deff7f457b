"""A city restored from a backup that holds a draft of its report, submitted since, takes
its submission back whole when it rejoins: the report is sent v1 with the lines it sent,
and its parent holds the lines the center holds, to the fen, even when one of them never
took it (and the parent its 全辖). The parent that lost only the 全辖 is sent a new one
and nothing else; a correction submitted after the backup is the current version at every
receiver, and the 全辖 sums it; a 全辖 that cannot be built does not stop the rejoin. A
submit while the node rejoins is refused. A real ``network init`` province, SQLite and
PostgreSQL, real restores, real signed files."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from test_backup import CENTER, backup, bring_back, issue, lose, settle
from test_rejoin_peer_restored import round_of

from nodes import Node, rejoin
from nodes.capabilities import REJOINED
from nodes.fiscal import reports
from nodes.fiscal.budget import import_budget
from nodes.network import Network
from schema.channels import changeset_log
from schema.tables import region_report, region_report_line, report, report_line
from sync.errors import InputError

CITY = "410100"
PROVINCE = "410000"
PERIOD = "2026-10"
ACTOR = "test"

Lines = list[tuple[str, int, str, int, int, int, int, int]]


def line_rows(conn: Any, table: sa.Table, report_id: int) -> list[Any]:
    """The lines of report ``report_id`` in ``table`` (a report's or a 全辖's lines):
    section, level, code and the five amount columns."""
    columns = ("section", "level", "code", "budget_fen", "period_fen", "ytd_fen")
    columns += ("month_fen", "last_year_fen")
    query = sa.select(*(table.c[name] for name in columns))
    return list(conn.execute(query.where(table.c.report_id == report_id)).all())


def held(network: Network, holder: str) -> list[tuple[int, str, Lines]]:
    """The city's versions of the period at ``holder``: (version, state, lines)."""
    with Node.open(network.path / holder) as node, node.engine.connect() as conn:
        rows = conn.execute(
            sa.select(report.c.id, report.c.version, report.c.state)
            .where(report.c.node_code == CITY, report.c.period == PERIOD)
            .order_by(report.c.version)
        ).all()
        found = []
        for row in rows:
            lines = line_rows(conn, report_line, row.id)
            found.append((int(row.version), str(row.state), sorted(tuple(x) for x in lines)))
        return found


def draft_then_submit(network: Network) -> Lines:
    """The city holds 5000.00 元 and a draft of its report, and is backed up; it is given
    1234.56 元 more, then submits v1 (with it). Returns the lines it submitted."""
    issue(network, PROVINCE, CITY, 5000_00, "豫财预〔2026〕1号")
    settle(network)
    with Node.open(network.path / CITY) as node:
        reports.generate(node, PERIOD, actor=ACTOR)
    backup(network, CITY)
    settle(network)
    (draft,) = held(network, CITY)
    issue(network, PROVINCE, CITY, 1234_56, "豫财预〔2026〕2号")
    settle(network)
    with Node.open(network.path / CITY) as node:
        reports.generate(node, PERIOD, actor=ACTOR)
        sent = reports.submit(node, PERIOD, actor=ACTOR)
    assert sent.version == 1 and sent.recipients == [PROVINCE, CENTER]
    ((version, state, lines),) = held(network, CITY)
    assert (version, state) == (1, "submitted")
    assert lines != draft[2]  # the backup's draft is not what was sent
    assert sum(x[3] for x in lines if x[1] == 0) == 6234_56
    return lines


def mail_to_province(network: Network) -> list[Any]:
    """The city's files waiting in the province's mailboxes."""
    return sorted((network.path / PROVINCE / "mailboxes").rglob(f"{CITY}_{PROVINCE}_*.fcs"))


def mail_to_center(network: Network) -> list[Any]:
    """The city's files waiting in the center's mailboxes."""
    return sorted((network.path / CENTER / "mailboxes").rglob(f"{CITY}_{CENTER}_*.fcs"))


def regions(network: Network, holder: str) -> list[tuple[int, str]]:
    """The city's 全辖 of the period at ``holder``: (version, state)."""
    with Node.open(network.path / holder) as node, node.engine.connect() as conn:
        rows = conn.execute(
            sa.select(region_report.c.version, region_report.c.state)
            .where(region_report.c.node_code == CITY, region_report.c.period == PERIOD)
            .order_by(region_report.c.version)
        ).all()
        return [(int(r.version), str(r.state)) for r in rows]


def submitted(network: Network) -> tuple[Any, str]:
    """When the city's v1 was submitted, by its own record, and the change-set it names."""
    with Node.open(network.path / CITY) as node, node.engine.connect() as conn:
        row = conn.execute(
            sa.select(report.c.submitted_at, report.c.changeset_id).where(
                report.c.node_code == CITY, report.c.period == PERIOD, report.c.version == 1
            )
        ).one()
        return row.submitted_at, str(row.changeset_id)


def check_whole(network: Network, lines: Lines) -> None:
    """The city's report is sent v1 with the lines it sent; so do the parent and center."""
    assert held(network, CITY) == [(1, "submitted", lines)]
    assert held(network, PROVINCE) == [(1, "received", lines)]
    assert held(network, CENTER) == [(1, "received", lines)]


@pytest.mark.slow
def test_a_submission_made_after_the_backup_is_whole_again_after_the_rejoin(
    province: Network,
) -> None:
    """郑州市 is backed up holding a draft of its October report; it then submits v1, with
    1234.56 元 more in its budget, to the province and the center, which take it. Its disk
    dies and it is restored from the backup: after its rejoin the report is sent v1 with
    the lines it sent (not the backup's draft), and the province and the center hold
    those lines, to the fen, once each."""
    lines = draft_then_submit(province)
    settle(province)
    assert held(province, PROVINCE) == held(province, CENTER) == [(1, "received", lines)]

    bring_back(province, CITY, lose(province, CITY))
    assert [v[1] for v in held(province, CITY)] == ["draft"]
    settle(province)
    check_whole(province, lines)


@pytest.mark.slow
def test_a_submission_the_parent_never_took_is_sent_it_again_at_the_rejoin(
    province: Network,
) -> None:
    """As above, but the copies to the province are lost on the way: only the center took
    the submission. Restored, 郑州市 takes it back from the center alone, and sends the
    province the center's operations at the end of its rejoin: the province then holds
    what the center holds, line for line."""
    lines = draft_then_submit(province)
    round_of(province, CITY)
    lost = mail_to_province(province)
    assert lost  # its report (and its 全辖) on the way to the province
    for path in lost:
        path.unlink()
    round_of(province, CENTER)
    assert held(province, CENTER) == [(1, "received", lines)]
    assert held(province, PROVINCE) == []

    bring_back(province, CITY, lose(province, CITY))
    settle(province)
    check_whole(province, lines)
    # The 全辖 sent with it was lost on the way too: it is sent again, built anew.
    assert regions(province, CITY) == [(1, "submitted")]
    assert regions(province, PROVINCE) == [(1, "received")]


@pytest.mark.slow
def test_a_submission_the_center_never_took_is_sent_it_again_at_the_rejoin(
    province: Network,
) -> None:
    """The reverse: the copy to the center is lost on the way, the province takes its own
    and the 全辖. Restored, 郑州市 takes the submission back from the province alone and
    sends the center the province's operations at the end of its rejoin; the province,
    which holds both, is sent nothing again, and the submission stays dated by the
    province's copy."""
    lines = draft_then_submit(province)
    before = submitted(province)
    round_of(province, CITY)
    lost = mail_to_center(province)
    assert lost  # its report on the way to the center
    for path in lost:
        path.unlink()
    round_of(province, PROVINCE)
    assert held(province, PROVINCE) == [(1, "received", lines)]
    assert held(province, CENTER) == []
    assert regions(province, PROVINCE) == [(1, "received")]

    bring_back(province, CITY, lose(province, CITY))
    settle(province)
    check_whole(province, lines)
    assert regions(province, PROVINCE) == [(1, "received")]
    assert regions(province, CITY) == [(1, "submitted")]
    assert submitted(province) == before


class SetBack:
    """A machine clock an hour behind the one the node signed with before."""

    def now(self) -> datetime:
        return datetime.now(UTC) - timedelta(hours=1)


@pytest.mark.slow
def test_a_later_region_report_lost_with_the_clock_set_back_is_sent_again_at_the_rejoin(
    province: Network,
) -> None:
    """v1 and its 全辖 taken; v2 signed with the clock set back (its stamps pinned to v1's
    全辖's), the province takes v2 but loses its 全辖. The rejoin judges what the returned
    全辖 sums by its members, not by when it was signed: the province gets a 全辖 of v2."""
    draft_then_submit(province)
    with Node.open(province.path / CITY) as node:
        reports.generate(node, PERIOD, actor=ACTOR, clock=SetBack())
        reports.submit(node, PERIOD, actor=ACTOR, clock=SetBack())
    round_of(province, CITY)
    mail_to_province(province)[-1].unlink()  # the 全辖 of v2, signed last
    round_of(province, PROVINCE)
    round_of(province, CENTER)
    assert [v[:2] for v in held(province, PROVINCE)] == [(1, "received"), (2, "received")]
    assert regions(province, PROVINCE) == [(1, "received")]
    bring_back(province, CITY, lose(province, CITY))
    settle(province)
    assert held(province, PROVINCE) == held(province, CENTER)
    assert regions(province, PROVINCE) == [(1, "received"), (2, "received")]


@contextmanager
def finish_held_open(code: str) -> Iterator[tuple[threading.Event, threading.Event]]:
    """While in it, ``code``'s rejoin stops inside the transaction that ends it (at what
    it sends again once rejoined) until the second event is set; the first is set when
    it gets there."""
    there, go = threading.Event(), threading.Event()

    def hold(conn: Any, node: Node, clock: Any, taken_back: Any) -> int:
        if node.spec.code == code:
            there.set()
            assert go.wait(120)
        return 0

    REJOINED.append(hold)
    try:
        yield there, go
    finally:
        go.set()
        REJOINED.remove(hold)


def lock_waiters(network: Network, code: str) -> int:
    """How many transactions on ``code``'s PostgreSQL database wait for a lock."""
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        query = sa.text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(conn.execute(query).scalar_one())


def race_submit_with_finish(network: Network) -> BaseException | None:
    """The city's round ends its rejoin in one thread, held inside that transaction; a
    submit runs in another meanwhile, and the rejoin goes on once the submit is done or
    waits for a lock (it then runs on after the rejoin's commit). Returns what the
    submit raised (None: it went through)."""
    failures: list[BaseException] = []
    outcome: list[BaseException | None] = []

    def finish() -> None:
        try:
            round_of(network, CITY)
        except BaseException as exc:  # shown by the caller
            failures.append(exc)

    def submit() -> None:
        try:
            with Node.open(network.path / CITY) as node:
                reports.submit(node, PERIOD, actor=ACTOR)
            outcome.append(None)
        except BaseException as exc:  # shown by the caller
            outcome.append(exc)

    with finish_held_open(CITY) as (there, go):
        ending = threading.Thread(target=finish)
        ending.start()
        assert there.wait(120), "the city's rejoin did not reach its end"
        submitting = threading.Thread(target=submit)
        submitting.start()
        for _ in range(1200):
            if not submitting.is_alive() or lock_waiters(network, CITY):
                break
            submitting.join(0.05)
        go.set()
        ending.join(120)
        submitting.join(120)
    assert not failures, failures
    assert len(outcome) == 1
    return outcome[0]


@pytest.mark.slow
def test_a_submit_while_the_node_rejoins_is_refused(province: Network) -> None:
    """Restored, 郑州市 is refused a submit while it waits for its peers' answers, with the
    rejoin's message; and, on PostgreSQL, while another thread ends its rejoin (that
    transaction not committed yet): what the submit reads is read after the rejoin's end
    or not at all. After it, the one v1 held anywhere is the one it sent."""
    lines = draft_then_submit(province)
    settle(province)
    bring_back(province, CITY, lose(province, CITY))
    with Node.open(province.path / CITY) as node:
        assert rejoin.in_progress(node)
        with pytest.raises(InputError, match="is rejoining: nothing new") as refused:
            reports.submit(node, PERIOD, actor=ACTOR)
        backend = node.engine.dialect.name
    waiting_message = str(refused.value)
    assert held(province, CITY)[0][1] == "draft"

    round_of(province, CITY)  # its requests
    for spec in province.topology:
        if spec.code != CITY:
            round_of(province, spec.code)  # each answers
    if backend == "postgresql":
        raced = race_submit_with_finish(province)
        assert isinstance(raced, InputError), raced
        assert str(raced) == waiting_message
    settle(province)
    with Node.open(province.path / CITY) as node:
        assert not rejoin.in_progress(node)
    check_whole(province, lines)


# --- a 全辖 (region report) and the versions it sums -------------------------------------

COUNTY = "410102"
Totals = dict[tuple[str, int, str], tuple[int, ...]]


def county_submits(network: Network, tmp_path: Path, yuan: str = "800.00") -> None:
    """中原区, below the city, imports an expenditure budget of ``yuan`` 元 and submits its
    October report v1 to the city and the center, which take it."""
    budget = tmp_path / f"budget-{COUNTY}.csv"
    budget.write_text(f"section,code,amount\nexpenditure,2050202,{yuan}\n", encoding="utf-8")
    with Node.open(network.path / COUNTY) as node:
        import_budget(node, budget, 2026, actor=ACTOR)
        sent = reports.submit(node, PERIOD, actor=ACTOR)
    assert sent.version == 1 and sent.recipients == [CITY, CENTER]
    settle(network)


def totals(lines: Iterable[tuple[Any, ...]]) -> Totals:
    """The amounts of report lines as :func:`held` gives them, by line (section, level,
    code: the totals, subtotals and leaves): every amount column (budget, period, year
    to date, month to date, last year)."""
    return {(x[0], x[1], x[2]): tuple(x[3:]) for x in lines}


SPENT = ("expenditure", 0, "")
"""The line of the total expenditure."""


def added(*reports_totals: Totals) -> Totals:
    """Several reports' lines summed column by column, line by line (a line one of them
    lacks counts as zero there)."""
    summed: dict[tuple[str, int, str], list[int]] = {}
    for each in reports_totals:
        for line, amounts in each.items():
            into = summed.setdefault(line, [0] * len(amounts))
            for index, amount in enumerate(amounts):
                into[index] += amount
    return {line: tuple(amounts) for line, amounts in summed.items()}


def region_held(network: Network, holder: str) -> list[tuple[int, str, str, Totals]]:
    """The city's 全辖 of the period at ``holder``: (version, state, members, totals)."""
    with Node.open(network.path / holder) as node, node.engine.connect() as conn:
        rows = conn.execute(
            sa.select(region_report)
            .where(region_report.c.node_code == CITY, region_report.c.period == PERIOD)
            .order_by(region_report.c.version)
        ).all()
        found = []
        for row in rows:
            lines = line_rows(conn, region_report_line, row.id)
            found.append((int(row.version), str(row.state), str(row.members), totals(lines)))
        return found


def county_lines(network: Network, holder: str) -> Lines:
    """The lines of 中原区's v1 at ``holder``."""
    with Node.open(network.path / holder) as node, node.engine.connect() as conn:
        ident = conn.execute(
            sa.select(report.c.id).where(
                report.c.node_code == COUNTY, report.c.period == PERIOD, report.c.version == 1
            )
        ).scalar_one()
        rows = line_rows(conn, report_line, ident)
        return sorted(tuple(x) for x in rows)


def reports_taken(network: Network, holder: str) -> int:
    """How many ``report`` change-sets of the city ``holder`` took."""
    with Node.open(network.path / holder) as node, node.engine.connect() as conn:
        query = sa.select(sa.func.count()).where(
            changeset_log.c.origin == CITY,
            changeset_log.c.recipient == holder,
            changeset_log.c.kind == "report",
        )
        return int(conn.execute(query).scalar_one())


def changesets(network: Network, holder: str) -> dict[int, str]:
    """The change-set each version of the city's report at ``holder`` names, by version."""
    with Node.open(network.path / holder) as node, node.engine.connect() as conn:
        rows = conn.execute(
            sa.select(report.c.version, report.c.changeset_id).where(
                report.c.node_code == CITY, report.c.period == PERIOD
            )
        ).all()
        return {int(r.version): str(r.changeset_id) for r in rows}


def rejoined(network: Network) -> bool:
    """Whether the city's last restore ended in a rejoin."""
    with Node.open(network.path / CITY) as node:
        state = rejoin.rejoining(node)
        return state is not None and state.rejoined_at is not None and not state.waiting


@pytest.mark.slow
def test_a_region_report_the_parent_alone_lost_is_built_anew_and_nothing_else_is_sent(
    province: Network, tmp_path: Path
) -> None:
    """中原区 reports 800.00 元 to 郑州市, which is backed up and then submits v1: the
    province takes the report but loses the 全辖 sent with it on the way; the center takes
    its copy. Restored, 郑州市 gets v1 back from both: the province is sent a 全辖 built
    anew, v1 of it, summing 郑州市's v1 and 中原区's v1, and nothing else: the report is
    not sent again to either receiver, under its version or a new one."""
    county_submits(province, tmp_path)
    lines = draft_then_submit(province)
    round_of(province, CITY)
    mail = mail_to_province(province)
    assert len(mail) == 2  # its report, then its 全辖
    mail[-1].unlink()
    round_of(province, PROVINCE)
    round_of(province, CENTER)
    assert held(province, PROVINCE) == held(province, CENTER) == [(1, "received", lines)]
    assert region_held(province, PROVINCE) == []
    assert reports_taken(province, PROVINCE) == 1

    bring_back(province, CITY, lose(province, CITY))
    settle(province)
    assert rejoined(province)
    check_whole(province, lines)
    county = county_lines(province, CITY)
    assert county == county_lines(province, CENTER)
    whole = added(totals(lines), totals(county))
    assert whole[SPENT][0] == 6234_56 + 800_00  # every fen of both, once
    members = f"{CITY}:1:own {COUNTY}:1:own"
    assert region_held(province, PROVINCE) == [(1, "received", members, whole)]
    assert region_held(province, CITY) == [(1, "submitted", members, whole)]
    assert reports_taken(province, PROVINCE) == 2  # the report once, the 全辖 once
    assert reports_taken(province, CENTER) == 1


@pytest.mark.slow
def test_a_correction_submitted_after_the_backup_is_the_current_version_everywhere(
    province: Network, tmp_path: Path
) -> None:
    """郑州市 is backed up, then submits v1 and, given 100.00 元 more, a corrected v2; 中原区
    reports to it in between. The center takes v1 and v2; the province takes v1 and its
    全辖 but loses v2 and the 全辖 sent with it. Restored, 郑州市 gets v1 back from both,
    v2 from the center alone, and 中原区's report again: the province is sent v2 as the
    center holds it and a 全辖 of v2, so every receiver holds v2 as the current version,
    to the fen, and the province's 全辖 sums v2 and 中原区's report, no more, no less."""
    first = draft_then_submit(province)
    settle(province)
    county_submits(province, tmp_path)
    issue(province, PROVINCE, CITY, 100_00, "豫财预〔2026〕3号")
    settle(province)
    with Node.open(province.path / CITY) as node:
        reports.generate(node, PERIOD, actor=ACTOR)
        sent = reports.submit(node, PERIOD, actor=ACTOR)
    assert sent.version == 2 and sent.consolidated == 2
    second = held(province, CITY)[1][2]
    assert totals(second)[SPENT][0] == totals(first)[SPENT][0] + 100_00
    round_of(province, CITY)
    lost = mail_to_province(province)
    assert len(lost) == 2  # v2, then its 全辖
    for path in lost:
        path.unlink()
    round_of(province, PROVINCE)
    round_of(province, CENTER)
    assert held(province, CENTER) == [(1, "received", first), (2, "received", second)]
    assert held(province, PROVINCE) == [(1, "received", first)]
    assert [r[:3] for r in region_held(province, PROVINCE)] == [(1, "received", f"{CITY}:1:own")]

    bring_back(province, CITY, lose(province, CITY))
    settle(province)
    assert rejoined(province)
    versions = [(1, first), (2, second)]
    assert held(province, CITY) == [(v, "submitted", x) for v, x in versions]
    assert held(province, PROVINCE) == [(v, "received", x) for v, x in versions]
    assert held(province, CENTER) == [(v, "received", x) for v, x in versions]
    county = county_lines(province, CITY)
    assert county == county_lines(province, CENTER)
    whole = added(totals(second), totals(county))
    assert whole[SPENT][0] == 6334_56 + 800_00
    members = f"{CITY}:2:own {COUNTY}:1:own"
    at_province = region_held(province, PROVINCE)
    assert [r[:2] for r in at_province] == [(1, "received"), (2, "received")]
    assert at_province[-1][2:] == (members, whole)
    assert region_held(province, CITY)[-1] == (2, "submitted", members, whole)
    assert reports_taken(province, CENTER) == 2  # v1 and v2, once each
    # v2 is dated by the copy the province took, sent at the end of the rejoin.
    assert changesets(province, CITY)[2] == changesets(province, PROVINCE)[2]
    assert changesets(province, CITY)[2] != changesets(province, CENTER)[2]


SEPTEMBER = "2026-09"


def periods_at_province(
    network: Network,
) -> tuple[list[tuple[str, int]], list[tuple[str, int, str]]]:
    """The city's reports at the province, of any period: (period, version) of each own
    report, (period, version, members) of each 全辖."""
    with Node.open(network.path / PROVINCE) as node, node.engine.connect() as conn:
        own = conn.execute(
            sa.select(report.c.period, report.c.version)
            .where(report.c.node_code == CITY)
            .order_by(report.c.period, report.c.version)
        ).all()
        whole = conn.execute(
            sa.select(region_report.c.period, region_report.c.version, region_report.c.members)
            .where(region_report.c.node_code == CITY)
            .order_by(region_report.c.period, region_report.c.version)
        ).all()
    return [(str(p), int(v)) for p, v in own], [(str(p), int(v), str(m)) for p, v, m in whole]


def damage_county_report(network: Network, fen: int) -> Lines:
    """Move the month to date of 中原区's leaf line as the city holds it by ``fen``;
    return its lines after."""
    with Node.open(network.path / CITY) as node, node.engine.begin() as conn:
        ident = conn.execute(
            sa.select(report.c.id).where(report.c.node_code == COUNTY, report.c.period == PERIOD)
        ).scalar_one()
        changed = conn.execute(
            report_line.update()
            .where(report_line.c.report_id == ident, report_line.c.level == 3)
            .values(month_fen=report_line.c.month_fen + fen)
        ).rowcount
        assert changed == 1
    return county_lines(network, CITY)


@pytest.mark.slow
def test_a_region_report_that_cannot_be_built_does_not_stop_the_rejoin(
    province: Network, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """郑州市 submits its September and October reports after its backup; the center takes
    them, the province loses both and their 全辖 on the way. 中原区's October report, as
    the restored 郑州市 holds it, cannot be summed: its month to date is not its period,
    which a monthly report's must be (no command stores such a report, every one checks
    it; the row is changed in the database, as damage would). At the end of the rejoin October's 全辖 is
    refused and the rejoin ends all the same: the province is sent both reports and
    September's 全辖, and the log names the command that sends October's, which does once
    the report is put right."""
    county_submits(province, tmp_path)
    lines = draft_then_submit(province)
    with Node.open(province.path / CITY) as node:
        september = reports.submit(node, SEPTEMBER, actor=ACTOR)
    assert september.consolidated == 1
    round_of(province, CITY)
    lost = mail_to_province(province)
    assert len(lost) == 4  # each report, then its 全辖
    for path in lost:
        path.unlink()
    round_of(province, CENTER)

    bring_back(province, CITY, lose(province, CITY))
    damaged = damage_county_report(province, +1)
    with caplog.at_level(logging.WARNING, logger="fiscalsync.agent"):
        settle(province)
    assert rejoined(province)
    check_whole(province, lines)
    assert region_held(province, PROVINCE) == region_held(province, CITY) == []
    assert periods_at_province(province) == (
        [(SEPTEMBER, 1), (PERIOD, 1)],
        [(SEPTEMBER, 1, f"{CITY}:{september.version}:own")],
    )
    told = [r.getMessage() for r in caplog.records if r.name == "fiscalsync.agent"]
    assert any(
        f"the 全辖 of {CITY} for {PERIOD} was not sent again" in m
        and f"`report submit {PERIOD} --scope all`" in m
        for m in told
    ), told

    damage_county_report(province, -1)
    assert county_lines(province, CITY) != damaged
    with Node.open(province.path / CITY) as node:
        assert reports.submit_region(node, PERIOD, actor=ACTOR) == 1
    settle(province)
    whole = added(totals(lines), totals(county_lines(province, CITY)))
    members = f"{CITY}:1:own {COUNTY}:1:own"
    assert region_held(province, PROVINCE) == [(1, "received", members, whole)]
    assert held(province, PROVINCE) == [(1, "received", lines)]
