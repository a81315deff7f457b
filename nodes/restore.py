"""Restoring a node from its backups, on a fresh machine, to the latest backup or to a
point in time.

``restore`` needs only the topology (to reach the keeper), the key file (the province's
recovery kit, or the node's own ``keys/backup.key``) and an empty place for the home.
It fetches the node's manifests from the keeper, verifies every one (signature under
the province's root, the node's own, named after itself) and their chain, picks the
latest taken at or before ``at``, opens its data keys, fetches every object it needs
(each chunk must decrypt as the one the index names there, which authenticates it, and
the bytes of an object no chunk opened covers must hash to its name) and builds
the home beside its final place: settings, topology, keys, the spool's journal, and
the database (the SQLite file, or a new PostgreSQL database loaded by COPY). Only then
is it renamed into place; any failure leaves nothing behind.

**To a point in time.** With ``at``, the snapshot is the latest taken at or before it,
and the journal (:mod:`nodes.journal`) is that of the next backup, which holds every
change-set the node sent or took until then: what it adds to the snapshot's own files
is fetched and checked like the rest, and replayed on the restored database up to
``at`` (in the home being built, so that a journal that does not replay leaves nothing
behind). The node then stands where it stood at ``at``, as far as change-sets go: what
came after comes back as it rejoins, and work of its own that sent nothing (a payment
recorded between the snapshot and ``at``) is not in any journal. Without ``at``, the
files a backup listed after copying its database are replayed the same way.

A restored node is not where its peers are: it lost what happened after its backup
(or its point in time). It therefore starts *rejoining* (:mod:`nodes.rejoin`) and
sends nothing new until every peer has answered.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
import tomllib
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from nodes import journal, keys, rejoin_request
from nodes.backups import (
    BACKUPS_DIR,
    BLAKE3_OFFERED,
    MANIFEST_NAME,
    MANIFESTS,
    keeper_of,
    store_folder,
)
from nodes.exchange import open_transport
from nodes.home import NodeHome, check_empty
from nodes.labels import named, said
from nodes.node import Node
from nodes.restore_objects import (
    Fetcher,
    load_database,
    object_hashes,
    unload_database,
    write_part,
)
from nodes.settings import LOCAL_TIME, SETTINGS_FILE, load_settings
from nodes.topology import load_topology
from schema.backups import rejoin_fence, restore_log
from schema.deferred import flushing_deferred
from schema.engine import drop_database, ensure_database, parse_url, sqlite_url
from schema.types import parse_utc
from sync import certificates, changeset
from sync.backup import envelope
from sync.backup import keys as backup_keys
from sync.backup.envelope import BackupDamaged, DataKey
from sync.backup.manifest import KIND, Index, Part, ReadManifest, read_manifest
from sync.clock import SYSTEM_CLOCK, Clock, NotBefore
from sync.errors import (
    ConfigError,
    InputError,
    KeyMaterialError,
    RemoteFileMissing,
    TransportError,
    VerificationError,
)
from sync.files import fsync_directory, fsync_tree
from sync.revocation import CRL_FILE
from sync.transports.base import Transport
from sync.trust import TrustStore

log = logging.getLogger("fiscalsync.restore")

__all__ = ["Restored", "choose", "fetch_manifests", "restore"]

LARGEST_CRL = 16 << 20
"""No revocation list offered by a keeper is read past this size."""
CHECKERS = 2
"""Threads that check the fetched manifests (see :func:`fetch_manifests`)."""


@dataclass(frozen=True)
class Restored:
    """What ``restore`` did."""

    home: Path
    node: str
    number: int
    manifest_id: str
    taken_at: datetime
    database: str
    files: int
    bytes: int
    seconds: float
    peers: list[str]
    replayed: journal.Replayed | None = None
    """What was replayed of the journal: the files the backup listed after copying its
    database and, with ``at``, those of the next backup up to ``at``."""
    journal_from: int | None = None
    """With ``at``: the number of the next backup, whose journal was replayed (None: no
    backup after the point in time)."""
    at: datetime | None = None
    """The point in time restored to, in UTC (a time given without a zone read in the
    node's own [node] time_zone)."""


def fetch_manifests(
    transport: Transport, owner: str, keeper: str, trust: TrustStore, work: Path
) -> list[ReadManifest]:
    """Every manifest of ``owner`` the keeper holds, each verified, in number order;
    a chain link that does not hold is :class:`BackupDamaged`.

    They are fetched one after the other (the transport is used by this thread alone)
    and each is checked on a thread of :data:`CHECKERS` as soon as it is here: inflating
    and hashing a manifest's body (the index of a large node makes a manifest of about
    1 MB) let other work run, so the checks overlap each other and the fetches. What is
    told is the first manifest in the keeper's listing (by number) that does not hold,
    whatever thread finds it first, and before a fetch that fails after it; the fetching
    stops once a check has failed."""
    folder = store_folder(owner, MANIFESTS)
    checks: list[Future[ReadManifest]] = []
    found: list[ReadManifest] = []
    with ThreadPoolExecutor(CHECKERS, "restore-manifest") as checkers:
        try:
            for remote in transport.list(folder):
                match = MANIFEST_NAME.fullmatch(remote.name)
                if match is None:
                    continue
                path = work / remote.name
                try:
                    transport.fetch(folder, remote.name, path)
                except Exception:
                    found += (check.result() for check in checks[len(found) :])  # told first
                    raise
                # The checks done, in order: a damaged manifest stops the fetching.
                while len(found) < len(checks) and checks[len(found)].done():
                    found.append(checks[len(found)].result())
                checks.append(
                    checkers.submit(
                        _check_manifest,
                        path,
                        owner,
                        keeper,
                        trust,
                        int(match["number"]),
                        match["id"],
                    )
                )
            found += (check.result() for check in checks[len(found) :])
        finally:
            for check in checks:
                check.cancel()
    found.sort(key=lambda r: r.manifest.number)
    for earlier, later in zip(found, found[1:], strict=False):
        if later.manifest.number == earlier.manifest.number + 1 and (
            later.manifest.prev != earlier.header.id
        ):
            raise BackupDamaged(
                said(
                    "manifest_chain_broken",
                    number=later.manifest.number,
                    earlier=earlier.manifest.number,
                )
            )
    return found


def _check_manifest(
    path: Path, owner: str, keeper: str, trust: TrustStore, number: int, ident: str
) -> ReadManifest:
    """The manifest fetched to ``path``, verified as ``owner``'s backup number ``number``
    of id ``ident`` (what its name says), else :class:`BackupDamaged`."""
    try:
        # Its body held: read_manifest decodes it without inflating it again.
        verified = changeset.verify(path, trust, recipient=keeper, hold=True)
    except VerificationError as exc:
        raise BackupDamaged(said("manifest_refused", name=path.name, error=exc.message)) from exc
    header = verified.header
    if header.kind != KIND:
        raise BackupDamaged(said("manifest_kind", name=path.name, kind=header.kind))
    if header.origin != owner:
        raise BackupDamaged(
            said("manifest_other_owner", name=path.name, origin=header.origin, owner=owner)
        )
    read = read_manifest(header, verified.operations())
    if read.manifest.number != number or verified.id != ident:
        raise BackupDamaged(
            said(
                "manifest_renamed", name=path.name, number=read.manifest.number, id=verified.id[:12]
            )
        )
    return read


def choose(manifests: list[ReadManifest], at: datetime | None, owner: str) -> ReadManifest:
    """The latest backup taken at or before ``at`` (the latest of all without it)."""
    fit = [m for m in manifests if at is None or parse_utc(m.manifest.taken_at) <= at]
    if not fit:
        none = (
            said("no_backup_before", owner=owner, at=f"{at:%Y-%m-%d %H:%M}")
            if at
            else said("no_backup", owner=owner)
        )
        raise InputError(none, hint=said("no_backup_hint"))
    return fit[-1]


def _root(kit: backup_keys.RecoveryKit, ca_cert: Path | None) -> bytes:
    if ca_cert is not None:
        try:
            return ca_cert.read_bytes()
        except OSError as exc:
            raise KeyMaterialError(
                said("cannot_read", path=ca_cert, error=exc.strerror or str(exc))
            ) from exc
    if kit.root_pem is None:
        raise KeyMaterialError(said("no_root_for_backups"), hint=said("no_root_for_backups_hint"))
    return kit.root_pem


def _set_database_url(settings: Path, url: str) -> None:
    text = settings.read_text(encoding="utf-8")
    lines = text.splitlines()
    section = None
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped
        elif section == "[database]" and re.match(r"#?\s*url\s*=", stripped):
            lines[number] = f'url = "{url}"'
            break
    settings.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _take_later_topology(staging: Path, given: Path, code: str) -> None:
    """The restored home takes the topology the operator gave when it is a later version
    of the same network than its backup's: the network changed shape since (a node
    joined, moved or retired). It routes by the later one until the province's signed
    ``topology`` change-sets move it on, and a province that published it takes its own
    change-sets of it back (:func:`nodes.membership.adopt_own`), which it could not reach
    by the older. Another network's file, or one that makes this node another role, is
    refused; a home whose settings keep the topology outside it is left as it was."""
    kept = load_settings(staging, environ={}).topology
    if staging.resolve() not in kept.resolve().parents or not kept.is_file():
        return
    older, later = load_topology(kept), load_topology(given)
    if later.version <= older.version:
        return
    if later.name != older.name or later.province.code != older.province.code:
        raise ConfigError(
            said(
                "restore_other_network",
                given=given,
                name=later.name,
                province=later.province.code,
                held=older.name,
                held_province=older.province.code,
                code=code,
            ),
            hint=said("restore_topology_hint"),
        )
    if code not in later or later.node(code).role != older.node(code).role:
        raise ConfigError(
            said(
                "restore_role_changed",
                given=given,
                code=code,
                role=named("role", older.node(code).role),
            ),
            hint=said("restore_topology_hint"),
        )
    kept.write_text(later.to_toml(), encoding="utf-8")


def restore(
    code: str,
    topology_file: Path,
    home: Path,
    key_file: Path,
    *,
    keeper: str | None = None,
    at: datetime | None = None,
    db_url: str | None = None,
    ca_cert: Path | None = None,
    ssh_key: Path | None = None,
    clock: Clock = SYSTEM_CLOCK,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    epoch: str | None = None,
) -> Restored:
    """Rebuild node ``code`` at ``home`` (which must be new or empty); see the module.
    ``epoch`` names the restore in its rejoin requests (random when None, see
    :func:`nodes.rejoin_request.start`)."""
    started = time.perf_counter()
    home = home.resolve()
    check_empty(home)
    topology = load_topology(topology_file)
    if code not in topology:
        raise ConfigError(said("restore_not_listed", topology=topology_file, code=code))
    keeper = keeper or keeper_of(topology, code)
    if keeper not in topology:
        raise ConfigError(said("keeper_not_listed", topology=topology_file, keeper=keeper))
    endpoint = topology.node(keeper).endpoint
    if endpoint is None:
        raise ConfigError(said("keeper_no_endpoint", topology=topology_file, keeper=keeper))
    kit = backup_keys.load_kit(key_file)
    trust = TrustStore(
        certificates.parse_certificate(_root(kit, ca_cert)), None, clock, revocation=False
    )
    staging = home.parent / f".{home.name}.partial-{uuid.uuid4().hex[:8]}"
    created_db: str | None = None
    loaded_into: str | None = None
    with tempfile.TemporaryDirectory(prefix="fiscalsync-restore-") as scratch:
        work = Path(scratch)
        keys_dir = work / "keys"
        keys_dir.mkdir()
        if ssh_key is not None:
            shutil.copy(ssh_key, keys_dir / "ssh_ed25519")
        transport = open_transport(endpoint, keys_dir, code)
        try:
            manifests = fetch_manifests(transport, code, keeper, trust, work)
            if at is not None and at.tzinfo is None and manifests:
                zone = _zone_of(manifests[-1], kit.key, transport, code, work)
                at = at.replace(tzinfo=zone).astimezone(UTC)
            chosen = choose(manifests, at, code)
            manifest = chosen.manifest
            if parse_utc(manifest.taken_at) > clock.now():
                raise InputError(
                    said("backup_after_clock", number=manifest.number, at=manifest.taken_at)
                )
            later = _journal_of(manifests, chosen, at)
            keys = _open_keys(chosen, kit.key)
            index: Index = chosen.index(keys)
            extra: list[Part] = []
            if later is not None:
                later_keys = _open_keys(later, kit.key)
                keys.update(later_keys)
                extra = _journal_parts(index, later.index(later_keys))
            url = _target_url(manifest.backend, index.database_form, db_url, staging)
            if on_total is not None:
                on_total(sum(p.size for p in (*index.database, *index.files, *extra)))
            fetcher = Fetcher(
                transport, code, keys, work, progress, hashes=object_hashes(chosen, later)
            )
            staging.mkdir(parents=True)
            # Nothing in the new home counts before its rename: flushed once, whole.
            with fetcher, flushing_deferred(staging):
                for part in index.files:
                    write_part(staging, part, fetcher)
                for part in extra:
                    write_part(work / "journal", part, fetcher)
                _take_later_topology(staging, topology_file, code)
                if db_url is not None:
                    _set_database_url(staging / SETTINGS_FILE, db_url)
                if manifest.backend == "postgresql" and ensure_database(url):
                    created_db = url
                load_database(manifest.backend, manifest.schema, index, fetcher, url)
                if manifest.backend == "postgresql" and created_db is None:
                    loaded_into = url  # found empty: emptied again if anything fails now
                fetcher.finish()
                for folder in ("spool", "spool/outbox", "spool/receipts", "spool/taken", "keys"):
                    (staging / folder).mkdir(parents=True, exist_ok=True)
                os.chmod(staging / "keys", 0o700)
                if topology.children(code) or topology.node(code).role == "center":
                    (staging / "mailboxes").mkdir(exist_ok=True)
                _adopt_keepers_crl(transport, code, staging, clock)
                _note_keepers_hashes(transport, code, staging)
                with Node.open(staging, check_schema=False) as node:
                    node.upgrade_database()
                    replayed = journal.replay(node, work / "journal" / "spool", at, clock)
                    # Its stamps never go back (sync.channel.signing_clock), not even behind
                    # the newest backup the keeper holds of it, which its lost state signed.
                    newest = max(parse_utc(m.manifest.taken_at) for m in manifests)
                    with node.engine.begin() as conn:
                        conn.execute(
                            restore_log.insert().values(
                                manifest_id=chosen.header.id,
                                number=manifest.number,
                                taken_at=parse_utc(manifest.taken_at),
                                restored_at=NotBefore(clock, newest).now(),
                            )
                        )
                        # The epochs of its peers' own restores that it kept are as old as
                        # its backup: a peer restored since names another. Judged by time
                        # until each peer's answer names the epoch it runs in now
                        # (sync.fence.learn), an old fence voids nothing a peer signs after it.
                        conn.execute(rejoin_fence.update().values(epoch_unknown=True))
                    peers = rejoin_request.start(node, clock, epoch)
            fsync_tree(staging)
            os.replace(staging, home)
            created_db = loaded_into = None  # the home is in place: its database stays
            fsync_directory(home.parent)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if created_db is not None:
                drop_database(created_db)
            elif loaded_into is not None:
                unload_database(loaded_into)
            raise
        finally:
            transport.close()
    return Restored(
        home=home,
        node=code,
        number=manifest.number,
        manifest_id=chosen.header.id,
        taken_at=parse_utc(manifest.taken_at),
        database=url,
        files=len(index.files),
        bytes=fetcher.bytes,
        seconds=time.perf_counter() - started,
        peers=peers,
        replayed=replayed,
        journal_from=None if later is None else later.manifest.number,
        at=at,
    )


def _zone_of(
    manifest: ReadManifest,
    key: backup_keys.BackupKey,
    transport: Transport,
    code: str,
    work: Path,
) -> ZoneInfo:
    """The [node] time_zone of the node as its backup ``manifest`` holds its settings
    (Beijing time when they name none)."""
    keys = _open_keys(manifest, key)
    index: Index = manifest.index(keys)
    part = next((p for p in index.files if p.name == SETTINGS_FILE), None)
    if part is None:
        return LOCAL_TIME
    folder = work / "settings"
    folder.mkdir(exist_ok=True)
    with Fetcher(transport, code, keys, work, None, hashes=object_hashes(manifest)) as fetcher:
        write_part(folder, part, fetcher)
    try:
        name = tomllib.loads((folder / SETTINGS_FILE).read_text("utf-8"))["node"]["time_zone"]
        return ZoneInfo(name)
    except (KeyError, TypeError, ValueError, OSError, tomllib.TOMLDecodeError):
        return LOCAL_TIME


def _adopt_keepers_crl(transport: Transport, code: str, staging: Path, clock: Clock) -> None:
    """The backup holds the revocation list of its day; the keeper offers the newest it
    holds (:func:`nodes.keeper.offer_crl`): adopted when newer, so that a certificate
    revoked since the backup is refused from the first moment. One revoked after the
    keeper's list comes with the rejoin answers (:mod:`nodes.rejoin`)."""
    try:
        pem = transport.read(store_folder(code, None), CRL_FILE, LARGEST_CRL)
    except RemoteFileMissing:
        return  # a keeper that offers none: the answers bring it
    except TransportError as exc:  # the list is a head start, never a condition
        log.warning(
            "the keeper's revocation list could not be read (%s): the answers bring it", exc
        )
        return
    home = NodeHome(staging)
    try:
        keys.adopt_newer_crl(home, TrustStore.load(home.keys, clock=clock), pem)
    except (VerificationError, KeyMaterialError) as exc:
        log.warning("the keeper's revocation list was not adopted (%s): the answers bring it", exc)


def _note_keepers_hashes(transport: Transport, code: str, staging: Path) -> None:
    """Note, as an upload does (:func:`nodes.backups.upload`), whether the keeper offers
    BLAKE3 names, so that the restored node's next backup takes them."""
    try:
        offered = BLAKE3_OFFERED in {f.name for f in transport.list(store_folder(code, None))}
    except TransportError as exc:  # the next upload notes it
        log.warning("the keeper's store could not be listed (%s)", exc)
        return
    if offered:
        (staging / BACKUPS_DIR).mkdir(exist_ok=True)
        (staging / BACKUPS_DIR / BLAKE3_OFFERED).touch()


def _open_keys(read: ReadManifest, key: backup_keys.BackupKey) -> dict[bytes, DataKey]:
    return {
        bytes.fromhex(name): envelope.unwrap(bytes.fromhex(name), wraps, key, read.manifest.cipher)
        for name, wraps in read.manifest.keys.items()
    }


def _journal_of(
    manifests: list[ReadManifest], chosen: ReadManifest, at: datetime | None
) -> ReadManifest | None:
    """The backup whose journal takes ``chosen`` on to ``at``: the next one (it holds every
    change-set of the node until it was taken); None without ``at`` or when there is none."""
    if at is None:
        return None
    return next((m for m in manifests if m.manifest.number > chosen.manifest.number), None)


def _journal_parts(snapshot: Index, later: Index) -> list[Part]:
    """The journal's files in ``later`` that the snapshot's backup does not hold (files of
    the journal are named by their content, so a name held is the same file)."""
    held = {p.name for p in snapshot.files}
    folders = tuple(f"spool/{folder}/" for folder in journal.FOLDERS)
    return [p for p in later.files if p.name.startswith(folders) and p.name not in held]


def _target_url(backend: str, form: str, db_url: str | None, staging: Path) -> str:
    if db_url is None:
        if backend == "postgresql":
            raise InputError(said("restore_needs_db_url"), hint=said("restore_needs_db_url_hint"))
        return sqlite_url(staging / "node.db")
    wanted = parse_url(db_url).get_backend_name()
    if wanted != backend:
        raise InputError(
            said("restore_backend", backend=backend),
            hint=said("restore_backend_hint", backend=backend),
        )
    return db_url
