"""Year-end close (年终结转): unspent balances carried over into the next year, or
recovered upward, bottom up, with every fen accounted for at every level.

From the command line on a ``network init`` province, on SQLite and on PostgreSQL; two
operators accepting the same statement at once, in threads with their own connections.
"""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from test_allocate import allocate, listing, run, settle

from nodes import Node
from nodes.fiscal import yearend
from nodes.fiscal.appropriations import balances
from nodes.fiscal.ledger import Entry, record
from nodes.fiscal.reconcile.records import stale
from nodes.network import Network
from schema.engine import reading
from schema.tables import appropriation
from sync.errors import InputError

P1 = "410000-2026-000001"  # the province's 1,000.00 to 郑州市
C1 = "410100-2026-000001"  # 郑州市's 600.00 broken down to 中原区
CODESETS = Path(__file__).resolve().parent.parent / "config" / "codesets" / "2026"


def import_2027_codes(network: Network, tmp_path: Path, year: int = 2027) -> None:
    """The 2027 code set (新年度科目; of ``year`` when told), as the province imports it:
    the 2026 one again."""
    rows = ["codeset,code,name,parent,level"]
    for name in ("func", "econ", "fund"):
        for line in (CODESETS / f"{name}.csv").read_text(encoding="utf-8").splitlines()[1:]:
            codeset, _year, rest = line.split(",", 2)
            rows.append(f"{codeset},{rest}")
    path = tmp_path / f"codes-{year}.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run(network, "410000", "codes", "import", str(path), "--year", str(year))
    assert result.exit_code == 0, result.stderr


def spend(network: Network, code: str, ident: str, amount: str) -> Any:
    return run(
        network, code, "ledger", "add", "--date", "2026-11-20", "--code", "2050202",
        "--econ", "50201", "--amount", amount, "--appropriation", ident,
    )  # fmt: skip


def held(network: Network, code: str, year: int) -> dict[str, tuple[int, Any]]:
    """What ``code`` received of ``year``: id → (available fen, row)."""
    with Node.open(network.path / code) as node, reading(node.engine) as conn:
        rows = conn.execute(
            sa.select(appropriation).where(
                appropriation.c.recipient == code, appropriation.c.year == year
            )
        ).all()
        left = balances(conn, [r.id for r in rows])
    return {r.id: (left.get(r.id, 0), r) for r in rows}


def unspent(network: Network, code: str, year: int) -> int:
    return sum(fen for fen, _row in held(network, code, year).values())


def closed_and_carried(network: Network) -> None:
    """中原区 closes 2026; 郑州市 accepts its statement, carrying each balance into 2027."""
    assert run(network, "410102", "year", "close", "2026").exit_code == 0
    settle(network)
    accepted = run(
        network, "410100", "year", "close", "2026", "--accept", "410102",
        "--doc", "郑财预〔2027〕1号",
    )  # fmt: skip
    assert accepted.exit_code == 0, accepted.stderr
    settle(network)


def two_levels(network: Network, tmp_path: Path) -> None:
    """1,000.00 to 郑州市, 600.00 of it to 中原区; 中原区 spends 250.00, 郑州市 100.00."""
    assert allocate(network, "410000", "410100", "1000.00").exit_code == 0
    settle(network)
    result = allocate(network, "410100", "410102", "600.00", "--from", P1)
    assert result.exit_code == 0, result.stderr
    settle(network)
    assert spend(network, "410102", C1, "250.00").exit_code == 0
    assert spend(network, "410100", P1, "100.00").exit_code == 0
    import_2027_codes(network, tmp_path)
    settle(network)


def test_a_year_is_carried_over_bottom_up_and_every_fen_is_conserved(
    province: Network, tmp_path: Path
) -> None:
    two_levels(province, tmp_path)
    before = {
        "410102": unspent(province, "410102", 2026),
        "410100": unspent(province, "410100", 2026),
    }
    assert before == {"410102": 350_00, "410100": 300_00}

    early = run(province, "410100", "year", "close", "2026", "--lang", "en")
    assert early.exit_code == 3
    assert "before the nodes it issued to: 410102" in early.stderr

    closed = run(province, "410102", "year", "close", "2026", "--lang", "en")
    assert closed.exit_code == 0, closed.stderr
    assert "a balance statement of 350.00 yuan (1 appropriation(s)) to 410100" in closed.output
    again = run(province, "410102", "year", "close", "2026", "--lang", "en")
    assert again.exit_code == 3
    assert "2026 is closed here already (已结转)" in again.stderr
    late = spend(province, "410102", C1, "1.00")
    assert late.exit_code == 3
    assert "本节点已结转：不能再据以支出" in late.stderr, late.stderr

    not_yet = run(
        province,
        "410100",
        "year",
        "close",
        "2026",
        "--accept",
        "410102",
        "--doc",
        "郑财预〔2027〕1号",
        "--lang",
        "en",
    )
    assert not_yet.exit_code == 3
    assert "no year-end statement of 2026 from 410102" in not_yet.stderr
    settle(province)
    wrong_year = run(
        province,
        "410100",
        "year",
        "close",
        "2026",
        "--accept",
        "410102",
        "--doc",
        "郑财预〔2026〕9号",
        "--lang",
        "en",
    )
    assert wrong_year.exit_code == 3
    assert "not of the fiscal year 2027" in wrong_year.stderr
    accepted = run(
        province, "410100", "year", "close", "2026", "--accept", "410102",
        "--doc", "郑财预〔2027〕1号", "--lang", "en",
    )  # fmt: skip
    assert accepted.exit_code == 0, accepted.stderr
    assert "350.00 yuan stated, 350.00 carried over, 0.00 recovered" in accepted.output
    assert f"{C1} → 410100-2027-000001" in accepted.output

    in_flight = run(province, "410100", "year", "close", "2026", "--lang", "en")
    assert in_flight.exit_code == 3
    assert f"in flight (no receipt yet): {C1}" in in_flight.stderr
    settle(province)
    assert run(province, "410100", "year", "close", "2026").exit_code == 0
    settle(province)
    twice = [
        run(province, "410000", "year", "close", "2026", "--accept", "410100", "--doc", "豫财预〔2027〕1号",
            "--lang", "en")
        for _ in range(2)
    ]  # fmt: skip
    assert twice[0].exit_code == 0, twice[0].stderr
    assert twice[1].exit_code == 3
    assert "was accepted already" in twice[1].stderr
    settle(province)

    # every level: what was unspent = what is carried over + what was recovered
    for code, fen in before.items():
        assert unspent(province, code, 2026) == 0
        carried = held(province, code, 2027)
        assert sum(f for f, _row in carried.values()) == fen
        (row,) = (r for _f, r in carried.values())
        assert (row.indicator_kind, row.direct, row.func_code) == ("carryover", False, "2050202")
    (county_2027,) = (r for _f, r in held(province, "410102", 2027).values())
    assert county_2027.upper_doc_no == "郑财预〔2026〕1号"
    assert county_2027.doc_no == "郑财预〔2027〕1号"
    # the city's parent appropriation: its carried-over breakdown is still drawn from it
    assert held(province, "410100", 2026)[P1][0] == 0
    shown = listing(province, "410102", "received")
    assert sorted(r["available_fen"] for r in shown) == [0, 350_00]
    listed = run(province, "410100", "year", "list", "--lang", "en")
    assert listed.exit_code == 0, listed.stderr
    assert "to accept" not in listed.output and "carried over" in listed.output
    for code in ("410000", "410100", "410102"):  # the reconciliation digests follow
        with Node.open(province.path / code) as node, reading(node.engine) as conn:
            assert stale(conn, code) == []


def test_a_close_recovers_upward_when_the_settings_say_so(
    province: Network, tmp_path: Path
) -> None:
    two_levels(province, tmp_path)
    for code in ("410000", "410100"):
        settings = province.path / code / "node.toml"
        settings.write_text(settings.read_text() + '\n[year]\nclose = "recover"\n')
    assert run(province, "410102", "year", "close", "2026").exit_code == 0
    settle(province)
    accepted = run(
        province, "410100", "year", "close", "2026", "--accept", "410102",
        "--doc", "郑财预〔2027〕1号", "--lang", "en",
    )  # fmt: skip
    assert accepted.exit_code == 0, accepted.stderr
    assert "350.00 yuan stated, 0.00 carried over, 350.00 recovered" in accepted.output
    settle(province)
    # recovered to the city: its own balance grows by the county's 350.00
    assert unspent(province, "410102", 2026) == 0
    assert unspent(province, "410100", 2026) == 650_00
    assert run(province, "410100", "year", "close", "2026").exit_code == 0
    settle(province)
    result = run(
        province,
        "410000",
        "year",
        "close",
        "2026",
        "--accept",
        "410100",
        "--doc",
        "豫财预〔2027〕1号",
    )
    assert result.exit_code == 0, result.stderr
    settle(province)
    assert unspent(province, "410100", 2026) == 0
    assert held(province, "410100", 2027) == {} and held(province, "410102", 2027) == {}
    with Node.open(province.path / "410000") as node, reading(node.engine) as conn:
        stands = yearend.closing.standing(conn, [P1])
    assert stands[P1] == 1000_00 - 650_00  # what was spent below stays issued


def test_two_operators_accepting_the_same_close_at_once_carry_it_over_once(
    province: Network, tmp_path: Path
) -> None:
    two_levels(province, tmp_path)
    assert run(province, "410102", "year", "close", "2026").exit_code == 0
    settle(province)
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def operator(name: str) -> None:
        with Node.open(province.path / "410100") as node:
            start.wait()
            try:
                outcomes.append(
                    yearend.accept(node, 2026, "410102", "郑财预〔2027〕1号", actor=name)
                )
            except InputError as exc:
                outcomes.append(exc.message)

    threads = [threading.Thread(target=operator, args=(f"op{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = [o for o in outcomes if isinstance(o, yearend.Accepted)]
    refused = [o for o in outcomes if isinstance(o, str)]
    assert len(done) == 1 and len(refused) == 1, outcomes
    assert "was accepted already" in refused[0]
    with Node.open(province.path / "410100") as node, reading(node.engine) as conn:
        carried = conn.execute(
            sa.select(appropriation.c.id).where(appropriation.c.year == 2027)
        ).all()
    assert len(carried) == 1
    settle(province)
    assert unspent(province, "410102", 2027) == 350_00
    assert unspent(province, "410102", 2026) == 0


def test_a_carry_over_needs_the_next_years_code_set(province: Network) -> None:
    assert allocate(province, "410000", "410100", "10.00").exit_code == 0
    settle(province)
    assert run(province, "410100", "year", "close", "2026").exit_code == 0
    settle(province)
    result = run(
        province,
        "410000",
        "year",
        "close",
        "2026",
        "--accept",
        "410100",
        "--doc",
        "豫财预〔2027〕1号",
        "--lang",
        "en",
    )
    assert result.exit_code == 3
    assert "cannot carry over into 2027" in result.stderr
    assert "codes import FILE --year 2027" in result.stderr
    assert held(province, "410100", 2026)[P1][0] == 10_00


@pytest.mark.parametrize("indicator", ["carryover", "结转"])
def test_a_carry_over_is_not_issued_by_hand(province: Network, indicator: str) -> None:
    result = allocate(province, "410000", "410100", "1.00", "--indicator", indicator)
    assert result.exit_code == 3
    assert "结转指标须通过接受年终结转表下达" in result.stderr


def test_spending_at_the_moment_of_the_close_is_in_the_statement_or_refused(
    province: Network, tmp_path: Path
) -> None:
    """The close and a payment at once: the payment comes first and the statement holds
    what it left, or comes after and is refused; never spent and stated both."""
    two_levels(province, tmp_path)
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def close() -> None:
        with Node.open(province.path / "410102") as node:
            start.wait()
            try:
                outcomes["close"] = yearend.close(node, 2026, actor="closer")
            except InputError as exc:
                outcomes["close"] = exc.message

    def pay() -> None:
        entry = Entry(date(2026, 12, 30), "expenditure", "2050202", 100_00, appropriation_id=C1)
        with Node.open(province.path / "410102") as node:
            start.wait()
            try:
                outcomes["pay"] = record(node, [entry], actor="payer")
            except InputError as exc:  # the entries refused, each named with why
                outcomes["pay"] = " ".join([exc.message, *getattr(exc, "problems", [])])

    threads = [threading.Thread(target=close), threading.Thread(target=pay)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (statement,) = outcomes["close"]  # type: ignore[misc]
    if outcomes["pay"] == 1:
        assert statement.balance_fen == 250_00
    else:
        assert "closed here (已结转)" in str(outcomes["pay"])
        assert statement.balance_fen == 350_00
    assert unspent(province, "410102", 2026) == statement.balance_fen


def test_a_county_restored_after_its_close_was_accepted_rejoins_to_what_was_stated(
    province: Network, tmp_path: Path
) -> None:
    """中原区 is backed up, pays 200.00, closes 2026 (150.00 stated) and 郑州市 accepts:
    150.00 recovered and carried into 2027. Its disk dies and it is restored from the
    backup, from before the payment (a payment is this node's own record, in no journal).
    Taking the acceptance again, the recovery is judged against the balance its statement
    named, not the one that stands after the restore (350.00): it rejoins, and the
    carry-over is there. (It was refused against the balance that stands, while its
    receipt said applied: the restore never ended.) And it takes that recovery once: a
    second one of 150.00, which the 200.00 standing again would cover, is refused."""
    from test_backup import backup, bring_back, lose

    two_levels(province, tmp_path)
    assert backup(province, "410102").number == 1
    settle(province)
    assert spend(province, "410102", C1, "200.00").exit_code == 0
    closed_and_carried(province)
    carried = held(province, "410102", 2027)
    assert [fen for fen, _row in carried.values()] == [150_00]

    url = lose(province, "410102")
    bring_back(province, "410102", url)
    settle(province)
    with Node.open(province.path / "410102") as node:
        alerts = node.status().as_dict()["alerts"]
    assert not any(a["kind"] == "restored" for a in alerts), alerts
    assert held(province, "410102", 2027).keys() == carried.keys()
    assert [fen for fen, _row in held(province, "410102", 2027).values()] == [150_00]
    # The 200.00 paid after the backup went with the lost disk: it stands again, unspent.
    assert unspent(province, "410102", 2026) == 200_00
    # The stated balance is recovered once: a second recovery of it is refused.
    city = held(province, "410100", 2026)[P1][0]
    again = run(
        province, "410100", "recover", C1, "--amount", "150.00", "--doc", "郑财预〔2027〕2号"
    )
    assert again.exit_code == 3
    assert "其余额报告已在此确认" in again.stderr
    settle(province)
    assert unspent(province, "410102", 2026) == 200_00
    assert held(province, "410100", 2026)[P1][0] == city  # nothing came back to the city
