"""Backups at the data center, restore and rejoin, on SQLite and PostgreSQL provinces.

Real ``network init`` provinces, real keys, real files, synced with ``sync_network``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cli import cli
from nodes import Node, backups, init_node, rejoin
from nodes.backups import last_manifest, take_backup
from nodes.drill import drill
from nodes.exchange import Exchange
from nodes.fiscal.appropriations import Allocation, allocate
from nodes.fiscal.reconcile.records import stale
from nodes.keeper import kept
from nodes.network import Network, sync_network
from nodes.rejoin_request import FENCE_REQUESTS, heads
from nodes.restore import restore
from nodes.restore_objects import Fetcher, object_hashes
from schema.backups import backup_catalogue, rejoin_fence, rejoin_peer
from schema.channels import outbox, quarantine
from schema.engine import drop_database, ensure_database, parse_url
from schema.errors import DatabaseError
from schema.tables import appropriation, appropriation_event
from sync import changeset, sm2
from sync.backup import chunks, envelope, hashing, keys
from sync.backup.envelope import BackupDamaged, DataKey
from sync.backup.manifest import Chunk, Index, Part
from sync.clock import SYSTEM_CLOCK, FixedClock
from sync.errors import HomeError, InputError, KeyMaterialError, TransferFailed
from sync.fence import epoch as current_epoch
from sync.national import sm3
from sync.pki import load_signer

CENTER = "410000-dc"


def settle(network: Network) -> None:
    result = sync_network(network.path, until_quiet=True, max_rounds=40)
    assert result.quiet, result.unsettled


def issue(
    network: Network, origin: str, recipient: str, amount: int, doc: str, parent: str | None = None
) -> str:
    with Node.open(network.path / origin) as node:
        line = Allocation(recipient, amount, "2050202", "50201", "111", doc, 2026, parent_id=parent)
        return allocate(node, [line], actor="test")[0]


def backup(network: Network, code: str) -> Any:
    with Node.open(network.path / code) as node:
        return take_backup(node)


def books(network: Network, code: str) -> tuple[list[Any], list[Any]]:
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        rows = sorted(tuple(map(str, r)) for r in conn.execute(sa.select(appropriation)))
        events = sorted(
            (r.appropriation_id, r.seq, r.kind, r.amount_fen, r.changeset_id)
            for r in conn.execute(sa.select(appropriation_event))
        )
        return rows, events


def amounts(network: Network, code: str, side: str) -> dict[str, int]:
    """What ``code`` holds of every appropriation it issued or received, in fen."""
    column = appropriation.c.issuer if side == "issued" else appropriation.c.recipient
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        query = (
            sa.select(appropriation.c.id, sa.func.sum(appropriation_event.c.amount_fen))
            .join(appropriation_event)
            .where(column == code)
            .group_by(appropriation.c.id)
        )
        return {ident: int(total) for ident, total in conn.execute(query)}


def lose(network: Network, code: str) -> str | None:
    """The disk of ``code`` dies: its home (and PostgreSQL database) are gone."""
    with Node.open(network.path / code) as node:
        url = node.settings.database_url
        backend = node.engine.dialect.name
    shutil.rmtree(network.path / code)
    if backend == "postgresql":
        drop_database(url)
        return url
    return None


def bring_back(network: Network, code: str, url: str | None, **options: Any) -> Any:
    return restore(
        code,
        network.path / "topology.toml",
        network.path / code,
        network.ca_dir / "recovery-kit.pem",
        db_url=url,
        **options,
    )


def check_books(network: Network) -> None:
    """Every issuer and recipient agree to the fen, and every digest matches its records."""
    for spec in network.topology:
        for other in network.topology:
            issued = {
                k: v
                for k, v in amounts(network, spec.code, "issued").items()
                if k.startswith(spec.code)
            }
            received = amounts(network, other.code, "received")
            for ident, total in issued.items():
                if ident in received:
                    assert received[ident] == total, (ident, spec.code, other.code)
        with Node.open(network.path / spec.code) as node, node.engine.connect() as conn:
            assert stale(conn, spec.code) == [], spec.code


@pytest.mark.slow
def test_a_county_lost_mid_month_is_restored_with_the_recovery_key_and_rejoins(
    province: Network,
) -> None:
    first = issue(province, "410000", "410100", 900_00, "豫财预〔2026〕1号")
    settle(province)
    down = issue(province, "410100", "410102", 400_00, "郑财预〔2026〕1号", parent=first)
    settle(province)
    assert backup(province, "410102").number == 1
    settle(province)
    later = issue(province, "410100", "410102", 123_45, "郑财预〔2026〕2号", parent=first)
    settle(province)
    before = books(province, "410102")
    url = lose(province, "410102")
    done = bring_back(province, "410102", url)
    assert done.number == 1 and CENTER in done.peers
    with Node.open(province.path / "410102") as node:
        shown = node.status().as_dict()
    assert any(a["kind"] == "restored" for a in shown["alerts"])
    settle(province)
    assert books(province, "410102") == before
    assert amounts(province, "410102", "received") == {down: 400_00, later: 123_45}
    check_books(province)
    with Node.open(province.path / "410102") as node:
        assert not any(a["kind"] == "restored" for a in node.status().as_dict()["alerts"])


@pytest.mark.slow
def test_a_parent_restored_to_before_an_allocation_gets_it_back_from_its_children(
    province: Network,
) -> None:
    first = issue(province, "410000", "410100", 1000_00, "豫财预〔2026〕1号")
    settle(province)
    assert backup(province, "410100").number == 1
    settle(province)
    second = issue(province, "410000", "410100", 500_00, "豫财预〔2026〕2号")
    settle(province)
    down = issue(province, "410100", "410102", 300_00, "郑财预〔2026〕1号", parent=second)
    settle(province)
    before = books(province, "410100")
    url = lose(province, "410100")
    bring_back(province, "410100", url)
    assert books(province, "410100") != before  # the backup predates both
    settle(province)
    assert books(province, "410100") == before
    with Node.open(province.path / "410100") as node, node.engine.connect() as conn:
        acked = (
            conn.execute(sa.text("SELECT receipt_verdict FROM outbox WHERE kind = 'appropriation'"))
            .scalars()
            .all()
        )
    assert acked == ["applied"]  # the county's receipt came back with its change-set
    more = issue(province, "410100", "410102", 100_00, "郑财预〔2026〕2号", parent=first)
    settle(province)  # no fork: the next change-set follows the one taken back
    assert amounts(province, "410102", "received") == {down: 300_00, more: 100_00}
    check_books(province)


def journal_objects(network: Network, code: str, number: int) -> list[Path]:
    """The objects at the center that hold files of the journal new in backup ``number``."""
    from sync import changeset
    from sync.backup.manifest import read_manifest

    store = network.path / CENTER / "mailboxes" / code / "backup"
    kit = keys.load_kit(network.ca_dir / "recovery-kit.pem")
    held: dict[int, set[str]] = {}
    for path in sorted((store / "manifests").iterdir()):
        header, _seal = changeset.read_header(path)
        read = read_manifest(header, changeset.iter_operations(path))
        opened = {
            bytes.fromhex(name): envelope.unwrap(bytes.fromhex(name), wraps, kit.key)
            for name, wraps in read.manifest.keys.items()
        }
        held[read.manifest.number] = {
            c.object
            for part in read.index(opened).files
            if part.name.startswith("spool/")
            for c in part.chunks
        }
    return [store / "objects" / name for name in sorted(held[number] - held[number - 1])]


@pytest.mark.slow
def test_a_city_restored_to_a_point_in_time_lands_there_then_rejoins(province: Network) -> None:
    """``--at`` without a zone is the node's own time ([node] time_zone, here New York's,
    13 hours behind Beijing: read as Beijing time it would come before every backup)."""
    from zoneinfo import ZoneInfo

    from schema.types import utcnow

    settings = province.path / "410100" / "node.toml"
    text = settings.read_text(encoding="utf-8")
    assert 'time_zone = "Asia/Shanghai"' in text
    settings.write_text(
        text.replace('time_zone = "Asia/Shanghai"', 'time_zone = "America/New_York"'),
        encoding="utf-8",
    )
    assert backup(province, "410100").number == 1  # the snapshot predates everything below
    settle(province)
    first = issue(province, "410000", "410100", 1000_00, "豫财预〔2026〕1号")
    settle(province)
    down = issue(province, "410100", "410102", 300_00, "郑财预〔2026〕1号", parent=first)
    settle(province)
    between = utcnow()
    later = issue(province, "410100", "410102", 200_00, "郑财预〔2026〕2号", parent=first)
    settle(province)
    assert backup(province, "410100").number == 2  # its journal reaches past ``between``
    settle(province)
    before = books(province, "410100")
    url = lose(province, "410100")

    # a journal object flipped, then truncated: refused, and nothing is left behind
    target = province.path / "410100"
    for victim in journal_objects(province, "410100", 2)[:1]:
        original = victim.read_bytes()
        for bad, why in (
            # a byte of a chunk this restore does not open (the second backup's
            # database): the object is hashed against its name
            (original[:60] + bytes([original[60] ^ 1]) + original[61:], "does not hash"),
            (original[:-7], "shorter than the index says"),
        ):
            victim.write_bytes(bad)
            with pytest.raises(BackupDamaged, match=why):
                bring_back(province, "410100", url, at=between)
            assert not target.exists()
            assert not list(province.path.glob(".410100.partial-*"))
        victim.write_bytes(original)

    local = between.astimezone(ZoneInfo("America/New_York")).replace(tzinfo=None)
    arguments = ["restore", str(target), "--node", "410100", "--at", local.isoformat(" ")]
    arguments += ["--topology", str(province.path / "topology.toml")]
    arguments += ["--recovery-key", str(province.ca_dir / "recovery-kit.pem")]
    arguments += ["--lang", "en"]
    result = CliRunner().invoke(cli, arguments + (["--db-url", url] if url else []))
    assert result.exit_code == 0, result.output + result.stderr
    assert "from backup #1 taken" in result.output
    # the province's allocation taken again; the breakdown and backup #1's manifest taken back
    assert f"Replayed the journal of backup #2 up to {local:%Y-%m-%d %H:%M}" in result.output
    assert "took back 2 change-set(s) of its own and took 1 again" in result.output
    # before rejoining: the first allocation and its breakdown, not the second breakdown
    assert amounts(province, "410100", "received") == {first: 1000_00}
    assert amounts(province, "410100", "issued") == {down: 300_00}
    settle(province)
    assert books(province, "410100") == before
    assert amounts(province, "410100", "issued") == {down: 300_00, later: 200_00}
    assert amounts(province, "410102", "received") == {down: 300_00, later: 200_00}
    check_books(province)
    more = issue(province, "410100", "410102", 100_00, "郑财预〔2026〕3号", parent=first)
    settle(province)  # no fork: the city goes on after what it took back
    assert amounts(province, "410102", "received")[more] == 100_00
    check_books(province)


@pytest.mark.slow
def test_a_receipt_that_came_back_after_the_snapshot_is_replayed_with_the_journal(
    province: Network,
) -> None:
    from schema.types import utcnow

    first = issue(province, "410000", "410100", 1000_00, "豫财预〔2026〕1号")
    settle(province)
    down = issue(province, "410100", "410102", 300_00, "郑财预〔2026〕1号", parent=first)
    assert backup(province, "410100").number == 1  # its breakdown not acknowledged yet
    settle(province)  # the county's receipt comes back
    between = utcnow()
    issue(province, "410100", "410102", 200_00, "郑财预〔2026〕2号", parent=first)
    settle(province)
    backup(province, "410100")
    settle(province)
    url = lose(province, "410100")
    done = bring_back(province, "410100", url, at=between)
    assert done.replayed is not None and done.replayed.receipts >= 1
    with Node.open(province.path / "410100") as node, node.engine.connect() as conn:
        verdicts = conn.execute(
            sa.text("SELECT receipt_verdict FROM outbox WHERE kind = 'appropriation'")
        ).all()
    assert verdicts == [("applied",)]  # as it stood at ``between``: acknowledged
    assert amounts(province, "410100", "issued") == {down: 300_00}
    settle(province)
    check_books(province)


def test_the_center_holds_no_key_that_decrypts(province: Network) -> None:
    issue(province, "410000", "410100", 100_00, "豫财预〔2026〕1号")
    backup(province, "410102")
    settle(province)
    center = province.path / CENTER
    (row,) = [r for r in kept_rows(province) if r.node == "410102"]
    manifest = center / "mailboxes" / "410102" / "backup" / "manifests" / row.filename
    from sync import changeset
    from sync.backup.manifest import read_manifest

    header, _seal = changeset.read_header(manifest)
    read = read_manifest(header, changeset.iter_operations(manifest))
    recipients = {w.recipient for wraps in read.manifest.keys.values() for w in wraps}
    for path in center.rglob("*"):
        if path.is_file() and path.suffix in (".key", ".pem", ""):
            data = path.read_bytes()
            if b"PRIVATE KEY" in data:
                try:
                    kit = keys.load_kit(path)
                except KeyMaterialError:
                    continue  # an ed25519 signing key: it unwraps nothing
                assert kit.key.fingerprint not in recipients, path
    with pytest.raises(KeyMaterialError):
        own = keys.load_or_create_backup_key(center / "keys")
        name, wraps = next(iter(read.manifest.keys.items()))
        envelope.unwrap(bytes.fromhex(name), wraps, own)


def kept_rows(network: Network) -> list[Any]:
    with Node.open(network.path / CENTER) as node:
        return kept(node)


def test_a_second_backup_ships_only_what_changed_and_chains(province: Network) -> None:
    first = backup(province, "410102")
    second = backup(province, "410102")
    # nothing changed but the journal: the first's manifest, new in the outbox
    assert second.number == 2 and second.new_bytes * 3 < second.bytes
    assert first.objects < 10  # the chunks travel in packs, not a file each
    settle(province)
    assert [r.number for r in kept_rows(province) if r.node == "410102"] == [1, 2]


def test_a_backup_of_the_uncompressed_format_still_restores_and_seeds_the_next(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backup written as before compression (every chunk FSB2) restores; the next
    backup, compressed, reuses its chunks and restores too."""
    from sync.backup import compression

    first = issue(province, "410000", "410100", 900_00, "豫财预〔2026〕1号")
    settle(province)
    with monkeypatch.context() as old:
        old.setattr(compression, "squeeze", lambda data: None)
        assert backup(province, "410000").number == 1
    settle(province)
    store = province.path / CENTER / "mailboxes" / "410000" / "backup" / "objects"
    packs = [p.read_bytes() for p in store.iterdir()]
    assert packs and all(p[:4] == b"FSB2" and b"FSB3" not in p for p in packs)
    issue(province, "410000", "410100", 5_00, "豫财预〔2026〕2号", parent=None)
    settle(province)
    before = books(province, "410000")
    url = lose(province, "410000")
    assert bring_back(province, "410000", url).number == 1
    settle(province)
    assert books(province, "410000") == before
    with Node.open(province.path / "410000") as node:  # the chain's hash: it builds on it
        again = take_backup(node, hash_name=hashing.SHA256)
    assert again.number == 2 and again.objects > again.new_objects  # the old packs, kept
    settle(province)
    news = [p.read_bytes() for p in store.iterdir()]
    with Node.open(province.path / "410000") as node:
        compressed = node.engine.dialect.name == "postgresql"  # COPY text; a SQLite file is not
    assert any(b"FSB3" in p for p in news if p not in packs) == compressed
    before = books(province, "410000")
    url = lose(province, "410000")
    assert bring_back(province, "410000", url).number == 2
    settle(province)
    assert books(province, "410000") == before
    assert first in amounts(province, "410000", "issued")


@pytest.mark.parametrize(
    ("fixed", "compress_pages", "hash_name"),
    [(64 * 1024, False, hashing.SHA256), (16 * 1024, True, hashing.BLAKE3)],
)
def test_a_backup_cut_in_other_chunks_restores_and_so_does_the_next(
    province: Network,
    monkeypatch: pytest.MonkeyPatch,
    fixed: int,
    compress_pages: bool,
    hash_name: str,
) -> None:
    """A SQLite file cut into other chunks than today's (64 KiB under SHA-256, as a
    release before did), or with its pages compressed (chunks a restore cannot open in
    place, opened one by one), restores to the same books; the next backup, in
    today's chunks, builds on it and restores too."""
    issue(province, "410000", "410100", 900_00, "豫财预〔2026〕1号")
    settle(province)
    with monkeypatch.context() as old:
        old.setattr(chunks, "FIXED", fixed)
        old.setattr(backups, "COMPRESS_PAGES", compress_pages)
        with Node.open(province.path / "410000") as node:
            assert take_backup(node, hash_name=hash_name).number == 1
    settle(province)
    before = books(province, "410000")
    url = lose(province, "410000")
    assert bring_back(province, "410000", url).number == 1
    settle(province)
    assert books(province, "410000") == before
    issue(province, "410000", "410100", 5_00, "豫财预〔2026〕2号")
    settle(province)
    assert backup(province, "410000").number == 2
    settle(province)
    before = books(province, "410000")
    url = lose(province, "410000")
    assert bring_back(province, "410000", url).number == 2
    settle(province)
    assert books(province, "410000") == before


def test_a_keeper_of_the_release_before_compression_keeps_a_compressed_backup(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keeper reads the manifest, never a chunk: one that reads manifest formats 1
    and 2 only (the release before compressed chunks) takes a compressed backup, and
    the backup restores. A county upgraded before its data center is still kept."""
    from sync.backup import manifest

    first = issue(province, "410000", "410100", 900_00, "豫财预〔2026〕1号")
    settle(province)
    taken = backup(province, "410000")
    index = Index("pg-copy", [Part("db", [Chunk("ab" * 32, "cd" * 32, "ef" * 16, 1, 0, 1)])], [])
    assert json.loads(zlib.decompress(index.to_bytes()))["format"] in (1, 2)
    with monkeypatch.context() as before:
        before.setattr(manifest, "READABLE", (1, 2))
        settle(province)
        assert [r.number for r in kept_rows(province) if r.node == "410000"] == [taken.number]
    store = province.path / CENTER / "mailboxes" / "410000" / "backup" / "objects"
    assert any(b"FSB3" in p.read_bytes() for p in store.iterdir())  # compressed chunks
    before_loss = books(province, "410000")
    url = lose(province, "410000")
    assert bring_back(province, "410000", url).number == taken.number
    settle(province)
    assert books(province, "410000") == before_loss
    assert first in amounts(province, "410000", "issued")


def test_bad_inputs_are_refused_and_nothing_is_created(province: Network, tmp_path: Path) -> None:
    backup(province, "410102")
    settle(province)
    topology = province.path / "topology.toml"
    kit = province.ca_dir / "recovery-kit.pem"
    store = province.path / CENTER / "mailboxes" / "410102" / "backup"
    target = tmp_path / "restored"

    with Node.open(province.path / "410102") as node:
        live = node.settings.database_url
    fresh = f"{live}_restored" if live.startswith("postgresql") else None

    def attempt(error: type[Exception], key: Path = kit, **options: Any) -> str:
        with pytest.raises(error) as caught:
            restore("410102", topology, target, key, db_url=fresh, **options)
        assert not target.exists() or [p.name for p in target.iterdir()] in ([], ["something"])
        assert not list(target.parent.glob(".restored.partial-*"))
        return str(caught.value)

    # a wrong key, and no key file at all
    other = tmp_path / "other.pem"
    other.write_bytes(keys.issue_recovery(*_root(province), "410000", _now())[0])
    assert "not encrypted for the key given" in attempt(KeyMaterialError, other)
    assert "cannot read the key file" in attempt(KeyMaterialError, tmp_path / "missing.pem")
    # a target that is not empty
    target.mkdir()
    (target / "something").write_text("x")
    assert "is not empty" in attempt(HomeError)
    (target / "something").unlink()
    # a flipped byte in an object, then a truncated one
    victim = max((store / "objects").iterdir(), key=lambda p: p.stat().st_size)
    original = victim.read_bytes()
    victim.write_bytes(original[:100] + bytes([original[100] ^ 1]) + original[101:])
    assert "fails authentication" in attempt(BackupDamaged)  # a chunk opened
    victim.write_bytes(original[: len(original) // 2])
    assert "shorter than the index says" in attempt(BackupDamaged)
    victim.write_bytes(original)
    # a manifest from another node, and an older manifest replayed under a newer name
    backup(province, "410122")
    backup(province, "410102")
    settle(province)
    manifests = store / "manifests"
    (older, newer) = sorted(manifests.iterdir())
    saved = newer.read_bytes()
    newer.write_bytes(older.read_bytes())
    assert "its name was changed" in attempt(BackupDamaged)
    foreign = next(
        (province.path / CENTER / "mailboxes" / "410122" / "backup" / "manifests").iterdir()
    )
    newer.write_bytes(foreign.read_bytes())
    assert "not of 410102" in attempt(BackupDamaged)
    newer.write_bytes(saved)
    # a point in time before any backup
    from datetime import UTC, datetime

    assert "no backup of 410102" in attempt(InputError, at=datetime(2000, 1, 1, tzinfo=UTC))


def test_of_several_damaged_manifests_the_first_is_told_and_nothing_is_created(
    province: Network, tmp_path: Path
) -> None:
    """The manifests are checked on threads of their own, in whatever order they finish:
    what a restore tells is still the first that does not hold, every time."""
    for _ in range(4):
        backup(province, "410102")
        settle(province)
    backup(province, "410122")
    settle(province)
    store = province.path / CENTER / "mailboxes"
    manifests = sorted((store / "410102" / "backup" / "manifests").iterdir())
    assert len(manifests) == 4
    second, third = manifests[1], manifests[2]
    body = second.read_bytes()
    second.write_bytes(body[:-40] + bytes([body[-40] ^ 1]) + body[-39:])  # in its body
    third.write_bytes(next((store / "410122" / "backup" / "manifests").iterdir()).read_bytes())
    target = tmp_path / "restored"
    with Node.open(province.path / "410102") as node:
        live = node.settings.database_url
    fresh = f"{live}_restored" if live.startswith("postgresql") else None

    def told() -> str:
        with pytest.raises(BackupDamaged) as caught:
            restore(
                "410102",
                province.path / "topology.toml",
                target,
                province.ca_dir / "recovery-kit.pem",
                db_url=fresh,
            )
        assert not target.exists() and not list(tmp_path.glob(".restored.partial-*"))
        return str(caught.value)

    for _ in range(3):
        assert told().startswith(f"manifest {second.name}: ")
    second.write_bytes(body)
    assert told() == f"manifest {third.name} is a backup of 410122, not of 410102"


def test_a_damaged_manifest_is_told_before_a_later_one_that_could_not_be_fetched(
    province: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link that drops while the third manifest is fetched does not hide that the first
    one is damaged: that is what the operator must hear of, not a passing network fault."""
    from nodes import restore as restoring

    for _ in range(3):
        backup(province, "410102")
        settle(province)
    manifests = sorted(
        (province.path / CENTER / "mailboxes" / "410102" / "backup" / "manifests").iterdir()
    )
    first, third = manifests[0], manifests[2]
    body = first.read_bytes()
    first.write_bytes(body[:-40] + bytes([body[-40] ^ 1]) + body[-39:])
    opened = restoring.open_transport

    def dropping(*args: Any, **kwargs: Any) -> Any:
        transport = opened(*args, **kwargs)
        fetch = transport.fetch

        def fetch_or_drop(folder: str, name: str, *rest: Any, **more: Any) -> Any:
            if name == third.name:
                raise TransferFailed(f"the link dropped while fetching {name}")
            return fetch(folder, name, *rest, **more)

        transport.fetch = fetch_or_drop
        return transport

    monkeypatch.setattr(restoring, "open_transport", dropping)
    with Node.open(province.path / "410102") as node:
        live = node.settings.database_url
    with pytest.raises(BackupDamaged, match=f"^manifest {first.name}: "):
        restore(
            "410102",
            province.path / "topology.toml",
            tmp_path / "restored",
            province.ca_dir / "recovery-kit.pem",
            db_url=f"{live}_restored" if live.startswith("postgresql") else None,
        )
    assert not (tmp_path / "restored").exists()


@pytest.mark.slow
def test_an_sm2_province_seals_its_backups_with_sm4_and_restores_them(
    tmp_path: Path, db_url_template: str | None, demo_topology: Path
) -> None:
    import provinces

    province = provinces.make(tmp_path / "province", demo_topology, db_url_template, suite="sm2")
    first = issue(province, "410000", "410100", 900_00, "豫财预〔2026〕1号")
    settle(province)
    down = issue(province, "410100", "410102", 400_00, "郑财预〔2026〕1号", parent=first)
    settle(province)
    taken = backup(province, "410102")
    assert taken.number == 1
    settle(province)
    with Node.open(province.path / "410102") as node:
        last = last_manifest(node)
    assert last is not None
    held = last[1]
    assert held.manifest.cipher == envelope.SM4_GCM
    assert held.header.suite == "sm2" and held.header.body.startswith("sm3:")
    assert held.manifest.as_operation()["cipher"] == "sm4-gcm"
    # The data key is wrapped by SM2 encryption for the node's SM2 backup key and the
    # province's SM2 recovery key, each named by the SM3 of its public key.
    own = keys.load_backup_key(province.path / "410102" / "keys" / keys.BACKUP_KEY)
    kit = keys.load_kit(province.ca_dir / "recovery-kit.pem")
    assert isinstance(own.public, sm2.SM2PublicKey) and isinstance(kit.key.public, sm2.SM2PublicKey)
    expected = {sm3(own.public.point).hex(), sm3(kit.key.public.point).hex()}
    for wraps in held.manifest.keys.values():
        assert {w.recipient for w in wraps} == expected
        assert {(w.scheme, w.ephemeral) for w in wraps} == {(envelope.SM2_WRAP, b"")}
    with Node.open(province.path / "410102") as node:
        assert drill(node).passed  # opened with the node's own key
    settle(province)
    with Node.open(province.path / CENTER) as center:
        assert [k.number for k in kept(center, "410102")] == [1, 2]
    before = books(province, "410102")
    url = lose(province, "410102")
    done = bring_back(province, "410102", url)  # with the recovery kit
    assert done.number == 2
    settle(province)
    assert books(province, "410102") == before
    assert amounts(province, "410102", "received") == {down: 400_00}
    # An AES key cannot open what SM4 sealed, nor the other way round.
    sm4 = DataKey.fresh(envelope.SM4_GCM)
    sealed = envelope.encrypt_object(sm4, b"budget")
    aes = DataKey(sm4.id, sm4.secret, envelope.AES_GCM)
    with pytest.raises(BackupDamaged):
        envelope.decrypt_object({aes.id: aes}, sealed, "x")


@pytest.mark.parametrize("cipher", envelope.CIPHERS)
def test_a_data_key_wraps_for_x25519_and_sm2_keys_alike(cipher: str) -> None:
    """A data key wrapped for an X25519 key (as in every backup before) and for an SM2
    key opens with each; an SM2 wrap altered, or moved to another key id, does not."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    old, new = keys.BackupKey(X25519PrivateKey.generate()), keys.BackupKey(sm2.generate())
    key = DataKey.fresh(cipher)
    wraps = [envelope.Wrap.from_dict(w.as_dict()) for w in key.wraps([old.public, new.public])]
    assert [w.scheme for w in wraps] == [envelope.X25519_WRAP, envelope.SM2_WRAP]
    assert "scheme" not in wraps[0].as_dict()  # written as before
    assert envelope.unwrap(key.id, wraps, old, cipher) == key
    assert envelope.unwrap(key.id, wraps, new, cipher) == key
    sm2_wrap = wraps[1]
    altered = replace(sm2_wrap, sealed=sm2_wrap.sealed[:-1] + bytes([sm2_wrap.sealed[-1] ^ 1]))
    for bad, key_id in (
        (altered, key.id),
        (sm2_wrap, os.urandom(16)),
        (replace(sm2_wrap, scheme=envelope.X25519_WRAP), key.id),
    ):
        with pytest.raises(BackupDamaged):
            envelope.unwrap(key_id, [bad], new, cipher)
    with pytest.raises(KeyMaterialError, match="not encrypted for the key given"):
        envelope.unwrap(key.id, wraps[:1], new, cipher)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_an_sm2_wrap_is_gbt_32918_4_encryption_that_openssl_decrypts(tmp_path: Path) -> None:
    """The SM2 wrap is C1 || C3 || C2 of GB/T 32918.4: OpenSSL decrypts it, once written
    as GM/T 0009's SEQUENCE { x, y, C3, C2 }, to the key id and the data key."""
    import subprocess

    from sync import der
    from sync.national import SM2Suite

    private = sm2.generate()
    (tmp_path / "key.pem").write_bytes(SM2Suite().private_key_pem(private))
    key = DataKey.fresh(envelope.SM4_GCM)
    sealed = key.wrap(private.public).sealed
    x, y, c3, c2 = sealed[1:33], sealed[33:65], sealed[65:97], sealed[97:]
    (tmp_path / "wrap.der").write_bytes(
        der.sequence(
            der.integer(int.from_bytes(x, "big")),
            der.integer(int.from_bytes(y, "big")),
            der.element(der.OCTET_STRING, c3),
            der.element(der.OCTET_STRING, c2),
        )
    )
    opened = subprocess.run(
        ["openssl", "pkeyutl", "-decrypt", "-inkey", str(tmp_path / "key.pem"),
         "-in", str(tmp_path / "wrap.der")],
        capture_output=True, check=False, timeout=60,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == key.id + key.secret


def _root(network: Network) -> tuple[Any, Any]:
    from sync import pki

    ca = pki.load_root(network.ca_dir)
    return ca.cert, ca.key


def _now() -> Any:
    from schema.types import utcnow

    return utcnow()


def test_the_object_key_derivation_is_rfc_5869_hkdf() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    for length in (0, 16, 64):
        secret, salt = os.urandom(32), os.urandom(length)
        expected = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=salt or None, info=envelope.OBJECT_INFO
        ).derive(secret)
        assert envelope._hkdf(secret, salt, envelope.OBJECT_INFO) == expected


def test_an_index_names_where_each_chunk_lies_and_reads_the_first_format() -> None:
    chunk = Chunk("a" * 64, "b" * 64, "c" * 32, 100, 4096, 152)
    index = Index("sqlite-file", [Part("node.db", [chunk, chunk])], [], {})
    assert Index.from_bytes(index.to_bytes()).database[0].chunks == [chunk, chunk]
    first = {
        "format": 1,
        "database_form": "sqlite-file",
        "database": [
            {"name": "node.db", "mode": 420, "chunks": [["a" * 64, "b" * 64, "c" * 32, 9]]}
        ],
        "files": [],
    }
    old = Index.from_bytes(zlib.compress(json.dumps(first).encode()))
    assert old.database[0].chunks == [Chunk("a" * 64, "b" * 64, "c" * 32, 9)]  # the whole object
    for offset, length in ((-1, 152), (0, 0), (0, "152")):
        bad = json.loads(zlib.decompress(index.to_bytes()))
        bad["database"][0]["chunks"][0][4:6] = [offset, length]
        with pytest.raises(BackupDamaged, match="index is unreadable"):
            Index.from_bytes(zlib.compress(json.dumps(bad).encode()))
    for where, number in ((1, -1), (1, 1), (2, True)):  # object or key: by a number it has
        bad = json.loads(zlib.decompress(index.to_bytes()))
        bad["database"][0]["chunks"][0][where] = number
        with pytest.raises(BackupDamaged, match="index is unreadable"):
            Index.from_bytes(zlib.compress(json.dumps(bad).encode()))


def test_reading_an_index_pauses_the_collector_and_leaves_it_as_it_found_it() -> None:
    """The cyclic collector is paused while an index is written or read (its entries are
    no garbage) and is as it was after, read whole or refused as damaged; one paused
    already stays so."""
    import gc

    chunks = [Chunk(f"{n:064x}", "b" * 64, "c" * 32, 16384, 16420 * n, 16420) for n in range(5000)]
    index = Index("sqlite-file", [Part("node.db", chunks)], [], {})
    seen: list[bool] = []
    made = Chunk.__new__

    def making(cls: type, *args: Any) -> Chunk:
        seen.append(gc.isenabled())
        return made(cls, *args)

    listed: list[bool] = []
    as_dict = Part.as_dict

    def listing(part: Part, *args: Any) -> dict[str, Any]:
        listed.append(gc.isenabled())
        return as_dict(part, *args)

    assert gc.isenabled()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Chunk, "__new__", making)
        patch.setattr(Part, "as_dict", listing)
        assert Index.from_bytes(index.to_bytes()).database[0].chunks == chunks
        assert listed == [False]  # written with the collector paused too
        assert seen and not any(seen) and gc.isenabled()
        with pytest.raises(BackupDamaged):
            Index.from_bytes(zlib.compress(b'{"format": 2, "database": 7}'))
        assert gc.isenabled()
        gc.disable()
        try:
            Index.from_bytes(index.to_bytes())
            assert not gc.isenabled()
        finally:
            gc.enable()


def test_a_chunk_placed_past_the_end_of_its_pack_is_damage(province: Network) -> None:
    backup(province, "410102")
    settle(province)
    with Node.open(province.path / "410102") as node:
        row, read = last_manifest(node)  # type: ignore[misc]
        own = keys.load_backup_key(node.home.keys / keys.BACKUP_KEY)
        data_keys = {
            bytes.fromhex(name): envelope.unwrap(bytes.fromhex(name), wraps, own)
            for name, wraps in read.manifest.keys.items()
        }
        index = read.index(data_keys)
        exchange = Exchange(node)
        way = exchange.backup_way()
        assert way is not None
        every = list(index.chunks())
        assert len({c.object for c in every}) < len(every)  # many chunks in a pack
        size = read.objects[every[0].object]
        moved = Part("node.db", [every[0]._replace(offset=size - 10)])
        try:
            with tempfile.TemporaryDirectory() as work:
                hashes = object_hashes(read)
                fetcher = Fetcher(way[0], "410102", data_keys, Path(work), None, hashes=hashes)
                assert b"".join(fetcher.chunks(Part("node.db", every[:3])))
                with pytest.raises(BackupDamaged, match="shorter than the index says"):
                    list(fetcher.chunks(moved))
                assert b"".join(fetcher.blocks(Part("node.db", every[:3]))) == b"".join(
                    fetcher.chunks(Part("node.db", every[:3]))
                )
                with pytest.raises(BackupDamaged, match="shorter than the index says"):
                    list(fetcher.blocks(moved))
        finally:
            exchange.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this system")
def test_a_forked_process_never_seals_with_its_parents_nonces() -> None:
    """The nonces are drawn in blocks: a child forked while its parent holds one draws
    its own, not the parent's next."""
    envelope._NONCES.draw()  # the parent holds a block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, envelope._NONCES.draw())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    assert len(child) == 12 and child != envelope._NONCES.draw()


@pytest.mark.parametrize("cipher", envelope.CIPHERS)
def test_object_envelope_detects_tampering(cipher: str) -> None:
    key = DataKey.fresh(cipher)
    data = bytes(range(256)) * 9000  # three segments
    sealed = envelope.encrypt_object(key, data)
    keys_by_id = {key.id: key}
    assert envelope.decrypt_object(keys_by_id, sealed, "x") == data
    step = envelope.SEGMENT + 16
    for bad in (
        sealed[:-1],  # truncated
        sealed[: 36 + step],  # a whole final segment dropped
        sealed[:36]
        + sealed[36 + step : 36 + 2 * step]
        + sealed[36 : 36 + step]
        + sealed[36 + 2 * step :],
        sealed[:50] + bytes([sealed[50] ^ 0x80]) + sealed[51:],
    ):
        with pytest.raises(BackupDamaged):
            envelope.decrypt_object(keys_by_id, bad, "x")
    with pytest.raises(BackupDamaged):
        envelope.decrypt_object({}, sealed, "x")


@pytest.mark.parametrize("cipher", envelope.CIPHERS)
@pytest.mark.parametrize("compress", [False, True], ids=["format2", "format3"])
def test_a_chunk_opens_only_as_the_chunk_its_index_names(cipher: str, compress: bool) -> None:
    """Formats 2 and 3: the plaintext hash is bound in, so a chunk swapped for another
    chunk of the same backup (same key, both authentic) is refused like a tampered one."""
    import hashlib

    key = DataKey.fresh(cipher)
    keys_by_id = {key.id: key}
    # three segments as they are; compressed (4 bits of noise a byte), more than two
    noise = bytes(b & 0x0F for b in os.urandom(6 * envelope.SEGMENT))
    data = noise if compress else bytes(range(256)) * 9000
    other = b"another chunk of the same backup" * 100
    digest, other_digest = hashlib.sha256(data).digest(), hashlib.sha256(other).digest()
    sealed = envelope.seal_chunk(key, data, digest, compress=compress)
    assert envelope.is_bound(sealed) and sealed[:4] == (b"FSB3" if compress else b"FSB2")
    size = len(data)
    assert envelope.open_chunk(keys_by_id, sealed, "x", digest, size) == data
    assert envelope.open_chunk(keys_by_id, memoryview(sealed), "x", digest, size) == data
    swapped = envelope.seal_chunk(key, other, other_digest, compress=compress)
    assert envelope.open_chunk(keys_by_id, swapped, "x", other_digest, len(other)) == other
    with pytest.raises(BackupDamaged, match="not the chunk the index names"):
        envelope.open_chunk(keys_by_id, swapped, "x", digest, len(other))
    again = envelope.seal_chunk(key, data, digest, compress=compress)
    assert again[20:32] != sealed[20:32]  # fresh nonces
    step = envelope.SEGMENT + 16
    assert len(sealed) > 32 + 2 * step  # three segments or more
    for bad in (
        sealed[:-1],  # truncated
        sealed[: 32 + step],  # a whole final segment dropped
        sealed[:32]
        + sealed[32 + step : 32 + 2 * step]
        + sealed[32 : 32 + step]
        + sealed[32 + 2 * step :],
        sealed[:50] + bytes([sealed[50] ^ 0x80]) + sealed[51:],
        sealed[:24] + bytes([sealed[24] ^ 1]) + sealed[25:],  # the nonce
        (b"FSB2" if compress else b"FSB3") + sealed[4:],  # the other format's magic
    ):
        with pytest.raises(BackupDamaged):
            envelope.open_chunk(keys_by_id, bad, "x", digest, size)
    with pytest.raises(BackupDamaged):
        envelope.open_chunk({}, sealed, "x", digest, size)
    old = envelope.encrypt_object(key, data)  # format 1 still opens
    assert envelope.open_chunk(keys_by_id, old, "x", digest, size) == data


@pytest.mark.parametrize("cipher", envelope.CIPHERS)
@pytest.mark.parametrize("size", [16 * 1024, 3 * envelope.SEGMENT + 5])
def test_a_chunk_sealed_in_place_opens_as_one_sealed_into_bytes(cipher: str, size: int) -> None:
    """A pack's chunks are sealed into its room in place: the same format as
    :func:`seal_chunk` gives uncompressed, at any offset, with nothing written past it."""
    import hashlib

    key = DataKey.fresh(cipher)
    keys_by_id = {key.id: key}
    data = os.urandom(size)
    digest = hashlib.sha256(data).digest()
    room = bytearray(b"\xee" * (envelope.sealed_size(size) + 100))
    with memoryview(room) as view:
        written = envelope.seal_chunk_into(key, data, digest, view[7:])
    assert written == envelope.sealed_size(size) == len(envelope.seal_chunk(key, data, digest))
    assert room[:7] == b"\xee" * 7 and room[7 + written :] == b"\xee" * 93
    sealed = bytes(room[7 : 7 + written])
    assert sealed[:4] == b"FSB2"
    assert envelope.open_chunk(keys_by_id, sealed, "x", digest, size) == data
    for bad in (sealed[:-1], sealed[:60] + bytes([sealed[60] ^ 1]) + sealed[61:]):
        with pytest.raises(BackupDamaged):
            envelope.open_chunk(keys_by_id, bad, "x", digest, size)


@pytest.mark.parametrize("cipher", envelope.CIPHERS)
def test_chunks_sealed_one_after_another_open_in_place_only_as_the_chunk_named(
    cipher: str,
) -> None:
    """A SQLite file's pages are sealed many at once (:class:`envelope.ChunkSealer`) and
    opened straight into the restored file (:class:`envelope.ChunkOpener`): the same
    format 2 as one chunk sealed alone, which every reader opens; an altered byte or
    another chunk's hash is damage, and what the opener does not open in place (SM4-GCM,
    another format) it declines for :func:`envelope.open_chunk` to open."""
    key = DataKey.fresh(cipher)
    keys_by_id = {key.id: key}
    sealer = envelope.ChunkSealer(key)
    pieces = [os.urandom(16384), b"\x00" * 16384, b"the last, shorter"]
    room = bytearray(sum(envelope.sealed_size(len(p)) for p in pieces))
    places = []
    at = 0
    for piece in pieces:
        digest = hashlib.sha256(piece).digest()
        end = at + sealer.seal_into(memoryview(piece), digest, memoryview(room)[at:])
        assert end - at == envelope.sealed_size(len(piece))
        places.append((at, end - at, digest))
        at = end
    data = bytes(room)
    nonces = {data[offset + 20 : offset + 32] for offset, _length, _digest in places}
    assert len(nonces) == len(pieces)
    opener = envelope.ChunkOpener(keys_by_id)
    for piece, (offset, length, digest) in zip(pieces, places, strict=True):
        sealed = data[offset : offset + length]
        assert envelope.open_chunk(keys_by_id, sealed, "x", digest, len(piece)) == piece
        out = bytearray(len(piece))
        opened = opener.open_into(
            data, memoryview(data), offset, length, digest, memoryview(out), "x"
        )
        assert opened == (cipher == envelope.AES_GCM)
        assert out == (piece if opened else bytes(len(piece)))
    if cipher != envelope.AES_GCM:
        return
    offset, length, digest = places[0]
    out = memoryview(bytearray(len(pieces[0])))
    with pytest.raises(BackupDamaged):  # the second chunk's hash: not the chunk named there
        opener.open_into(data, memoryview(data), offset, length, places[1][2], out, "x")
    altered = bytearray(data)
    altered[offset + length - 20] ^= 1
    with pytest.raises(BackupDamaged):
        opener.open_into(bytes(altered), memoryview(altered), offset, length, digest, out, "x")
    compressed = envelope.seal_chunk(key, pieces[1], places[1][2])
    assert compressed[:4] == envelope.MAGIC3  # another format: declined, opened elsewhere
    assert not opener.open_into(
        compressed, memoryview(compressed), 0, len(compressed), places[1][2], out, "x"
    )
    assert not envelope.ChunkOpener({}).open_into(
        data, memoryview(data), offset, length, digest, out, "x"
    )


def test_a_chunk_is_compressed_only_when_that_shrinks_it_and_must_expand_to_its_size() -> None:
    import hashlib

    key = DataKey.fresh()
    keys_by_id = {key.id: key}
    pages = b"page of a ledger " * 1000
    noise = os.urandom(16 * 1024)  # keys, signatures: nothing to gain
    for data, magic in ((pages, b"FSB3"), (noise, b"FSB2")):
        digest = hashlib.sha256(data).digest()
        sealed = envelope.seal_chunk(key, data, digest)
        assert sealed[:4] == magic
        assert envelope.open_chunk(keys_by_id, sealed, "x", digest, len(data)) == data
    sealed = envelope.seal_chunk(key, pages, hashlib.sha256(pages).digest())
    assert len(sealed) < len(pages) // 10
    # an index that gives another size (a key holder's mistake, or a forged index)
    with pytest.raises(BackupDamaged, match="holds 17000 bytes, not 16999"):
        envelope.open_chunk(keys_by_id, sealed, "x", hashlib.sha256(pages).digest(), 16999)


def test_fixed_chunks_of_a_stream_shorter_than_its_length_is_an_error(tmp_path: Path) -> None:
    from sync.backup import chunks
    from sync.errors import StorageError

    path = tmp_path / "copy.db"
    path.write_bytes(bytes(range(256)) * 200)  # 51,200 bytes
    with path.open("rb") as stream:
        whole = [bytes(c) for c in chunks.fixed_chunks(stream, length=51_200)]
    assert [len(c) for c in whole] == [16_384] * 3 + [2_048]
    assert b"".join(whole) == path.read_bytes()
    with path.open("rb") as stream:
        assert sum(len(c) for c in chunks.fixed_chunks(stream, length=20_000)) == 20_000
    with (
        path.open("rb") as stream,
        pytest.raises(StorageError, match="copy.db ends after 51200 of its 60000 bytes"),
    ):
        for _chunk in chunks.fixed_chunks(stream, length=60_000):
            pass


def test_the_center_unreachable_mid_backup_resumes_and_lists_nothing_half_written(
    province: Network,
) -> None:
    mailboxes = province.path / CENTER / "mailboxes"
    hidden = province.path / "hidden-mailboxes"
    mailboxes.rename(hidden)
    try:
        taken = backup(province, "410102")
        with Node.open(province.path / "410102") as node:
            exchange = Exchange(node)
            try:
                summary = exchange.run_round()
            finally:
                exchange.close()
        assert any("still to upload" in p for p in summary.problems)
        assert taken.staged > 0
    finally:
        hidden.rename(mailboxes)
    assert [r for r in kept_rows(province) if r.node == "410102"] == []
    settle(province)
    assert [r.number for r in kept_rows(province) if r.node == "410102"] == [1]


def test_a_backup_taken_while_operators_write_is_consistent_and_two_at_once_chain(
    province: Network,
) -> None:
    first = issue(province, "410000", "410100", 10_000_00, "豫财预〔2026〕1号")
    settle(province)
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        number = 0
        while not stop.is_set():
            number += 1
            try:
                issue(province, "410100", "410102", 1_00, f"郑财预〔2026〕{number}号", parent=first)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    writer = threading.Thread(target=write)
    writer.start()
    try:
        results: list[Any] = []
        backers = [
            threading.Thread(target=lambda: results.append(backup(province, "410100")))
            for _ in range(2)
        ]
        for thread in backers:
            thread.start()
        for thread in backers:
            thread.join()
    finally:
        stop.set()
        writer.join()
    assert not errors
    assert sorted(r.number for r in results) == [1, 2]
    with Node.open(province.path / "410100") as node:
        report = drill(node)
    assert report.passed, report.differences
    settle(province)
    assert [r.number for r in kept_rows(province) if r.node == "410100"] == [1, 2, 3]


def test_a_reinitialised_node_is_told_to_restore(province: Network) -> None:
    from nodes.home import NodeHome

    backup(province, "410102")  # seq 1 of its channel to the center
    settle(province)
    url = lose(province, "410102")
    from nodes import keys as node_keys
    from sync import pki

    home = province.path / "410102"
    init_node(home, "410102", province.path / "topology.toml", url)
    ca = pki.load_root(province.ca_dir)
    node_keys.issue(ca, province.topology.node("410102"), NodeHome(home))
    node_keys.install_recovery(NodeHome(home), province.ca_dir / "recovery.crt")
    backup(province, "410102")  # seq 1 again on its channel to the center: a fork
    sync_network(province.path, until_quiet=True, max_rounds=8)
    with Node.open(home) as county:
        alerts = county.status().as_dict()["alerts"]
    assert any("Restore this node" in a["detail"] for a in alerts), alerts
    # the center's notice says why in English and by key: read in the operator's language
    with Node.open(home) as county, county.engine.connect() as conn:
        query = sa.select(quarantine).where(quarantine.c.reason == "restore")
        [entry] = conn.execute(query).all()
    assert f"{CENTER} already took another change-set under the number of " in entry.detail
    runner = CliRunner()
    chinese = runner.invoke(cli, ["--home", str(home), "status"]).output
    assert f"{CENTER} 已在 " in chinese and "的编号下收下了另一个变更集（" in chinese, chinese
    assert "already took" not in chinese
    english = runner.invoke(cli, ["--home", str(home), "status", "--lang", "en"]).output
    assert f"{CENTER} already took another change-set under the number of " in english


def test_restore_and_backup_from_the_command_line(province: Network, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(province.path / "410102"), "backup", "--lang", "en"])
    assert result.exit_code == 0, result.output + result.stderr
    assert "Backup #1 of 410102" in result.output
    settle(province)
    result = runner.invoke(
        cli,
        [
            "--home",
            str(province.path / CENTER),
            "backup",
            "verify",
            "--read-data",
            "--node",
            "410102",
            "--lang",
            "en",
        ],
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert "OK       410102" in result.output
    objects = province.path / CENTER / "mailboxes" / "410102" / "backup" / "objects"
    lost = sorted(objects.iterdir())[0]
    aside = tmp_path / "aside"
    shutil.move(lost, aside)
    verify = ["--home", str(province.path / CENTER), "backup", "verify", "--node", "410102"]
    result = runner.invoke(cli, verify)  # in Chinese, the default
    assert result.exit_code == 11, result.output + result.stderr
    assert "有问题   410102" in result.output
    assert f"#1：对象 {lost.name[:16]}… 缺失" in result.output, result.output
    result = runner.invoke(cli, [*verify, "--lang", "en"])
    assert f"#1: object {lost.name[:16]}… is missing" in result.output, result.output
    # the catalogue keeps it in English, and by key beside it: status says it either way
    english, chinese = f"object {lost.name[:16]}… is missing", f"对象 {lost.name[:16]}… 缺失"
    with Node.open(province.path / CENTER) as center:
        assert [r.problem for r in kept(center, "410102")] == [english]
    status = ["--home", str(province.path / CENTER), "status"]
    result = runner.invoke(cli, status)
    assert f"备份 #1：{chinese}" in result.output, result.output
    result = runner.invoke(cli, [*status, "--lang", "en"])
    assert f"backup #1: {english}" in result.output, result.output
    with Node.open(province.path / CENTER) as center, center.engine.begin() as conn:
        conn.execute(backup_catalogue.update().values(problem_said=None))  # kept before
    result = runner.invoke(cli, status)
    assert f"备份 #1：{english}" in result.output, result.output
    shutil.move(aside, lost)
    result = runner.invoke(
        cli,
        [
            "restore",
            str(tmp_path / "elsewhere"),
            "--node",
            "410102",
            "--topology",
            str(province.path / "topology.toml"),
            "--recovery-key",
            str(tmp_path / "nope.pem"),
            "--lang",
            "en",
        ],
    )
    assert result.exit_code == 8
    assert result.stderr.startswith("Error: cannot read the key file") and "Hint:" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    drill = ["--home", str(province.path / "410102"), "backup", "drill"]
    result = runner.invoke(cli, drill)
    assert result.exit_code == 0, result.output + result.stderr
    assert "备份 #2 的演练：备份 " in result.output and "演练通过" in result.output
    result = runner.invoke(cli, [*drill, "--lang", "en"])
    assert result.exit_code == 0, result.output + result.stderr
    assert "Drill of backup #3: backup " in result.output and "PASSED" in result.output


def test_an_object_damaged_on_its_way_to_the_center_is_sent_again(province: Network) -> None:
    issue(province, "410000", "410100", 250_00, "豫财预〔2026〕1号")
    settle(province)
    assert backup(province, "410102").number == 1
    with Node.open(province.path / "410102") as node:
        exchange = Exchange(node)
        try:
            exchange.run_round()  # the objects go up; the manifest after them
        finally:
            exchange.close()
    objects = province.path / "410000-dc" / "mailboxes" / "410102" / "backup" / "objects"
    damaged = sorted(objects.iterdir())[0]
    whole = damaged.read_bytes()
    damaged.unlink()  # a copy that lost its end on the way (the sender's copy is whole)
    damaged.write_bytes(whole[:-7])
    settle(province)
    with Node.open(province.path / "410000-dc") as center:
        assert [b.number for b in kept(center, "410102")] == [1]
    kept_here = province.path / "410102" / "backups" / "sent"
    assert not kept_here.is_dir() or not any(kept_here.iterdir())  # gone once acknowledged


def test_the_keepers_own_damaged_copy_of_a_backup_never_refuses_the_next(
    province: Network,
) -> None:
    """The keeper's copy of a node's latest backup damaged on its own disk is the keeper's
    failure: the node's next backup is taken again each round (named, then parked after
    its tries), never quarantined as malformed, and taken once the copy is put back."""
    issue(province, "410000", "410100", 250_00, "豫财预〔2026〕1号")
    settle(province)
    assert backup(province, "410102").number == 1
    settle(province)
    folder = province.path / "410000-dc" / "mailboxes" / "410102" / "backup" / "manifests"
    (first,) = folder.iterdir()
    whole = first.read_bytes()
    damaged = bytearray(whole)
    damaged[-20] ^= 0xFF  # a bad sector of the keeper's disk
    first.write_bytes(bytes(damaged))
    assert backup(province, "410102").number == 2
    problems: list[str] = []
    sync_network(
        province.path,
        until_quiet=True,
        max_rounds=3,
        on_round=lambda _n, s: problems.extend(str(p) for p in s.problems),
    )
    assert any("backup #1 of 410102 kept here cannot be read" in p for p in problems), problems
    with Node.open(province.path / "410000-dc") as center:
        assert [b.number for b in kept(center, "410102")] == [1]
        with center.engine.connect() as conn:
            assert conn.execute(sa.select(quarantine)).all() == []
    first.write_bytes(whole)  # put back (from the keeper's own backup)
    settle(province)
    with Node.open(province.path / "410000-dc") as center:
        assert [b.number for b in kept(center, "410102")] == [1, 2]


@pytest.mark.slow
def test_a_node_restored_to_before_a_reconciliation_rejoins_and_reconciles_again(
    province: Network,
) -> None:
    from nodes.fiscal.reconcile.protocol import start
    from nodes.fiscal.reconcile.statement import sessions

    issue(province, "410000", "410100", 700_00, "豫财预〔2026〕1号")
    settle(province)
    backup(province, "410100")
    settle(province)
    with Node.open(province.path / "410100") as node:
        first = start(node, "410102")  # the city's steps and the county's follow the backup
    settle(province)
    url = lose(province, "410100")
    bring_back(province, "410100", url)
    settle(province)  # the session is forgotten at the city; the channels go on
    check_books(province)
    with Node.open(province.path / "410100") as node:
        assert [s.id for s in sessions(node)] == []
        again = start(node, "410102")
    settle(province)
    assert again != first  # the numbering went past the forgotten session
    with Node.open(province.path / "410100") as node:
        (row,) = sessions(node)
    assert (row.id, row.state, row.agree) == (again, "concluded", True)


def quarantined(network: Network) -> list[tuple[str, str, str | None]]:
    """Every file quarantined anywhere in the province: (where, why, from whom)."""
    found = []
    for spec in network.topology:
        with Node.open(network.path / spec.code) as node, node.engine.connect() as conn:
            found += [
                (spec.code, r.reason, r.origin)
                for r in conn.execute(sa.select(quarantine.c.reason, quarantine.c.origin))
            ]
    return found


@pytest.mark.slow
def test_a_node_restored_with_its_clock_ahead_then_set_right_is_not_voided_by_its_peers(
    province: Network,
) -> None:
    """郑州市 is restored on a machine whose clock runs a day ahead, so its peers fence
    what it signed before its rejoin request, dated a day ahead; then its clock is set
    right. What it signs afterwards (a receipt to the province, an appropriation to a
    county) is dated at its request, never before: taken, not voided."""
    first = issue(province, "410000", "410100", 1000_00, "豫财预〔2026〕1号")
    settle(province)
    backup(province, "410100")
    settle(province)
    url = lose(province, "410100")
    ahead = FixedClock(datetime.now(UTC) + timedelta(days=1))
    bring_back(province, "410100", url, clock=ahead)
    settle(province)  # every node on the machine's own clock again: the city rejoins
    with Node.open(province.path / "410000") as node, node.engine.connect() as conn:
        fence = conn.execute(sa.select(rejoin_fence).where(rejoin_fence.c.node == "410100")).one()
    assert fence.void_before > datetime.now(UTC) + timedelta(hours=23)
    later = issue(province, "410000", "410100", 500_00, "豫财预〔2026〕2号")
    down = issue(province, "410100", "410102", 300_00, "郑财预〔2026〕1号", parent=first)
    settle(province)
    assert quarantined(province) == []
    assert amounts(province, "410100", "received") == {first: 1000_00, later: 500_00}
    assert amounts(province, "410102", "received") == {down: 300_00}
    with Node.open(province.path / "410100") as node, node.engine.connect() as conn:
        (signed,) = conn.execute(
            sa.select(outbox.c.created_at).where(outbox.c.recipient == "410102")
        ).scalars()
        verdicts = conn.execute(sa.select(outbox.c.receipt_verdict)).scalars().all()
    assert signed >= fence.void_before  # its stamps did not go back with its clock
    assert set(verdicts) == {"applied"}
    check_books(province)


def lose_the_city_with_a_change_set_on_its_way(province: Network) -> tuple[str, str, Path]:
    """郑州市, backed up, issues 300.00 元 to 中原区 with its clock a day ahead, and its disk
    dies with that change-set on its way (kept aside here); it is restored on a machine
    whose clock is right. Returns (the city's appropriation, the lost one, its file)."""
    first = issue(province, "410000", "410100", 1000_00, "豫财预〔2026〕1号")
    settle(province)
    backup(province, "410100")
    settle(province)
    ahead = FixedClock(datetime.now(UTC) + timedelta(days=1))
    with Node.open(province.path / "410100") as node:
        line = Allocation(
            "410102", 300_00, "2050202", "50201", "111", "郑财预〔2026〕1号", 2026, parent_id=first
        )
        (lost,) = allocate(node, [line], actor="test", clock=ahead)
        outbox_folder = node.home.spool / "outbox"
        (name,) = [p.name for p in outbox_folder.iterdir() if "_410102_" in p.name]
        in_flight = province.path.parent / name
        shutil.copyfile(outbox_folder / name, in_flight)
    bring_back(province, "410100", lose(province, "410100"))
    return first, lost, in_flight


@pytest.mark.slow
def test_what_a_lost_node_signed_with_its_clock_ahead_is_void_after_it_rejoins(
    province: Network,
) -> None:
    """郑州市's lost machine ran a day ahead: after its last backup it issued 300.00 元 to
    中原区, and that change-set was still on its way when the disk died. The city is
    restored on a machine whose clock is right, so the change-set is dated after its rejoin
    request; it still names no epoch, so 中原区 takes it as void, and the city's next
    change-set under the same number is taken with no fork."""
    first, lost, in_flight = lose_the_city_with_a_change_set_on_its_way(province)
    name = in_flight.name
    settle(province)  # the city rejoins; its lost change-set had not reached the county
    with Node.open(province.path / "410000") as node, node.engine.connect() as conn:
        fence = conn.execute(sa.select(rejoin_fence).where(rejoin_fence.c.node == "410100")).one()
    assert fence.epoch is not None and fence.void_before < datetime.now(UTC) + timedelta(hours=1)

    county = province.homes["410102"]
    shutil.copyfile(in_flight, county.spool / "incoming" / name)  # it arrives at last
    settle(province)
    assert ("410102", "void", "410100") in quarantined(province)
    assert amounts(province, "410102", "received") == {}
    down = issue(province, "410100", "410102", 200_00, "郑财预〔2026〕2号", parent=first)
    settle(province)  # the same seq, named by the city's epoch: taken, no fork
    assert amounts(province, "410102", "received") == {down: 200_00}
    assert down == lost  # the number the lost state had used is the restored one's again
    assert amounts(province, "410100", "issued") == {down: 200_00}  # the 300.00 is nowhere
    check_books(province)


def revoke_a_stolen_key(network: Network, code: str) -> Any:
    """A second key of ``code`` went astray with a certificate the CA issued it: the CA
    revokes that certificate, and the province publishes the list down the tree (its
    change-sets queued, not sent). Returns the certificate revoked."""
    from cryptography import x509

    from sync import pki

    stolen = network.path / f"stolen-{code}"
    request = pki.new_node_key(stolen, code)
    ca = pki.load_root(network.ca_dir)
    role = network.topology.node(code).role
    cert = x509.load_pem_x509_certificate(
        pki.sign_csr(ca, request.read_bytes(), role, clock=SYSTEM_CLOCK)
    )
    revoke(network, cert)
    return cert


def revoke(network: Network, cert: Any) -> None:
    """The CA revokes ``cert`` (key compromise), and the province publishes the list down
    the tree (its change-sets queued, not sent)."""
    from nodes import keys as node_keys
    from sync import pki, revocation

    ca = pki.load_root(network.ca_dir)
    current = ca.crl()
    now = datetime.now(UTC)
    entry = revocation.revocation_entry(
        cert.serial_number, now, revocation.reason_flag("key_compromise")
    )
    ca.publish_crl(
        revocation.issue_crl(ca.cert, ca.key, current.number + 1, [*current.entries, entry], now)
    )
    with Node.open(network.path / "410000") as node:
        node_keys.publish_revocation(node, network.ca_dir, None)


def certificate_of(network: Network, code: str) -> Any:
    """The certificate ``code`` signs with now."""
    from sync.pki import load_signer

    return load_signer(network.path / code / "keys").certificate


def rekey(network: Network, code: str) -> None:
    """``code`` gets a new key and certificate (``keys new --renew``, then ``keys install``)."""
    from nodes import keys as node_keys
    from sync import pki

    home = network.homes[code]
    request, _ssh = node_keys.new_key(home, code, renew=True)
    ca = pki.load_root(network.ca_dir)
    signed = network.path / f"{code}-renewed.crt"
    role = network.topology.node(code).role
    signed.write_bytes(pki.sign_csr(ca, request.read_bytes(), role, clock=SYSTEM_CLOCK))
    node_keys.install_certificate(home, signed, network.ca_dir / "ca.crt")


def verifies_at(network: Network, code: str, cert: Any) -> bool:
    """Whether node ``code``, as its home stands, would take a change-set ``cert`` signed."""
    from sync.errors import CertificateRejected
    from sync.trust import TrustStore

    trust = TrustStore.load(network.path / code / "keys")
    try:
        trust.check_signer(cert)
    except CertificateRejected:
        return False
    return True


def test_a_certificate_revoked_after_the_backup_is_refused_at_once_by_the_restored_node(
    province: Network,
) -> None:
    """The backup holds the revocation list of its day; the center offers the newest it
    holds, and the restore adopts it before the node does anything."""
    backup(province, "410102")
    settle(province)
    stolen = revoke_a_stolen_key(province, "410100")
    settle(province)
    assert not verifies_at(province, "410102", stolen)
    url = lose(province, "410102")
    bring_back(province, "410102", url)
    assert not verifies_at(province, "410102", stolen)  # before any round: not rejoined
    settle(province)
    assert not verifies_at(province, "410102", stolen)


def test_a_revocation_the_center_never_got_comes_with_the_rejoin_answers(
    province: Network,
) -> None:
    """Restored while the newest list is still on its way to everyone (the center
    included), the node adopts the list the province's rejoin answer carries before it
    checks that answer, and holds it while it still waits for the center's answer."""
    from nodes import rejoin

    backup(province, "410102")
    settle(province)
    url = lose(province, "410102")
    bring_back(province, "410102", url)
    stolen = revoke_a_stolen_key(province, "410100")
    assert verifies_at(province, "410102", stolen)  # nobody has told it yet
    for code in ("410102", "410100", "410000", "410100", "410102"):  # the center sleeps
        with Node.open(province.path / code) as node:
            Exchange(node).run_round()
    with Node.open(province.path / "410102") as county:
        assert rejoin.in_progress(county)  # the center has not answered
    assert not verifies_at(province, "410102", stolen)
    settle(province)
    assert not verifies_at(province, "410102", stolen)


@pytest.mark.slow
def test_a_lost_change_set_arriving_after_the_new_one_under_its_number_is_void_not_a_fork(
    province: Network,
) -> None:
    """As above, but the restored city's own change-set under the number reaches 中原区
    first: the lost one, arriving after it, is void too, and the city is not told to
    restore again (no fork)."""
    first, _lost, in_flight = lose_the_city_with_a_change_set_on_its_way(province)
    name = in_flight.name
    settle(province)
    down = issue(province, "410100", "410102", 200_00, "郑财预〔2026〕2号", parent=first)
    settle(province)
    shutil.copyfile(in_flight, province.homes["410102"].spool / "incoming" / name)
    settle(province)
    assert [q for q in quarantined(province) if q[0] == "410102"] == [("410102", "void", "410100")]
    assert amounts(province, "410102", "received") == {down: 200_00}
    with Node.open(province.path / "410100") as node:
        assert rejoin.rejoining(node) is not None and not rejoin.in_progress(node)
    result = CliRunner().invoke(cli, ["--home", str(province.path / "410100"), "status", "--json"])
    assert result.exit_code == 0 and "restore" not in json.dumps(
        json.loads(result.output)["alerts"]
    )
    check_books(province)


@pytest.mark.slow
def test_a_node_restored_twice_is_not_cut_off_by_the_fence_its_peer_got_back_from_a_backup(
    province: Network,
) -> None:
    """中原区 is restored (the city fences it, epoch one), the city is backed up, 中原区 is
    restored again (epoch two). Then the city is restored from that backup, with the fence
    of epoch one: it judges 中原区 by time again, so 中原区's receipts, which name epoch
    two, are taken, and the channel goes on."""
    first = issue(province, "410000", "410100", 1000_00, "豫财预〔2026〕1号")
    settle(province)
    for _ in range(2):
        backup(province, "410102")
        settle(province)
        bring_back(province, "410102", lose(province, "410102"))
        settle(province)
        if _ == 0:
            backup(province, "410100")
            settle(province)
    bring_back(province, "410100", lose(province, "410100"))
    settle(province)
    down = issue(province, "410100", "410102", 300_00, "郑财预〔2026〕1号", parent=first)
    settle(province)
    assert amounts(province, "410102", "received") == {down: 300_00}
    assert quarantined(province) == []
    with Node.open(province.path / "410100") as node, node.engine.connect() as conn:
        (verdict,) = conn.execute(
            sa.select(outbox.c.receipt_verdict).where(outbox.c.recipient == "410102")
        ).scalars()
    assert verdict == "applied"
    check_books(province)


def fence_at(network: Network, peer: str, code: str) -> Any:
    with Node.open(network.path / peer) as node, node.engine.connect() as conn:
        return conn.execute(sa.select(rejoin_fence).where(rejoin_fence.c.node == code)).one()


def epoch_of(network: Network, code: str) -> str:
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        found = current_epoch(conn)
    assert found is not None
    return found


def receipt_verdicts(network: Network, code: str, recipient: str) -> list[str]:
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        query = sa.select(outbox.c.receipt_verdict).where(outbox.c.recipient == recipient)
        return list(conn.execute(query).scalars())


@pytest.mark.slow
def test_a_delayed_request_of_a_restore_with_its_clock_ahead_never_voids_the_restore_after_it(
    province: Network,
) -> None:
    """郑州市 is restored on a machine whose clock runs a day ahead; its disk dies again
    before it synced, and it is restored from the same backup with its clock right, and
    rejoins. Then the first restore's request reaches the province, dated a day after the
    live one's: the province keeps the fence of the live epoch (a fence of another epoch
    is never replaced by a later date), and the city's receipt for what the province
    issues next is taken, not void."""
    first = issue(province, "410000", "410100", 1000_00, "豫财预〔2026〕1号")
    settle(province)
    backup(province, "410100")
    settle(province)
    ahead = FixedClock(datetime.now(UTC) + timedelta(days=1))
    bring_back(province, "410100", lose(province, "410100"), clock=ahead)
    messages = province.homes["410100"].spool / "messages"
    (request,) = [p for p in messages.iterdir() if p.name.startswith("410100_410000_")]
    delayed = province.path.parent / request.name
    shutil.copyfile(request, delayed)
    bring_back(province, "410100", lose(province, "410100"))
    settle(province)
    live = epoch_of(province, "410100")
    assert fence_at(province, "410000", "410100").epoch == live

    shutil.copyfile(delayed, province.homes["410000"].spool / "incoming" / delayed.name)
    settle(province)
    fence = fence_at(province, "410000", "410100")
    assert fence.epoch == live and fence.void_before < datetime.now(UTC) + timedelta(hours=1)
    later = issue(province, "410000", "410100", 500_00, "豫财预〔2026〕2号")
    settle(province)
    assert quarantined(province) == []
    assert amounts(province, "410100", "received") == {first: 1000_00, later: 500_00}
    assert receipt_verdicts(province, "410000", "410100") == ["applied", "applied"]
    check_books(province)


@pytest.mark.slow
def test_a_replayed_request_without_a_version_never_takes_the_fence_of_a_versioned_restore(
    province: Network,
) -> None:
    """A request of 郑州市 as an earlier fiscalsync wrote it (no version), dated a day ahead
    and naming another epoch, is replayed to the province long after the city rejoined.
    The city's fence came from a request that said its version: a request of another
    epoch takes its place only by naming it, so the province keeps the live epoch's fence
    and the kept rows beside it, and the city's receipt for what it issues next is taken."""
    first = issue(province, "410000", "410100", 1000_00, "豫财预〔2026〕1号")
    settle(province)
    backup(province, "410100")
    settle(province)
    bring_back(province, "410100", lose(province, "410100"))
    settle(province)
    live = epoch_of(province, "410100")
    held = fence_at(province, "410000", "410100")
    assert held.epoch == live and held.versioned
    ahead = FixedClock(datetime.now(UTC) + timedelta(days=1))
    with Node.open(province.path / "410100") as node, node.engine.connect() as conn:
        body = {"rejoin": "request", **heads(conn, "410100", "410000"), "epoch": "ab" * 16}
        replayed = changeset.write_changeset(
            province.path.parent, load_signer(node.home.keys), "410000", "rejoin", 1, "",
            [body], ahead,
        )  # fmt: skip
    os.replace(replayed.path, province.homes["410000"].spool / "incoming" / replayed.path.name)
    sync_network(province.path, until_quiet=False, max_rounds=1)
    assert fence_at(province, "410000", "410100") == held

    settle(province)
    assert fence_at(province, "410000", "410100") == held
    assert not any((province.homes["410100"].spool / FENCE_REQUESTS).glob("*.fcs"))
    later = issue(province, "410000", "410100", 500_00, "豫财预〔2026〕2号")
    settle(province)
    assert quarantined(province) == []
    assert amounts(province, "410100", "received") == {first: 1000_00, later: 500_00}
    assert receipt_verdicts(province, "410000", "410100") == ["applied", "applied"]
    check_books(province)


def rejoin_row(network: Network, code: str, peer: str) -> Any:
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        return conn.execute(sa.select(rejoin_peer).where(rejoin_peer.c.peer == peer)).first()


@pytest.mark.slow
def test_a_delayed_answer_meant_for_the_lost_machine_is_dropped_as_old(
    province: Network,
) -> None:
    """郑州市 is restored on a machine whose clock runs a day ahead, and the province answers
    its request, but the answer is held on its way; the disk dies again and the city is
    restored from the same backup. The held answer names the fence of the lost epoch, but
    it answers no request of the live one: arriving while the city rejoins, it leaves its
    request to the province as it was; arriving after, it asks nothing."""
    issue(province, "410000", "410100", 1000_00, "豫财预〔2026〕1号")
    settle(province)
    backup(province, "410100")
    settle(province)
    ahead = FixedClock(datetime.now(UTC) + timedelta(days=1))
    bring_back(province, "410100", lose(province, "410100"), clock=ahead)
    city_spool = province.homes["410100"].spool
    (request,) = city_spool.joinpath("messages").glob("410100_410000_*.fcs")
    held = province.path.parent / "held"
    held.mkdir()
    with Node.open(province.path / "410000") as node:
        rejoin.take(Exchange(node), Path(shutil.copy(request, held / request.name)))
    (answered,) = province.homes["410000"].spool.joinpath("messages").glob("410000_410100_*")
    old_answer = Path(shutil.move(answered, held / answered.name))
    lost = epoch_of(province, "410100")
    assert fence_at(province, "410000", "410100").epoch == lost

    bring_back(province, "410100", lose(province, "410100"))
    before = rejoin_row(province, "410100", "410000")
    with Node.open(province.path / "410100") as node:
        rejoin.take(Exchange(node), Path(shutil.copy(old_answer, city_spool / old_answer.name)))
    assert rejoin_row(province, "410100", "410000") == before

    settle(province)
    live = epoch_of(province, "410100")
    assert live != lost and fence_at(province, "410000", "410100").epoch == live
    with Node.open(province.path / "410100") as node:
        rejoin.take(Exchange(node), Path(shutil.copy(old_answer, city_spool / old_answer.name)))
    assert not any((city_spool / FENCE_REQUESTS).glob("*.fcs"))
    assert fence_at(province, "410000", "410100").epoch == live


@pytest.mark.slow
def test_a_node_restored_after_its_stolen_certificate_was_revoked_rejoins_with_all_it_signed(
    province: Network,
) -> None:
    """郑州市's server is stolen after its last backup, by then it had issued 300.00 元 to
    中原区 with the certificate it held: the CA revokes that certificate. The city is
    restored (with that certificate, from the backup) and given a new key before it
    rejoins. Its requests are signed again with the new key, and what 中原区 took from it
    under the revoked certificate, vouched for by 中原区's answer, is taken back: nothing
    lost, no fork."""
    first = issue(province, "410000", "410100", 1000_00, "豫财预〔2026〕1号")
    settle(province)
    backup(province, "410100")
    settle(province)
    down = issue(province, "410100", "410102", 300_00, "郑财预〔2026〕1号", parent=first)
    settle(province)
    stolen = certificate_of(province, "410100")
    url = lose(province, "410100")
    revoke(province, stolen)
    bring_back(province, "410100", url)
    rekey(province, "410100")
    settle(province)
    with Node.open(province.path / "410100") as node:
        assert not rejoin.in_progress(node)
    assert not verifies_at(province, "410100", stolen)
    assert amounts(province, "410100", "issued") == {down: 300_00}
    assert amounts(province, "410102", "received") == {down: 300_00}
    later = issue(province, "410100", "410102", 200_00, "郑财预〔2026〕2号", parent=first)
    settle(province)  # the channel goes on after the change-set taken back
    assert amounts(province, "410102", "received") == {down: 300_00, later: 200_00}
    assert quarantined(province) == []
    check_books(province)


@pytest.mark.slow
def test_an_answer_whose_signer_is_revoked_before_the_rejoin_ends_is_asked_again(
    province: Network,
) -> None:
    """中原区 answers the restored city's request, then its certificate is revoked (the
    city learns it from the province's answer) and it gets a new key. Its answer is
    quarantined and it is asked again; the new answer, signed with the new key, vouches
    for the receipt 中原区 signed with the revoked one, and the city rejoins."""
    first = issue(province, "410000", "410100", 1000_00, "豫财预〔2026〕1号")
    settle(province)
    backup(province, "410100")
    settle(province)
    down = issue(province, "410100", "410102", 300_00, "郑财预〔2026〕1号", parent=first)
    settle(province)
    bring_back(province, "410100", lose(province, "410100"))
    for code in ("410100", "410102", "410100"):  # 中原区 answers; the others sleep
        with Node.open(province.path / code) as node:
            Exchange(node).run_round()
    with Node.open(province.path / "410100") as city:
        assert rejoin.in_progress(city)
        assert [r for r in rejoin.rejoining(city).waiting if r == "410102"] == []
    county = certificate_of(province, "410102")
    revoke(province, county)
    rekey(province, "410102")
    settle(province)
    with Node.open(province.path / "410100") as node:
        assert not rejoin.in_progress(node)
    assert not verifies_at(province, "410100", county)
    assert [(q[0], q[2]) for q in quarantined(province)] == [("410100", "410102")]
    assert amounts(province, "410100", "issued") == {down: 300_00}
    with Node.open(province.path / "410100") as node, node.engine.connect() as conn:
        (verdict,) = conn.execute(
            sa.select(outbox.c.receipt_verdict).where(outbox.c.recipient == "410102")
        ).scalars()
    assert verdict == "applied"
    later = issue(province, "410100", "410102", 200_00, "郑财预〔2026〕2号", parent=first)
    settle(province)
    assert amounts(province, "410102", "received") == {down: 300_00, later: 200_00}
    check_books(province)


@pytest.mark.slow
def test_a_forged_answer_signed_with_a_revoked_key_is_quarantined_and_the_rejoin_completes(
    province: Network,
) -> None:
    """郑州市 is restored. A thief holding a key of 中原区 whose certificate the CA revoked
    forges 中原区's answer to the city's request (nothing to give back, it says) and slips
    it into the city's incoming before any honest answer. The city quarantines it and goes
    on waiting for 中原区; the honest answers then come, and the city rejoins with the
    300.00 元 it had issued to 中原区 after its backup: nothing lost, no fork."""
    from schema.backups import rejoin_peer
    from sync import changeset
    from sync.certificates import certificate_pem
    from sync.pki import load_signer

    first = issue(province, "410000", "410100", 1000_00, "豫财预〔2026〕1号")
    settle(province)
    backup(province, "410100")
    settle(province)
    down = issue(province, "410100", "410102", 300_00, "郑财预〔2026〕1号", parent=first)
    stolen = revoke_a_stolen_key(province, "410102")
    settle(province)
    bring_back(province, "410100", lose(province, "410100"))
    with Node.open(province.path / "410100") as city, city.engine.connect() as conn:
        request = conn.execute(
            sa.select(rejoin_peer.c.request_id).where(rejoin_peer.c.peer == "410102")
        ).scalar_one()
    thief = province.path / "stolen-410102"
    (thief / "node.crt").write_bytes(certificate_pem(stolen))
    forged = changeset.write_changeset(
        Path(tempfile.mkdtemp(dir=province.path)),
        load_signer(thief),
        "410100",
        rejoin.KIND,
        1,
        "",
        [{"rejoin": "answer", "request": request, "problems": []}],
        SYSTEM_CLOCK,
    )
    shutil.copyfile(forged.path, province.homes["410100"].spool / "incoming" / forged.path.name)
    with Node.open(province.path / "410100") as city:
        Exchange(city).run_round()  # before any peer has answered
    with Node.open(province.path / "410100") as city:
        assert rejoin.in_progress(city)
        assert "410102" in rejoin.rejoining(city).waiting
    assert quarantined(province) == [("410100", "certificate", "410102")]
    with Node.open(province.path / "410100") as city, city.engine.connect() as conn:
        (detail,) = conn.execute(sa.select(quarantine.c.detail)).scalars()
    assert "revoked" in detail
    settle(province)
    with Node.open(province.path / "410100") as city:
        assert not rejoin.in_progress(city)
    assert amounts(province, "410100", "issued") == {down: 300_00}
    assert amounts(province, "410102", "received") == {down: 300_00}
    later = issue(province, "410100", "410102", 200_00, "郑财预〔2026〕2号", parent=first)
    settle(province)  # the channel goes on after the change-set taken back
    assert amounts(province, "410102", "received") == {down: 300_00, later: 200_00}
    assert len(quarantined(province)) == 1
    check_books(province)


def extensions(network: Network, code: str) -> list[str]:
    """The extension codes node ``code`` holds."""
    from schema.tables import code_item

    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        return sorted(
            conn.execute(
                sa.select(code_item.c.code).where(code_item.c.is_extension.is_(True))
            ).scalars()
        )


@pytest.mark.slow
def test_a_code_set_the_lost_province_had_sent_reaches_every_node_after_it_rejoins(
    province: Network, tmp_path: Path
) -> None:
    """The province imports an extension after its last backup and sends it to every
    node; only 郑州市 takes it before the province's disk dies, with the copies for the
    others still in its mailboxes. Restored, the province takes the code set back from
    郑州市 and, once rejoined, sends its extensions to every node again."""
    from nodes.fiscal.codes import import_codes

    backup(province, "410000")
    settle(province)
    csv = tmp_path / "codes.csv"
    csv.write_text(
        "codeset,year,code,name,parent,level\nfunc,2026,2059902,扩展项目二,20599,3\n",
        encoding="utf-8",
    )
    with Node.open(province.path / "410000") as node:
        import_codes(node, csv)
    for code in ("410000", "410100"):  # sent; only the city takes it
        with Node.open(province.path / code) as node:
            Exchange(node).run_round()
    assert extensions(province, "410100") == ["2059902"]
    assert extensions(province, "410102") == []
    bring_back(province, "410000", lose(province, "410000"))
    settle(province)
    for spec in province.topology:
        assert extensions(province, spec.code) == ["2059902"], spec.code
    # the lost copies, relayed by the city, arrive after the rejoin: void, not a fork
    assert {(why, origin) for _where, why, origin in quarantined(province)} <= {("void", "410000")}


@pytest.mark.parametrize(("count", "size"), [(2, 100_000), (3000, 1000)])
def test_pieces_are_written_whole_where_the_system_sets_no_iov_max(
    tmp_path: Path, count: int, size: int
) -> None:
    """``sysconf`` says -1 for IOV_MAX where the system sets no limit: the pieces of a
    backup's pack are still written whole, in batches (run apart, in case it hangs)."""
    import subprocess
    import sys

    script = """
import os, sys
os.sysconf = lambda name: -1
from sync import files
count, size = int(sys.argv[2]), int(sys.argv[3])
pieces = [bytes([n % 251]) * (size + n) for n in range(count)]
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
try:
    files.write_gathered(fd, pieces)
finally:
    os.close(fd)
with open(sys.argv[1], "rb") as written:
    sys.exit(0 if written.read() == b"".join(pieces) else 3)
"""
    target = tmp_path / "pack"
    done = subprocess.run(
        [sys.executable, "-c", script, str(target), str(count), str(size)],
        timeout=30,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert target.stat().st_size == sum(size + n for n in range(count))


def test_a_link_in_the_spool_journal_is_not_backed_up(tmp_path: Path) -> None:
    """A backup holds the journal's files, not what a link in it points to (a release
    that took a child's link in kept it in ``spool/taken/``); the home's own settings
    and keys are taken as they are."""
    from nodes.backups import _home_files

    home = tmp_path / "home"
    (home / "spool" / "taken").mkdir(parents=True)
    (home / "keys").mkdir()
    (home / "keys" / "node.key").write_bytes(b"key")
    kept = home / "spool" / "taken" / "kept.fcs"
    kept.write_bytes(b"taken here")
    secret = tmp_path / "elsewhere.txt"
    secret.write_bytes(b"not the node's")
    (home / "spool" / "taken" / "linked.fcs").symlink_to(secret)
    names = [p.relative_to(home).as_posix() for p in _home_files(home)]
    assert names == ["keys/node.key", "spool/taken/kept.fcs"]


def test_a_home_a_killed_restore_left_half_built_is_no_node_to_run(
    province: Network, tmp_path: Path
) -> None:
    """``restore`` builds the home in a hidden folder beside it and renames it once
    whole; one left by a restore killed part-way (kill -9 skips every clean-up) is not
    a home the agent (or ``serve``) runs from the folder of homes: a restored node not
    yet rejoining would take new work and send it."""
    from nodes.hosting import find_homes

    homes = tmp_path / "homes"
    homes.mkdir()
    shutil.copytree(province.path / "410102", homes / "410102")
    shutil.copytree(province.path / "410122", homes / ".410122.partial-0a1b2c3d")
    assert find_homes([homes]) == [(homes / "410102").resolve()]


def test_a_restore_into_an_existing_postgresql_database_leaves_it_as_it_found_it(
    province: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--db-url`` naming an existing database: one holding any table (another
    application's) is refused and left alone; an empty one into which a restore failed
    after loading is emptied again, so that the restore run again succeeds."""
    from nodes import journal

    with Node.open(province.path / "410102") as node:
        live = node.settings.database_url
    if not live.startswith("postgresql"):
        pytest.skip("a database named by --db-url is PostgreSQL's")
    backup(province, "410102")
    settle(province)
    target = f"{live}_given"
    drop_database(target)
    ensure_database(target)
    engine = sa.create_engine(parse_url(target))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE payroll (id integer)")
        with pytest.raises(DatabaseError, match="is not empty"):
            restore(
                "410102", province.path / "topology.toml", tmp_path / "first",
                province.ca_dir / "recovery-kit.pem", db_url=target,
            )  # fmt: skip
        with engine.begin() as conn:
            assert sa.inspect(conn).get_table_names() == ["payroll"]
            conn.exec_driver_sql("DROP TABLE payroll")
        real = journal.replay

        def interrupted(*args: Any, **kwargs: Any) -> Any:
            raise KeyboardInterrupt  # Ctrl-C once the database is loaded

        monkeypatch.setattr(journal, "replay", interrupted)
        with pytest.raises(KeyboardInterrupt):
            restore(
                "410102", province.path / "topology.toml", tmp_path / "second",
                province.ca_dir / "recovery-kit.pem", db_url=target,
            )  # fmt: skip
        with engine.connect() as conn:
            assert sa.inspect(conn).get_table_names() == []
        monkeypatch.setattr(journal, "replay", real)
        done = restore(
            "410102", province.path / "topology.toml", tmp_path / "third",
            province.ca_dir / "recovery-kit.pem", db_url=target,
        )  # fmt: skip
        assert done.home == tmp_path / "third"
    finally:
        engine.dispose()
        drop_database(target)


def test_verify_names_a_manifest_file_that_makes_restore_refuse_every_backup(
    province: Network, tmp_path: Path
) -> None:
    """A file in a node's ``manifests/`` at the center named as a manifest but kept as
    none (another node's manifest, or one of its own replayed under another number):
    ``restore`` refuses every backup while it is there, so ``backup verify`` names it
    (it said OK), and says OK again once it is gone."""
    for code in ("410102", "410122"):
        assert backup(province, code).number == 1
    settle(province)
    store = province.path / CENTER / "mailboxes"
    (own,) = (store / "410102" / "backup" / "manifests").iterdir()
    (other,) = (store / "410122" / "backup" / "manifests").iterdir()
    folder = own.parent
    strays = [
        folder / f"0000000007_{other.name.split('_')[1]}",
        folder / f"0000000004_{own.name.split('_')[1]}",
    ]
    shutil.copy(other, strays[0])
    shutil.copy(own, strays[1])
    verify = ["--home", str(province.path / CENTER), "backup", "verify", "--node", "410102"]
    result = CliRunner().invoke(cli, [*verify, "--lang", "en"])
    assert result.exit_code == 11, result.output + result.stderr
    for stray in strays:
        assert f"{stray.name} in manifests/ is no backup kept here" in result.output
    with pytest.raises(BackupDamaged):  # what verify now names
        restore(
            "410102", province.path / "topology.toml", tmp_path / "restored",
            province.ca_dir / "recovery-kit.pem",
        )  # fmt: skip
    for stray in strays:
        stray.unlink()
    result = CliRunner().invoke(cli, [*verify, "--lang", "en"])
    assert result.exit_code == 0 and "OK       410102" in result.output, result.output


def test_a_restore_failing_once_its_home_is_in_place_keeps_the_database(
    province: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the new home is renamed into place it points at the database restored: a
    failure after that (the folder's flush, an interrupt) leaves the database as it is,
    where it was dropped or emptied, the home in place pointing at nothing."""
    import errno

    from nodes import restore as restoring

    issue(province, "410000", "410100", 250_00, "豫财预〔2026〕1号")
    settle(province)
    with Node.open(province.path / "410100") as node:
        live = node.settings.database_url
    backup(province, "410100")
    settle(province)
    target = f"{live}_placed" if live.startswith("postgresql") else None
    if target is not None:
        drop_database(target)

    def fails(_folder: Path) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(restoring, "fsync_directory", fails)
    home = tmp_path / "placed"
    try:
        with pytest.raises(OSError):
            restore(
                "410100", province.path / "topology.toml", home,
                province.ca_dir / "recovery-kit.pem", db_url=target,
            )  # fmt: skip
        assert home.is_dir()
        assert books(province, "410100")[0]  # the live one, to compare with
        with Node.open(home, check_schema=False) as node, node.engine.connect() as conn:
            held = conn.execute(sa.select(sa.func.count()).select_from(appropriation)).scalar()
        assert held == len(books(province, "410100")[0])
    finally:
        if target is not None:
            drop_database(target)
