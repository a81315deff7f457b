"""What is available of the appropriations a node holds (指标余额), read a block at a time.

:func:`iter_holdings` reads the balances of each block of what a node received through a
query selecting the block (its ids from the first to the last), not through thousands of
bound ids; and the spending of an appropriation is found by its id in the ledger (an
index). The figures are those :func:`balances` gives for each id alone, on data with
several appropriations, a breakdown whose recovery the recipient refused, one decreased
to nothing, one whose decrease is pending its receipt, and spending at both levels.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from nodes import Node
from nodes.fiscal.appropriations import Allocation, allocate, balances, change, drawing, holdings
from nodes.fiscal.appropriations import listings as listings_module
from nodes.fiscal.ledger import Entry, record
from nodes.network import Network, sync_network
from schema.tables import appropriation
from sync.errors import RowsRefused

YEAR = 2026
ACTOR = "test"
SPENT_ON = date(YEAR, 6, 30)


@pytest.fixture
def held(province: Network) -> Iterator[dict[str, Any]]:
    """The demo province after a year of breakdowns, refusals and spending at 410100."""
    nodes = {code: Node.open(province.path / code) for code in ("410000", "410100", "410102")}
    try:
        ids = _a_year(province, nodes)
        yield {"nodes": nodes, "ids": ids}
    finally:
        for node in nodes.values():
            node.close()


def _settle(province: Network) -> None:
    assert sync_network(province.path, until_quiet=True, max_rounds=30).quiet


def _a_year(province: Network, nodes: dict[str, Node]) -> dict[str, str]:
    def line(to: str, fen: int, func: str, doc: str, parent: str | None = None) -> Allocation:
        return Allocation(to, fen, func, "50201", "111", doc, YEAR, parent_id=parent)

    p1, p2, p3, p4 = allocate(
        nodes["410000"],
        [
            line("410100", 100_000, "2050202", "豫财预〔2026〕1号"),
            line("410100", 200_000, "2050201", "豫财预〔2026〕1号"),
            line("410100", 50_000, "2050202", "豫财预〔2026〕2号"),
            line("410100", 70_000, "2050203", "豫财预〔2026〕2号"),
        ],
        actor=ACTOR,
    )
    _settle(province)
    city = nodes["410100"]
    c1, c2, c3, c4 = allocate(
        city,
        [
            line("410102", 60_000, "2050202", "郑财预〔2026〕1号", p1),
            line("410122", 80_000, "2050201", "郑财预〔2026〕1号", p2),
            line("410102", 30_000, "2050201", "郑财预〔2026〕1号", p2),
            line("410102", 50_000, "2050202", "郑财预〔2026〕1号", p3),
        ],
        actor=ACTOR,
    )
    _settle(province)
    record(
        nodes["410102"], [Entry(SPENT_ON, "expenditure", "2050202", 50_000, None, c1)], actor=ACTOR
    )
    change(city, c1, "recover", 20_000, "郑财预〔2026〕2号", actor=ACTOR)  # refused below
    change(city, c2, "decrease", 80_000, "郑财预〔2026〕3号", actor=ACTOR)  # to nothing
    record(
        city,
        [
            Entry(SPENT_ON, "expenditure", "2050203", 10_000, None, p4),
            Entry(SPENT_ON, "expenditure", "2050201", 5_000, None, p2),
            Entry(SPENT_ON, "revenue", "10101", 7_000),
        ],
        actor=ACTOR,
    )
    _settle(province)
    change(city, c3, "decrease", 10_000, "郑财预〔2026〕4号", actor=ACTOR)  # pending
    return {"p1": p1, "p2": p2, "p3": p3, "p4": p4, "c1": c1, "c2": c2, "c3": c3, "c4": c4}


def _one_by_one(node: Node) -> dict[str, int]:
    """The balance of each appropriation received at ``node``, asked for alone."""
    with node.engine.connect() as conn:
        ids = conn.execute(
            sa.select(appropriation.c.id).where(appropriation.c.recipient == node.spec.code)
        ).scalars()
        return {ident: balances(conn, [ident]).get(ident, 0) for ident in ids}


@pytest.mark.parametrize("block", [1, 2, 3, 2_000])
def test_holdings_read_by_block_give_each_balance_as_asked_alone(
    held: dict[str, Any], block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listings_module, "STREAM_ROWS", block)
    ids = held["ids"]
    for code, expected in (
        ("410100", {"p1": 40_000, "p2": 165_000, "p3": 0, "p4": 60_000}),
        ("410102", {"c1": 10_000, "c3": 30_000, "c4": 50_000}),
    ):
        node = held["nodes"][code]
        alone = _one_by_one(node)
        assert alone == {ids[k]: fen for k, fen in expected.items()}
        listed = {h.id: h.available_fen for h in holdings(node, issued=False, year=YEAR)}
        assert listed == alone
        with node.engine.connect() as conn:
            assert balances(conn, list(alone)) == alone


def test_a_block_of_holdings_binds_its_first_and_last_id_only(held: dict[str, Any]) -> None:
    city = held["nodes"]["410100"]
    ids = held["ids"]
    bound: list[Any] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        values = parameters.values() if isinstance(parameters, dict) else parameters
        bound.extend(v for v in values if isinstance(v, str))

    sa.event.listen(city.engine, "before_cursor_execute", seen)
    try:
        listed = [h.id for h in holdings(city, issued=False, year=YEAR)]
    finally:
        sa.event.remove(city.engine, "before_cursor_execute", seen)
    assert listed == [ids["p1"], ids["p2"], ids["p3"], ids["p4"]]
    assert ids["p1"] in bound and ids["p4"] in bound
    assert ids["p2"] not in bound and ids["p3"] not in bound


def test_the_spending_of_an_appropriation_is_found_by_its_id(held: dict[str, Any]) -> None:
    city = held["nodes"]["410100"]
    query = "SELECT sum(amount_fen) FROM ledger_entry WHERE appropriation_id = 'x'"
    with city.engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # a table this small is read whole otherwise
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = conn.exec_driver_sql(f"EXPLAIN {query}").all()
        else:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}").all()
    assert any("ix_ledger_entry_appropriation_id" in str(row) for row in plan), plan


def test_a_block_is_found_by_the_key_alone(held: dict[str, Any]) -> None:
    """A block's ids are read through the key: beside the node's own filter, SQLite read
    them through the recipient's index, every holding of the node for every block."""
    city = held["nodes"]["410100"]
    with city.engine.connect() as conn:
        block = listings_module._between("410000-2026-0000001", "410000-2026-0000009")
        query = str(block.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "postgresql":  # a table this small is read whole otherwise
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = conn.exec_driver_sql(f"EXPLAIN {query}").all()
        else:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}").all()
    assert not any("recipient" in str(row) for row in plan), plan
    assert any("appropriation" in str(row) for row in plan), plan


FUNC = {"p1": "2050202", "p2": "2050201", "p3": "2050202", "p4": "2050203", "c1": "2050202"}


def _spending(ids: dict[str, str], *amounts: tuple[str, int]) -> list[Entry]:
    return [Entry(SPENT_ON, "expenditure", FUNC[k], fen, None, ids[k]) for k, fen in amounts]


@pytest.mark.parametrize("block", [1, 2, 2_000])
def test_spending_is_checked_against_each_balance_read_by_block(
    held: dict[str, Any], block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spending against appropriations locked and read a block at a time: each is held
    to its own balance (that of :func:`balances` for it alone), whichever block it falls
    in; what was issued here is not received here."""
    monkeypatch.setattr(drawing, "BLOCK", block)
    city, ids = held["nodes"]["410100"], held["ids"]
    before = _one_by_one(city)
    with pytest.raises(RowsRefused) as refused:
        record(
            city,
            _spending(ids, ("p1", 40_000), ("p2", 165_001), ("p3", 1), ("p4", 60_000), ("c1", 1)),
            actor=ACTOR,
        )
    problems = [str(p) for p in refused.value.problems]
    assert len(problems) == 3, problems
    assert f"{ids['p2']}: 1,650.00" in problems[0]
    assert f"{ids['p3']}: 0.00" in problems[1]
    assert f"{ids['c1']} is not an appropriation received here" in problems[2]
    assert _one_by_one(city) == before  # all or nothing
    record(city, _spending(ids, ("p1", 40_000), ("p2", 165_000), ("p4", 60_000)), actor=ACTOR)
    assert {k: _one_by_one(city)[ids[k]] for k in ("p1", "p2", "p3", "p4")} == dict.fromkeys(
        ("p1", "p2", "p3", "p4"), 0
    )


def test_spending_binds_each_id_once_to_lock_it(held: dict[str, Any]) -> None:
    """A batch of spending binds each appropriation's id to lock it, and its balance is
    read by the block's first and last id: one between them is bound once, not once more
    for each of the three sums and the closed year."""
    city, ids = held["nodes"]["410100"], held["ids"]
    bound: list[Any] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        values = parameters.values() if isinstance(parameters, dict) else parameters
        bound.extend(v for v in values if isinstance(v, str))

    sa.event.listen(city.engine, "before_cursor_execute", seen)
    try:
        record(city, _spending(ids, ("p1", 1), ("p2", 1), ("p4", 1)), actor=ACTOR)
    finally:
        sa.event.remove(city.engine, "before_cursor_execute", seen)
    assert sorted([ids["p1"], ids["p2"], ids["p4"]]) == [ids["p1"], ids["p2"], ids["p4"]]
    assert bound.count(ids["p2"]) == 1, bound


def test_a_few_ids_far_apart_are_read_by_their_ids_not_their_range(
    province: Network, held: dict[str, Any]
) -> None:
    """Spending from two appropriations with many held between them reads the two by their
    ids: read by their range, a batch of two would read every appropriation the node holds
    between them (at a node holding 400,000, seconds with the database's write lock held).
    Two adjacent ones are read by their range."""
    city, ids = held["nodes"]["410100"], held["ids"]
    more = allocate(
        held["nodes"]["410000"],
        [
            Allocation("410100", 1_000, "2050202", "50201", "111", f"豫财预〔2026〕{n}号", YEAR)
            for n in range(10, 22)
        ],
        actor=ACTOR,
    )
    _settle(province)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.lower())

    def summed_by_range() -> int:
        return sum(1 for s in statements if "between" in s and "sum(" in s)

    before = _one_by_one(city)
    sa.event.listen(city.engine, "before_cursor_execute", seen)
    try:
        far = [Entry(SPENT_ON, "expenditure", "2050202", 1, None, i) for i in (ids["p1"], more[-1])]
        record(city, far, actor=ACTOR)
        assert summed_by_range() == 0
        near = [Entry(SPENT_ON, "expenditure", "2050202", 1, None, i) for i in more[:2]]
        record(city, near, actor=ACTOR)
        assert summed_by_range() > 0
    finally:
        sa.event.remove(city.engine, "before_cursor_execute", seen)
    after = _one_by_one(city)
    for ident in (ids["p1"], more[-1], more[0], more[1]):
        assert after[ident] == before[ident] - 1
