"""One conformance suite for every transport, then what is particular to each.

The suite runs against the local folder, sftp to a real OpenSSH sshd on 127.0.0.1, the
retrying wrapper and the fault-injecting wrapper (with no faults enabled). Each test also
sees the endpoint's folder on disk (``mailboxes``), to plant or inspect files behind the
transport's back.
"""

from __future__ import annotations

import os
import random
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

from sync.errors import (
    ConfigError,
    HostKeyRejected,
    KeyMaterialError,
    RemoteFileMissing,
    TransferFailed,
    TransportError,
    TransportUnreachable,
)
from sync.sshkeys import generate_ssh_key as generate_client_key
from sync.transports.base import RemoteFile, Transport, is_temporary, partial_path
from sync.transports.faulty import AppliedFault, Fault, FaultyTransport
from sync.transports.local import LocalTransport
from sync.transports.retry import RetryingTransport
from sync.transports.sftp import SftpTransport, SftpUrl

if TYPE_CHECKING:
    from sshd_fixture import Sshd

pytest_plugins = ["sshd_fixture"]

T = TypeVar("T")
FOLDER = "410102/up"
MB = 1024 * 1024


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture
def mailboxes(tmp_path: Path) -> Path:
    """The endpoint's root folder, as it lies on disk."""
    root = tmp_path / "mailboxes"
    root.mkdir()
    return root


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, bytes], Path]:
    """Write a local source file to publish."""
    outbox = tmp_path / "outbox"
    outbox.mkdir()

    def write(name: str, data: bytes) -> Path:
        path = outbox / name
        path.write_bytes(data)
        return path

    return write


@pytest.fixture(params=["local", "sftp", "retry", "faulty"])
def transport(request: pytest.FixtureRequest, mailboxes: Path) -> Iterator[Transport]:
    """Each transport in turn, reaching ``mailboxes``."""
    kind = request.param
    made: Transport
    if kind == "sftp":
        server: Sshd = request.getfixturevalue("sshd")
        made = server.transport(mailboxes, transfer_timeout=10)
    elif kind == "retry":
        made = RetryingTransport(LocalTransport(mailboxes), sleep=lambda s: None)
    elif kind == "faulty":
        made = FaultyTransport(LocalTransport(mailboxes))
    else:
        made = LocalTransport(mailboxes)
    with made:
        yield made


def on_disk(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- the conformance suite ----------------------------------------------------------------


def test_publish_then_list_shows_the_file_and_its_size(
    transport: Transport, write: Callable[[str, bytes], Path]
) -> None:
    transport.publish(FOLDER, "b.fcs", write("b.fcs", b"bb"))
    transport.publish(FOLDER, "a.fcs", write("a.fcs", b"a" * 1000))
    assert transport.list(FOLDER) == [RemoteFile("a.fcs", 1000), RemoteFile("b.fcs", 2)]


def test_publish_creates_nested_folders(
    transport: Transport, mailboxes: Path, write: Callable[[str, bytes], Path]
) -> None:
    transport.publish("4101/410102/in", "x.fcs", write("x.fcs", b"x"))
    assert (mailboxes / "4101/410102/in/x.fcs").read_bytes() == b"x"
    transport.publish("", "top.fcs", write("top.fcs", b"t"))
    assert transport.list("") == [RemoteFile("top.fcs", 1)]


def test_publish_is_atomic_while_it_runs(
    transport: Transport, mailboxes: Path, tmp_path: Path
) -> None:
    """Mid-upload, only a temporary name exists, and no listing shows it."""
    source = tmp_path / "fifo"
    os.mkfifo(source)
    failure: list[BaseException] = []

    def publish() -> None:
        try:
            transport.publish(FOLDER, "slow.fcs", source)
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)

    worker = threading.Thread(target=publish)
    worker.start()
    fd = -1
    deadline = time.monotonic() + 10
    while fd < 0:  # the transport opens the source for reading: the upload has begun
        try:
            fd = os.open(source, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            assert time.monotonic() < deadline and worker.is_alive(), failure
            time.sleep(0.01)
    folder = mailboxes / FOLDER
    try:
        os.set_blocking(fd, True)
        os.write(fd, b"first half ")
        while not any(is_temporary(n) for n in on_disk(folder)):
            assert time.monotonic() < deadline, on_disk(folder)
            time.sleep(0.01)
        assert "slow.fcs" not in on_disk(folder)
        assert LocalTransport(mailboxes).list(FOLDER) == []
        os.write(fd, b"second half")
    finally:
        os.close(fd)
    worker.join(10)
    assert not failure
    assert on_disk(folder) == ["slow.fcs"]
    assert (folder / "slow.fcs").read_bytes() == b"first half second half"


def test_failed_publish_leaves_nothing(
    transport: Transport, mailboxes: Path, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        transport.publish(FOLDER, "gone.fcs", tmp_path / "no-such-source")
    assert transport.list(FOLDER) == []
    assert on_disk(mailboxes / FOLDER) == []


def test_publish_where_a_file_blocks_the_folder_fails_cleanly(
    transport: Transport, mailboxes: Path, write: Callable[[str, bytes], Path]
) -> None:
    (mailboxes / "410102").write_bytes(b"not a folder")
    with pytest.raises(TransportError, match="410102"):
        transport.publish(FOLDER, "a.fcs", write("a.fcs", b"a"))
    assert on_disk(mailboxes) == ["410102"]
    transport.publish("410103/up", "a.fcs", write("a.fcs", b"a"))  # still usable


def test_publishing_the_same_name_again_is_fine(
    transport: Transport, mailboxes: Path, write: Callable[[str, bytes], Path]
) -> None:
    source = write("same.fcs", payload(70_000))
    transport.publish(FOLDER, "same.fcs", source)
    transport.publish(FOLDER, "same.fcs", source)
    assert transport.list(FOLDER) == [RemoteFile("same.fcs", 70_000)]
    assert on_disk(mailboxes / FOLDER) == ["same.fcs"]


def test_list_of_a_missing_folder_is_empty(transport: Transport) -> None:
    assert transport.list("no/such/folder") == []


def test_list_shows_complete_files_only(
    transport: Transport, mailboxes: Path, write: Callable[[str, bytes], Path]
) -> None:
    folder = mailboxes / FOLDER
    folder.mkdir(parents=True)
    (folder / ".tmp-0123456789abcdef-half.fcs").write_bytes(b"ha")
    (folder / "half.fcs.partial").write_bytes(b"ha")
    (folder / "subfolder").mkdir()
    transport.publish(FOLDER, "whole.fcs", write("whole.fcs", b"whole"))
    assert transport.list(FOLDER) == [RemoteFile("whole.fcs", 5)]


@pytest.mark.parametrize("size", [0, 1, 100_003, 5 * MB])
def test_fetch_round_trip_is_byte_identical(
    transport: Transport, write: Callable[[str, bytes], Path], tmp_path: Path, size: int
) -> None:
    data = payload(size, seed=size)
    transport.publish(FOLDER, "f.fcs", write("f.fcs", data))
    received: list[int] = []
    dest = tmp_path / "inbox" / "f.fcs"
    transport.fetch(FOLDER, "f.fcs", dest, received.append)
    assert dest.read_bytes() == data
    assert sum(received) == size
    assert not partial_path(dest).exists()


def test_fetch_is_atomic(
    transport: Transport, write: Callable[[str, bytes], Path], tmp_path: Path
) -> None:
    """While bytes arrive, they go to the partial name; dest appears only when whole."""
    data = payload(3 * MB)
    transport.publish(FOLDER, "f.fcs", write("f.fcs", data))
    dest = tmp_path / "inbox" / "f.fcs"
    seen: list[tuple[bool, bool]] = []
    transport.fetch(
        FOLDER, "f.fcs", dest, lambda n: seen.append((dest.exists(), partial_path(dest).exists()))
    )
    assert seen and all(state == (False, True) for state in seen)
    assert dest.read_bytes() == data


def test_fetch_resumes_from_a_partial_download(
    transport: Transport, write: Callable[[str, bytes], Path], tmp_path: Path
) -> None:
    data = payload(2 * MB + 12345)
    transport.publish(FOLDER, "f.fcs", write("f.fcs", data))
    dest = tmp_path / "inbox" / "f.fcs"
    dest.parent.mkdir()
    half = len(data) // 2
    partial_path(dest).write_bytes(data[:half])
    received: list[int] = []
    transport.fetch(FOLDER, "f.fcs", dest, received.append)
    assert dest.read_bytes() == data
    assert sum(received) == len(data) - half


def test_fetch_starts_over_when_the_partial_is_too_long(
    transport: Transport, write: Callable[[str, bytes], Path], tmp_path: Path
) -> None:
    transport.publish(FOLDER, "f.fcs", write("f.fcs", b"short"))
    dest = tmp_path / "f.fcs"
    partial_path(dest).write_bytes(b"much longer than the file")
    transport.fetch(FOLDER, "f.fcs", dest)
    assert dest.read_bytes() == b"short"


def test_fetch_of_a_missing_file_raises_remote_file_missing(
    transport: Transport, write: Callable[[str, bytes], Path], tmp_path: Path
) -> None:
    dest = tmp_path / "inbox" / "x.fcs"
    with pytest.raises(RemoteFileMissing):
        transport.fetch(FOLDER, "x.fcs", dest)
    transport.publish(FOLDER, "other.fcs", write("other.fcs", b"o"))
    with pytest.raises(RemoteFileMissing):
        transport.fetch(FOLDER, "x.fcs", dest)
    assert not dest.exists() and not partial_path(dest).exists()


def test_publish_many_puts_every_file_and_is_idempotent(
    transport: Transport, mailboxes: Path, write: Callable[[str, bytes], Path]
) -> None:
    files = [(f"o{n}.obj", write(f"o{n}.obj", payload(1000 + n, seed=n))) for n in range(20)]
    transport.publish_many(FOLDER, files[:5])
    transport.publish_many(FOLDER, files)  # some there already: published again, same bytes
    transport.publish_many(FOLDER, [])
    assert transport.list(FOLDER) == sorted(
        (RemoteFile(name, 1000 + n) for n, (name, _source) in enumerate(files)),
        key=lambda f: f.name,
    )
    for name, source in files:
        assert (mailboxes / FOLDER / name).read_bytes() == source.read_bytes()
    assert not [n for n in on_disk(mailboxes / FOLDER) if is_temporary(n)]


def test_publish_many_with_a_missing_source_leaves_no_temporary_file(
    transport: Transport, mailboxes: Path, write: Callable[[str, bytes], Path], tmp_path: Path
) -> None:
    files = [("a.obj", write("a.obj", b"a")), ("b.obj", tmp_path / "missing")]
    with pytest.raises(OSError):
        transport.publish_many(FOLDER, files)
    assert not [n for n in on_disk(mailboxes / FOLDER) if is_temporary(n)]


def test_read_gives_the_bytes_and_refuses_a_missing_or_larger_file(
    transport: Transport, write: Callable[[str, bytes], Path]
) -> None:
    data = payload(100_003)
    transport.publish(FOLDER, "f.obj", write("f.obj", data))
    assert transport.read(FOLDER, "f.obj", len(data)) == data
    with pytest.raises(TransferFailed):
        transport.read(FOLDER, "f.obj", len(data) - 1)
    with pytest.raises(RemoteFileMissing):
        transport.read(FOLDER, "x.obj", 10)


def test_remove_many_removes_each_and_is_idempotent(
    transport: Transport, mailboxes: Path, write: Callable[[str, bytes], Path]
) -> None:
    for name in ("a.obj", "b.obj", "c.obj"):
        transport.publish(FOLDER, name, write(name, name.encode()))
    transport.remove_many(FOLDER, ["a.obj", "c.obj", "missing.obj"])
    assert transport.list(FOLDER) == [RemoteFile("b.obj", 5)]
    transport.remove_many(FOLDER, ["a.obj"])
    transport.remove_many("no/such/folder", ["x.obj"])
    assert on_disk(mailboxes / FOLDER) == ["b.obj"]


def test_remove_is_idempotent(
    transport: Transport, mailboxes: Path, write: Callable[[str, bytes], Path]
) -> None:
    transport.publish(FOLDER, "r.fcs", write("r.fcs", b"r"))
    transport.remove(FOLDER, "r.fcs")
    assert transport.list(FOLDER) == []
    assert on_disk(mailboxes / FOLDER) == []
    transport.remove(FOLDER, "r.fcs")
    transport.remove("no/such/folder", "r.fcs")


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("../escape", "a"),
        ("/abs", "a"),
        ("ok", ""),
        ("ok", "a/b"),
        ("ok", ".tmp-x"),
        ("ok", "x.partial"),
    ],
)
def test_names_outside_the_contract_are_refused(
    transport: Transport, write: Callable[[str, bytes], Path], folder: str, name: str
) -> None:
    with pytest.raises(ValueError):
        transport.publish(folder, name, write("s", b"s"))


# -- local --------------------------------------------------------------------------------


def test_local_missing_root_is_unreachable(tmp_path: Path) -> None:
    transport = LocalTransport(tmp_path / "unmounted")
    with pytest.raises(TransportUnreachable, match="unmounted"):
        transport.list("")
    with pytest.raises(TransportUnreachable):
        transport.fetch("", "x", tmp_path / "x")


def test_local_disk_full_is_a_transfer_failure_with_a_hint(
    mailboxes: Path, write: Callable[[str, bytes], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    (mailboxes / FOLDER).mkdir(parents=True)
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(TransferFailed, match="disk full") as caught:
        LocalTransport(mailboxes).publish(FOLDER, "a.fcs", write("a.fcs", b"a"))
    assert "free disk space" in caught.value.hint
    assert on_disk(mailboxes / FOLDER) == []  # the temporary file is gone


# -- sftp ---------------------------------------------------------------------------------


def test_sftp_wrong_pinned_host_key_is_rejected_and_nothing_is_sent(
    sshd: Sshd, tmp_path: Path, write: Callable[[str, bytes], Path]
) -> None:
    impostor = generate_client_key(tmp_path / "other_host_key")
    transport = SftpTransport(sshd.url(), impostor, sshd.client_key, connect_timeout=5)
    with transport, pytest.raises(HostKeyRejected, match="not the pinned"):
        transport.publish(FOLDER, "a.fcs", write("a.fcs", b"a"))
    assert on_disk(sshd.root) == []


def test_sftp_changed_host_key_is_rejected(sshd: Sshd) -> None:
    with sshd.transport() as transport:
        assert transport.list("") == []
        sshd.change_host_key()
        with pytest.raises(HostKeyRejected):
            after_reconnecting(lambda: transport.list(""))
        with pytest.raises(HostKeyRejected):  # and again: never learned
            transport.list("")


def after_reconnecting(call: Callable[[], T]) -> T:
    """``call()``, once more if it found its connection broken (TransferFailed).

    A server that went away is noticed either by the transport before the call (it
    reconnects at once) or by the call itself, which fails and drops the connection.
    """
    try:
        return call()
    except TransferFailed:
        return call()


def test_sftp_server_down_is_unreachable_then_recovers(sshd: Sshd) -> None:
    with sshd.transport(connect_timeout=2) as transport:
        assert transport.list("") == []
        sshd.stop()
        started = time.monotonic()
        with pytest.raises(TransportUnreachable, match=f"127.0.0.1:{sshd.port}"):
            after_reconnecting(lambda: transport.list(""))
        with pytest.raises(TransportUnreachable, match="Connection refused"):
            transport.list("")
        assert time.monotonic() - started < 2
        sshd.start()
        assert transport.list("") == []


def test_sftp_broken_connection_is_replaced(
    sshd: Sshd, write: Callable[[str, bytes], Path]
) -> None:
    with sshd.transport() as transport:
        transport.publish(FOLDER, "a.fcs", write("a.fcs", b"a"))
        sshd.drop_sessions()
        assert after_reconnecting(lambda: transport.list(FOLDER)) == [RemoteFile("a.fcs", 1)]


def test_sftp_wrong_client_key_is_unreachable(sshd: Sshd, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger_key"
    generate_client_key(stranger)
    transport = SftpTransport(sshd.url(), sshd.host_key, stranger, auth_timeout=5)
    with transport, pytest.raises(TransportUnreachable, match="refused the login") as caught:
        transport.list("")
    assert "authorized_keys" in caught.value.hint


def test_sftp_missing_root_is_unreachable(sshd: Sshd) -> None:
    with (
        sshd.transport(sshd.root / "nowhere") as transport,
        pytest.raises(TransportUnreachable, match="nowhere"),
    ):
        transport.list("")


def test_sftp_stalled_server_trips_the_watchdog_and_the_download_resumes(
    sshd: Sshd, write: Callable[[str, bytes], Path], tmp_path: Path
) -> None:
    data = payload(3 * MB)
    dest = tmp_path / "inbox" / "big.fcs"
    with sshd.transport(transfer_timeout=0.5) as transport:
        transport.publish(FOLDER, "big.fcs", write("big.fcs", data))
        received: list[int] = []
        frozen = sshd.frozen_sessions()

        def stall_midway(n: int) -> None:
            received.append(n)
            if len(received) == 40:  # about 1.3 MB in, the server stops answering
                frozen.__enter__()

        started = time.monotonic()
        try:
            with pytest.raises(TransferFailed, match="no progress"):
                transport.fetch(FOLDER, "big.fcs", dest, stall_midway)
        finally:
            if len(received) >= 40:
                frozen.__exit__(None, None, None)
        assert time.monotonic() - started < 5
        assert not dest.exists()
        assert partial_path(dest).stat().st_size == sum(received) > 0
        resumed: list[int] = []
        transport.fetch(FOLDER, "big.fcs", dest, resumed.append)
    assert dest.read_bytes() == data
    assert sum(resumed) == len(data) - sum(received)


def test_sftp_stalled_upload_trips_the_watchdog_and_leaves_nothing_visible(
    sshd: Sshd, mailboxes: Path, write: Callable[[str, bytes], Path]
) -> None:
    source = write("big.fcs", payload(5 * MB))  # more than the SSH window lets through
    with sshd.transport(mailboxes, transfer_timeout=0.5) as transport:
        transport.publish(FOLDER, "small.fcs", write("small.fcs", b"s"))
        started = time.monotonic()
        with sshd.frozen_sessions(), pytest.raises(TransferFailed, match="no progress"):
            transport.publish(FOLDER, "big.fcs", source)
        assert time.monotonic() - started < 5
        assert transport.list(FOLDER) == [RemoteFile("small.fcs", 1)]
        transport.publish(FOLDER, "big.fcs", source)
        assert transport.list(FOLDER) == [RemoteFile("big.fcs", 5 * MB), RemoteFile("small.fcs", 1)]


def test_sftp_retrying_rides_out_a_server_restart(sshd: Sshd) -> None:
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            sshd.start()

    sshd.stop()
    with RetryingTransport(sshd.transport(connect_timeout=2), sleep=sleep) as transport:
        assert transport.list("") == []
    assert len(sleeps) == 2


def test_sftp_configuration_errors() -> None:
    with pytest.raises(ConfigError):
        SftpUrl.parse("http://user@host/x")
    with pytest.raises(ConfigError):
        SftpUrl.parse("sftp://host/x")  # no user
    url = SftpUrl.parse("sftp://fs@10.41.0.1:2222/srv/mailboxes")
    assert (url.user, url.host, url.port, url.root) == ("fs", "10.41.0.1", 2222, "/srv/mailboxes")
    assert url.known_hosts_name == "[10.41.0.1]:2222"
    assert SftpUrl.parse("sftp://fs@10.41.0.1/srv").known_hosts_name == "10.41.0.1"


def test_sftp_unusable_keys(tmp_path: Path) -> None:
    key = tmp_path / "key"
    public = generate_client_key(key)
    with pytest.raises(ConfigError):
        SftpTransport("sftp://u@h/x", "ssh-ed25519 not-base64!", key)
    with pytest.raises(KeyMaterialError):
        SftpTransport("sftp://u@h/x", public, tmp_path / "missing_key")
    (tmp_path / "garbage").write_text("not a key\n")
    with pytest.raises(KeyMaterialError):
        SftpTransport("sftp://u@h/x", public, tmp_path / "garbage")


def test_generate_client_key(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    public = generate_client_key(key, "410102@fiscalsync")
    assert public.startswith("ssh-ed25519 AAAA") and public.endswith(" 410102@fiscalsync")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    with pytest.raises(KeyMaterialError, match="refusing to overwrite"):
        generate_client_key(key)


# -- retry --------------------------------------------------------------------------------


class Scripted(Transport):
    """A transport whose list() raises the scripted errors, then succeeds."""

    def __init__(self, *errors: TransportError) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.closed = False

    def list(self, folder: str) -> list[RemoteFile]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return [RemoteFile("ok", 1)]

    def publish(self, folder: str, name: str, source: Path) -> None:
        raise NotImplementedError

    def fetch(self, folder: str, name: str, dest: Path, progress: object = None) -> None:
        raise NotImplementedError

    def remove(self, folder: str, name: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.closed = True


def test_retry_backs_off_exponentially_until_success() -> None:
    inner = Scripted(TransportUnreachable("down"), TransferFailed("cut"), TransferFailed("cut"))
    sleeps: list[float] = []
    with RetryingTransport(inner, jitter=False, sleep=sleeps.append) as transport:
        assert transport.list("") == [RemoteFile("ok", 1)]
    assert inner.calls == 4
    assert sleeps == [0.5, 1.0, 2.0]
    assert inner.closed


def test_retry_gives_up_after_the_attempts() -> None:
    inner = Scripted(*[TransferFailed(f"cut {i}") for i in range(10)])
    sleeps: list[float] = []
    transport = RetryingTransport(
        inner, attempts=4, base_delay=1, max_delay=3, jitter=False, sleep=sleeps.append
    )
    with pytest.raises(TransferFailed, match="cut 3") as caught:
        transport.list("")
    assert inner.calls == 4
    assert sleeps == [1, 2, 3]
    assert "gave up after 4 attempts" in caught.value.__notes__


def test_retry_stops_trying_once_the_transport_is_closed() -> None:
    """An operation of another thread cut off by the close is not tried again (it would
    connect anew), nor is one whose wait before a retry the close came in."""
    inner = Scripted(*[TransferFailed(f"cut {i}") for i in range(10)])
    transport = RetryingTransport(inner, attempts=5, sleep=lambda _s: transport.close())
    with pytest.raises(TransferFailed, match="cut 0") as caught:
        transport.list("")  # closed while it waited to try again
    assert inner.calls == 1 and inner.closed
    assert not getattr(caught.value, "__notes__", None)
    with pytest.raises(TransferFailed, match="cut 1"):
        transport.list("")  # closed before: tried once, not again
    assert inner.calls == 2


@pytest.mark.parametrize("error", [HostKeyRejected("impostor"), RemoteFileMissing("gone")])
def test_retry_does_not_retry_answers(error: TransportError) -> None:
    inner = Scripted(error)
    sleeps: list[float] = []
    with pytest.raises(type(error)):
        RetryingTransport(inner, sleep=sleeps.append).list("")
    assert inner.calls == 1 and sleeps == []


def test_retry_full_jitter_is_bounded_and_reproducible() -> None:
    def delays(seed: int) -> list[float]:
        sleeps: list[float] = []
        inner = Scripted(*[TransferFailed("cut") for _ in range(7)])
        transport = RetryingTransport(
            inner, attempts=8, max_delay=10, sleep=sleeps.append, rng=random.Random(seed)
        )
        transport.list("")
        return sleeps

    first = delays(1)
    assert first == delays(1) != delays(2)
    ceilings = [0.5, 1, 2, 4, 8, 10, 10]
    assert all(0 <= d <= c for d, c in zip(first, ceilings, strict=True))


# -- faulty -------------------------------------------------------------------------------


@pytest.fixture
def faulty(mailboxes: Path) -> Iterator[FaultyTransport]:
    with FaultyTransport(LocalTransport(mailboxes), seed=3) as transport:
        yield transport


def test_fault_drop(faulty: FaultyTransport, write: Callable[[str, bytes], Path]) -> None:
    faulty.inject(Fault.DROP)
    faulty.publish(FOLDER, "a.fcs", write("a.fcs", b"aaaa"))
    assert faulty.list(FOLDER) == []
    assert faulty.applied == [AppliedFault(Fault.DROP, FOLDER, "a.fcs")]


def test_fault_truncate(
    faulty: FaultyTransport, mailboxes: Path, write: Callable[[str, bytes], Path]
) -> None:
    data = payload(1000)
    faulty.inject(Fault.TRUNCATE)
    faulty.publish(FOLDER, "a.fcs", write("a.fcs", data))
    assert faulty.list(FOLDER) == [RemoteFile("a.fcs", 500)]
    assert (mailboxes / FOLDER / "a.fcs").read_bytes() == data[:500]


def test_fault_corrupt(
    faulty: FaultyTransport, mailboxes: Path, write: Callable[[str, bytes], Path]
) -> None:
    data = payload(1000)
    faulty.inject(Fault.CORRUPT)
    faulty.publish(FOLDER, "a.fcs", write("a.fcs", data))
    spoiled = (mailboxes / FOLDER / "a.fcs").read_bytes()
    assert len(spoiled) == len(data) and spoiled != data
    flipped = sum(bin(a ^ b).count("1") for a, b in zip(spoiled, data, strict=True))
    assert flipped == 1


def test_fault_reorder(faulty: FaultyTransport, write: Callable[[str, bytes], Path]) -> None:
    for name in "abcde":
        faulty.publish(FOLDER, name, write(name, name.encode()))
    faulty.inject(Fault.REORDER)
    shuffled = faulty.list(FOLDER)
    assert [f.name for f in shuffled] != list("abcde")
    assert sorted(f.name for f in shuffled) == list("abcde")
    assert [f.name for f in faulty.list(FOLDER)] == list("abcde")  # one call only


def test_fault_duplicate_is_a_redelivery_after_removal(
    faulty: FaultyTransport, mailboxes: Path, write: Callable[[str, bytes], Path]
) -> None:
    faulty.inject(Fault.DUPLICATE)
    faulty.publish(FOLDER, "a.fcs", write("a.fcs", b"once"))
    assert faulty.list(FOLDER) == [RemoteFile("a.fcs", 4)]
    LocalTransport(mailboxes).remove(FOLDER, "a.fcs")  # the recipient collected it
    assert faulty.list(FOLDER) == [RemoteFile("a.fcs", 4)]  # ... and here it is again
    assert (mailboxes / FOLDER / "a.fcs").read_bytes() == b"once"
    faulty.remove(FOLDER, "a.fcs")
    assert faulty.list(FOLDER) == []  # delivered twice, not forever


def test_fault_stall(mailboxes: Path, write: Callable[[str, bytes], Path], tmp_path: Path) -> None:
    sleeps: list[float] = []
    faulty = FaultyTransport(LocalTransport(mailboxes), stall_seconds=60, sleep=sleeps.append)
    faulty.inject(Fault.STALL)
    with pytest.raises(TransferFailed, match="stall"):
        faulty.publish(FOLDER, "a.fcs", write("a.fcs", b"a"))
    assert faulty.list(FOLDER) == []
    data = payload(10_000)
    faulty.publish(FOLDER, "b.fcs", write("b.fcs", data))
    faulty.inject(Fault.STALL)
    dest = tmp_path / "inbox" / "b.fcs"
    with pytest.raises(TransferFailed):
        faulty.fetch(FOLDER, "b.fcs", dest)
    assert sleeps == [60, 60]
    assert not dest.exists() and partial_path(dest).read_bytes() == data[:5000]
    received: list[int] = []
    faulty.fetch(FOLDER, "b.fcs", dest, received.append)  # the stall is over: resume
    assert dest.read_bytes() == data and sum(received) == 5000


def test_faults_at_random_are_reproducible_from_the_seed(
    mailboxes: Path, write: Callable[[str, bytes], Path]
) -> None:
    rates = {Fault.DROP: 0.3, Fault.CORRUPT: 0.3, Fault.REORDER: 0.5}

    def run(seed: int) -> list[AppliedFault]:
        for leftover in (mailboxes / FOLDER).glob("*"):
            leftover.unlink()
        faulty = FaultyTransport(LocalTransport(mailboxes), rates, seed=seed)
        for i in range(30):
            faulty.publish(FOLDER, f"{i:02}", write(f"{i:02}", payload(10, i)))
            faulty.list(FOLDER)
        return faulty.applied

    first = run(7)
    assert first == run(7) != run(8)
    assert {a.fault for a in first} == set(rates)
    with pytest.raises(ValueError):
        FaultyTransport(LocalTransport(mailboxes), {Fault.DROP: 1.5})
