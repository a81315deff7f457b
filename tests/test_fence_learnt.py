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

from nodes import Node, rejoin
from nodes.exchange import Exchange
from nodes.network import Network
from nodes.rejoin_request import MESSAGES
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
    restored_city_backed_up_with_its_county(network, parent)
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
    restored_city_backed_up_with_its_county(province, parent)
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


def quarantined_from(network: Network, code: str) -> list[tuple[str, str]]:
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        query = sa.select(quarantine.c.origin, quarantine.c.reason).order_by(quarantine.c.id)
        return [(r.origin, r.reason) for r in conn.execute(query)]


def round_of(network: Network, code: str) -> None:
    with Node.open(network.path / code) as node:
        Exchange(node).run_round(retransmit_now=True)


def take_message(network: Network, code: str, message: Path) -> None:
    """``code`` takes the rejoin ``message`` (a copy of it), as a round would."""
    incoming = network.homes[code].spool / "incoming"
    with Node.open(network.path / code) as node:
        rejoin.take(Exchange(node), Path(shutil.copy(message, incoming / message.name)))


def message(network: Network, origin: str, recipient: str, what: str) -> Path:
    """The newest rejoin ``what`` (request, answer) ``origin`` signed to ``recipient``."""
    folder = network.homes[origin].spool / MESSAGES
    found = [
        path
        for path in folder.glob(f"{origin}_{recipient}_*.fcs")
        if next(iter(changeset.iter_operations(path)))["rejoin"] == what
    ]
    return max(found, key=lambda path: changeset.read_header(path)[0].created)


@pytest.mark.slow
def test_a_fence_given_while_rejoining_is_not_taken_back_by_an_earlier_answer(
    province: Network,
) -> None:
    """中原区 is restored from its backup (the fence of the city's epoch A). The city, in
    epoch A, answers its request, and that answer is held up on its way; the city signs
    777.00 元 (seq 2) and its disk dies. Restored (epoch C), the city asks 中原区, which
    answers while it still rejoins: its fence is C's. Then the held answer arrives, naming
    A: the fence stays C's; the lost 777.00 元 is void, the city's own seq 2 is taken."""
    parent = issue(province, PROVINCE, CITY, 5000_00, "豫财预〔2026〕1号")
    restored_city_backed_up_with_its_county(province, parent)
    bring_back(province, COUNTY, lose(province, COUNTY))
    held = province.path.parent / "held"
    held.mkdir()
    (request,) = (province.homes[COUNTY].spool / MESSAGES).glob(f"{COUNTY}_{CITY}_*.fcs")
    take_message(province, CITY, request)
    (answered,) = (province.homes[CITY].spool / MESSAGES).glob(f"{CITY}_{COUNTY}_*.fcs")
    old_answer = Path(shutil.move(answered, held / answered.name))
    allocate_to_county(province, "郑财预〔2026〕99号", parent, 777_00)  # seq 2, epoch A
    (lost,) = (province.homes[CITY].spool / "outbox").glob(f"{CITY}_{COUNTY}_{2:010d}_*.fcs")
    lost = Path(shutil.copy(lost, held / lost.name))

    bring_back(province, CITY, lose(province, CITY))  # epoch C
    live = epoch_of(province, CITY)
    # The county, rejoining, holds the fence of A (unknown still): C's request takes its
    # place once it names it, told by the answer.
    take_message(province, COUNTY, message(province, CITY, COUNTY, "request"))
    take_message(province, CITY, message(province, COUNTY, CITY, "answer"))
    take_message(province, COUNTY, message(province, CITY, COUNTY, "request"))
    assert fence_at(province, COUNTY, CITY).epoch == live
    take_message(province, COUNTY, old_answer)
    settle(province)
    fence = fence_at(province, COUNTY, CITY)
    assert (fence.epoch, fence.epoch_unknown) == (live, None)

    lost.replace(province.homes[COUNTY].spool / "incoming" / lost.name)  # at last
    allocate_to_county(province, "郑财预〔2026〕2号", parent, 200_00)  # seq 2, epoch C
    settle(province)
    taken = taken_at_county(province)
    assert [seq for seq, _ in taken] == [1, 2]
    assert changeset.parse_filename(lost.name).id not in [ident for _, ident in taken]
    assert quarantined_from(province, COUNTY) == [(CITY, "void")]
    assert quarantined_from(province, CITY) == []
    check_books(province)


def restored_city_backed_up_with_its_county(network: Network, parent: str) -> None:
    """The city is restored once (epoch A), issues 100.00 元 to 中原区, and both are
    backed up."""
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


@pytest.mark.slow
def test_a_receipt_a_peer_signed_before_its_latest_restore_is_taken(province: Network) -> None:
    """中原区, restored once (epoch A), takes the city's seq 2 and signs its receipt; the
    city is backed up before that receipt arrives, 中原区 after. 中原区 is restored again
    (epoch B), then the city, from its backup: its fence of 中原区 is A's, and seq 2 waits
    for its receipt. The answer names B; the fence's point covers what the city sent, so
    the receipt of seq 2 that 中原区 signed in epoch A, sent again, is taken."""
    parent = issue(province, PROVINCE, CITY, 5000_00, "豫财预〔2026〕1号")
    settle(province)
    allocate_to_county(province, "郑财预〔2026〕1号", parent, 100_00)
    settle(province)
    backup(province, COUNTY)
    settle(province)
    bring_back(province, COUNTY, lose(province, COUNTY))  # epoch A
    settle(province)
    allocate_to_county(province, "郑财预〔2026〕2号", parent, 200_00)  # seq 2
    round_of(province, CITY)
    round_of(province, COUNTY)  # taken; its receipt on its way
    backup(province, CITY)
    backup(province, COUNTY)
    settle(province)
    bring_back(province, COUNTY, lose(province, COUNTY))  # epoch B
    settle(province)
    bring_back(province, CITY, lose(province, CITY))
    settle(province)
    with Node.open(province.path / CITY) as node, node.engine.connect() as conn:
        verdicts = conn.execute(
            sa.select(outbox.c.receipt_verdict).where(outbox.c.recipient == COUNTY)
        ).scalars()
        assert list(verdicts) == ["applied", "applied"]
    assert quarantined_from(province, CITY) == []
    check_books(province)


@pytest.mark.slow
def test_a_file_lost_before_the_restore_a_fence_knew_stays_void_once_learnt(
    province: Network,
) -> None:
    """The city's disk dies with its seq 1 (300.00 元, no epoch) on its way; restored
    (epoch A), it issues its own seq 1, which 中原区 takes. 中原区 is restored from a backup
    after that: the city still runs in A, so the fence learns nothing new and keeps its
    point; the lost seq 1, arriving at last, is void (not a replay, and the city is told
    of no fork)."""
    parent = issue(province, PROVINCE, CITY, 5000_00, "豫财预〔2026〕1号")
    settle(province)
    backup(province, CITY)
    settle(province)
    allocate_to_county(province, "郑财预〔2026〕99号", parent, 300_00)  # seq 1, lost
    (lost,) = (province.homes[CITY].spool / "outbox").glob(f"{CITY}_{COUNTY}_*.fcs")
    lost = Path(shutil.copy(lost, province.path.parent / lost.name))
    bring_back(province, CITY, lose(province, CITY))  # epoch A
    settle(province)
    allocate_to_county(province, "郑财预〔2026〕1号", parent, 200_00)  # seq 1, epoch A
    settle(province)
    backup(province, COUNTY)
    settle(province)
    before = fence_at(province, COUNTY, CITY)
    bring_back(province, COUNTY, lose(province, COUNTY))
    settle(province)
    after = fence_at(province, COUNTY, CITY)
    assert (after.epoch, after.out_seq, after.in_seq) == (
        before.epoch,
        before.out_seq,
        before.in_seq,
    )
    lost.replace(province.homes[COUNTY].spool / "incoming" / lost.name)
    settle(province)
    assert quarantined_from(province, COUNTY) == [(CITY, "void")]
    assert quarantined_from(province, CITY) == []
    check_books(province)
