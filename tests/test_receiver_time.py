"""Time is the receiver's: lateness by the clock of the node that took a report, change-sets
dated outside their signer's certificate refused, and a city's 全辖 of submitted reports
only. On a ``network init`` province, SQLite and PostgreSQL, nothing mocked."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import provinces
import pytest
import sqlalchemy as sa
from test_changeset import dated

from nodes import Node
from nodes.fiscal import ledger, reports
from nodes.network import Network, sync_network
from schema.channels import changeset_log, outbox, quarantine
from sync import changeset
from sync.clock import FixedClock
from sync.errors import KeyMaterialError
from sync.pki import load_signer

CENTER = "410000-dc"
CITY = "410100"
ACTOR = "tester"


def beijing(day: str, hour: int = 9) -> FixedClock:
    return FixedClock(datetime.fromisoformat(f"{day}T{hour:02d}:00:00+08:00"))


@pytest.fixture
def province(tmp_path: Path, db_url_template: str | None, demo_topology: Path) -> Network:
    # Keys issued on 1 September: everything below is signed after that.
    return provinces.make(
        tmp_path / "province", demo_topology, db_url_template, clock=beijing("2026-09-01")
    )


def at(network: Network, code: str) -> Node:
    return Node.open(network.path / code)


def rows(network: Network, code: str, table: sa.Table, *where: sa.ColumnElement[bool]) -> list:
    with at(network, code) as node, node.engine.connect() as conn:
        return list(conn.execute(sa.select(table).where(*where)).all())


def judged(network: Network, holder: str, code: str, period: str) -> reports.Submitter:
    with at(network, holder) as node:
        now = beijing("2026-12-01").now()
        (found,) = [s for s in reports.submitters(node, period, now) if s.code == code]
    return found


def test_a_slow_clock_county_that_reports_late_is_late(province: Network) -> None:
    county = "410102"
    # Its clock says 5 November, the last day allowed; the receivers' says the 20th.
    with at(province, county) as node:
        reports.submit(node, "2026-10", actor=ACTOR, clock=beijing("2026-11-05"))
    assert judged(province, county, county, "2026-10").state == "sent"  # no receipt yet
    taken = beijing("2026-11-20")
    assert sync_network(province.path, until_quiet=True, max_rounds=20, clock=taken).quiet

    for holder in (CENTER, CITY, county):  # the center, the parent, and the county itself
        found = judged(province, holder, county, "2026-10")
        assert (found.state, found.submitted_at) == ("late", taken.now()), holder
    with at(province, CENTER) as center:
        (version,) = reports.versions(center, "2026-10", county)
    assert version.received_at == taken.now()
    assert version.submitted_at == beijing("2026-11-05").now()  # the sender's say, kept
    # The county knows it from the city's signed receipt: the city's time, not its own.
    (entry,) = rows(province, county, outbox, outbox.c.recipient == CITY)
    assert entry.receipt_taken_at == taken.now()
    receipt = province.path / county / "spool" / "outbox" / entry.receipt_file
    assert next(changeset.iter_operations(receipt))["taken_at"] == "2026-11-20T01:00:00.000000Z"


def test_a_report_from_a_slow_clock_county_is_dated_the_day_it_was_taken(
    province: Network,
) -> None:
    county = "410102"
    spent = ledger.Entry(date(2026, 10, 5), "expenditure", "2050201", 100)
    with at(province, county) as node:
        ledger.record(node, [spent], actor=ACTOR)
        reports.submit(node, "2026-10", actor=ACTOR, clock=beijing("2026-11-02"))
    taken = beijing("2026-11-20")  # late, whatever the county's clock says
    assert sync_network(province.path, until_quiet=True, max_rounds=20, clock=taken).quiet

    def printed(holder: str, region: str, scope: str) -> dict[str, str]:
        with at(province, holder) as node:
            shown = reports.view(node, "2026-10", region=region, scope=scope)
        return {
            "en": reports.render_text(shown, "en").splitlines()[2],
            "zh": reports.render_text(shown, "zh").splitlines()[2],
            "html": reports.render_html(shown, "zh"),
            "files": reports.layout(shown, "zh").heading[2],  # csv and xlsx
        }

    for holder, scope in ((CENTER, "own"), (CITY, "own"), (CENTER, "all")):
        assert judged(province, holder, county, "2026-10").state == "late"
        seen = printed(holder, county, scope)
        assert seen["en"] == "Submitted: 2026-11-20", (holder, scope)
        assert seen["zh"] == seen["files"] == "报送日期：2026-11-20", (holder, scope)
        assert "<p>报送日期：2026-11-20</p>" in seen["html"], (holder, scope)
    # Its own copy is dated by its own clock: the day it submitted it.
    assert printed(county, county, "own")["zh"] == "报送日期：2026-11-02"


def test_a_change_set_dated_before_its_certificate_is_refused(
    province: Network, tmp_path: Path
) -> None:
    county = "410122"
    slow = beijing("2026-08-20")  # before the county had a certificate
    with at(province, county) as node:
        with pytest.raises(KeyMaterialError, match="before its certificate is valid"):
            reports.submit(node, "2026-07", actor=ACTOR, clock=slow)
        assert node.outbox() == []  # nothing queued that every receiver would refuse
        signer = load_signer(node.home.keys)
    # A county whose own writer would not stop it (an older fiscalsync, a tampered one):
    # its report to the city and the center, signed, dated 20 August.
    for recipient in (CITY, CENTER):
        written = changeset.write_changeset(
            tmp_path, signer, recipient, "report", 1, "", [{"op": "report"}], beijing("2026-09-02")
        )
        forged = dated(written.path, signer, slow.now())
        up = province.path / recipient / "mailboxes" / county / "up"
        up.mkdir(parents=True, exist_ok=True)
        forged.rename(up / forged.name)
    sync_network(province.path, until_quiet=True, max_rounds=2, clock=beijing("2026-11-20"))
    for holder in (CENTER, CITY):
        (refused,) = rows(province, holder, quarantine)
        assert refused.reason == "certificate", holder
        assert "certificate of 410122 is not valid before 2026-09-01T01:00:00Z" in refused.detail
        assert "signed at 2026-08-20T01:00:00Z" in refused.detail
        assert rows(province, holder, changeset_log, changeset_log.c.origin == county) == []


def test_a_citys_all_levels_view_sums_submitted_reports_only(province: Network) -> None:
    def spend(day: str, yuan: int) -> None:
        entry = ledger.Entry(date.fromisoformat(day), "expenditure", "2050201", yuan * 100)
        with at(province, CITY) as node:
            ledger.record(node, [entry], actor=ACTOR)

    spend("2026-10-05", 100)
    with at(province, CITY) as node:
        reports.submit(node, "2026-10", actor=ACTOR, clock=beijing("2026-11-03"))
    assert sync_network(province.path, clock=beijing("2026-11-03")).quiet
    spend("2026-10-06", 50)
    with at(province, CITY) as node:  # a correction, not submitted
        draft = reports.generate(node, "2026-10", actor=ACTOR, clock=beijing("2026-11-04"))
        mine = reports.view(node, "2026-10", scope="all")
    assert [(s.version, s.state) for s in draft.sources] == [(2, "draft")]
    assert draft.total("expenditure").period_fen == 15_000
    assert [(s.node, s.version, s.state) for s in mine.sources] == [(CITY, 1, "submitted")]
    assert mine.total("expenditure").period_fen == 10_000
    with at(province, CENTER) as center:
        theirs = reports.view(center, "2026-10", region=CITY, scope="all")
    assert [(x.section, x.level, x.code, x.amounts) for x in mine.lines] == [
        (x.section, x.level, x.code, x.amounts) for x in theirs.lines
    ]
