"""The headers a sync round reads once (nodes.round_headers): served again while the file
is the same file, untouched; read anew once it is another, or was touched or moved."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_changeset import HENAN, SmallPki, appropriations, make_pki

from nodes.round_headers import RoundHeaders
from sync import changeset
from sync.changeset import write_changeset
from sync.errors import VerificationError


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SmallPki:
    return make_pki(tmp_path_factory.mktemp("pki"), HENAN)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files whose header is read from disk."""
    seen: list[Path] = []
    read = changeset.read_header

    def counted(path: Path) -> object:
        seen.append(path)
        return read(path)

    monkeypatch.setattr(changeset, "read_header", counted)
    return seen


def _written(pki: SmallPki, folder: Path, recipient: str, rows: int) -> Path:
    folder.mkdir(exist_ok=True)
    signer = pki.signers["410000"]
    ops = appropriations(rows)
    return write_changeset(
        folder, signer, recipient, "appropriation", 1, "", ops, clock=pki.clock
    ).path


def test_a_file_is_read_once_while_it_stays_as_it_was(
    pki: SmallPki, tmp_path: Path, reads: list[Path]
) -> None:
    path = _written(pki, tmp_path / "incoming", "410100", 3)
    headers = RoundHeaders()
    first = headers.header(path)
    assert headers.header(path) == first == changeset.read_header(path)[0]
    assert reads == [path, path]  # the second read is this test's own
    (tmp_path / "relay").mkdir()
    moved = tmp_path / "relay" / path.name
    os.replace(path, moved)  # moved: its status changed, so it is read again
    assert headers.header(moved) == first
    assert reads == [path, path, moved]


def test_a_file_rewritten_at_its_size_with_its_time_set_back_is_read_again(
    pki: SmallPki, tmp_path: Path, reads: list[Path]
) -> None:
    """Whoever owns a delivered file can rewrite it at the same size and set its
    modification time back; its status change time says it changed all the same."""
    path = _written(pki, tmp_path / "incoming", "410100", 3)
    headers = RoundHeaders()
    assert headers.header(path).recipient == "410100"
    before = os.stat(path)
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF  # inside the header's member
    with path.open("r+b") as stream:  # the same inode, the same size
        stream.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    with pytest.raises(VerificationError):  # the file as it is now
        headers.header(path)
    assert reads == [path, path]


def test_another_file_under_the_name_is_read(
    pki: SmallPki, tmp_path: Path, reads: list[Path]
) -> None:
    path = _written(pki, tmp_path / "incoming", "410100", 3)
    other = _written(pki, tmp_path / "other", "410102", 4)
    headers = RoundHeaders()
    assert headers.header(path).recipient == "410100"
    path.write_bytes(other.read_bytes())  # the same file rewritten in place
    assert headers.header(path).recipient == "410102"
    os.replace(_written(pki, tmp_path / "third", "410103", 5), path)  # a new file renamed over it
    assert headers.header(path).recipient == "410103"
    assert len(reads) == 3


def test_a_new_round_reads_anew(pki: SmallPki, tmp_path: Path, reads: list[Path]) -> None:
    path = _written(pki, tmp_path / "incoming", "410100", 3)
    headers = RoundHeaders()
    headers.header(path)
    headers.clear()
    headers.header(path)
    assert len(reads) == 2


def test_a_missing_file_fails_as_reading_it_does(tmp_path: Path) -> None:
    missing = tmp_path / "gone.fcs"
    with pytest.raises(Exception) as expected:
        changeset.read_header(missing)
    with pytest.raises(type(expected.value)):
        RoundHeaders().header(missing)
