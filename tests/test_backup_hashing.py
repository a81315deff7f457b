"""The hash that names a backup's chunks and objects: BLAKE3 for a backup that builds on
none once the keeper offers it, SHA-256 for every backup taken before (and under a keeper
of the release before), which still verifies and restores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from test_backup import (
    CENTER,
    amounts,
    backup,
    books,
    bring_back,
    issue,
    journal_objects,
    kept_rows,
    lose,
    settle,
)

from cli import cli
from nodes import Node, keeper
from nodes.backups import BACKUPS_DIR, BLAKE3_OFFERED, last_manifest, take_backup
from nodes.drill import drill
from nodes.network import Network
from schema.channels import outbox
from schema.types import utcnow
from sync.backup import hashing
from sync.backup.envelope import BackupDamaged


def _verify(network: Network, code: str) -> Any:
    """``backup verify --read-data`` at the center for ``code``'s backups."""
    home = str(network.path / CENTER)
    command = ["--home", home, "backup", "verify", "--read-data", "--node", code, "--lang", "en"]
    return CliRunner().invoke(cli, command)


def _hash_of_last(network: Network, code: str) -> tuple[str, dict[str, Any]]:
    """The hash the latest manifest of ``code`` names, and its first operation."""
    with Node.open(network.path / code) as node:
        found = last_manifest(node)
        assert found is not None
        return found[1].manifest.hash, found[1].manifest.as_operation()


def _objects(network: Network, code: str) -> Path:
    return network.path / CENTER / "mailboxes" / code / "backup" / "objects"


def test_a_sha256_backup_verifies_restores_and_chains_until_a_full_one_takes_blake3(
    province: Network,
) -> None:
    """A backup named by SHA-256 (every backup before BLAKE3) is verified by its bytes at
    the center and restores; a backup after it on the same hash reuses its packs; a
    full one takes BLAKE3, and that verifies and restores too."""
    first = issue(province, "410000", "410100", 900_00, "豫财预〔2026〕1号")
    settle(province)
    with Node.open(province.path / "410000") as node:
        assert take_backup(node, hash_name=hashing.SHA256).number == 1
    name, operation = _hash_of_last(province, "410000")
    assert name == hashing.SHA256 and "hash" not in operation  # written as it always was
    issue(province, "410000", "410100", 5_00, "豫财预〔2026〕2号")
    with Node.open(province.path / "410000") as node:
        second = take_backup(node, hash_name=hashing.SHA256)
    assert second.number == 2 and second.objects > second.new_objects  # the old packs, kept
    assert _hash_of_last(province, "410000")[0] == hashing.SHA256
    settle(province)
    result = _verify(province, "410000")
    assert result.exit_code == 0, result.output + result.stderr
    before = books(province, "410000")
    url = lose(province, "410000")
    assert bring_back(province, "410000", url).number == 2
    settle(province)
    assert books(province, "410000") == before
    with Node.open(province.path / "410000") as node:  # the restore noted the offer
        full = take_backup(node, full=True)
    name, operation = _hash_of_last(province, "410000")
    assert name == hashing.BLAKE3 and operation["hash"] == "blake3"
    assert full.new_objects == full.objects  # nothing named by SHA-256 is reused
    settle(province)
    result = _verify(province, "410000")
    assert result.exit_code == 0, result.output + result.stderr
    before = books(province, "410000")
    url = lose(province, "410000")
    assert bring_back(province, "410000", url).number == full.number
    settle(province)
    assert books(province, "410000") == before
    assert first in amounts(province, "410000", "issued")


@pytest.mark.parametrize("where", ["header", "middle", "end"])
def test_a_tampered_blake3_object_is_refused_by_verify_and_by_restore(
    province: Network, where: str
) -> None:
    """One byte flipped in an object of a BLAKE3 backup: the center, which holds no key,
    finds it damaged by its name, and a restore refuses it."""
    issue(province, "410000", "410100", 300_00, "豫财预〔2026〕1号")
    settle(province)
    with Node.open(province.path / "410000") as node:
        take_backup(node, hash_name=hashing.BLAKE3)
    assert _hash_of_last(province, "410000")[0] == hashing.BLAKE3
    settle(province)
    result = _verify(province, "410000")
    assert result.exit_code == 0, result.output + result.stderr
    target = max(_objects(province, "410000").iterdir(), key=lambda p: p.stat().st_size)
    data = bytearray(target.read_bytes())
    at = {"header": 20, "middle": len(data) // 2, "end": len(data) - 1}[where]
    data[at] ^= 0x01
    target.write_bytes(bytes(data))
    result = _verify(province, "410000")
    assert result.exit_code == 11, result.output + result.stderr
    assert f"object {target.name[:16]}… does not hash to its name" in result.output, result.output
    url = lose(province, "410000")
    with pytest.raises(BackupDamaged):
        bring_back(province, "410000", url)


def test_a_manifest_names_its_hash_and_one_it_does_not_know_is_malformed() -> None:
    """SHA-256 is written as before (no ``hash``), BLAKE3 by name; a hash this code does
    not know is a malformed manifest, not a guess."""
    from sync.backup.manifest import Manifest

    heads: dict[str, dict[str, list[Any]]] = {"in": {}, "out": {}}
    sha = Manifest("410102", 1, "", "2026-11-20T01:00:00Z", "0001", "sqlite", heads, {}, 1, 0, 0)
    assert "hash" not in sha.as_operation()
    assert Manifest.from_operation(sha.as_operation(), "x").hash == hashing.SHA256
    blake = Manifest(**{**sha.__dict__, "hash": hashing.BLAKE3})
    assert Manifest.from_operation(blake.as_operation(), "x") == blake
    with pytest.raises(BackupDamaged, match="hash 'md5'"):
        Manifest.from_operation({**blake.as_operation(), "hash": "md5"}, "x")


def _sha256_only(path: Path, hash_name: str) -> str:
    """The keeper's hash check of the release before BLAKE3: SHA-256, whatever is named."""
    with path.open("rb") as stream:
        return hashing.file_hexdigest(hashing.SHA256, stream)


def test_a_keeper_of_the_release_before_blake3_keeps_a_new_nodes_first_backup(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keeper that checks new objects by SHA-256 only and offers no marker (the release
    before BLAKE3) keeps a county's first backup and its ``--full`` one: both are named
    by SHA-256. Once the keeper offers BLAKE3, the county's next upload notes it, and its
    next backup, not asked to be full, moves the chain to BLAKE3: everything shipped anew,
    once; the one after builds on it. All kept and verified."""
    issue(province, "410000", "410100", 900_00, "豫财预〔2026〕1号")
    settle(province)
    code = "410102"
    store = province.path / CENTER / "mailboxes" / code / "backup"
    with monkeypatch.context() as before:
        before.setattr(keeper, "_hash_file", _sha256_only)
        before.setattr(keeper, "offer_hashes", lambda node: None)
        assert backup(province, code).number == 1
        assert _hash_of_last(province, code)[0] == hashing.SHA256
        settle(province)
        with Node.open(province.path / code) as node:
            assert take_backup(node, full=True).number == 2
        assert _hash_of_last(province, code)[0] == hashing.SHA256
        settle(province)
        assert [r.number for r in kept_rows(province) if r.node == code] == [1, 2]
        assert not (store / BLAKE3_OFFERED).exists()
    settle(province)  # the keeper, upgraded, offers BLAKE3
    assert (store / BLAKE3_OFFERED).is_file()
    assert backup(province, code).number == 3
    assert _hash_of_last(province, code)[0] == hashing.SHA256  # the chain keeps its hash
    settle(province)  # its upload sees the marker
    with Node.open(province.path / code) as node:
        moved = take_backup(node)
    assert moved.number == 4 and moved.new_objects == moved.objects
    assert _hash_of_last(province, code)[0] == hashing.BLAKE3
    settle(province)
    with Node.open(province.path / code) as node:
        after = take_backup(node)
    assert after.number == 5 and after.new_objects < after.objects  # builds on it
    assert _hash_of_last(province, code)[0] == hashing.BLAKE3
    settle(province)
    assert [r.number for r in kept_rows(province) if r.node == code] == [1, 2, 3, 4, 5]
    result = _verify(province, code)
    assert result.exit_code == 0, result.output + result.stderr


def test_the_province_and_the_center_learn_blake3_from_each_other(province: Network) -> None:
    """The center keeps the province's backups and dials it: it leaves the marker among
    the objects the province leaves in its own mailboxes for it to collect, and never
    collects the marker as an object. The province keeps the center's backups, put into
    its store, where it offers the marker as the center does to the counties. Each one's
    next ``--full`` is BLAKE3, and its keeper keeps it."""
    for code in ("410000", CENTER):
        assert backup(province, code).number == 1
        assert _hash_of_last(province, code)[0] == hashing.SHA256  # nothing offered yet
    settle(province)
    pickup = province.path / "410000" / "mailboxes" / CENTER / "backup-down"
    assert [p.name for p in pickup.iterdir()] == [BLAKE3_OFFERED]
    for code in ("410000", CENTER):
        assert backup(province, code).number == 2
    settle(province)  # their uploads see the marker
    for code in ("410000", CENTER):
        assert (province.path / code / BACKUPS_DIR / BLAKE3_OFFERED).is_file()
        with Node.open(province.path / code) as node:
            assert take_backup(node, full=True).number == 3
        assert _hash_of_last(province, code)[0] == hashing.BLAKE3
    settle(province)
    assert [r.number for r in kept_rows(province) if r.node == "410000"] == [1, 2, 3]
    with Node.open(province.path / "410000") as node:
        assert [r.number for r in keeper.kept(node, CENTER)] == [1, 2, 3]
    objects = province.path / CENTER / "mailboxes" / "410000" / "backup" / "objects"
    assert BLAKE3_OFFERED not in {p.name for p in objects.iterdir()}


def test_a_manifest_under_another_hash_that_lists_the_previous_ones_objects_is_refused(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keeper hashes only the objects a manifest brings new: one that names BLAKE3
    while it lists objects of the SHA-256 backup before it (its new objects named by
    BLAKE3, so each hashes to its name) would be kept and never restore. It is refused
    as malformed, and the backup before it stays the latest."""
    from nodes import backups
    from sync.backup import envelope
    from sync.backup.manifest import Manifest

    code = "410102"
    assert backup(province, code).number == 1
    assert _hash_of_last(province, code)[0] == hashing.SHA256
    settle(province)
    issue(province, "410000", "410100", 700_00, "豫财预〔2026〕1号")
    settle(province)
    with monkeypatch.context() as forged:
        forged.setattr(backups, "Manifest", lambda **kw: Manifest(**{**kw, "hash": "blake3"}))
        forged.setattr(
            envelope, "object_id", lambda data, hash_name: hashing.hexdigest("blake3", data)
        )
        with Node.open(province.path / code) as node:  # built on the SHA-256 chain
            second = take_backup(node, hash_name=hashing.SHA256)
    assert second.number == 2 and 0 < second.new_objects < second.objects
    assert _hash_of_last(province, code)[0] == hashing.BLAKE3
    settle(province)
    assert [r.number for r in kept_rows(province) if r.node == code] == [1]
    with Node.open(province.path / code) as node, node.engine.connect() as conn:
        row = conn.execute(sa.select(outbox).where(outbox.c.id == second.manifest_id)).one()
    assert row.receipt_verdict == "rejected"
    assert "not a well-formed backup manifest" in row.receipt_reason
    assert "lists objects of backup #1" in row.receipt_reason


def test_restore_at_a_time_in_a_blake3_journal_starts_from_a_sha256_backup(
    province: Network,
) -> None:
    """A SHA-256 backup, then a ``--full`` BLAKE3 one: a restore at a time between them
    loads the SHA-256 snapshot and replays the journal the BLAKE3 backup holds, each
    object checked under its own manifest's hash (a byte flipped in a BLAKE3 journal
    object is refused); the city then gets back what it issued after that time."""
    code = "410100"
    with Node.open(province.path / code) as node:
        assert take_backup(node).number == 1
    assert _hash_of_last(province, code)[0] == hashing.SHA256
    settle(province)
    first = issue(province, "410000", code, 1000_00, "豫财预〔2026〕1号")
    settle(province)
    down = issue(province, code, "410102", 300_00, "郑财预〔2026〕1号", parent=first)
    settle(province)
    between = utcnow()
    later = issue(province, code, "410102", 200_00, "郑财预〔2026〕2号", parent=first)
    settle(province)
    with Node.open(province.path / code) as node:
        assert take_backup(node, full=True).number == 2
    assert _hash_of_last(province, code)[0] == hashing.BLAKE3
    settle(province)
    url = lose(province, code)
    victim = journal_objects(province, code, 2)[0]
    original = victim.read_bytes()
    victim.write_bytes(original[:60] + bytes([original[60] ^ 1]) + original[61:])
    with pytest.raises(BackupDamaged, match="does not hash"):
        bring_back(province, code, url, at=between)
    victim.write_bytes(original)
    assert bring_back(province, code, url, at=between).number == 1
    assert amounts(province, code, "received") == {first: 1000_00}
    assert amounts(province, code, "issued") == {down: 300_00}
    settle(province)
    assert amounts(province, code, "issued") == {down: 300_00, later: 200_00}


def test_a_drill_on_a_blake3_chain_restores_what_the_node_holds(province: Network) -> None:
    """``backup drill`` on a node whose chain is BLAKE3 takes a BLAKE3 backup, restores
    it into scratch and finds every table as the node holds it."""
    issue(province, "410000", "410100", 500_00, "豫财预〔2026〕1号")
    settle(province)
    with Node.open(province.path / "410000") as node:
        take_backup(node, hash_name=hashing.BLAKE3)
    settle(province)
    issue(province, "410000", "410100", 7_00, "豫财预〔2026〕2号")
    with Node.open(province.path / "410000") as node:
        report = drill(node)
    assert report.passed, report
    assert _hash_of_last(province, "410000")[0] == hashing.BLAKE3
