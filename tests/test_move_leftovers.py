"""What a move leaves behind: the detour copy of the topology change-set and the former
parent's own change-sets in the moved node's old mailbox are collected by the moved
node; an adjustment made after a move sends its 抄送 copy to the nodes now in between,
as an issue would.

On a ``network init`` province, on SQLite and on PostgreSQL, with real sync rounds.
"""

from __future__ import annotations

import sqlalchemy as sa
from test_allocate import settle
from test_membership import give, listing, run

from nodes import Node, former
from nodes.exchange import Exchange
from nodes.network import Network
from schema.channels import changeset_log, outbox

COUNTY, CITY = "410122", "410100"


def one_round(network: Network, code: str) -> None:
    with Node.open(network.path / code) as node:
        exchange = Exchange(node)
        try:
            exchange.run_round()
        finally:
            exchange.close()


def old_mailbox(network: Network) -> list[str]:
    return sorted(p.name for p in (network.path / CITY / "mailboxes" / COUNTY / "down").iterdir())


def test_a_moved_node_collects_what_waits_in_its_old_mailbox(province: Network) -> None:
    """The city breaks down to 中牟县 and the county is moved under the province before it
    collected that; the city relays the topology's detour copy into the same mailbox.
    The county, given the new topology by its operator, dials the province, and also
    empties its old mailbox: the copy is a duplicate, the breakdown is taken in order."""
    top = give(province, "410000", CITY, "1000.00", "豫财预〔2026〕1号")
    settle(province)
    give(province, CITY, COUNTY, "600.00", "郑财预〔2026〕1号", "--from", top)
    one_round(province, CITY)  # into the county's mailbox at the city
    moved = run(province, "410000", "network", "move-node", "--code", COUNTY, "--parent", "410000")
    assert moved.exit_code == 0, moved.stderr
    one_round(province, "410000")
    one_round(province, CITY)  # takes version 1, relays the detour copy down
    assert len(old_mailbox(province)) == 2
    given = (province.path / "410000" / "topology.toml").read_bytes()
    (province.path / COUNTY / "topology.toml").write_bytes(given)

    one_round(province, COUNTY)
    assert old_mailbox(province) == []
    with Node.open(province.path / COUNTY) as county:
        assert county.spec.parent == "410000"
        assert [f.code for f in former.to_collect(county)] == [CITY]  # not found empty yet
    one_round(province, COUNTY)
    with Node.open(province.path / COUNTY) as county:
        assert former.to_collect(county) == []
        with county.engine.connect() as conn:
            taken = conn.execute(
                sa.select(
                    changeset_log.c.origin, changeset_log.c.kind, changeset_log.c.verdict
                ).order_by(changeset_log.c.origin, changeset_log.c.seq)
            ).all()
    assert [tuple(t) for t in taken] == [
        ("410000", "topology", "applied"),
        (CITY, "appropriation", "applied"),
    ]
    settle(province)
    assert [r["amount_fen"] for r in listing(province, COUNTY, "received")] == [60_000]
    assert old_mailbox(province) == []


def copies_at(network: Network, code: str) -> dict[str, int]:
    from nodes.fiscal.appropriations.copies import jurisdiction

    with Node.open(network.path / code) as node:
        return {s.id: s.amount_fen for s in jurisdiction(node) if s.copy}


def test_an_adjustment_after_a_move_copies_the_new_parent_and_not_the_old_one(
    province: Network,
) -> None:
    """The province issued to 中牟县 under 郑州市 (郑州市 holds the 抄送 copy); the county
    moves under 洛阳市; the province's 调减 then copies 洛阳市, which opens the copy from
    what stood and takes the decrease, as an issue made now would copy it. 郑州市's copy
    stays as it was: it is no longer in between."""
    ident = give(province, "410000", COUNTY, "1000.00", "豫财预〔2026〕1号")
    settle(province)
    assert copies_at(province, CITY) == {ident: 100_000}
    moved = run(province, "410000", "network", "move-node", "--code", COUNTY, "--parent", "410300")
    assert moved.exit_code == 0, moved.stderr
    settle(province)
    cut = run(
        province, "410000", "adjust", ident, "--delta", "-100.00", "--doc", "豫财预〔2026〕2号"
    )
    assert cut.exit_code == 0, cut.stderr
    settle(province)
    assert copies_at(province, "410300") == {ident: 90_000}
    assert copies_at(province, CITY) == {ident: 100_000}
    with Node.open(province.path / "410000") as top, top.engine.connect() as conn:
        verdicts = conn.execute(
            sa.select(outbox.c.recipient, outbox.c.kind, outbox.c.receipt_verdict)
            .where(outbox.c.kind == "copy")
            .order_by(outbox.c.seq)
        ).all()
    assert [tuple(v) for v in verdicts] == [
        (CITY, "copy", "applied"),
        ("410300", "copy", "applied"),
    ]
    assert [r["amount_fen"] for r in listing(province, COUNTY, "received")] == [90_000]
    again = run(
        province, "410000", "adjust", ident, "--delta", "50.00", "--doc", "豫财预〔2026〕3号"
    )
    assert again.exit_code == 0, again.stderr
    settle(province)
    assert copies_at(province, "410300") == {ident: 95_000}
