"""What a closed year refuses, what a refused acceptance undoes, and how the close waits
for what it reasons about (年终结转), on SQLite and on PostgreSQL.

An acceptance its recipient refuses leaves the statement to be accepted again; a closed
year takes nothing new from any issuer, and from above only its acceptance's recovery;
an issuer restored from before its acceptance takes it back; the close and an issue, a
recovery or an arriving change takes the year, its edges and the rows in that order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from test_allocate import allocate, run, settle
from test_year_close import (
    C1,
    P1,
    closed_and_carried,
    held,
    import_2027_codes,
    two_levels,
    unspent,
)

from nodes import Node
from nodes.exchange import Exchange
from nodes.fiscal import yearend
from nodes.fiscal.appropriations import allocate as issue
from nodes.fiscal.appropriations import receiving
from nodes.fiscal.appropriations.closed import MARK, lock_edge, lock_year, of_close
from nodes.fiscal.appropriations.copies import jurisdiction
from nodes.fiscal.appropriations.issuing import Allocation
from nodes.fiscal.appropriations.listings import refused
from nodes.fiscal.reconcile.records import stale
from nodes.fiscal.yearend import accepting
from nodes.network import Network
from schema.channels import outbox
from schema.engine import reading
from schema.migrate import MIGRATIONS
from schema.tables import (
    appropriation,
    appropriation_event,
    code_item,
    year_close,
    year_close_line,
)
from sync.channel import enqueue
from sync.errors import InputError

FUNC = "2050202"


def accept(network: Network, code: str, recipient: str, doc: str) -> Any:
    return run(
        network, code, "year", "close", "2026", "--accept", recipient, "--doc", doc,
        "--lang", "en",
    )  # fmt: skip


def state(network: Network, code: str, recipient: str) -> str:
    with Node.open(network.path / code) as node:
        (found,) = (c for c in yearend.closes(node, 2026) if c.recipient == recipient)
    return found.state


def without_code(network: Network, code: str) -> dict[str, Any]:
    """``code`` loses the 2027 function code carried over (it refuses a carry-over into
    it); returns the row, to be put back with :func:`with_code`."""
    where = (code_item.c.codeset == "func", code_item.c.year == 2027, code_item.c.code == FUNC)
    with Node.open(network.path / code) as node, node.engine.begin() as conn:
        kept = conn.execute(sa.select(code_item).where(*where)).one()._asdict()
        conn.execute(code_item.delete().where(*where))
    return kept


def with_code(network: Network, code: str, kept: dict[str, Any]) -> None:
    with Node.open(network.path / code) as node, node.engine.begin() as conn:
        conn.execute(code_item.insert().values(**kept))


def before_0019(network: Network, code: str, *, then: Any = None) -> None:
    """Take ``code``'s database back to revision 0018 (``then`` writes rows as the code of
    that time did, in the same transaction), and upgrade it with 'db upgrade'."""
    with Node.open(network.path / code) as node:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with node.engine.connect() as conn:
            if node.engine.dialect.name == "sqlite":  # batch mode rebuilds tables
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
            with conn.begin():
                config.attributes["connection"] = conn
                command.downgrade(config, "0018")
                if then is not None:
                    then(conn)
    upgraded = run(network, code, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output + upgraded.stderr


def no_stale_digests(network: Network, *codes: str) -> None:
    for code in codes:
        with Node.open(network.path / code) as node, reading(node.engine) as conn:
            assert stale(conn, code) == []


def test_an_acceptance_its_recipient_refuses_is_undone_and_accepted_again(
    province: Network, tmp_path: Path
) -> None:
    """中原区 does not hold the 2027 code carried over yet: it refuses 郑州市's acceptance.
    The recovery and the carry-over never count, the statement is to be accepted again;
    once the code is there, it is, and every fen is where it was, then carried over."""
    two_levels(province, tmp_path)
    assert run(province, "410102", "year", "close", "2026").exit_code == 0
    settle(province)
    where = (code_item.c.codeset == "func", code_item.c.year == 2027, code_item.c.code == FUNC)
    with Node.open(province.path / "410102") as node, node.engine.begin() as conn:
        kept = conn.execute(sa.select(code_item).where(*where)).one()._asdict()
        conn.execute(code_item.delete().where(*where))
    city_before = unspent(province, "410100", 2026)

    first = accept(province, "410100", "410102", "郑财预〔2027〕1号")
    assert first.exit_code == 0, first.stderr
    assert state(province, "410100", "410102") == "accepted"
    settle(province)
    with Node.open(province.path / "410100") as node:
        (refusal,) = refused(node)
    assert refusal.recipient == "410102" and "not a code of 2027" in refusal.reason
    assert state(province, "410100", "410102") == "stated"
    assert unspent(province, "410102", 2026) == 350_00  # nothing recovered
    assert held(province, "410102", 2027) == {}
    assert unspent(province, "410100", 2026) == city_before
    with Node.open(province.path / "410100") as node, reading(node.engine) as conn:
        assert yearend.closing.standing(conn, [C1]) == {C1: 600_00}
    early = run(province, "410100", "year", "close", "2026", "--lang", "en")
    assert early.exit_code == 3 and "before the nodes it issued to: 410102" in early.stderr

    with Node.open(province.path / "410102") as node, node.engine.begin() as conn:
        conn.execute(code_item.insert().values(**kept))
    again = accept(province, "410100", "410102", "郑财预〔2027〕2号")
    assert again.exit_code == 0, again.stderr
    assert "350.00 yuan stated, 350.00 carried over" in again.output
    settle(province)
    assert state(province, "410100", "410102") == "accepted"
    assert unspent(province, "410102", 2026) == 0
    assert [fen for fen, _row in held(province, "410102", 2027).values()] == [350_00]
    assert unspent(province, "410100", 2026) == city_before
    assert run(province, "410100", "year", "close", "2026").exit_code == 0
    no_stale_digests(province, "410100", "410102")


def test_a_closed_year_takes_no_new_appropriation_from_any_issuer(
    province: Network, tmp_path: Path
) -> None:
    """中原区 closed 2026 with 郑州市; 河南省 then issues it 2026 money directly: refused
    there, with why, and the province's issue counts for nothing."""
    two_levels(province, tmp_path)
    assert run(province, "410102", "year", "close", "2026").exit_code == 0
    settle(province)
    late = allocate(province, "410000", "410102", "100.00")
    assert late.exit_code == 0, late.stderr
    settle(province)
    assert unspent(province, "410102", 2026) == 350_00
    assert all(row.issuer == "410100" for _fen, row in held(province, "410102", 2026).values())
    with Node.open(province.path / "410000") as node:
        (refusal,) = refused(node)
    assert refusal.recipient == "410102"
    assert "410102 closed 2026 (已结转)" in refusal.reason
    assert "any other issuer" in refusal.reason
    # the recovery of what it stated is still taken: its acceptance goes through
    assert accept(province, "410100", "410102", "郑财预〔2027〕1号").exit_code == 0
    settle(province)
    assert unspent(province, "410102", 2026) == 0


def test_an_issuer_restored_from_before_its_acceptance_takes_it_back(
    province: Network, tmp_path: Path
) -> None:
    """郑州市 is backed up with 中原区's statement in hand, accepts it, and its disk dies.
    Restored, it takes the acceptance back from 中原区: accepted, not to be accepted twice,
    and it can close the year."""
    from test_backup import backup, bring_back, lose

    two_levels(province, tmp_path)
    assert run(province, "410102", "year", "close", "2026").exit_code == 0
    settle(province)
    assert state(province, "410100", "410102") == "stated"
    backup(province, "410100")
    settle(province)
    assert accept(province, "410100", "410102", "郑财预〔2027〕1号").exit_code == 0
    settle(province)

    url = lose(province, "410100")
    bring_back(province, "410100", url)
    settle(province)
    with Node.open(province.path / "410100") as node:
        (close,) = (c for c in yearend.closes(node, 2026) if c.recipient == "410102")
    assert (close.state, close.mode, close.doc) == ("accepted", "carry", "郑财预〔2027〕1号")
    twice = accept(province, "410100", "410102", "郑财预〔2027〕2号")
    assert twice.exit_code == 3 and "was accepted already" in twice.stderr
    assert run(province, "410100", "year", "close", "2026").exit_code == 0
    settle(province)
    assert [fen for fen, _row in held(province, "410102", 2027).values()] == [350_00]
    assert unspent(province, "410102", 2026) == 0
    no_stale_digests(province, "410100", "410102")


def test_a_full_recovery_racing_the_close_is_refused_and_the_statement_accepted(
    province: Network, tmp_path: Path
) -> None:
    """郑州市 recovers all 350.00 left of its breakdown while 中原区 closes 2026 before it
    arrives: the statement names 350.00, the recovery is refused down there (a closed year
    takes only its acceptance's), and the statement is accepted, every fen carried over.
    Once the statement is at 郑州市, a recovery there is refused at once."""
    two_levels(province, tmp_path)
    recovered = run(
        province, "410100", "recover", C1, "--amount", "350.00", "--doc", "郑财预〔2026〕5号"
    )
    assert recovered.exit_code == 0, recovered.stderr
    assert run(province, "410102", "year", "close", "2026").exit_code == 0
    settle(province)
    with Node.open(province.path / "410100") as node:
        (refusal,) = refused(node)
    assert "only its issuer's acceptance of the statement" in refusal.reason
    assert state(province, "410100", "410102") == "stated"
    late = run(province, "410100", "recover", C1, "--amount", "1.00", "--doc", "郑财预〔2026〕6号")
    assert late.exit_code == 3
    assert f"410102 已结转 2026 年度：其关于 {C1} 余额的报告已到此" in late.stderr, late.stderr
    late = run(
        province, "410100", "recover", C1, "--amount", "1.00", "--doc", "郑财预〔2026〕6号",
        "--lang", "en",
    )  # fmt: skip
    assert "its statement of what is left of" in late.stderr
    assert "Hint: 'fiscalsync year close 2026 --accept 410102 --doc 文号'" in late.stderr
    accepted = accept(province, "410100", "410102", "郑财预〔2027〕1号")
    assert accepted.exit_code == 0, accepted.stderr
    assert "350.00 yuan stated, 350.00 carried over" in accepted.output
    settle(province)
    assert unspent(province, "410102", 2026) == 0
    assert [fen for fen, _row in held(province, "410102", 2027).values()] == [350_00]
    assert held(province, "410100", 2026)[P1][0] == 300_00
    no_stale_digests(province, "410100", "410102")


def closed_below(province: Network, tmp_path: Path) -> None:
    """中原区 closed 2026 and 郑州市 accepted it: 郑州市 may close 2026 now."""
    two_levels(province, tmp_path)
    assert run(province, "410102", "year", "close", "2026").exit_code == 0
    settle(province)
    assert accept(province, "410100", "410102", "郑财预〔2027〕1号").exit_code == 0
    settle(province)


def test_a_node_issues_nothing_of_a_year_it_closed(province: Network, tmp_path: Path) -> None:
    closed_below(province, tmp_path)
    assert run(province, "410100", "year", "close", "2026").exit_code == 0
    own = allocate(province, "410100", "410122", "10.00")
    assert own.exit_code == 3
    assert "2026 年度本节点已结转：不再下达该年度的指标" in own.stderr, own.stderr
    assert "结转转入的 2027 年度指标照常下达" in own.stderr
    own = allocate(province, "410100", "410122", "10.00", "--lang", "en")
    assert "2026 is closed here (已结转): nothing more of it is issued" in own.stderr
    assert "appropriations of 2027, the year 结转 carries into, are issued as" in own.stderr
    next_year = allocate(
        province, "410100", "410122", "10.00", "--year", "2027", "--doc", "郑财预〔2027〕3号"
    )
    assert next_year.exit_code == 0, next_year.stderr


@pytest.mark.parametrize("mode", ["carry", "recover"])
def test_an_acceptance_on_its_way_never_overdraws_nor_frees_the_parent(
    province: Network, tmp_path: Path, mode: str
) -> None:
    """While an acceptance is on its way to the county, the city's appropriation its
    statement's lines were broken down from stands where it stood: carried over, the
    carry-overs and the recoveries count alike from the moment they are sent (the
    carry-overs alone overdrew it by 50.00 until the receipt came); recovered, the money
    comes back only with the receipt, which may still refuse it."""
    two_levels(province, tmp_path)  # P1: 1,000.00, 600.00 broken down, 100.00 spent
    assert held(province, "410100", 2026)[P1][0] == 300_00
    if mode == "recover":
        settings = province.path / "410100" / "node.toml"
        settings.write_text(settings.read_text() + '\n[year]\nclose = "recover"\n')
    assert run(province, "410102", "year", "close", "2026").exit_code == 0
    settle(province)
    accepted = run(
        province, "410100", "year", "close", "2026", "--accept", "410102",
        "--doc", "郑财预〔2027〕1号",
    )  # fmt: skip
    assert accepted.exit_code == 0, accepted.stderr
    assert held(province, "410100", 2026)[P1][0] == 300_00
    shown = run(province, "410100", "appropriations", "--received", "--lang", "en")
    assert "-" not in "".join(ln.split()[-1] for ln in shown.output.splitlines() if P1 in ln)
    settle(province)
    assert held(province, "410100", 2026)[P1][0] == (300_00 if mode == "carry" else 650_00)
    assert unspent(province, "410102", 2026) == 0


def test_nothing_a_carry_over_gives_back_lands_in_a_closed_year(
    province: Network, tmp_path: Path
) -> None:
    """A carry-over (2027) broken down from a city's 2026 appropriation gives back what it
    is decreased or recovered by to that appropriation: once the city closed 2026 that
    money would stay there for good (no spending, breakdown or statement takes from a
    closed year), so the decrease is refused, nothing written; and the close waits for
    one still on its way, as for any change of the year it closes."""
    carried = "410100-2027-000001"
    two_levels(province, tmp_path)
    closed_and_carried(province)
    recovered = run(
        province, "410100", "recover", carried, "--amount", "10.00", "--doc", "郑财预〔2027〕2号"
    )
    assert recovered.exit_code == 0, recovered.stderr  # 2026 open at the city: taken back
    waiting = run(province, "410100", "year", "close", "2026", "--lang", "en")
    assert waiting.exit_code == 3 and carried in waiting.stderr, waiting.stderr
    settle(province)
    assert run(province, "410100", "year", "close", "2026").exit_code == 0
    settle(province)
    before = held(province, "410100", 2026)[P1][0]
    for kind in ("recover", "adjust"):
        args = ["--amount", "100.00", "--doc", "郑财预〔2027〕3号"]
        if kind == "adjust":
            args = ["--delta", "-100.00", "--doc", "郑财预〔2027〕3号"]
        refused = run(province, "410100", kind, carried, *args, "--lang", "en")
        assert refused.exit_code == 3, (kind, refused.output)
        assert f"{P1}, which {carried} was broken down from, is of a year closed here" in (
            refused.stderr
        )
    settle(province)
    assert held(province, "410100", 2026)[P1][0] == before
    assert held(province, "410102", 2027)[carried][0] == 350_00 - 10_00


def test_an_acceptance_that_recovers_sends_nothing_back_into_a_closed_year(
    province: Network, tmp_path: Path
) -> None:
    """中原区's 2027 carry-over was broken down (carried) from 郑州市's 2026 appropriation,
    a year 郑州市 has closed since. Once 中原区 closes 2027, an acceptance that only
    recovers would give its balance back into that closed year, where it would stay for
    good: refused, naming both, nothing written; the statement waits to be accepted."""
    carried = "410100-2027-000001"
    two_levels(province, tmp_path)
    closed_and_carried(province)
    assert run(province, "410100", "year", "close", "2026").exit_code == 0
    settle(province)
    closed = run(province, "410102", "year", "close", "2027")
    assert closed.exit_code == 0, closed.stderr
    settle(province)
    before = held(province, "410100", 2026)[P1][0]
    with Node.open(province.path / "410100") as node:
        with pytest.raises(InputError) as refused:
            accepting.accept(
                node, 2027, "410102", "郑财预〔2028〕1号", actor="test", mode="recover"
            )
    message = str(refused.value.args[0])
    assert carried in message and P1 in message and "closed" in message, message
    with Node.open(province.path / "410100") as node:
        (close,) = (c for c in yearend.closes(node, 2027) if c.recipient == "410102")
    assert close.state == "stated"  # still to be accepted
    settle(province)
    assert held(province, "410100", 2026)[P1][0] == before
    assert held(province, "410102", 2027)[carried][0] == 350_00


def test_the_close_and_an_acceptance_that_recovers_at_once_never_strand_a_balance(
    province: Network, tmp_path: Path
) -> None:
    """郑州市 closes 2026 while it accepts, only recovering, 中原区's statement of 2027
    (whose carry-over was broken down from 郑州市's 2026 appropriation): the acceptance
    comes first, and the close waits for its recovery on its way; or the close comes
    first, and the acceptance is refused. Never both: the balance would be given back
    into a year already closed."""
    two_levels(province, tmp_path)
    closed_and_carried(province)
    assert run(province, "410102", "year", "close", "2027").exit_code == 0
    settle(province)
    start = threading.Barrier(2)
    done: dict[str, object] = {}

    def one(name: str) -> None:
        with Node.open(province.path / "410100") as node:
            start.wait()
            try:
                if name == "accept":
                    accepting.accept(
                        node, 2027, "410102", "郑财预〔2028〕1号", actor="test", mode="recover"
                    )
                else:
                    yearend.close(node, 2026, actor="test")
                done[name] = "done"
            except InputError as exc:
                done[name] = str(exc.args[0])

    threads = [threading.Thread(target=one, args=(name,)) for name in ("accept", "close")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert list(done.values()).count("done") == 1, done
    settle(province)
    closed_after = run(province, "410100", "year", "close", "2026")  # once nothing is on its way
    assert (closed_after.exit_code == 0) == (done["close"] != "done"), closed_after.stderr
    settle(province)
    if done["accept"] == "done":  # recovered while 2026 was open: the statement names it
        assert held(province, "410100", 2026)[P1][0] == 300_00 + 350_00
    else:
        assert held(province, "410102", 2027)["410100-2027-000001"][0] == 350_00


def _acceptance_from_above_on_its_way(province: Network, tmp_path: Path, spent: str) -> None:
    """中原区 spent ``spent`` of its 2027 carry-over of 350.00 (broken down from 郑州市's
    2026 appropriation P1) and closed 2027; 郑州市 closed 2026 and the province's
    acceptance of it (recovering from P1, carrying over into 2027) is on its way to
    郑州市, not taken yet."""
    two_levels(province, tmp_path)
    with Node.open(province.path / "410100") as city:
        if city.engine.dialect.name != "postgresql":
            pytest.skip("SQLite takes the whole database at once: no two writers interleave")
    closed_and_carried(province)
    import_2027_codes(province, tmp_path, 2028)
    if spent:
        done = run(
            province, "410102", "ledger", "add", "--date", "2027-03-01", "--code", FUNC,
            "--econ", "50201", "--amount", spent, "--appropriation", "410100-2027-000001",
        )  # fmt: skip
        assert done.exit_code == 0, done.stderr
    assert run(province, "410102", "year", "close", "2027").exit_code == 0
    settle(province)
    assert run(province, "410100", "year", "close", "2026").exit_code == 0
    settle(province)
    accepted = accept(province, "410000", "410100", "豫财预〔2027〕1号")
    assert accepted.exit_code == 0, accepted.stderr
    with Node.open(province.path / "410000") as node:
        Exchange(node).run_round()


def _while_it_arrives(
    province: Network, monkeypatch: pytest.MonkeyPatch, work: Callable[[], Any]
) -> tuple[Any, Any]:
    """Run ``work`` while 郑州市 takes the acceptance from above, once that has locked
    what it changes (a sleep widens the window); the round's summary and what ``work``
    gave."""
    real = receiving.closed_here
    holding = threading.Event()

    def slow(conn: Connection, node: str, years: Any) -> Any:
        holding.set()
        time.sleep(3)  # long enough for ``work`` to take what it takes first
        return real(conn, node, years)

    monkeypatch.setattr(receiving, "closed_here", slow)
    done: dict[str, Any] = {}

    def arrive() -> None:
        with Node.open(province.path / "410100") as node:
            done["round"] = Exchange(node).run_round()

    arrival = threading.Thread(target=arrive)
    arrival.start()
    assert holding.wait(60)
    try:
        given = work()
    finally:
        arrival.join()
    assert done["round"].applied == 1 and not done["round"].failed, done["round"]
    return done["round"], given


@pytest.mark.parametrize("mode", ["recover", "carry"])
def test_an_acceptance_and_the_acceptance_from_above_arriving_never_deadlock(
    province: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """郑州市 accepts 中原区's statement of 2027, only recovering (nothing to give back:
    the carry-over was spent) or carrying its 350.00 over (a carry-over of 2028 under
    P1), while it takes the province's acceptance of its own 2026 statement: both are
    done, neither refused by the database (each takes the years before any row)."""
    _acceptance_from_above_on_its_way(province, tmp_path, "350.00" if mode == "recover" else "")

    def accepting_below() -> Any:
        with Node.open(province.path / "410100") as node:
            return accepting.accept(
                node, 2027, "410102", "郑财预〔2028〕1号", actor="test", mode=mode
            )

    _round, accepted = _while_it_arrives(province, monkeypatch, accepting_below)
    assert accepted.stated_fen == (0 if mode == "recover" else 350_00)
    assert accepted.carried_fen == (0 if mode == "recover" else 350_00)


def test_spending_and_the_acceptance_from_above_arriving_never_deadlock(
    province: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """郑州市 records a 2027 expenditure against its 2026 appropriation (refused: of
    another year) while it takes the province's acceptance: refused for what it is, not
    by the database, and the acceptance taken."""
    _acceptance_from_above_on_its_way(province, tmp_path, "350.00")

    def spending() -> Any:
        return run(
            province, "410100", "ledger", "add", "--date", "2027-03-01", "--code", FUNC,
            "--econ", "50201", "--amount", "1.00", "--appropriation", P1, "--lang", "en",
        )  # fmt: skip

    _round, spent = _while_it_arrives(province, monkeypatch, spending)
    assert spent.exit_code == 3 and "deadlock" not in spent.stderr, spent.stderr


def test_nothing_of_a_closed_year_is_spent_with_or_without_an_appropriation(
    province: Network, tmp_path: Path
) -> None:
    """Once a county closed 2026, an expenditure of 2026 is refused whether it names an
    appropriation or not (one that named none was recorded, and changed the closed
    year's reports); one of 2027 and a revenue of 2026 are recorded."""
    from schema.tables import ledger_entry

    def spend(*args: str) -> Any:
        return run(
            province, "410102", "ledger", "add", "--code", "2050202", "--econ", "50201",
            *args, "--lang", "en",
        )  # fmt: skip

    two_levels(province, tmp_path)
    assert run(province, "410102", "year", "close", "2026").exit_code == 0
    with Node.open(province.path / "410102") as node, reading(node.engine) as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(ledger_entry)).scalar()
    named = spend("--date", "2026-11-21", "--amount", "1.00", "--appropriation", C1)
    assert named.exit_code == 3 and "closed here" in named.stderr, named.stderr
    unnamed = spend("--date", "2026-11-21", "--amount", "5000.00")
    assert unnamed.exit_code == 3, unnamed.output
    assert "2026 is closed here (已结转): nothing more of it is spent" in unnamed.stderr
    with Node.open(province.path / "410102") as node, reading(node.engine) as conn:
        after = conn.execute(sa.select(sa.func.count()).select_from(ledger_entry)).scalar()
    assert after == before
    assert spend("--date", "2027-01-05", "--amount", "5.00").exit_code == 0
    revenue = run(
        province, "410102", "ledger", "add", "--date", "2026-12-01", "--direction", "revenue",
        "--code", "10199", "--amount", "5.00",
    )  # fmt: skip
    assert revenue.exit_code == 0, revenue.stderr


def test_a_statement_whose_total_no_sum_is_kept_as_is_refused_whole(province: Network) -> None:
    """Balances adding up to more than a sum of money is kept as (2^63 - 1 fen: 9,224
    appropriations at the largest amount one may hold) are refused with both figures,
    nothing written: SQLite raised a raw OverflowError, PostgreSQL a database error."""
    from schema.types import MAX_AMOUNT_FEN, MAX_STORED_FEN

    count = MAX_STORED_FEN // MAX_AMOUNT_FEN + 1
    with Node.open(province.path / "410000") as node:
        line = Allocation("410100", MAX_AMOUNT_FEN, FUNC, "50201", "111", "豫财预〔2026〕1号", 2026)
        issue(node, [line] * count, actor="test", allow_duplicate=True)
    settle(province)
    refused = run(province, "410100", "year", "close", "2026", "--lang", "en")
    assert refused.exit_code == 3, refused.output
    assert "the balances 410100 states to 410000 for 2026 add up to" in refused.stderr
    assert "more than the largest sum kept (92,233,720,368,547,758.07)" in refused.stderr
    with Node.open(province.path / "410100") as node, reading(node.engine) as conn:
        assert conn.execute(sa.select(year_close)).all() == []
        assert conn.execute(sa.select(year_close_line)).all() == []


def test_an_own_level_issue_and_the_close_at_once_never_both_pass(
    province: Network, tmp_path: Path
) -> None:
    """郑州市 closes 2026 while an operator issues 本级安排 money of 2026 to 中牟县, which
    received nothing before: the issue comes first and the close waits for 中牟县 (for its
    receipt, then for its close), or the close comes first and the issue is refused; never
    a closed city above an open county."""
    closed_below(province, tmp_path)
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def close() -> None:
        with Node.open(province.path / "410100") as node:
            start.wait()
            try:
                outcomes["close"] = yearend.close(node, 2026, actor="closer")
            except InputError as exc:
                outcomes["close"] = exc.message

    def own_level() -> None:
        line = Allocation("410122", 10_00, FUNC, "50201", "111", "郑财预〔2026〕7号", 2026)
        with Node.open(province.path / "410100") as node:
            start.wait()
            try:
                outcomes["issue"] = issue(node, [line], actor="issuer")
            except InputError as exc:
                outcomes["issue"] = exc.message

    threads = [threading.Thread(target=close), threading.Thread(target=own_level)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if isinstance(outcomes["close"], str):
        assert not isinstance(outcomes["issue"], str)
        waits = ("are in flight (no receipt yet)", "before the nodes it issued to: 410122")
        assert any(why in outcomes["close"] for why in waits), outcomes["close"]
        settle(province)  # the receipt is back: the close still waits for 中牟县's
        later = run(province, "410100", "year", "close", "2026", "--lang", "en")
        assert later.exit_code == 3 and waits[1] in later.stderr
    else:
        assert "2026 is closed here (已结转)" in str(outcomes["issue"])
    with Node.open(province.path / "410100") as node, reading(node.engine) as conn:
        to_410122 = conn.execute(
            sa.select(appropriation.c.id).where(appropriation.c.recipient == "410122")
        ).all()
    assert len(to_410122) == (1 if isinstance(outcomes["close"], str) else 0)


def test_receiving_a_change_takes_the_year_and_the_edge_before_the_rows(
    province: Network, tmp_path: Path
) -> None:
    """A recovery from 中原区's appropriation arrives while its close holds the year and the
    edge and is about to lock the rows: the arrival waits at the year, holding no row, so
    the close locks the rows at once (it was the other way round: the arrival took the row
    first, and the edge, when it took it at all, after it)."""
    two_levels(province, tmp_path)
    with Node.open(province.path / "410102") as county:
        if county.engine.dialect.name != "postgresql":
            pytest.skip("SQLite takes the whole database at once: no two writers interleave")
    recovery = run(
        province, "410100", "recover", C1, "--amount", "10.00", "--doc", "郑财预〔2026〕8号"
    )
    assert recovery.exit_code == 0, recovery.stderr
    with Node.open(province.path / "410100") as city:
        Exchange(city).run_round()  # the change-set is on its way, not taken yet
    done: dict[str, object] = {}

    def arrive() -> None:
        with Node.open(province.path / "410102") as node:
            done["round"] = Exchange(node).run_round()

    with Node.open(province.path / "410102") as county, county.engine.begin() as conn:
        lock_year(conn, "410102", 2026)
        lock_edge(conn, "410100", "410102", 2026)
        arrival = threading.Thread(target=arrive)
        arrival.start()
        time.sleep(2)
        assert "round" not in done  # it waits
        conn.execute(
            sa.select(appropriation.c.id)
            .where(appropriation.c.id == C1)
            .with_for_update(nowait=True)
        ).one()
    arrival.join()
    settle(province)
    assert unspent(province, "410102", 2026) == 340_00


def test_the_close_and_an_arriving_recovery_at_once_each_see_the_other_whole(
    province: Network, tmp_path: Path
) -> None:
    """中原区 closes 2026 while 郑州市's recovery of 10.00 is taken there: the recovery
    comes first and the statement names what it left, or it comes after and is refused
    (a closed year takes only its acceptance's); no error, and every fen carried over."""
    two_levels(province, tmp_path)
    recovery = run(
        province, "410100", "recover", C1, "--amount", "10.00", "--doc", "郑财预〔2026〕8号"
    )
    assert recovery.exit_code == 0, recovery.stderr
    with Node.open(province.path / "410100") as city:
        Exchange(city).run_round()
    start = threading.Barrier(2)
    outcomes: dict[str, Any] = {}

    def close() -> None:
        with Node.open(province.path / "410102") as node:
            start.wait()
            outcomes["close"] = yearend.close(node, 2026, actor="closer")

    def arrive() -> None:
        with Node.open(province.path / "410102") as node:
            exchange = Exchange(node)
            start.wait()
            outcomes["round"] = exchange.run_round()

    threads = [threading.Thread(target=close), threading.Thread(target=arrive)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (statement,) = outcomes["close"]
    assert outcomes["round"].errors == []
    assert statement.balance_fen in (340_00, 350_00)
    assert unspent(province, "410102", 2026) == statement.balance_fen
    settle(province)
    assert unspent(province, "410102", 2026) == statement.balance_fen
    assert accept(province, "410100", "410102", "郑财预〔2027〕1号").exit_code == 0
    settle(province)
    assert [fen for fen, _row in held(province, "410102", 2027).values()] == [statement.balance_fen]
    no_stale_digests(province, "410100", "410102")


def test_an_acceptance_refused_before_0019_is_stated_again_after_the_upgrade(
    province: Network, tmp_path: Path
) -> None:
    """郑州市's acceptance was refused by 中原区 while the code of that time left the
    statement ``accepted`` for good (no change-set was kept with it): the upgrade finds
    the change-set by its recoveries, sees the refusal, and states it again; it is
    accepted again, every fen carried over."""
    two_levels(province, tmp_path)
    assert run(province, "410102", "year", "close", "2026").exit_code == 0
    settle(province)
    kept = without_code(province, "410102")
    doc = "郑财预〔2027〕1号"
    assert accept(province, "410100", "410102", doc).exit_code == 0
    settle(province)
    assert state(province, "410100", "410102") == "stated"

    def as_it_was(conn: Connection) -> None:  # no refused() then: accepted it stayed
        carried = conn.execute(
            sa.select(appropriation.c.id).where(appropriation.c.indicator_kind == "carryover")
        ).scalar_one()
        close = of_close(year_close, "410100", "410102", 2026)
        conn.execute(
            year_close.update()
            .where(close)
            .values(state="accepted", mode="carry", doc_no=doc, accepted_by="operator")
        )
        conn.execute(
            year_close_line.update()
            .where(of_close(year_close_line, "410100", "410102", 2026))
            .values(carried_to=carried)
        )

    before_0019(province, "410100", then=as_it_was)
    assert state(province, "410100", "410102") == "stated"
    with Node.open(province.path / "410100") as node, reading(node.engine) as conn:
        lines = conn.execute(sa.select(year_close_line.c.carried_to)).scalars().all()
    assert lines and set(lines) == {None}
    with_code(province, "410102", kept)
    again = accept(province, "410100", "410102", "郑财预〔2027〕2号")
    assert again.exit_code == 0, again.stderr
    settle(province)
    assert state(province, "410100", "410102") == "accepted"
    assert unspent(province, "410102", 2026) == 0
    assert [fen for fen, _row in held(province, "410102", 2027).values()] == [350_00]
    no_stale_digests(province, "410100", "410102")


def test_an_acceptance_written_before_the_mark_is_taken_and_kept(
    province: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """郑州市 accepted 中原区's statement with the code of before 0019 (its recovery has
    no ``close`` mark) and upgraded while it was on its way: the upgrade keeps the
    change-set that carried it, and 中原区 takes the unmarked recovery, since the same
    change-set carries the balance over."""
    two_levels(province, tmp_path)
    assert run(province, "410102", "year", "close", "2026").exit_code == 0
    settle(province)

    def unmarked(
        conn: Connection, spool: Any, signer: Any, to: str, kind: str, ops: Any, clock: Any
    ) -> Any:
        ops = [{k: v for k, v in op.items() if k != MARK} for op in ops]
        return enqueue(conn, spool, signer, to, kind, ops, clock)

    with monkeypatch.context() as patched:
        patched.setattr(accepting, "enqueue", unmarked)
        accepted = accept(province, "410100", "410102", "郑财预〔2027〕1号")
    assert accepted.exit_code == 0, accepted.stderr
    before_0019(province, "410100")
    with Node.open(province.path / "410100") as node, reading(node.engine) as conn:
        sent = (
            conn.execute(
                sa.select(outbox.c.id)
                .where(outbox.c.recipient == "410102", outbox.c.kind == "appropriation")
                .order_by(outbox.c.seq.desc())
            )
            .scalars()
            .first()
        )
        kept = conn.execute(
            sa.select(year_close.c.accepted_id).where(year_close.c.recipient == "410102")
        ).scalar_one()
    assert kept == sent
    settle(province)
    with Node.open(province.path / "410100") as node:
        assert refused(node) == []
    assert state(province, "410100", "410102") == "accepted"
    assert unspent(province, "410102", 2026) == 0
    assert [fen for fen, _row in held(province, "410102", 2027).values()] == [350_00]
    no_stale_digests(province, "410100", "410102")


def copies_at(network: Network, code: str) -> dict[str, int]:
    """The copies (抄送) ``code`` holds that count in its 全辖 view: id → fen."""
    with Node.open(network.path / code) as node:
        return {s.id: s.amount_fen for s in jurisdiction(node) if s.copy and s.amount_fen}


def received_from(network: Network, code: str, issuer: str) -> dict[str, int]:
    """What ``code`` holds of what ``issuer`` issued it: id → fen (the truth)."""
    with Node.open(network.path / code) as node, reading(node.engine) as conn:
        rows = conn.execute(
            sa.select(appropriation.c.id, sa.func.sum(appropriation_event.c.amount_fen))
            .join(appropriation_event)
            .where(appropriation.c.issuer == issuer, appropriation.c.recipient == code)
            .group_by(appropriation.c.id)
        ).all()
    return {ident: int(fen) for ident, fen in rows if fen}


def test_a_refused_acceptance_over_the_citys_head_takes_its_copies_back(
    province: Network, tmp_path: Path
) -> None:
    """河南省 issued 中原区 100.00 over 郑州市's head (郑州市 holds a copy, 抄送). 中原区
    refuses the province's first acceptance of its statement, takes the second: 郑州市's
    全辖 view of the copies is what 中原区 holds from the province, not off by 100.00."""
    two_levels(province, tmp_path)
    assert allocate(province, "410000", "410102", "100.00").exit_code == 0
    settle(province)
    assert copies_at(province, "410100") == received_from(province, "410102", "410000")
    assert run(province, "410102", "year", "close", "2026").exit_code == 0
    settle(province)
    kept = without_code(province, "410102")
    first = accept(province, "410000", "410102", "豫财预〔2027〕1号")
    assert first.exit_code == 0, first.stderr
    settle(province)
    with Node.open(province.path / "410000") as node:
        (refusal,) = refused(node)
    assert refusal.recipient == "410102"
    assert state(province, "410000", "410102") == "stated"
    assert copies_at(province, "410100") == received_from(province, "410102", "410000")

    with_code(province, "410102", kept)
    again = accept(province, "410000", "410102", "豫财预〔2027〕2号")
    assert again.exit_code == 0, again.stderr
    settle(province)
    assert state(province, "410000", "410102") == "accepted"
    truth = received_from(province, "410102", "410000")
    assert sorted(truth.values()) == [100_00]  # the carry-over of 2027; 2026's is 0
    assert copies_at(province, "410100") == truth
    with Node.open(province.path / "410100") as node:
        assert refused(node) == []
    no_stale_digests(province, "410000", "410102")
