"""``network init`` builds a province under a temporary name and flushes it to disk once,
whole, before renaming it into place (:mod:`schema.deferred`): every file and folder of
it is flushed, none file by file, and nothing outside the tree is left unflushed."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa

from nodes import Node, init_network
from schema.deferred import deferred, flushing_deferred
from schema.engine import open_engine, sqlite_url
from sync.files import write_atomic

ME = "410100"


def _flushes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path this process flushes from now on (``os.fsync``), in order."""
    seen: list[str] = []
    real = os.fsync

    def counted(fd: int) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", counted)
    return seen


def test_network_init_flushes_every_file_and_folder_once_before_the_rename(
    tmp_path: Path, demo_topology: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushed = _flushes(monkeypatch)
    network = init_network(tmp_path / "province", demo_topology)
    _assert_flushed_once_under_its_temporary_name(flushed, network.path)


def test_a_node_database_made_by_network_init_commits_to_disk_afterwards(
    tmp_path: Path, demo_topology: Path
) -> None:
    network = init_network(tmp_path / "province", demo_topology)
    with Node.open(network.path / ME) as node, node.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA synchronous")).scalar_one() == 2  # FULL
    with closing(sqlite3.connect(network.path / ME / "node.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_flushing_is_deferred_only_inside_the_tree_and_only_meanwhile(tmp_path: Path) -> None:
    tree, elsewhere = tmp_path / "tree", tmp_path / "elsewhere"
    tree.mkdir()
    elsewhere.mkdir()
    with flushing_deferred(tree):
        assert deferred(tree / "a" / "b.toml") and deferred(tree)
        assert not deferred(elsewhere / "b.toml") and not deferred(tmp_path / "tree2")
        inside, outside = (
            open_engine(sqlite_url(tree / "in.db")),
            open_engine(sqlite_url(elsewhere / "out.db")),
        )
    assert not deferred(tree / "a")
    try:
        for engine, expected in ((inside, 0), (outside, 2)):  # OFF, FULL
            with engine.connect() as conn:
                assert conn.execute(sa.text("PRAGMA synchronous")).scalar_one() == expected
    finally:
        inside.dispose()
        outside.dispose()


def test_a_file_outside_the_tree_is_flushed_while_the_tree_is_deferred(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree, elsewhere = tmp_path / "tree", tmp_path / "elsewhere"
    tree.mkdir()
    elsewhere.mkdir()
    flushed = _flushes(monkeypatch)
    with flushing_deferred(tree):
        write_atomic(tree / "in.toml", b"x")
        write_atomic(elsewhere / "out.toml", b"y")
    assert not any(p.startswith(str(tree)) for p in flushed)
    assert any(p.startswith(str(elsewhere / ".out.toml.")) for p in flushed)
    assert str(elsewhere) in flushed


def test_a_home_is_flushed_once_whole_before_its_rename(
    tmp_path: Path, demo_topology: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nodes.home
    from nodes.home import create_home
    from nodes.topology import load_topology

    migrated = nodes.home._migrate_new_database
    unflushed: list[bool] = []

    def migrate(url: str, *args: object) -> None:  # its commits wait for no disk
        unflushed.append(deferred(sa.make_url(url).database or ""))
        migrated(url, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(nodes.home, "_migrate_new_database", migrate)
    flushed = _flushes(monkeypatch)
    home = create_home(tmp_path / "home", load_topology(demo_topology), ME, None, "ed25519")
    assert unflushed == [True]
    _assert_flushed_once_under_its_temporary_name(flushed, home.path)


def _assert_flushed_once_under_its_temporary_name(flushed: list[str], tree: Path) -> None:
    """Every file and folder of ``tree`` was flushed once, under the temporary name the
    tree had before its rename into place, and the folder it was renamed in after."""
    staged = {Path(p) for p in flushed if ".partial-" in p}
    assert staged, "the tree is flushed under its temporary name, before the rename"
    parts = next(iter(staged)).parts
    named = next(i for i, part in enumerate(parts) if ".partial-" in part)
    staging = Path(*parts[: named + 1])  # the temporary name of the whole tree
    kept = [p for p in [tree, *tree.rglob("*")] if p.is_file() or p.is_dir()]
    for path in kept:
        assert staging / path.relative_to(tree) in staged, f"{path} never flushed"
    assert len(flushed) == len(set(flushed)), "a file flushed twice: once by itself"
    assert str(tree.parent) in flushed  # the rename into place
    assert len(kept) + 5 >= len(flushed)
