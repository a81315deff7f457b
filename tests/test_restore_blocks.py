"""A SQLite file restored block by block: the fetcher's two buffers take turns with the
thread that writes them, so that a block is never refilled while it is still being
written, whatever the size of the blocks and however slow the disk."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from test_backup import CENTER, backup, books, bring_back, issue, lose, settle

from nodes import Node, backups
from nodes import restore_objects as restoring
from nodes.backups import last_manifest
from nodes.exchange import Exchange
from nodes.network import Network
from nodes.restore import restore
from nodes.restore_objects import Fetcher, object_hashes
from nodes.topology import Endpoint, load_topology
from sync.backup import envelope, keys
from sync.backup.manifest import Part
from sync.files import Filled
from sync.transports.sftp import SftpTransport

if TYPE_CHECKING:
    from sshd_fixture import Sshd

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
    write = restoring.write_out

    def slow(fd: int, data: Any, **how: Any) -> None:
        time.sleep(0.002)  # the writer lags behind the opening, as a busy disk does
        written.append(data.length if isinstance(data, Filled) else len(data))
        write(fd, data, **how)

    monkeypatch.setattr(restoring, "write_out", slow)
    monkeypatch.setattr(restoring, "WRITE", BLOCK)
    url = lose(province, "410000")
    bring_back(province, "410000", url)
    settle(province)
    if url is None:  # SQLite: the file was written block by block
        assert len(written) > 4
        assert max(written) <= BLOCK
    assert books(province, "410000") == before


@contextmanager
def backed_up_county(province: Network) -> Iterator[tuple[Any, Path, Callable[[Any], Fetcher]]]:
    """The county backed up (SQLite only): its database's largest part, a work folder,
    and a fetcher of that backup's objects for a transport (the keeper's when None)."""
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
        part = max(read.index(data_keys).database, key=lambda p: len(p.chunks))
        way = exchange.backup_way()
        work = province.path / "work"
        work.mkdir()

        def fetcher(transport: Any) -> Fetcher:
            return Fetcher(
                transport or way[0], "410102", data_keys, work, None, hashes=object_hashes(read)
            )

        yield part, way[1], fetcher
    finally:
        exchange.close()
        node.close()


def test_blocks_hold_until_the_next_but_one_and_equal_the_chunks(province: Network) -> None:
    with backed_up_county(province) as (part, _folder, fetcher):
        whole = b"".join(fetcher(None).chunks(part))
        got: list[bytes] = []
        views: list[memoryview] = []
        for block in fetcher(None).blocks(part, BLOCK):
            if views:  # the block before is intact while this one is drawn
                assert bytes(views[-1]) == got[-1]
            got.append(bytes(block))
            views.append(block)
        assert len(got) > 4
        assert b"".join(got) == whole


class _Watched:
    """A transport whose reads are slow and watched: which thread made each, and
    whether two were ever under way at once."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.busy = threading.Lock()
        self.overlaps = 0
        self.reads: list[tuple[str, str]] = []

    def read(self, folder: str, name: str, limit: int) -> bytes:
        if not self.busy.acquire(blocking=False):
            self.overlaps += 1
            self.busy.acquire()
        try:
            time.sleep(0.005)  # a fetch over the network: the next chunks open meanwhile
            self.reads.append((name, threading.current_thread().name))
            return bytes(self.inner.read(folder, name, limit))
        finally:
            self.busy.release()


def test_the_next_object_is_fetched_ahead_by_one_thread_and_the_transport_is_free_after(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backups, "PACK", 64 * 1024)  # a small node's file in many packs
    with backed_up_county(province) as (part, folder, fetcher):
        objects = list(dict.fromkeys(chunk.object for chunk in part.chunks))
        assert len(objects) > 4
        whole = b"".join(fetcher(None).chunks(part))
        watched = _Watched(fetcher(None).transport)
        with fetcher(watched) as ahead:
            got = b"".join(bytes(block) for block in ahead.blocks(part, BLOCK))
            ahead.finish()
            assert ahead.reader is None and not ahead.ahead
        assert got == whole
        assert watched.overlaps == 0
        # Each fetched in the order the part goes on to it (an object whose chunks come
        # again after four others is fetched again).
        assert list(dict.fromkeys(name for name, _thread in watched.reads)) == objects
        _fetched_by_one_thread(watched)
        # Closed while a fetch ahead is under way: it is waited for, the rest dropped.
        watched.reads.clear()
        with fetcher(watched) as ahead:
            blocks = ahead.blocks(part, BLOCK)
            next(blocks)
        assert ahead.reader is None
        count = len(watched.reads)
        watched.read(folder, objects[0], 1 << 30)  # the transport is the caller's again
        assert len(watched.reads) == count + 1 and watched.overlaps == 0


def _fetched_by_one_thread(watched: _Watched) -> None:
    """Once an object was fetched ahead, every fetch went through the fetcher's thread."""
    threads = [thread for _name, thread in watched.reads]
    first = next(i for i, t in enumerate(threads) if t.startswith("restore-fetch"))
    assert all(t.startswith("restore-fetch") for t in threads[first:]), threads
    assert watched.overlaps == 0


def test_a_part_that_comes_back_to_objects_fetches_ahead_only_what_comes_next(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks that go back to a pack after others (a later backup reuses chunks where they
    lie): each fetch ahead is of the object the part goes on to, none is left unused."""
    monkeypatch.setattr(backups, "PACK", 8 * 1024)
    with backed_up_county(province) as (part, _folder, fetcher):
        first: dict[str, Any] = {}
        for chunk in part.chunks:
            first.setdefault(chunk.object, chunk)
        objects = list(first)
        assert len(objects) >= 12
        odd, even = objects[0::2], objects[1::2]
        pairs = min(len(odd), len(even))
        # O1 X1 O2 X2 …, then O1 O2 … again: each O was let go of (four are kept) since.
        chunks = [first[o] for pair in zip(odd[:pairs], even[:pairs], strict=True) for o in pair]
        chunks += [first[o] for o in odd[:pairs]]
        revisiting = Part(part.name, chunks)
        plain = _Watched(fetcher(None).transport)
        whole = b"".join(fetcher(plain).chunks(revisiting))
        watched = _Watched(plain.inner)
        with fetcher(watched) as ahead:
            got = b"".join(bytes(block) for block in ahead.blocks(revisiting, BLOCK))
            assert not ahead.ahead  # nothing fetched ahead that was not used
        assert got == whole
        assert [name for name, _t in watched.reads] == [name for name, _t in plain.reads]
        assert len(watched.reads) == 3 * pairs
        _fetched_by_one_thread(watched)


def test_a_restore_over_sftp_fetches_ahead_and_gives_the_same_books(
    province: Network, monkeypatch: pytest.MonkeyPatch, sshd: Sshd, tmp_path: Path
) -> None:
    """The county is restored from the data center reached through a real sshd (paramiko
    on the fetcher's own thread, fetching ahead), its file in many packs: the same books."""
    monkeypatch.setattr(backups, "PACK", 16 * 1024)
    issue(province, "410000", "410100", 900_00, "豫财预〔2026〕1号")
    settle(province)
    backup(province, "410102")
    settle(province)
    before = books(province, "410102")
    county = province.homes["410102"]
    with sshd.authorized_keys.open("a") as keys:
        keys.write((county.keys / "ssh_ed25519.pub").read_text().strip() + "\n")
    ssh_key = tmp_path / "county_ssh_ed25519"
    shutil.copy(county.keys / "ssh_ed25519", ssh_key)
    center = province.homes[CENTER].mailboxes
    topology = load_topology(province.path / "topology.toml")
    by_sftp = tmp_path / "topology.toml"
    by_sftp.write_text(
        topology.with_endpoints(
            {CENTER: Endpoint("sftp", sshd.url(center), sshd.host_key)}
        ).to_toml(),
        encoding="utf-8",
    )
    threads: set[str] = set()
    read = SftpTransport.read

    def watched(self: SftpTransport, *args: Any, **kwargs: Any) -> bytes:
        threads.add(threading.current_thread().name)
        return read(self, *args, **kwargs)

    monkeypatch.setattr(SftpTransport, "read", watched)
    url = lose(province, "410102")
    restore(
        "410102",
        by_sftp,
        province.path / "410102",
        province.ca_dir / "recovery-kit.pem",
        db_url=url,
        ssh_key=ssh_key,
    )
    assert books(province, "410102") == before
    if url is None:  # SQLite: its file fetched ahead, on the fetcher's thread
        assert any(name.startswith("restore-fetch") for name in threads), threads


def test_a_fetcher_left_by_an_interrupt_does_not_wait_for_a_stalled_fetch(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while an object is fetched ahead from a stalled server: the fetcher lets go at
    once (the caller then closes the transport, which cuts the fetch off), where waiting
    for it would take the transfer's whole timeout."""
    monkeypatch.setattr(backups, "PACK", 64 * 1024)
    stalled = threading.Event()

    class Stalling(_Watched):
        def read(self, folder: str, name: str, limit: int) -> bytes:
            if len(self.reads) == 2:  # the third fetch, ahead: the operator's Ctrl-C
                stalled.set()
                threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1)).start()
                time.sleep(3)
            return super().read(folder, name, limit)

    def interrupted(*_args: Any) -> None:
        raise KeyboardInterrupt  # as SIGINT does, wherever the main thread waits

    before = signal.signal(signal.SIGUSR1, interrupted)
    try:
        with backed_up_county(province) as (part, _folder, fetcher):
            stalling = Stalling(fetcher(None).transport)
            started = time.monotonic()
            with pytest.raises(KeyboardInterrupt), fetcher(stalling) as ahead:
                for _block in ahead.blocks(part, BLOCK):
                    pass
            assert stalled.is_set()
            assert time.monotonic() - started < 2
            assert ahead.reader is None and not ahead.ahead
    finally:
        signal.signal(signal.SIGUSR1, before)
        for thread in threading.enumerate():  # the cut-off fetch, let finish here
            if thread.name.startswith("restore-fetch"):
                thread.join(10)
