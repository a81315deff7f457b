"""A SQLite file restored block by block: the fetcher's two buffers take turns with the
thread that writes them, so that a block is never refilled while it is still being
written, whatever the size of the blocks and however slow the disk."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from test_backup import backup, books, bring_back, issue, lose, settle

from nodes import Node
from nodes import restore as restoring
from nodes.backups import last_manifest
from nodes.exchange import Exchange
from nodes.network import Network
from nodes.restore import Fetcher, object_hashes
from sync.backup import envelope, keys

BLOCK = 3 * 16384  # a few pages a block: many turns of the two buffers


def test_a_restore_through_many_blocks_and_a_slow_disk_gives_the_same_books(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    issue(province, "410000", "410100", 900_00, "豫财预〔2026〕1号")
    settle(province)
    backup(province, "410000")
    settle(province)
    before = books(province, "410000")
    written: list[int] = []
    write = restoring.write_gathered

    def slow(fd: int, pieces: list[Any]) -> None:
        time.sleep(0.002)  # the writer lags behind the opening, as a busy disk does
        written.append(sum(len(piece) for piece in pieces))
        write(fd, pieces)

    monkeypatch.setattr(restoring, "write_gathered", slow)
    monkeypatch.setattr(restoring, "WRITE", BLOCK)
    url = lose(province, "410000")
    bring_back(province, "410000", url)
    settle(province)
    if url is None:  # SQLite: the file was written block by block
        assert len(written) > 4
        assert max(written) <= BLOCK
    assert books(province, "410000") == before


def test_blocks_hold_until_the_next_but_one_and_equal_the_chunks(province: Network) -> None:
    issue(province, "410000", "410100", 900_00, "豫财预〔2026〕1号")
    settle(province)
    backup(province, "410102")
    settle(province)
    node = Node.open(province.path / "410102")
    if node.engine.dialect.name != "sqlite":
        node.close()
        pytest.skip("a PostgreSQL node is restored table by table, not block by block")
    exchange = Exchange(node)
    try:
        _, read = last_manifest(node)
        own = keys.load_backup_key(node.home.keys / keys.BACKUP_KEY)
        data_keys = {
            bytes.fromhex(name): envelope.unwrap(bytes.fromhex(name), wraps, own)
            for name, wraps in read.manifest.keys.items()
        }
        index = read.index(data_keys)
        way = exchange.backup_way()
        part = max(index.database, key=lambda p: len(p.chunks))

        def fetcher(work: Path) -> Fetcher:
            return Fetcher(way[0], "410102", data_keys, work, None, hashes=object_hashes(read))

        work = province.path / "work"
        work.mkdir()
        whole = b"".join(fetcher(work).chunks(part))
        got: list[bytes] = []
        views: list[memoryview] = []
        for block in fetcher(work).blocks(part, BLOCK):
            if views:  # the block before is intact while this one is drawn
                assert bytes(views[-1]) == got[-1]
            got.append(bytes(block))
            views.append(block)
        assert len(got) > 4
        assert b"".join(got) == whole
    finally:
        exchange.close()
        node.close()
