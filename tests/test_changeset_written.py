"""A change-set this process wrote is read back without parsing its header line again
(sync.changeset.framing.remember_written), as the header parsing would give it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from test_changeset import HENAN, SmallPki, appropriations, make_pki

from sync.changeset import Header, framing, read_header, write_changeset
from sync.changeset.codec import strict_json
from sync.clock import FixedClock


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SmallPki:
    return make_pki(tmp_path_factory.mktemp("pki"), HENAN)


def _head_line(path: Path) -> bytes:
    with path.open("rb") as stream:
        return framing.Reader(stream, path.name).head()[2]


def test_a_written_header_is_read_back_unparsed_and_as_parsed(
    pki: SmallPki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[object] = []
    parse = Header.from_dict

    def counted(data: object) -> Header:
        parsed.append(data)
        return parse(data)

    monkeypatch.setattr(Header, "from_dict", staticmethod(counted))
    beijing = timezone(timedelta(hours=8))
    clock = FixedClock(datetime(2026, 3, 1, 16, 0, 5, 123456, tzinfo=beijing))
    signer = pki.signers["410000"]
    written = write_changeset(
        tmp_path, signer, "410100", "appropriation", 1, "", appropriations(3), clock=clock
    )
    header, _seal = read_header(written.path)
    assert parsed == []  # not parsed: the header written
    again = parse(strict_json(_head_line(written.path)))
    assert header == again == written.header
    assert header.to_dict() == again.to_dict() and header.created.tzinfo == again.created.tzinfo
    assert header.id == again.id and header.canonical() == again.canonical()


def test_a_header_written_elsewhere_is_parsed(
    pki: SmallPki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = pki.signers["410000"]
    written = write_changeset(
        tmp_path, signer, "410102", "appropriation", 1, "", appropriations(2), clock=pki.clock
    )
    framing._WRITTEN.clear()  # as in another process
    framing._header.cache_clear()
    parsed: list[object] = []
    parse = Header.from_dict
    monkeypatch.setattr(Header, "from_dict", staticmethod(lambda d: parsed.append(d) or parse(d)))
    assert read_header(written.path)[0] == written.header
    assert len(parsed) == 1
