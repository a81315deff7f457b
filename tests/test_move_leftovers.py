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
from schema.channels import changeset_log

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
