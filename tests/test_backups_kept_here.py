"""Whose backups a keeper keeps: worked out once per topology, and always the topology's
the node follows now, in a process that lives on (the agent) while the topology changes
on disk, a node joins or retires, or the keeper is restored from an older backup.

On a ``network init`` province, on SQLite and on PostgreSQL, with real sync rounds, real
files and a real restore.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from pathlib import Path

import pytest
from test_backup import backup, bring_back, lose, settle

import config
from nodes import Node, backups, keeper, membership
from nodes.exchange import Exchange
from nodes.network import Network, add_node, database_url_for, retire_node
from nodes.topology import Endpoint, Topology, load_topology

CENTER = "410000-dc"
PROVINCE = "410000"
NEW = "410183"  # 新密市, joining under 郑州市


def keeps(topology: Topology, me: str) -> list[str]:
    """Whose backups ``me`` keeps, asked of ``keeper_of`` node by node."""
    return [n.code for n in topology if n.code != me and backups.keeper_of(topology, n.code) == me]


def kept_at(node: Node) -> list[str]:
    found = keeper.backed_up_here(node)
    assert found == keeps(node.topology, node.spec.code)
    return found


def join(province: Network, db_url_template: str | None) -> None:
    add_node(province.path, NEW, "410100", database_url=database_url_for(db_url_template, NEW))
    settle(province)


def test_a_keeper_that_lives_on_keeps_the_nodes_of_the_topology_it_follows_now(
    province: Network, db_url_template: str | None
) -> None:
    """The center and the province stay open, as an agent's process does, while a
    county joins and then retires: each start of a round follows the new file, and
    what they keep follows it."""
    everyone = [n.code for n in province.topology if n.code != CENTER]
    with Node.open(province.path / CENTER) as center, Node.open(province.path / PROVINCE) as top:
        assert kept_at(center) == everyone
        assert kept_at(top) == [CENTER]  # the center's own backups
        with Node.open(province.path / "410102") as county:
            assert kept_at(county) == []

        join(province, db_url_template)
        for node in (center, top):
            Exchange(node).close()  # the next job of the agent starts by following
        assert NEW in center.topology
        assert kept_at(center) == [*everyone, NEW]
        assert kept_at(top) == [CENTER]

        retire_node(province.path, NEW)
        settle(province)
        Exchange(center).close()
        assert NEW not in center.topology
        assert kept_at(center) == everyone


def test_a_topology_file_changed_on_disk_is_the_one_whose_nodes_are_kept(
    province: Network,
) -> None:
    """An operator puts a later version of the file in place under a process that
    holds the center open: the next start follows it, and the nodes kept are that
    file's. The earlier file put back is read as it is by the next opening (whose map
    is the earlier one's again), and the start after it puts the later one back from
    the database, with its map."""
    file = province.path / CENTER / "topology.toml"
    earlier_text = file.read_text(encoding="utf-8")
    earlier = load_topology(file)
    everyone = [n.code for n in earlier if n.code != CENTER]
    later = membership.added(dataclasses.replace(earlier, version=5), NEW, "410100")
    with Node.open(province.path / CENTER) as center:
        assert kept_at(center) == everyone
        file.write_text(later.to_toml(), encoding="utf-8")
        Exchange(center).close()
        assert center.topology.version == 5
        assert kept_at(center) == [*everyone, NEW]
    file.write_text(earlier_text, encoding="utf-8")
    with Node.open(province.path / CENTER) as center:  # a later job of the same process
        assert center.topology.version == 0
        assert kept_at(center) == everyone
        Exchange(center).close()
        assert center.topology.version == 5
        assert kept_at(center) == [*everyone, NEW]


def test_a_keeper_restored_from_a_backup_older_than_a_node_keeps_that_node_once_it_follows(
    province: Network, db_url_template: str | None
) -> None:
    """The center's backup (kept at the province) is taken before a county joins; the
    center is lost and restored from it, in a process that has asked the newer map:
    it keeps what the topology it follows lists, and after the rounds that bring it up
    to date, the new county too."""
    backup(province, CENTER)
    settle(province)
    join(province, db_url_template)
    with Node.open(province.path / CENTER) as center:
        assert NEW in kept_at(center)  # the newer map, held in this process
    url = lose(province, CENTER)
    bring_back(province, CENTER, url)
    with Node.open(province.path / CENTER) as center:
        Exchange(center).close()
        assert kept_at(center) == keeps(center.topology, CENTER)
    settle(province)
    with Node.open(province.path / CENTER) as center:
        assert NEW in kept_at(center)
        assert load_topology(center.settings.topology).version == center.topology.version


def test_rounds_at_the_center_ask_keeper_of_once_per_topology(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every node's round asks whose backups it keeps (to offer its revocation list and
    the BLAKE3 marker): the topology is gone through once, not at each round."""
    keeper._KEPT_BY.clear()
    calls: list[str] = []
    real = backups.keeper_of

    def counted(topology: Topology, code: str) -> str:
        calls.append(code)
        return real(topology, code)

    monkeypatch.setattr(keeper, "keeper_of", counted)
    with Node.open(province.path / CENTER) as center:
        exchange = Exchange(center)
        try:
            for _ in range(3):
                summary = exchange.run_round()
                assert not summary.problems, summary.problems
        finally:
            exchange.close()
        assert len(calls) <= len(center.topology) + 3  # the map, and one per manifest


def test_threads_of_one_process_asking_at_once_get_each_topology_its_own_nodes(
    tmp_path: Path,
) -> None:
    """Two topologies asked from many threads at once, the map let go meanwhile (as it
    is when it holds too many): every answer is its own topology's."""
    first = load_topology(config.TOPOLOGIES / "demo.toml")
    second = membership.added(
        first, NEW, "410100", parent_endpoint=Endpoint("local", str(tmp_path))
    )
    expected = {id(first): keeps(first, CENTER), id(second): keeps(second, CENTER)}
    wrong: list[str] = []
    barrier = threading.Barrier(4)

    def ask(topology: Topology) -> None:
        barrier.wait()
        for number in range(200):
            if number % 50 == 49:
                keeper._KEPT_BY.clear()
            got = list(keeper._kept_by(topology).get(CENTER, ()))
            if got != expected[id(topology)]:
                wrong.append(f"{len(topology)} nodes: {got}")

    threads = [threading.Thread(target=ask, args=[t]) for t in (first, second, first, second)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads switch inside a fill, not between asks
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not wrong
    assert expected[id(second)] == [*expected[id(first)], NEW]


def test_a_topology_asked_after_another_of_the_same_name_gets_its_own_nodes(
    tmp_path: Path,
) -> None:
    """The map is kept by the topology's content, not its name: a topology that gained a
    county, asked right after the one before it, names the county."""
    first = load_topology(config.TOPOLOGIES / "demo.toml")
    second = membership.added(
        first, NEW, "410100", parent_endpoint=Endpoint("local", str(tmp_path))
    )
    assert first.name == second.name
    before = list(keeper._kept_by(first).get(CENTER, ()))
    after = list(keeper._kept_by(second).get(CENTER, ()))
    assert NEW not in before
    assert after == [*before, NEW]
    assert list(keeper._kept_by(first).get(CENTER, ())) == before
