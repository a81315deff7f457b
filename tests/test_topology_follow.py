"""The topology file follows the database: a province writes it after the commit that
publishes a version, and a node whose file a crash left behind (or, at the province,
ahead) puts it right from its database when it starts; a province file ahead of its database
(the database rolled back) is kept, and the database takes its version.

On a ``network init`` province, on SQLite and on PostgreSQL, with real sync rounds.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from test_allocate import settle

from cli import cli
from nodes import Node, membership
from nodes.exchange import Exchange
from nodes.network import Network
from nodes.topology import load_topology
from schema import tables


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


def test_a_province_file_ahead_of_its_database_is_kept_and_numbers_go_on_from_it(
    province: Network,
) -> None:
    """The province's database rolled back (a DBA's restore, an old database put back)
    behind the version its file and every node hold: the start keeps the file, the
    database takes it with its version counter, and the next version is numbered after
    it, so that every node takes it."""
    top = province.path / "410000"
    file = top / "topology.toml"
    before = file.read_text(encoding="utf-8")
    with Node.open(top) as node:
        membership.publish(node, lambda t: membership.moved(t, "410181", "410100"))
    settle(province)
    sent = file.read_text(encoding="utf-8")
    with Node.open(top) as node, node.engine.begin() as conn:  # back to before version 1
        conn.execute(
            tables.counter.update()
            .where(tables.counter.c.name == membership.COUNTER)
            .values(last=0)
        )
        conn.execute(tables.topology_file.update().values(version=0, toml=before))
    with Node.open(top) as node:
        Exchange(node).close()  # a start
        assert node.topology.version == 1 and membership.held_version(node) == 1
    assert file.read_text(encoding="utf-8") == sent
    with Node.open(top) as node:
        published = membership.publish(node, lambda t: membership.moved(t, "410102", "410000"))
    assert published.topology.version == 2
    assert published.topology.node("410181").parent == "410100"
    settle(province)
    for spec in load_topology(file):
        assert held(province, spec.code) == (2, 2), spec.code


def test_a_publish_after_a_failed_file_write_starts_from_the_database(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file cannot be written after the commit (a full disk): the operator is told
    the version went out, and a second publish before any round builds on it."""

    def full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    top = province.path / "410000"
    with monkeypatch.context() as patched:
        patched.setattr(membership, "write_atomic", full)
        moved = CliRunner().invoke(
            cli,
            ["--home", str(top), "network", "move-node", "--code", "410181", "--parent", "410100",
             "--lang", "en"],
        )  # fmt: skip
    assert moved.exit_code == 0, moved.output
    assert "topology version 1 published" in moved.stderr
    assert "at the next round" in moved.stderr and "No space left" in moved.stderr
    assert load_topology(top / "topology.toml").version == 0
    with Node.open(top) as node:
        second = membership.publish(node, lambda t: membership.moved(t, "410102", "410000"))
    assert second.note is None
    assert second.topology.version == 2
    assert second.topology.node("410181").parent == "410100"  # the first change kept
    assert second.topology.node("410102").parent == "410000"
    settle(province)
    for spec in load_topology(top / "topology.toml"):
        assert held(province, spec.code) == (2, 2), spec.code


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


def test_a_start_with_the_file_in_step_writes_nothing(province: Network) -> None:
    """A round starts by following the topology; when the database already holds the
    file (and the province's counter is not behind it), that is a read only: a node
    whose database refuses every write (a full disk) still starts its round."""
    membership_moved = membership.moved
    with Node.open(province.path / "410000") as node:
        membership.publish(node, lambda t: membership_moved(t, "410181", "410100"))
        Exchange(node).close()  # the file and the database agree from here
    for code in ("410000", "410100"):
        with Node.open(province.path / code) as node:
            with node.engine.begin() as conn:
                _refuse_writes(conn)
            try:
                Exchange(node).close()  # a start: it would fail on any write
            finally:
                with node.engine.begin() as conn:
                    _allow_writes(conn)


_TABLES = ("counter", "topology_file")


def _refuse_writes(conn: sa.Connection) -> None:
    """Triggers that refuse every insert into and update of the tables a start may touch."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.execute(
            sa.text(
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql"
            )
        )
    for table in _TABLES:
        for what in ("INSERT", "UPDATE"):
            name = f"refuse_{what.lower()}_{table}"
            body = (
                "EXECUTE FUNCTION refuse()"
                if postgres
                else "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
            each = "FOR EACH ROW " if postgres else ""
            conn.execute(sa.text(f"CREATE TRIGGER {name} BEFORE {what} ON {table} {each}{body}"))


def _allow_writes(conn: sa.Connection) -> None:
    postgres = conn.dialect.name == "postgresql"
    for table in _TABLES:
        for what in ("insert", "update"):
            on = f" ON {table}" if postgres else ""
            conn.execute(sa.text(f"DROP TRIGGER refuse_{what}_{table}{on}"))
    if postgres:
        conn.execute(sa.text("DROP FUNCTION refuse()"))


def test_a_start_while_the_province_publishes_waits_for_the_file_and_follows_it(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start reads the file and the database without the topology lock; a province
    caught between the commit of a version and its file (the lock held) is found out
    of step, and the start waits for the lock, then finds the file written and writes
    nothing itself."""
    import threading

    committed, go_on = threading.Event(), threading.Event()
    real_write = membership.write_atomic

    def slow_write(path: Path, data: bytes, *args: object) -> None:
        committed.set()  # the version committed; its file is not written yet
        assert go_on.wait(30)
        real_write(path, data, *args)

    top = province.path / "410000"
    with Node.open(top) as publisher, Node.open(top) as starter:
        with monkeypatch.context() as patched:
            patched.setattr(membership, "write_atomic", slow_write)
            publishing = threading.Thread(
                target=membership.publish,
                args=[publisher, lambda t: membership.moved(t, "410181", "410100")],
            )
            publishing.start()
            assert committed.wait(30)
            written: list[bool] = []
            starting = threading.Thread(target=lambda: written.append(membership.follow(starter)))
            starting.start()
            starting.join(1.0)
            assert starting.is_alive()  # out of step: it waits for the lock
            go_on.set()
            publishing.join(30)
            starting.join(30)
        assert written == [False]  # the file was the publisher's to write
        assert starter.topology.version == 1
        assert starter.topology.node("410181").parent == "410100"
    assert held(province, "410000") == (1, 1)
