"""Appropriations registered on arrival, through real signed change-sets, on both databases.

The recipient records every appropriation and event of a verified change-set, or refuses
the whole change-set (a negative receipt, nothing kept) when one operation is wrong.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from nodes import Node
from nodes.fiscal.appropriations import receiving
from nodes.network import Network, sync_network
from schema.channels import changeset_log
from schema.tables import appropriation, appropriation_event
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK
from sync.pki import load_signer

COUNTY = "410181"
AT = "2026-11-23T08:00:00Z"


def ID(number: int, issuer: str = "410000") -> str:  # noqa: N802
    """An appropriation id of the issuer's own numbering."""
    return f"{issuer}-2026-{number:06d}"


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


def send(
    network: Network,
    operations: list[dict[str, Any]],
    origin: str = "410000",
    recipient: str = COUNTY,
) -> None:
    with Node.open(network.path / origin) as node, node.engine.begin() as conn:
        enqueue(
            conn,
            node.spool,
            load_signer(node.home.keys),
            recipient,
            "appropriation",
            operations,
            SYSTEM_CLOCK,
        )
    assert sync_network(network.path, until_quiet=True, max_rounds=20).quiet


def state(
    network: Network, code: str = COUNTY
) -> tuple[dict[str, int], list[tuple[str, str | None]]]:
    """(amount of each appropriation, [(verdict, reason)] of each change-set, in the order
    they were taken) at a node."""
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        amounts = dict(
            conn.execute(
                sa.select(appropriation.c.id, sa.func.sum(appropriation_event.c.amount_fen))
                .join(appropriation_event)
                .group_by(appropriation.c.id)
            ).all()
        )
        verdicts = [
            (r.verdict, r.reason)
            for r in conn.execute(sa.select(changeset_log).order_by(changeset_log.c.applied_at))
        ]
    return {k: int(v) for k, v in amounts.items()}, verdicts


def test_issues_and_adjustments_are_registered_with_their_history(province: Network) -> None:
    send(
        province,
        [issue(ID(101), 100_000_00), issue(ID(102), 5_00), adjust("increase", ID(101), 20_00)],
    )
    send(province, [adjust("decrease", ID(101), 50_00), adjust("recover", ID(102), 5_00)])
    amounts, verdicts = state(province)
    assert amounts == {ID(101): 100_000_00 + 20_00 - 50_00, ID(102): 0}
    assert verdicts == [("applied", None), ("applied", None)]
    with Node.open(province.path / COUNTY) as node, node.engine.connect() as conn:
        history = conn.execute(
            sa.select(
                appropriation_event.c.seq, appropriation_event.c.kind, appropriation_event.c.at
            )
            .where(appropriation_event.c.appropriation_id == ID(101))
            .order_by(appropriation_event.c.seq)
        ).all()
        row = conn.execute(sa.select(appropriation).where(appropriation.c.id == ID(101))).one()
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
        ([issue(ID(201), 0)], "operation 1: amount must be a positive whole number of fen, not 0"),
        (
            [issue(ID(201), 100), issue(ID(202), -5)],
            "operation 2: amount must be a positive whole number",
        ),
        ([issue(ID(201), 100), {**issue(ID(202), 1), "doc": ""}], "operation 2: 'doc' is missing"),
        ([issue(ID(201), 100, type="loan")], "type must be one of general, special, shared"),
        ([issue(ID(201), 100, at="2026-11-23T08:00:00")], "has no time zone"),
        (
            [{"op": "transfer", "id": ID(201), "amount": 1}],
            "unknown appropriation operation 'transfer'",
        ),
        ([issue(ID(201), 100), issue(ID(201), 100)], "issued twice"),
        ([adjust("increase", ID(999999), 100)], f"increase of unknown appropriation {ID(999999)}"),
        (
            [issue(ID(201), 100, doc="文" * 150)],
            "operation 1: 'doc' is longer than 100 characters",
        ),
        ([issue(ID(201), 100, title=["x"])], "operation 1: 'title' is not text"),
        ([issue(ID(201), 10**15 + 1)], "more than the largest amount of one line"),
        (
            [issue(ID(201), 100), adjust("increase", ID(201), 10**15)],
            "past the largest amount of one appropriation",
        ),
        ([issue("410000-2026-x1", 100)], "410000 may issue only ids it numbers itself"),
        ([issue(ID(5, "410100"), 100)], "410000 may issue only ids it numbers itself"),
        ([issue(ID(5, "410000").replace("2026", "2025"), 100)], "numbers itself"),
        (
            [issue(ID(201), 100), adjust("decrease", ID(201), 101)],
            f"exceeds what is still available of {ID(201)} here: 1.00 元",
        ),
    ],
)
def test_a_bad_operation_refuses_the_whole_change_set(
    province: Network, operations: list[dict[str, Any]], reason: str
) -> None:
    send(province, [issue(ID(999), 7_00)])
    send(province, operations)
    amounts, verdicts = state(province)
    assert amounts == {ID(999): 7_00}  # nothing of the refused change-set was kept
    assert verdicts[0] == ("applied", None)
    assert verdicts[1][0] == "rejected"
    assert reason in (verdicts[1][1] or "")


def test_an_id_already_issued_is_refused(province: Network) -> None:
    send(province, [issue(ID(301), 1_00)])
    send(province, [issue(ID(302), 1_00), issue(ID(301), 1_00)])
    amounts, verdicts = state(province)
    assert amounts == {ID(301): 1_00}
    assert verdicts[1] == ("rejected", f"appropriation {ID(301)} was already issued")


def test_a_large_change_set_spans_several_chunks(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receiving, "CHUNK", 500)  # 50,000 operations a chunk in service
    count = 1_200  # more than two streaming chunks
    send(province, [issue(ID(1_000_000 + i), 1 + i % 1000) for i in range(count)])
    amounts, verdicts = state(province)
    assert len(amounts) == count
    assert sum(amounts.values()) == sum(1 + i % 1000 for i in range(count))
    assert verdicts == [("applied", None)]


def test_only_the_issuer_moves_an_appropriation(province: Network) -> None:
    """The province is above the county, but the city issued this appropriation: the
    province's increase and recovery of it are refused by the county and change nothing."""
    county = "410102"
    city_issued = ID(1, "410100")
    send(
        province,
        [issue(city_issued, 500_00, doc="郑财教〔2026〕12号")],
        origin="410100",
        recipient=county,
    )
    send(province, [adjust("increase", city_issued, 100_00)], recipient=county)
    send(province, [adjust("recover", city_issued, 100_00)], recipient=county)
    amounts, verdicts = state(province, county)
    assert amounts == {city_issued: 500_00}
    assert [v for v, _ in verdicts] == ["applied", "rejected", "rejected"]
    for _verdict, reason in verdicts[1:]:
        assert "only its issuer 410100 may change it, not 410000" in (reason or "")
