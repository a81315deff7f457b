"""Appropriations registered on arrival, through real signed change-sets, on both databases.

The recipient records every appropriation and event of a verified change-set, or refuses
the whole change-set (a negative receipt, nothing kept) when one operation is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from nodes import Node, init_network
from nodes.network import Network, sync_network
from schema.channels import changeset_log
from schema.tables import appropriation, appropriation_event
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK
from sync.pki import load_signer

COUNTY = "410181"
AT = "2026-11-23T08:00:00Z"


@pytest.fixture
def province(tmp_path: Path, db_url_template: str | None, demo_topology: Path) -> Network:
    return init_network(tmp_path / "province", demo_topology, db_url_template)


def issue(ident: str, amount: int, **extra: Any) -> dict[str, Any]:
    op = {
        "op": "issue",
        "id": ident,
        "year": 2026,
        "doc": "豫财教〔2026〕12号",
        "title": "义务教育补助",
        "upper_doc": None,
        "parent_id": None,
        "func": "2050202",
        "econ": "50201",
        "fund": "111",
        "type": "special",
        "project": None,
        "amount": amount,
        "actor": "operator",
        "at": AT,
    }
    op.update(extra)
    return op


def adjust(kind: str, ident: str, amount: int) -> dict[str, Any]:
    return {
        "op": kind,
        "id": ident,
        "amount": amount,
        "doc": "豫财教〔2026〕30号",
        "actor": "operator",
        "at": "2026-11-24T08:00:00+08:00",
    }


def send(network: Network, operations: list[dict[str, Any]]) -> None:
    with Node.open(network.path / "410000") as node, node.engine.begin() as conn:
        enqueue(
            conn,
            node.spool,
            load_signer(node.home.keys),
            COUNTY,
            "appropriation",
            operations,
            SYSTEM_CLOCK,
        )
    assert sync_network(network.path, until_quiet=True, max_rounds=20).quiet


def state(network: Network) -> tuple[dict[str, int], list[tuple[str, str | None]]]:
    """(amount of each appropriation, [(verdict, reason)] of each change-set) at the county."""
    with Node.open(network.path / COUNTY) as node, node.engine.connect() as conn:
        amounts = dict(
            conn.execute(
                sa.select(appropriation.c.id, sa.func.sum(appropriation_event.c.amount_fen))
                .join(appropriation_event)
                .group_by(appropriation.c.id)
            ).all()
        )
        verdicts = [
            (r.verdict, r.reason)
            for r in conn.execute(sa.select(changeset_log).order_by(changeset_log.c.seq))
        ]
    return {k: int(v) for k, v in amounts.items()}, verdicts


def test_issues_and_adjustments_are_registered_with_their_history(province: Network) -> None:
    send(province, [issue("A-1", 100_000_00), issue("A-2", 5_00), adjust("increase", "A-1", 20_00)])
    send(province, [adjust("decrease", "A-1", 50_00), adjust("recover", "A-2", 5_00)])
    amounts, verdicts = state(province)
    assert amounts == {"A-1": 100_000_00 + 20_00 - 50_00, "A-2": 0}
    assert verdicts == [("applied", None), ("applied", None)]
    with Node.open(province.path / COUNTY) as node, node.engine.connect() as conn:
        history = conn.execute(
            sa.select(
                appropriation_event.c.seq, appropriation_event.c.kind, appropriation_event.c.at
            )
            .where(appropriation_event.c.appropriation_id == "A-1")
            .order_by(appropriation_event.c.seq)
        ).all()
        row = conn.execute(sa.select(appropriation).where(appropriation.c.id == "A-1")).one()
    assert [(h.seq, h.kind) for h in history] == [(1, "issue"), (2, "increase"), (3, "decrease")]
    assert history[2].at.hour == 0  # 08:00 in Beijing is 00:00 UTC
    assert (row.issuer, row.recipient, row.doc_no, row.transfer_type) == (
        "410000",
        COUNTY,
        "豫财教〔2026〕12号",
        "special",
    )


@pytest.mark.parametrize(
    ("operations", "reason"),
    [
        ([issue("B-1", 0)], "operation 1: amount must be a positive whole number of fen, not 0"),
        (
            [issue("B-1", 100), issue("B-2", -5)],
            "operation 2: amount must be a positive whole number",
        ),
        ([issue("B-1", 100), {**issue("B-2", 1), "doc": ""}], "operation 2: 'doc' is missing"),
        ([issue("B-1", 100, type="loan")], "type must be general or special"),
        ([issue("B-1", 100, at="2026-11-23T08:00:00")], "has no time zone"),
        (
            [{"op": "transfer", "id": "B-1", "amount": 1}],
            "unknown appropriation operation 'transfer'",
        ),
        ([issue("B-1", 100), issue("B-1", 100)], "issued twice"),
        ([adjust("increase", "NOPE", 100)], "increase of unknown appropriation NOPE"),
        (
            [issue("B-1", 100), adjust("decrease", "B-1", 101)],
            "exceeds what is still available of B-1 here: 1.00 元",
        ),
    ],
)
def test_a_bad_operation_refuses_the_whole_change_set(
    province: Network, operations: list[dict[str, Any]], reason: str
) -> None:
    send(province, [issue("KEEP", 7_00)])
    send(province, operations)
    amounts, verdicts = state(province)
    assert amounts == {"KEEP": 7_00}  # nothing of the refused change-set was kept
    assert verdicts[0] == ("applied", None)
    assert verdicts[1][0] == "rejected"
    assert reason in (verdicts[1][1] or "")


def test_an_id_already_issued_is_refused(province: Network) -> None:
    send(province, [issue("C-1", 1_00)])
    send(province, [issue("C-2", 1_00), issue("C-1", 1_00)])
    amounts, verdicts = state(province)
    assert amounts == {"C-1": 1_00}
    assert verdicts[1] == ("rejected", "appropriation C-1 was already issued")


def test_a_large_change_set_spans_several_chunks(province: Network) -> None:
    count = 120_000  # more than two streaming chunks
    send(province, [issue(f"D-{i:06d}", 1 + i % 1000) for i in range(count)])
    amounts, verdicts = state(province)
    assert len(amounts) == count
    assert sum(amounts.values()) == sum(1 + i % 1000 for i in range(count))
    assert verdicts == [("applied", None)]
