"""A node restored from a backup holds the fences of its peers' restores as they stood
then; the answers to its rejoin requests name the epochs its peers run in now, and the
fences take them: real ``network init`` provinces, SQLite and PostgreSQL, real restores
and signed files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_backup import (
    amounts,
    backup,
    bring_back,
    check_books,
    epoch_of,
    fence_at,
    issue,
    lose,
    settle,
)
from test_fence_repair import allocate_to_county, taken_at_county

from nodes import Node
from nodes.network import Network
from schema.channels import outbox, quarantine
from sync import changeset

CITY = "410100"
COUNTY = "410102"
PROVINCE = "410000"


def quarantined_at(network: Network, code: str, origin: str) -> list[str]:
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        query = sa.select(quarantine.c.reason).where(quarantine.c.origin == origin)
        return list(conn.execute(query).scalars())


def city_restored_twice_with_a_change_set_of_its_first_life_on_its_way(
    network: Network,
) -> tuple[str, Path]:
    """郑州市, restored once (epoch A), issues 100.00 元 to 中原区; both are backed up.
    It issues 777.00 元 (seq 2, epoch A) and its disk dies with that change-set on its way
    (kept aside: returned). Restored again (epoch B), it rejoins. Returns the parent
    appropriation and the lost file."""
    parent = issue(network, PROVINCE, CITY, 5000_00, "豫财预〔2026〕1号")
    settle(network)
    backup(network, CITY)
    settle(network)
    bring_back(network, CITY, lose(network, CITY))
    settle(network)
    allocate_to_county(network, "郑财预〔2026〕1号", parent, 100_00)
    settle(network)
    backup(network, CITY)
    backup(network, COUNTY)
    settle(network)
    allocate_to_county(network, "郑财预〔2026〕99号", parent, 777_00)
    (lost,) = (network.homes[CITY].spool / "outbox").glob(f"{CITY}_{COUNTY}_{2:010d}_*.fcs")
    kept = Path(shutil.copy(lost, network.path.parent / lost.name))
    bring_back(network, CITY, lose(network, CITY))
    settle(network)
    return parent, kept


@pytest.mark.slow
def test_a_peer_restored_from_a_backup_voids_what_a_node_restored_since_lost(
    province: Network,
) -> None:
    """Then 中原区 loses its disk and is restored from its backup, which holds its fence of
    the city's epoch A. The city's answer names epoch B, and the fence takes it: the 777.00
    元 of the city's lost machine, arriving at last, is void (judged by time, it was dated
    after A's restore and was taken, and the city's next change-set under its number was
    refused as a replay, forever); the city's own seq 2 is taken, and the books agree."""
    parent, kept = city_restored_twice_with_a_change_set_of_its_first_life_on_its_way(province)
    live = epoch_of(province, CITY)
    assert fence_at(province, COUNTY, CITY).epoch == live
    bring_back(province, COUNTY, lose(province, COUNTY))
    assert fence_at(province, COUNTY, CITY).epoch_unknown is True
    settle(province)  # 中原区 rejoins
    fence = fence_at(province, COUNTY, CITY)
    assert (fence.epoch, fence.epoch_unknown, fence.out_seq) == (live, None, 1)

    kept.replace(province.homes[COUNTY].spool / "incoming" / kept.name)  # it arrives at last
    settle(province)
    assert quarantined_at(province, COUNTY, CITY) == ["void"]
    down = issue(province, CITY, COUNTY, 200_00, "郑财预〔2026〕2号", parent=parent)
    settle(province)
    taken = taken_at_county(province)
    assert [seq for seq, _ in taken] == [1, 2]
    assert changeset.parse_filename(kept.name).id not in [ident for _, ident in taken]
    assert sorted(amounts(province, COUNTY, "received").values()) == [100_00, 200_00]
    assert amounts(province, COUNTY, "received")[down] == 200_00
    assert quarantined_at(province, COUNTY, CITY) == ["void"]  # no replay, no fork
    check_books(province)


@pytest.mark.slow
def test_what_a_peer_returns_of_its_life_before_is_not_void_at_the_node_restored_since(
    province: Network,
) -> None:
    """The city's lost 777.00 元 reached 中原区 before the city died; restored (epoch B),
    the city took it back from 中原区 and went on after it (seq 3, epoch B). 中原区, restored
    from its backup (the fence of epoch A, seq 1 taken), is given both back by the city's
    answer: the fence takes epoch B with its point past the 777.00 元, which names A,
    so that it, its receipt and the city's change-set after it all stand."""
    parent = issue(province, PROVINCE, CITY, 5000_00, "豫财预〔2026〕1号")
    settle(province)
    backup(province, CITY)
    settle(province)
    bring_back(province, CITY, lose(province, CITY))
    settle(province)
    allocate_to_county(province, "郑财预〔2026〕1号", parent, 100_00)
    settle(province)
    backup(province, CITY)
    backup(province, COUNTY)
    settle(province)
    allocate_to_county(province, "郑财预〔2026〕99号", parent, 777_00)
    settle(province)  # taken by the county this time
    bring_back(province, CITY, lose(province, CITY))
    settle(province)  # the city takes it back
    allocate_to_county(province, "郑财预〔2026〕2号", parent, 200_00)
    settle(province)
    live = epoch_of(province, CITY)
    bring_back(province, COUNTY, lose(province, COUNTY))
    settle(province)
    fence = fence_at(province, COUNTY, CITY)
    assert (fence.epoch, fence.out_seq) == (live, 2)  # past what the city's first life signed
    assert [seq for seq, _ in taken_at_county(province)] == [1, 2, 3]
    assert sorted(amounts(province, COUNTY, "received").values()) == [100_00, 200_00, 777_00]
    assert quarantined_at(province, COUNTY, CITY) == []
    with Node.open(province.path / CITY) as node, node.engine.connect() as conn:
        verdicts = conn.execute(
            sa.select(outbox.c.receipt_verdict).where(outbox.c.recipient == COUNTY)
        ).scalars()
        assert list(verdicts) == ["applied"] * 3
    check_books(province)
