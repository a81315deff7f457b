"""The topology file follows the database: a province writes it after the commit that
publishes a version, and a node whose file a crash left behind (or, at the province,
ahead) puts it right from its database when it starts.

On a ``network init`` province, on SQLite and on PostgreSQL, with real sync rounds.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from test_allocate import settle

from nodes import Node, membership
from nodes.exchange import Exchange
from nodes.network import Network
from nodes.topology import load_topology


class Crash(BaseException):
    """The process dies here."""


def held(network: Network, code: str) -> tuple[int, int]:
    """(the version the database holds, the version of the file)."""
    with Node.open(network.path / code) as node:
        return membership.held_version(node), load_topology(node.settings.topology).version


def crash_before_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(path: Path, data: bytes) -> None:
        raise Crash

    monkeypatch.setattr(membership, "write_atomic", crash)


def test_a_crash_after_the_commit_leaves_the_file_behind_and_the_start_repairs_it(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:
        crash_before_the_file(patched)
        with Node.open(province.path / "410000") as node, pytest.raises(Crash):
            membership.publish(node, lambda t: membership.moved(t, "410181", "410100"))
    file = province.path / "410000" / "topology.toml"
    assert load_topology(file).version == 0  # the file is behind what committed
    with Node.open(province.path / "410000") as node:
        assert membership.held_version(node) == 1
        Exchange(node).close()  # a start
    assert load_topology(file).version == 1
    assert load_topology(file).node("410181").parent == "410100"
    settle(province)
    for spec in load_topology(file):
        assert held(province, spec.code) == (1, 1), spec.code


def test_a_province_file_ahead_of_its_database_is_put_back(province: Network) -> None:
    """A version written to the file whose transaction never committed (an older
    fiscalsync wrote it first): the province's start puts the file back, and the next
    version published is numbered after what committed."""
    file = province.path / "410000" / "topology.toml"
    before = file.read_text(encoding="utf-8")
    never = membership.moved(load_topology(file), "410181", "410100")
    file.write_text(dataclasses.replace(never, version=1).to_toml(), encoding="utf-8")
    with Node.open(province.path / "410000") as node:
        assert node.topology.version == 1  # what the file says, until the start
        exchange = Exchange(node)
        exchange.close()
        assert node.topology.version == 0
        assert node.topology.node("410181").parent == "410000"
    assert file.read_text(encoding="utf-8") == before
    with Node.open(province.path / "410000") as node:
        published = membership.publish(node, lambda t: membership.moved(t, "410102", "410000"))
    assert published.topology.version == 1
    assert published.topology.node("410181").parent == "410000"
    settle(province)
    assert held(province, "410102") == (1, 1)


def test_a_county_given_a_later_file_keeps_it_until_the_version_comes(
    province: Network,
) -> None:
    """At a node other than the province a later file is the operator's: the database
    takes it, and the version itself, when it comes, changes nothing more."""
    with Node.open(province.path / "410000") as node:
        published = membership.publish(node, lambda t: membership.moved(t, "410181", "410100"))
    county = province.path / "410102" / "topology.toml"
    county.write_text(published.topology.to_toml(), encoding="utf-8")
    with Node.open(province.path / "410102") as node:
        Exchange(node).close()
        assert node.topology.version == 1
    assert load_topology(county).version == 1
    settle(province)
    assert held(province, "410102") == (1, 1)


def test_two_starts_at_once_put_the_file_right_once(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes of one home start together after the crash (the agent and an
    operator's ``sync``): each holds the home's topology lock while it compares and
    writes, and the file ends as the database holds it."""
    import threading

    with monkeypatch.context() as patched:
        crash_before_the_file(patched)
        with Node.open(province.path / "410000") as node, pytest.raises(Crash):
            membership.publish(node, lambda t: membership.moved(t, "410181", "410100"))
    nodes = [Node.open(province.path / "410000") for _ in range(2)]
    written: list[bool] = []
    barrier = threading.Barrier(2)

    def start(node: Node) -> None:
        barrier.wait()
        written.append(membership.follow(node))

    threads = [threading.Thread(target=start, args=[n]) for n in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for node in nodes:
        assert node.topology.version == 1
        node.close()
    assert sorted(written) == [False, True]  # one wrote it, the other found it right
    assert held(province, "410000") == (1, 1)
