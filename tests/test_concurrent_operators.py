"""Many operators at one node at once, and the agent syncing beside them: no fen is lost.

Four operators at a city break down, spend, increase, decrease and recover against the
same three appropriations, in threads with their own database connections; an operator
at the province adjusts and recovers those appropriations and issues new ones; a fifth
thread runs sync rounds all the while, so the city applies the province's decreases and
recoveries in the middle of it; a monitor reads the city's balances in consistent
snapshots throughout. On PostgreSQL (READ COMMITTED) and on SQLite.

Afterwards: no balance was ever negative, every refusal was a clean refusal, ids were
handed out without a gap or a repeat, and every fen the province issued is accounted for
to the fen at the city and its counties.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from nodes import Node
from nodes.exchange import Exchange
from nodes.fiscal.appropriations import Allocation, allocate, balances, change
from nodes.fiscal.ledger import Entry, record
from nodes.fiscal.reconcile.records import stale
from nodes.network import Network, sync_network
from schema.channels import outbox
from schema.engine import reading
from schema.tables import appropriation, appropriation_event, ledger_entry
from sync.errors import InputError

PROVINCE, CITY, COUNTIES = "410000", "410100", ("410102", "410122")
YEAR, FUNC, ECON, FUND = 2026, "2050202", "50201", "111"
OPERATORS, OPERATIONS = 4, 50
ISSUED = 50_000_00  # fen, each of the three appropriations the city starts with


class Tally:
    """What the threads did, and anything that went wrong in a way it must not."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.failures: list[str] = []
        self.lowest = 0

    def attempt(self, what: str, action: Callable[..., object], *args: Any, **kw: Any) -> None:
        try:
            action(*args, **kw)
        except InputError:  # a clean refusal (a balance, a rule): exactly what may happen
            with self.lock:
                self.refused[what] += 1
        except Exception as exc:  # noqa: BLE001  (anything else is the failure looked for)
            with self.lock:
                self.failures.append(f"{what}: {type(exc).__name__}: {exc}")
        else:
            with self.lock:
                self.done[what] += 1


def issued_here(node: Node) -> list[str]:
    with reading(node.engine) as conn:
        query = sa.select(appropriation.c.id).where(appropriation.c.issuer == node.spec.code)
        return sorted(conn.execute(query).scalars())


def city_operator(home: Path, number: int, parents: list[str], tally: Tally, docs: Any) -> None:
    rng = random.Random(number)
    with Node.open(home) as node:
        for _ in range(OPERATIONS):
            parent = rng.choice(parents)
            amount = rng.randint(1, ISSUED // 12)
            kind = rng.choice(("break down", "spend", "batch", "adjust", "adjust"))
            if kind == "break down":
                line = Allocation(
                    rng.choice(COUNTIES),
                    amount,
                    FUNC,
                    ECON,
                    FUND,
                    "郑财" + next(docs),
                    YEAR,
                    parent_id=parent,
                )
                tally.attempt(kind, allocate, node, [line], actor=f"op{number}")
            elif kind == "batch":  # several parents at once: locks taken in id order
                lines = [
                    Allocation(
                        COUNTIES[i % 2],
                        amount // 3 + i,
                        FUNC,
                        ECON,
                        FUND,
                        "郑财" + next(docs),
                        YEAR,
                        parent_id=p,
                    )
                    for i, p in enumerate(rng.sample(parents, 2) + [parent])
                ]
                tally.attempt(kind, allocate, node, lines, actor=f"op{number}")
            elif kind == "spend":
                entry = Entry(
                    date(YEAR, 6, 1), "expenditure", FUNC, amount, appropriation_id=parent
                )
                tally.attempt(kind, record, node, [entry], actor=f"op{number}")
            else:
                mine = issued_here(node)
                if not mine:
                    continue
                target = rng.choice(mine)
                how = rng.choice(("increase", "decrease", "recover"))
                tally.attempt(
                    how, change, node, target, how, amount // 4 + 1, "郑财" + next(docs), actor="op"
                )


def province_operator(home: Path, parents: list[str], tally: Tally, docs: Any) -> None:
    rng = random.Random(99)
    with Node.open(home) as node:
        for _ in range(OPERATIONS):
            if rng.random() < 0.2:
                line = Allocation(
                    CITY, rng.randint(1, ISSUED), FUNC, ECON, FUND, "豫财" + next(docs), YEAR
                )
                tally.attempt("issue", allocate, node, [line], actor="province")
                continue
            how = rng.choice(("increase", "decrease", "recover"))
            target = rng.choice(parents)
            amount = rng.randint(1, ISSUED // 4)
            tally.attempt(how, change, node, target, how, amount, "豫财" + next(docs), actor="p")


def agent(network: Network, stop: threading.Event, tally: Tally) -> None:
    codes = (PROVINCE, CITY, *COUNTIES)
    nodes = [Node.open(network.path / code) for code in codes]
    exchanges = [Exchange(node) for node in nodes]
    try:
        while not stop.is_set():
            for exchange in exchanges:
                tally.attempt("sync round", exchange.run_round, retransmit_now=True)
    finally:
        for exchange in exchanges:
            exchange.close()
        for node in nodes:
            node.close()


def monitor(home: Path, stop: threading.Event, tally: Tally) -> None:
    """The city's balances in consistent snapshots; the lowest one ever seen."""
    with Node.open(home) as node:
        while not stop.is_set():
            with reading(node.engine) as conn:
                if conn.dialect.name == "postgresql":
                    conn.execution_options(isolation_level="REPEATABLE READ")
                ids = sa.select(appropriation.c.id).where(appropriation.c.recipient == CITY)
                lowest = min(balances(conn, ids).values(), default=0)
            with tally.lock:
                tally.lowest = min(tally.lowest, lowest)
            time.sleep(0.02)


def amounts(conn: sa.Connection, *where: Any) -> dict[str, int]:
    """The sum of the events of each appropriation (all of them, or those ``where``)."""
    query = (
        sa.select(
            appropriation_event.c.appropriation_id, sa.func.sum(appropriation_event.c.amount_fen)
        )
        .select_from(
            appropriation_event.outerjoin(outbox, outbox.c.id == appropriation_event.c.changeset_id)
        )
        .where(*where)
        .group_by(appropriation_event.c.appropriation_id)
    )
    return {ident: int(fen) for ident, fen in conn.execute(query)}


@pytest.mark.slow
def test_many_operators_and_the_agent_at_once_lose_no_fen(province: Network) -> None:
    docs = iter(f"预〔{YEAR}〕{n}号" for n in range(1, 100_000))  # after the issuer's 简称
    with Node.open(province.path / PROVINCE) as node:
        lines = [
            Allocation(CITY, ISSUED, FUNC, ECON, FUND, "豫财" + next(docs), YEAR) for _ in range(3)
        ]
        parents = allocate(node, lines, actor="province")
    assert sync_network(province.path, until_quiet=True, max_rounds=20).quiet

    tally = Tally()
    stop = threading.Event()
    began = time.monotonic()
    with ThreadPoolExecutor(OPERATORS + 3) as pool:
        background = [
            pool.submit(agent, province, stop, tally),
            pool.submit(monitor, province.path / CITY, stop, tally),
        ]
        operators = [
            pool.submit(city_operator, province.path / CITY, n, parents, tally, docs)
            for n in range(OPERATORS)
        ]
        operators.append(
            pool.submit(province_operator, province.path / PROVINCE, parents, tally, docs)
        )
        for future in operators:
            future.result()
        stop.set()
        for future in background:
            future.result()
    elapsed = time.monotonic() - began
    assert sync_network(province.path, until_quiet=True, max_rounds=40).quiet

    assert not tally.failures, "\n".join(tally.failures[:10])
    assert tally.lowest >= 0, f"a balance at the city went down to {tally.lowest} fen"
    assert sum(tally.done.values()) > OPERATORS * 5 and sum(tally.refused.values()) > 0, (
        tally.done,
        tally.refused,
    )
    print(
        f"\n{OPERATORS + 1} operators x {OPERATIONS} operations: {dict(tally.done)} done, "
        f"{dict(tally.refused)} refused, in {elapsed:.1f} s"
    )

    with Node.open(province.path / PROVINCE) as p, Node.open(province.path / CITY) as c:
        with reading(p.engine) as pconn, reading(c.engine) as cconn:
            # ids: from 1 up, no gap, no repeat, at both issuers
            for conn, code in ((pconn, PROVINCE), (cconn, CITY)):
                ids = sorted(
                    conn.execute(
                        sa.select(appropriation.c.id).where(appropriation.c.issuer == code)
                    ).scalars()
                )
                assert ids == [f"{code}-{YEAR}-{n:06d}" for n in range(1, len(ids) + 1)]
            applied = outbox.c.receipt_verdict == "applied"
            issued_by_province = amounts(pconn, applied)
            received = (
                amounts(cconn, appropriation.c.recipient == CITY) if False else amounts(cconn)
            )
            city_rows = {r.id: r for r in cconn.execute(sa.select(appropriation))}
            for ident, row in city_rows.items():
                if row.recipient == CITY:  # what the city holds is what the province issued
                    assert received[ident] == issued_by_province.get(ident, 0), ident
            standing = amounts(cconn, applied)  # the city's breakdowns, as acknowledged
            spent: dict[str, int] = defaultdict(int)
            for ident, fen in cconn.execute(
                sa.select(ledger_entry.c.appropriation_id, ledger_entry.c.amount_fen)
            ):
                spent[ident] += fen
            broken_down: dict[str, int] = defaultdict(int)
            for ident, row in city_rows.items():
                if row.issuer == CITY:
                    broken_down[row.parent_id] += standing.get(ident, 0)
            left = balances(cconn, [i for i, r in city_rows.items() if r.recipient == CITY])
            for ident, row in city_rows.items():
                if row.recipient != CITY:
                    continue
                assert left[ident] >= 0
                assert received[ident] == left[ident] + broken_down[ident] + spent[ident], ident
            city_issued = {i: standing.get(i, 0) for i, r in city_rows.items() if r.issuer == CITY}
    held_below: dict[str, int] = {}
    for county in COUNTIES:
        with Node.open(province.path / county) as node, reading(node.engine) as conn:
            held_below.update(amounts(conn))
    assert held_below == {i: fen for i, fen in city_issued.items() if i in held_below}
    assert set(held_below) == set(city_issued)
    for code in (PROVINCE, CITY, *COUNTIES):  # digests kept in step by every writer at once
        with Node.open(province.path / code) as node, reading(node.engine) as conn:
            assert stale(conn, code) == [], code
