"""A peer's fence of a restored node that voids the live node is repaired after its rejoin
ended, and two live machines of one node do not take the fence back and forth: real
``network init`` provinces, SQLite and PostgreSQL, real restores and signed messages."""

from __future__ import annotations

import json
import os
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
    quarantined,
    receipt_verdicts,
    settle,
)

from nodes import Node, rejoin, rejoin_request, rejoin_void
from nodes.exchange import Exchange
from nodes.fiscal.appropriations import Allocation, allocate
from nodes.labels import labels, recalled, said, shown
from nodes.network import Network, sync_network
from nodes.rejoin_request import FENCE_REQUESTS, heads
from schema.backups import rejoin_fence
from schema.channels import changeset_log, outbox, quarantine
from sync import changeset
from sync.clock import SYSTEM_CLOCK, FixedClock
from sync.errors import InputError
from sync.fence import epoch as current_epoch
from sync.pki import load_signer
from sync.quarantine import quarantine_file

CITY = "410100"
PROVINCE = "410000"


def restored_once(network: Network) -> None:
    """What the province issued settles; the city is backed up, loses its disk and is
    restored from that backup, and what follows settles."""
    settle(network)
    backup(network, CITY)
    settle(network)
    bring_back(network, CITY, lose(network, CITY))
    settle(network)


def replay_unversioned_request(network: Network, days_ahead: int = 1) -> tuple[str, str]:
    """A request of 郑州市 as a fiscalsync before revision 0025 wrote it (no version),
    naming another epoch and dated ``days_ahead`` days ahead, reaches the province (a
    request of a life before, held in a relay, or replayed). Returns its epoch and id."""
    ahead = FixedClock(datetime.now(UTC) + timedelta(days=days_ahead))
    other = "ab" * 16
    with Node.open(network.path / CITY) as node, node.engine.connect() as conn:
        body = {"rejoin": "request", **heads(conn, CITY, PROVINCE), "epoch": other}
        replayed = changeset.write_changeset(
            network.path.parent, load_signer(node.home.keys), PROVINCE, "rejoin", 1, "",
            [body], ahead,
        )  # fmt: skip
    incoming = network.homes[PROVINCE].spool / "incoming"
    os.replace(replayed.path, incoming / replayed.path.name)
    return other, replayed.id


def fenced_before_versions(network: Network) -> None:
    """The province's fence of 郑州市 was recorded before revision 0025 (no version)."""
    with Node.open(network.path / PROVINCE) as node, node.engine.begin() as conn:
        conn.execute(
            rejoin_fence.update().where(rejoin_fence.c.node == CITY).values(versioned=None)
        )


@pytest.mark.slow
def test_a_fence_taken_by_date_after_the_rejoin_ended_is_repaired(province: Network) -> None:
    """郑州市 rejoined before its province was upgraded to revision 0025, so the fence there
    says no version. Long after, a request of an earlier life of the city without a version,
    dated a day ahead, reaches the province and takes that fence's place by its date: the
    city's receipt for what the province issues next is void there. The province tells the
    city so, with the fence it holds; the city asks for it again naming it, and once the
    fence is its own epoch's (and says its version), the province takes the receipt the
    city sends again. Replayed once more, the old request no longer takes the fence."""
    first = issue(province, PROVINCE, CITY, 1000_00, "豫财预〔2026〕1号")
    restored_once(province)
    live = epoch_of(province, CITY)
    fenced_before_versions(province)

    stale, stale_id = replay_unversioned_request(province)
    sync_network(province.path, until_quiet=False, max_rounds=1)
    assert fence_at(province, PROVINCE, CITY).epoch == stale  # taken by its date

    later = issue(province, PROVINCE, CITY, 500_00, "豫财预〔2026〕2号")
    settle(province)
    fence = fence_at(province, PROVINCE, CITY)
    assert fence.epoch == live and fence.versioned
    # Fenced where the province stands: its last change-set to the city it holds a receipt
    # for (seq 1), not the city's head (seq 2, whose receipt was void): a receipt of the
    # lost state for seq 2 would be void still.
    assert (fence.in_seq, fence.out_seq) == (1, 0)
    assert receipt_verdicts(province, PROVINCE, CITY) == ["applied", "applied"]
    assert not any((province.homes[CITY].spool / FENCE_REQUESTS).glob("*.fcs"))
    # What was void while the fence was another's: the city's receipt, once.
    assert quarantined(province) == [(PROVINCE, "void", CITY)]

    replay_unversioned_request(province, days_ahead=2)
    settle(province)
    assert fence_at(province, PROVINCE, CITY).epoch == live
    again = issue(province, PROVINCE, CITY, 200_00, "豫财预〔2026〕3号")
    settle(province)
    assert receipt_verdicts(province, PROVINCE, CITY) == ["applied"] * 3
    with Node.open(province.path / CITY) as node:
        assert not rejoin.in_progress(node)
    del first, later, again

    # A stale void message naming the old fence makes the city ask for it again: the
    # province holds the city's epoch's fence already, and its restore point stands.
    before = fence_at(province, PROVINCE, CITY)
    with Node.open(province.path / CITY) as node:
        rejoin_request.ask_for_fence(Exchange(node), PROVINCE, stale_id)
    settle(province)
    after = fence_at(province, PROVINCE, CITY)
    assert after.request_id != before.request_id and after.epoch == live
    assert (after.out_seq, after.in_seq) == (before.out_seq, before.in_seq)


@pytest.mark.slow
def test_a_void_message_about_the_lost_state_asks_for_nothing(province: Network) -> None:
    """郑州市, restored once (epoch one), issues 300.00 元 to 中原区 and its disk dies with
    that change-set on its way; it is restored again (epoch two) and rejoins. The lost
    change-set arrives at last: 中原区 holds it void and tells the city so, with the fence
    it holds, which is epoch two's: the city asks for nothing, and the county's fence
    stays."""
    parent = issue(province, PROVINCE, CITY, 1000_00, "豫财预〔2026〕1号")
    restored_once(province)
    one = epoch_of(province, CITY)
    backup(province, CITY)
    settle(province)
    with Node.open(province.path / CITY) as node:
        line = Allocation(
            "410102", 300_00, "2050202", "50201", "111", "郑财预〔2026〕1号", 2026, parent_id=parent
        )
        allocate(node, [line], actor="test")
        (in_flight,) = (node.home.spool / "outbox").glob(f"{CITY}_410102_*.fcs")
        kept = Path(shutil.copy(in_flight, province.path.parent / in_flight.name))
    bring_back(province, CITY, lose(province, CITY))
    settle(province)
    two = epoch_of(province, CITY)
    assert one != two and fence_at(province, "410102", CITY).epoch == two

    county = province.homes["410102"]
    kept.replace(county.spool / "incoming" / kept.name)
    done = sync_network(province.path, until_quiet=True, max_rounds=40)
    assert done.quiet, done.unsettled
    assert ("410102", "void", CITY) in quarantined(province)
    assert "410102 holds void what this node's lost state signed: its fence is this node's" in [
        str(note) for note in done.totals.notes
    ]
    assert not any((province.homes[CITY].spool / FENCE_REQUESTS).glob("*.fcs"))
    assert fence_at(province, "410102", CITY).epoch == two


# --- two machines live as one node ---------------------------------------------------------


def rounds(network: Network, city: Path, count: int) -> None:
    """``count`` sync rounds of the province, with the machine at ``city`` as 郑州市."""
    for _ in range(count):
        for spec in network.topology:
            home = city if spec.code == CITY else network.path / spec.code
            with Node.open(home) as node:
                Exchange(node).run_round(retransmit_now=True)


def second_machine(network: Network, url: str | None) -> Path:
    """郑州市 restored from its backup on a second machine, while the first lives on: it
    hosts the same mailboxes (its counties deliver to one folder) and has a database of
    its own. Rounds run with it as the city until it rejoined."""
    home = network.path.parent / "410100-second"
    bring_back_to(network, home, None if url is None else f"{url}_second")
    (home / "mailboxes").rmdir()
    (home / "mailboxes").symlink_to(network.path / CITY / "mailboxes")
    for _ in range(12):
        rounds(network, home, 1)
        with Node.open(home) as node:
            if not rejoin.in_progress(node):
                return home
    raise AssertionError("the second machine did not rejoin")


def bring_back_to(network: Network, home: Path, url: str | None) -> Any:
    from nodes.restore import restore

    return restore(
        CITY,
        network.path / "topology.toml",
        home,
        network.ca_dir / "recovery-kit.pem",
        db_url=url,
    )


def epoch_at(home: Path) -> str:
    with Node.open(home) as node, node.engine.connect() as conn:
        found = current_epoch(conn)
    assert found is not None
    return found


def entries(home: Path, reason: str) -> list[Any]:
    with Node.open(home) as node, node.engine.connect() as conn:
        return conn.execute(sa.select(quarantine).where(quarantine.c.reason == reason)).all()


@pytest.mark.slow
def test_two_live_machines_of_one_node_do_not_take_the_fence_back_and_forth(
    province: Network,
) -> None:
    """郑州市 is restored and rejoins (epoch one); the operator restores it again on a
    second machine while the first still runs (epoch two), and the second rejoins: its
    peers hold epoch two's fence, which took epoch one's place by naming it. The first
    machine's receipt is void at the province, which tells it which fence it holds; the
    first machine asks for it again, naming it. The province does not flip the fence back:
    an epoch replaced by name naming its replacer is a second machine living as the node.
    It keeps epoch two's fence, quarantines the request with why (an alert), and tells the
    node to restore; played on, each machine in turn, the fence stays. The first machine
    then issues to 中原区, twice: the county refuses its request for the fence once, and,
    told, it asks no more."""
    parent = issue(province, PROVINCE, CITY, 1000_00, "豫财预〔2026〕1号")
    settle(province)
    backup(province, CITY)
    settle(province)
    url = lose(province, CITY)
    bring_back(province, CITY, url)
    settle(province)
    first = province.path / CITY
    one = epoch_at(first)
    second = second_machine(province, url)
    two = epoch_at(second)
    assert one != two
    held = fence_at(province, PROVINCE, CITY)
    assert held.epoch == two and held.replaced == one

    seen = []
    for number, machine in enumerate([first, second, first, second, first], start=2):
        issue(province, PROVINCE, CITY, 100_00, f"豫财预〔2026〕{number}号")
        rounds(province, machine, 4)
        seen.append(fence_at(province, PROVINCE, CITY).epoch)
    assert seen == [two] * 5  # never flipped back

    forks = entries(province.path / PROVINCE, "rejoin")
    keys = [json.loads(e.detail_said)["m"] for e in forks]
    assert keys == ["rejoin_fence_fork"], [e.detail for e in forks]  # told, it asks no more
    assert all(one in e.detail and two in e.detail for e in forks)
    told = entries(first, "restore")  # the first machine is told to stop
    assert [json.loads(e.detail_said)["m"] for e in told] == ["rejoin_fork_stop"]
    assert all(f"Stop this machine (epoch {one})" in e.detail for e in told)
    assert all(f"runs as this node in epoch {two}" in e.detail for e in told)
    assert all(f"Keep the machine of epoch {two}" in e.detail for e in forks)
    assert not any((first / "spool" / FENCE_REQUESTS).glob("*.fcs"))
    status = alerts_of(first)
    assert any(a["kind"] == "quarantined" and "restore" in a["detail"] for a in status)
    assert any("two machines" in a["detail"] for a in alerts_of(province.path / PROVINCE))

    issue(province, PROVINCE, CITY, 100_00, "豫财预〔2026〕9号")
    rounds(province, second, 3)  # what the machine whose epoch is fenced signs is taken
    with Node.open(province.path / PROVINCE) as node, node.engine.connect() as conn:
        last = conn.execute(
            sa.select(outbox.c.receipt_verdict)
            .where(outbox.c.recipient == CITY)
            .order_by(outbox.c.seq.desc())
            .limit(1)
        ).scalar_one()
    assert last == "applied"

    # The first machine issues to 中原区 twice: void there, and told so each time; the
    # county refuses its request for the fence as a fork once, and it asks no more.
    county = province.path / "410102"
    for doc in ("郑财预〔2026〕1号", "郑财预〔2026〕2号"):
        with Node.open(first) as node:
            line = Allocation(
                "410102", 100_00, "2050202", "50201", "111", doc, 2026, parent_id=parent
            )
            allocate(node, [line], actor="test")
        rounds(province, first, 4)
    assert len(entries(county, "void")) == 2
    keys = [json.loads(e.detail_said)["m"] for e in entries(county, "rejoin")]
    assert keys == ["rejoin_fence_fork"]
    assert fence_at(province, "410102", CITY).epoch == two


def alerts_of(home: Path) -> list[dict[str, str]]:
    from nodes import alerts

    with Node.open(home) as node:
        return [a.as_dict() for a in alerts.alerts(node.engine)]


def request_naming(network: Network, epoch: str, replaces: str) -> Path:
    """A request of 郑州市 in ``epoch`` naming the fence ``replaces``, as a rejoined machine
    of it asks for its fence (:func:`nodes.rejoin_request.ask_for_fence`)."""
    with Node.open(network.path / CITY) as node, node.engine.connect() as conn:
        body = {
            "rejoin": "request",
            **heads(conn, CITY, PROVINCE),
            "epoch": epoch,
            "version": 2,
            "replaces": replaces,
        }
        folder = network.path.parent / f"asks-{epoch[:4]}"
        folder.mkdir(exist_ok=True)
        written = changeset.write_changeset(
            folder, load_signer(node.home.keys), PROVINCE, "rejoin", 1, "", [body], SYSTEM_CLOCK
        )
    return written.path


def answers_to(network: Network) -> dict[str, str]:
    """The province's answers to 郑州市: the request each answers → the fence it names."""
    found = {}
    for path in (network.homes[PROVINCE].spool / "messages").glob(f"{PROVINCE}_{CITY}_*.fcs"):
        first = next(iter(changeset.iter_operations(path)))
        if first.get("rejoin") == "answer":
            found[str(first["request"])] = str(first["fence"]["request"])
        path.unlink()
    return found


def take_at_once(network: Network, paths: list[Path]) -> list[BaseException]:
    """The province takes ``paths`` at once, each in a thread of its own."""
    start = threading.Barrier(len(paths))
    failed: list[BaseException] = []

    def take(path: Path) -> None:
        try:
            with Node.open(network.path / PROVINCE) as node:
                exchange = Exchange(node)
                start.wait()
                rejoin.take(exchange, path)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failed.append(exc)

    threads = [threading.Thread(target=take, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failed


@pytest.mark.slow
def test_two_machines_naming_one_fence_at_once_take_it_once(province: Network) -> None:
    """Two machines of 郑州市 in two epochs name the city's fence at the province at once:
    the province takes one request in its place (remembering the epoch it replaced), and
    answers the other with the fence it now holds. The other then names that fence and
    takes it (its epoch was never replaced by name); the first, naming it in turn, is
    refused as a fork, and the fence stays."""
    issue(province, PROVINCE, CITY, 1000_00, "豫财预〔2026〕1号")
    restored_once(province)
    live = epoch_of(province, CITY)
    held = fence_at(province, PROVINCE, CITY).request_id
    answers_to(province)
    one, two = "1" * 32, "2" * 32
    asks = [request_naming(province, one, held), request_naming(province, two, held)]
    ids = [changeset.parse_filename(p.name).id for p in asks]
    assert take_at_once(province, asks) == []

    fence = fence_at(province, PROVINCE, CITY)
    assert fence.epoch in (one, two) and fence.replaced == live
    answered = answers_to(province)
    assert sorted(answered) == sorted(ids)
    assert set(answered.values()) == {fence.request_id}  # one took it; the other is told
    winner, loser = (one, two) if fence.epoch == one else (two, one)

    taken = request_naming(province, loser, fence.request_id)
    with Node.open(province.path / PROVINCE) as node:
        rejoin.take(Exchange(node), taken)
    second = fence_at(province, PROVINCE, CITY)
    assert second.epoch == loser and second.replaced == f"{live} {winner}"

    back = request_naming(province, winner, second.request_id)
    again = Path(shutil.copy(back, back.with_suffix(".again")))
    for copy in (back, again):  # the machine sends it again before it is told
        with Node.open(province.path / PROVINCE) as node, pytest.raises(InputError) as refused:
            exchange = Exchange(node)
            try:
                rejoin.take(exchange, copy)
            except InputError as exc:
                quarantine_file(  # as a round does
                    node.engine, exchange.spool, copy, "rejoin", exc.message, SYSTEM_CLOCK
                )
                raise
        assert refused.value.message.key == "rejoin_fence_fork"
    assert fence_at(province, PROVINCE, CITY) == second
    notices = [
        next(iter(changeset.iter_operations(path)))
        for path in (province.homes[PROVINCE].spool / "messages").glob(f"{PROVINCE}_{CITY}_*")
    ]
    told = [n["detail_said"]["m"] for n in notices if n["rejoin"] == "notice"]
    assert told == ["fence_fork_notice"]  # once


# --- the repaired fence stands where the peer stands ----------------------------------------

COUNTY = "410102"


def allocate_to_county(network: Network, doc: str, parent: str, amount: int) -> None:
    with Node.open(network.path / CITY) as node:
        line = Allocation(COUNTY, amount, "2050202", "50201", "111", doc, 2026, parent_id=parent)
        allocate(node, [line], actor="test")


def taken_at_county(network: Network) -> list[tuple[int, str]]:
    """The city's change-sets 中原区 took, in order: (seq, id)."""
    with Node.open(network.path / COUNTY) as node, node.engine.connect() as conn:
        query = (
            sa.select(changeset_log.c.seq, changeset_log.c.id)
            .where(changeset_log.c.origin == CITY, changeset_log.c.recipient == COUNTY)
            .order_by(changeset_log.c.seq)
        )
        return [(int(r.seq), r.id) for r in conn.execute(query)]


def resend_all(network: Network, count: int) -> None:
    """``count`` rounds of every node, each sending again at once what is not acknowledged."""
    for _ in range(count):
        for spec in network.topology:
            with Node.open(network.path / spec.code) as node:
                Exchange(node).run_round(retransmit_now=True)


@pytest.mark.slow
def test_a_fence_repaired_after_the_rejoin_lets_nothing_of_the_lost_state_through(
    province: Network,
) -> None:
    """郑州市 (epoch A) issues 777.00 元 to 中原区 as seq 2 and its disk dies with that
    change-set on its way; restored (epoch B), it rejoins. A stale request without a
    version takes 中原区's fence by its date: B's seq 2 and 3 (200.00 元 and 300.00 元)
    are void there, the county says so, and the city asks for its fence again. The county
    fences at what it holds itself (seq 1), not at the city's heads (seq 3): A's seq 2,
    arriving at last, is void, while B's, sent again, are taken; the channel does not
    fork, and the books agree to the fen."""
    parent = issue(province, PROVINCE, CITY, 5000_00, "豫财预〔2026〕1号")
    restored_once(province)
    allocate_to_county(province, "郑财预〔2026〕1号", parent, 100_00)
    settle(province)
    backup(province, CITY)
    settle(province)
    allocate_to_county(province, "郑财预〔2026〕99号", parent, 777_00)
    outbox_dir = province.homes[CITY].spool / "outbox"
    (lost,) = outbox_dir.glob(f"{CITY}_{COUNTY}_{2:010d}_*.fcs")
    kept = Path(shutil.copy(lost, province.path.parent / lost.name))
    bring_back(province, CITY, lose(province, CITY))
    settle(province)
    live = epoch_of(province, CITY)
    assert taken_at_county(province) == [(1, taken_at_county(province)[0][1])]

    with Node.open(province.path / COUNTY) as node, node.engine.begin() as conn:
        conn.execute(
            rejoin_fence.update().where(rejoin_fence.c.node == CITY).values(versioned=None)
        )
    ahead = FixedClock(datetime.now(UTC) + timedelta(days=1))
    with Node.open(province.path / CITY) as node, node.engine.connect() as conn:
        body = {"rejoin": "request", **heads(conn, CITY, COUNTY), "epoch": "ab" * 16}
        stale = changeset.write_changeset(
            province.path.parent, load_signer(node.home.keys), COUNTY, "rejoin", 1, "",
            [body], ahead,
        )  # fmt: skip
    os.replace(stale.path, province.homes[COUNTY].spool / "incoming" / stale.path.name)
    sync_network(province.path, until_quiet=False, max_rounds=1)
    assert fence_at(province, COUNTY, CITY).epoch == "ab" * 16

    allocate_to_county(province, "郑财预〔2026〕2号", parent, 200_00)
    allocate_to_county(province, "郑财预〔2026〕3号", parent, 300_00)
    for _ in range(8):
        sync_network(province.path, until_quiet=False, max_rounds=1)
        if fence_at(province, COUNTY, CITY).epoch == live:
            break
    fence = fence_at(province, COUNTY, CITY)
    assert fence.epoch == live
    assert fence.out_seq == 1  # what the county holds, not the city's head (3)

    kept.replace(province.homes[COUNTY].spool / "incoming" / kept.name)
    resend_all(province, 4)
    settle(province)
    lost_id = changeset.parse_filename(kept.name).id
    taken = taken_at_county(province)
    assert [seq for seq, _ in taken] == [1, 2, 3]
    assert lost_id not in [ident for _, ident in taken]
    with Node.open(province.path / COUNTY) as node, node.engine.connect() as conn:
        reasons = [
            r.reason
            for r in conn.execute(sa.select(quarantine.c.reason).where(quarantine.c.origin == CITY))
        ]
    assert "replay" not in reasons and "chain" not in reasons
    assert reasons.count("void") >= 1
    with Node.open(province.path / CITY) as node, node.engine.connect() as conn:
        told = conn.execute(
            sa.select(quarantine.c.id).where(quarantine.c.reason == "restore")
        ).all()
    assert not told  # never told it forked
    check_books(province)
    assert sum(amounts(province, COUNTY, "received").values()) == 100_00 + 200_00 + 300_00


@pytest.mark.slow
def test_a_notice_of_a_life_before_the_restore_leaves_the_void_repair_on(
    province: Network,
) -> None:
    """中原区 tells 郑州市 it forked a channel; the notice stays in the city's quarantine,
    and the city's backup carries it. Restored, the city is told a peer holds another
    epoch's fence: it asks for its own, for the notice is not one that refused its fence
    (and is of a life before the restore)."""
    issue(province, PROVINCE, CITY, 1000_00, "豫财预〔2026〕1号")
    settle(province)
    with Node.open(province.path / "410102") as node:
        forked = said("forked_notice", me="410102", name="x.fcs", reason="a fork")
        rejoin.notice(Exchange(node), CITY, forked)
    settle(province)
    assert entries(province.path / CITY, "restore")
    backup(province, CITY)
    settle(province)
    bring_back(province, CITY, lose(province, CITY))
    settle(province)
    assert entries(province.path / CITY, "restore")  # carried across the restore
    with Node.open(province.path / CITY) as node:
        note = rejoin_void.take(Exchange(node), "410102", ("e" * 64, "f" * 32))
    assert note.key == "rejoin_void_fence_other"
    assert any((province.homes[CITY].spool / FENCE_REQUESTS).glob(f"{CITY}_410102_*.fcs"))


@pytest.mark.slow
def test_two_first_requests_at_once_with_no_fence_held_place_one(province: Network) -> None:
    """The province holds no fence of 郑州市 (one never restored, or a peer restored from
    before it): two requests of two epochs come at once. One places the first fence; the
    other, waiting on it, is answered with it; neither fails."""
    issue(province, PROVINCE, CITY, 1000_00, "豫财预〔2026〕1号")
    settle(province)
    with Node.open(province.path / PROVINCE) as node, node.engine.begin() as conn:
        conn.execute(rejoin_fence.delete())
    answers_to(province)
    one, two = "1" * 32, "2" * 32
    asks = [request_naming(province, one, "a" * 64), request_naming(province, two, "a" * 64)]
    ids = [changeset.parse_filename(p.name).id for p in asks]
    assert take_at_once(province, asks) == []
    fence = fence_at(province, PROVINCE, CITY)
    assert fence.epoch in (one, two) and fence.versioned and fence.replaced is None
    answered = answers_to(province)
    assert sorted(answered) == sorted(ids)
    assert set(answered.values()) == {fence.request_id}


def fork_notice(network: Network, held: str, refused: str) -> None:
    """The province tells 郑州市 it refused a request of epoch ``refused`` for the fence
    of epoch ``held`` as a second machine's (:func:`nodes.rejoin.answer`)."""
    with Node.open(network.path / PROVINCE) as node:
        fork = {"origin": CITY, "epoch": refused, "held": held}
        detail = said("fence_fork_notice", me=PROVINCE, **fork)
        rejoin.notice(Exchange(node), CITY, detail, {"held": held, "refused": refused})


@pytest.mark.slow
def test_a_fork_notice_tells_each_machine_which_to_keep(province: Network) -> None:
    """Two machines of 郑州市 read one mailbox: the province's notice that it refused a
    request for the fence as a second machine's may reach either. It names both epochs.
    The machine whose fence the province holds is told to stop the other, and goes on
    asking for its fences; the refused one is told to stop (restore it from the center if
    it must live on), and asks the province for its fence no more."""
    issue(province, PROVINCE, CITY, 1000_00, "豫财预〔2026〕1号")
    restored_once(province)
    live, other = epoch_of(province, CITY), "1" * 32
    city = province.path / CITY
    requests = province.homes[CITY].spool / FENCE_REQUESTS

    fork_notice(province, held=live, refused=other)
    with Node.open(city) as node:
        rejoin_request.ask_for_fence(Exchange(node), PROVINCE, "e" * 64)
    sync_network(province.path, until_quiet=False, max_rounds=1)
    (kept,) = entries(city, "restore")
    assert json.loads(kept.detail_said)["m"] == "rejoin_fork_other"
    assert kept.detail.startswith(f"{PROVINCE} refused a request for this node's fence from")
    assert f"in epoch {other}: stop it" in kept.detail
    assert shown(recalled(kept.detail, kept.detail_said), labels("zh")).startswith(
        f"{PROVINCE} 拒绝了另一台以纪元 {other} 作为本节点运行的机器"
    )
    with Node.open(city) as node:
        note = rejoin_void.take(Exchange(node), PROVINCE, ("e" * 64, other))
    assert note.key == "rejoin_void_fence_other"  # it goes on repairing
    assert any(requests.glob("*.fcs"))

    fork_notice(province, held=other, refused=live)
    sync_network(province.path, until_quiet=False, max_rounds=1)
    stop = [e for e in entries(city, "restore") if e.id != kept.id]
    assert [json.loads(e.detail_said)["m"] for e in stop] == ["rejoin_fork_stop"]
    assert stop[0].detail.startswith(f"Stop this machine (epoch {live}): it is fenced out at")
    assert shown(recalled(stop[0].detail, stop[0].detail_said), labels("zh")).startswith(
        f"请停用本机（纪元 {live}）：它已被 {PROVINCE} 隔断在外"
    )
    assert not any(requests.glob("*.fcs"))  # it stops asking
    with Node.open(city) as node:
        note = rejoin_void.take(Exchange(node), PROVINCE, ("e" * 64, other))
    assert note.key == "rejoin_void_told"
    assert not any(requests.glob("*.fcs"))


def test_a_stop_notice_counts_by_epoch_whatever_the_clock_said_at_the_restore(
    province: Network,
) -> None:
    """A restored node's clock may have run past the notice's arrival (its restore is
    dated no earlier than its newest backup): a notice that stopped this machine's epoch
    stops it however it is dated; one naming another epoch never does."""
    from schema.backups import restore_log
    from schema.said import kept

    mine, other = "a" * 32, "b" * 32
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    with Node.open(province.path / CITY) as node, node.engine.begin() as conn:
        conn.execute(
            restore_log.insert().values(
                manifest_id="f" * 64, number=1, taken_at=now, restored_at=now + timedelta(days=2)
            )
        )
        for number, epoch in enumerate((other, mine)):
            detail = said("rejoin_fork_stop", origin=PROVINCE, epoch=epoch, held="c" * 32)
            conn.execute(
                quarantine.insert().values(
                    filename=f"notice-{number}.fcs",
                    origin=PROVINCE,
                    recipient=CITY,
                    reason="restore",
                    detail=str(detail),
                    detail_said=kept(detail),
                    received_at=now,
                    last_seen_at=now,
                )
            )
        assert rejoin_void._told(conn, PROVINCE, mine)
        assert not rejoin_void._told(conn, PROVINCE, "d" * 32)


@pytest.mark.slow
def test_a_void_message_this_node_failed_to_write_goes_with_a_later_copy(
    province: Network,
) -> None:
    """The province voids the city's receipt (a stale request took its fence) but cannot
    write the void message (its messages folder is broken, as a full disk would leave it):
    the round says so and goes on. Once it can write again, the receipt's next copy (the
    province sends its change-set again, the city its receipt) tells the city, which asks
    for its fence again, and the receipt is taken."""
    issue(province, PROVINCE, CITY, 1000_00, "豫财预〔2026〕1号")
    restored_once(province)
    live = epoch_of(province, CITY)
    fenced_before_versions(province)
    replay_unversioned_request(province)
    sync_network(province.path, until_quiet=False, max_rounds=1)
    messages = province.homes[PROVINCE].spool / rejoin_request.MESSAGES
    shutil.rmtree(messages, ignore_errors=True)
    messages.write_bytes(b"")  # no folder can be made there

    issue(province, PROVINCE, CITY, 500_00, "豫财预〔2026〕2号")
    problems: list[str] = []
    for _ in range(3):
        for code in (PROVINCE, CITY):
            with Node.open(province.path / code) as node:
                summary = Exchange(node).run_round(retransmit_now=True)
            problems += [getattr(p, "key", str(p)) for p in summary.problems]
    assert "rejoin_tell_failed" in problems
    assert fence_at(province, PROVINCE, CITY).epoch != live
    assert quarantined(province) == [(PROVINCE, "void", CITY)]

    messages.unlink()
    resend_all(province, 3)
    settle(province)
    assert fence_at(province, PROVINCE, CITY).epoch == live
    assert receipt_verdicts(province, PROVINCE, CITY) == ["applied", "applied"]


def ask_fence_only(network: Network, replaces: str, took: str | None = None) -> Path:
    """郑州市, rejoined, asks the province for its fence only, naming ``replaces``, as
    :func:`nodes.rejoin_request.ask_for_fence` does (the request kept among those it sends
    again); ``took``: the id it names as the last change-set it took from the province,
    in place of the one it holds."""
    with Node.open(network.path / CITY) as node, node.engine.connect() as conn:
        body: dict[str, Any] = {
            "rejoin": "request",
            **heads(conn, CITY, PROVINCE),
            "epoch": current_epoch(conn),
            "version": 2,
            "replaces": replaces,
            "fence_only": True,
        }
        if took is not None:
            body["in"] = [body["in"][0], took]
        folder = node.home.spool / FENCE_REQUESTS
        folder.mkdir(parents=True, exist_ok=True)
        written = changeset.write_changeset(
            folder, load_signer(node.home.keys), PROVINCE, "rejoin", 1, "", [body], SYSTEM_CLOCK
        )
    return written.path


@pytest.mark.parametrize("forked", [False, True], ids=["agrees", "forked"])
def test_a_fence_only_answer_tells_a_head_the_peer_disagrees_with(
    province: Network, forked: bool
) -> None:
    """郑州市, rejoined, asks the province for its fence only. When the last change-set it
    names as taken from the province is another than the province sent under that seq (a
    fork of their channel), the province still fences at what it holds itself, and its
    answer names the fork, which the city shows in its round, in either language; nothing
    is returned. When the heads agree, the answer names no problem and the city says the
    province holds its epoch's fence. The request, sent again, is answered again: the
    city says the same of the second answer (not that it answers an older request)."""
    issue(province, PROVINCE, CITY, 1000_00, "豫财预〔2026〕1号")
    restored_once(province)
    live = epoch_of(province, CITY)
    held = fence_at(province, PROVINCE, CITY)
    answers_to(province)
    asked = ask_fence_only(province, held.request_id, "f" * 64 if forked else None)
    messages = province.homes[PROVINCE].spool / "messages"
    answers = []
    for _copy in range(2):  # the request is sent again every while: answered twice
        copy = Path(shutil.copy(asked, province.path.parent / asked.name))
        with Node.open(province.path / PROVINCE) as node:
            assert str(rejoin.take(Exchange(node), copy)) == str(
                said("rejoin_answered_request", origin=CITY)
            )
        (answer,) = messages.glob(f"{PROVINCE}_{CITY}_*.fcs")
        answers.append(Path(shutil.move(answer, province.path.parent / f"{len(answers)}.fcs")))
    answer = answers[0]
    operations = list(changeset.iter_operations(answer))
    assert len(operations) == 1  # nothing returned
    fence = fence_at(province, PROVINCE, CITY)
    assert fence.epoch == live and fence.request_id == changeset.parse_filename(asked.name).id
    problems = [p["m"] for p in operations[0]["problems_said"]]
    assert problems == (["rejoin_problem_not_sent"] if forked else [])

    with Node.open(province.path / CITY) as node:
        notes = [rejoin.take(Exchange(node), taken) for taken in answers]
    assert not asked.exists()  # fenced: no longer sent
    assert [str(n) for n in notes[1:]] == [str(notes[0])]  # the answer again says the same
    note = notes[0]
    if not forked:
        assert note.key == "rejoin_fence_answered"
        return
    assert note.key == "rejoin_answer_problems"
    assert "the seq 1 it took from 410000 is not the one 410000 sent" in str(note)
    assert "其从 410000 收下的序号 1 不是 410000 发出的那个变更集" in shown(note, labels("zh"))
