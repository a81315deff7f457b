"""A node still rejoining holds an answer from a peer that is restored from a backup in
turn before the node finishes: what the peer's lost state returned is void at the node,
and the node rejoins all the same: a real ``network init`` province, SQLite and
PostgreSQL, real restores and signed files."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from test_backup import amounts, backup, bring_back, check_books, issue, lose, settle
from test_fence_repair import allocate_to_county, taken_at_county

from nodes import Node, rejoin
from nodes.exchange import Exchange
from nodes.network import Network
from schema.backups import rejoin_fence
from schema.channels import quarantine

CITY = "410100"
COUNTY = "410102"
PROVINCE = "410000"


def round_of(network: Network, code: str) -> list[str]:
    """One round of ``code``; what it could not do."""
    with Node.open(network.path / code) as node:
        summary = Exchange(node).run_round(retransmit_now=True)
        return [str(p) for p in summary.problems]


def fence_of_city(network: Network) -> object:
    with Node.open(network.path / COUNTY) as node, node.engine.connect() as conn:
        query = sa.select(rejoin_fence.c.epoch).where(rejoin_fence.c.node == CITY)
        return conn.execute(query).scalar_one_or_none()


def rejoined_at(network: Network, code: str) -> object:
    with Node.open(network.path / code) as node:
        state = rejoin.rejoining(node)
        assert state is not None
        return state.rejoined_at


@pytest.mark.slow
def test_a_node_rejoins_when_a_peer_that_answered_it_is_restored_before_it_finishes(
    province: Network,
) -> None:
    """中原区 and 郑州市 are backed up. 中原区 loses its disk and asks its peers. The city
    issues 100.00 元 to it and answers, returning that change-set (its own, not taken):
    中原区 holds the answer and waits for the province's. The city's disk dies in turn; it
    is restored from its backup, before the 100.00 元, and 中原区 fences it. The city's
    answer still carries the 100.00 元 of its lost state: void at 中原区, not taken. 中原区
    rejoins (before, its rejoin failed at that change-set round after round, and it took
    nothing for good), and the city's own next change-set under that number is taken."""
    parent = issue(province, PROVINCE, CITY, 5000_00, "豫财预〔2026〕1号")
    settle(province)
    backup(province, CITY)
    backup(province, COUNTY)
    settle(province)
    bring_back(province, COUNTY, lose(province, COUNTY))
    round_of(province, COUNTY)  # its requests, left in the city's mailbox
    allocate_to_county(province, "郑财预〔2026〕9号", parent, 100_00)
    round_of(province, CITY)  # answers, and sends the 100.00 元; the province's answer waits
    round_of(province, COUNTY)  # takes the city's answer, still waits for the others
    assert rejoined_at(province, COUNTY) is None

    bring_back(province, CITY, lose(province, CITY))
    round_of(province, CITY)  # its requests
    round_of(province, COUNTY)  # answers the city (the fence), before the province answers
    assert fence_of_city(province) is not None
    assert rejoined_at(province, COUNTY) is None
    settle(province)
    assert rejoined_at(province, COUNTY) is not None
    assert taken_at_county(province) == []
    assert amounts(province, COUNTY, "received") == {}
    with Node.open(province.path / COUNTY) as node, node.engine.connect() as conn:
        query = sa.select(quarantine.c.reason).where(quarantine.c.origin == CITY)
        assert list(conn.execute(query).scalars()) == ["void"]  # its copy that came by mail

    down = issue(province, CITY, COUNTY, 200_00, "郑财预〔2026〕10号", parent=parent)
    settle(province)
    assert [seq for seq, _ in taken_at_county(province)] == [1]
    assert amounts(province, COUNTY, "received") == {down: 200_00}
    assert amounts(province, CITY, "issued") == {down: 200_00}
    check_books(province)
