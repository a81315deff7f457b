"""The node that keeps other nodes' backups: the data center (and, for the center's
own, the province). It never holds a key that decrypts them.

Its store, for each node, is under its own endpoint, where the node puts its objects
and, for ``restore``, reads them back::

    mailboxes/<node>/backup/objects/<hash>       encrypted chunks, named by their hash
    mailboxes/<node>/backup/manifests/<number>_<id>.fcs   the signed manifests it took
    mailboxes/<node>/backup/crl.pem      the newest revocation list this keeper holds
    mailboxes/<node>/backup/blake3       the marker that this keeper checks BLAKE3 names

The revocation list is offered there (:func:`offer_crl`) because a node restored from an
older backup gets back that backup's older list: ``restore`` reads the keeper's and
adopts it when it is newer, so a certificate revoked since the backup is refused from
the first moment. The root signs the list, so it is trusted whoever hands it over.

The marker ``blake3`` (:func:`offer_hashes`) tells the node that a backup named by
BLAKE3 is kept here: a keeper of the release before checks new objects by SHA-256 only,
and offers none, so its nodes start every chain under SHA-256. A node that leaves its
objects in its own mailboxes for this keeper to collect (the province, which the center
dials) finds the marker among them: :func:`collect` puts it there and never takes it
for an object.

A manifest (a change-set of kind ``backup``) is taken only whole, in the channel's
transaction: it must follow the latest manifest held for that node (its ``prev`` and
``number``: an older one replayed, or a forged link, is refused), and every object it
names must be here, of its size, and those it brings new must hash to their names.
Objects not arrived yet are this node's wait, not a verdict: the manifest is taken
again at a later round. :func:`verify` re-checks what is kept, like ``restic check``:
signatures, chains, objects present (with ``read_data``, every object's hash), and
names the nodes whose latest backup is missing or older than the policy allows.
:func:`prune` keeps the latest backup, the last of each of the last ``daily`` days and
``monthly`` months, and the last of every year, and deletes the objects no kept
manifest needs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.alerts import shown_time
from nodes.backups import (
    BLAKE3_OFFERED,
    LARGEST_OBJECT,
    MANIFEST_NAME,
    MANIFESTS,
    OBJECTS,
    PICKUP,
    UPLOAD_BATCH,
    keeper_of,
)
from nodes.labels import Said, joined, recalled, said
from nodes.settings import LOCAL_TIME
from schema.backups import backup_catalogue
from schema.engine import reading
from schema.said import kept as kept_by_key
from schema.types import parse_utc
from sync import changeset
from sync.backup import hashing
from sync.backup.envelope import BackupDamaged
from sync.backup.manifest import KIND, ReadManifest, read_manifest
from sync.changeset import Verified
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError, StorageError, TransportError, VerificationError
from sync.files import Batch, Room, copy_atomic, write_atomic
from sync.revocation import CRL_FILE, RevocationList
from sync.transports.base import Transport
from sync.transports.local import disk_error
from sync.trust import TrustStore

if TYPE_CHECKING:
    from nodes.node import Node
    from nodes.topology import Topology

__all__ = [
    "Checked",
    "apply_manifest",
    "offer_crl",
    "offer_hashes",
    "backed_up_here",
    "collect",
    "kept",
    "problems",
    "prune",
    "store",
    "verify",
]


def store(node: Node, owner: str) -> Path:
    """The folder holding ``owner``'s backups at this keeper."""
    return node.home.mailboxes / owner / "backup"


def offer_crl(node: Node, crl: RevocationList | None) -> None:
    """Offer ``crl`` (this keeper's list) to every node whose backups are kept here, in
    its store, for ``restore``; a store that holds it already is left alone."""
    if crl is None:
        return
    pem = crl.pem
    for owner in backed_up_here(node):
        folder = store(node, owner)
        if not folder.is_dir():
            continue  # no backup yet: nothing to restore from
        target = folder / CRL_FILE
        try:
            if target.read_bytes() == pem:
                continue
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise disk_error(exc, target) from exc
        try:
            write_atomic(target, pem, 0o644)
        except OSError as exc:
            raise disk_error(exc, target) from exc


def offer_hashes(node: Node) -> None:
    """Offer the marker that this keeper checks BLAKE3 names in the store of every node
    whose backups are kept here (see the module)."""
    for owner in backed_up_here(node):
        folder = store(node, owner)
        if folder.is_dir():
            _mark(folder)


def _mark(folder: Path) -> Path:
    """The marker :data:`BLAKE3_OFFERED` in ``folder``, written unless it is there."""
    target = folder / BLAKE3_OFFERED
    if not target.is_file():
        try:
            write_atomic(target, f"{hashing.BLAKE3}\n".encode("ascii"), 0o644)
        except OSError as exc:
            raise disk_error(exc, target) from exc
    return target


def backed_up_here(node: Node) -> list[str]:
    """The nodes whose backups this node keeps (see :func:`_kept_by`)."""
    topology, me = node.topology, node.spec.code
    if topology.center is None:  # keeper_of says what is missing
        return [n.code for n in topology if n.code != me and keeper_of(topology, n.code) == me]
    return list(_kept_by(topology).get(me, ()))


_KEPT_BY: dict[str, dict[str, tuple[str, ...]]] = {}
_KEPT_BY_KEPT = 8


def _kept_by(topology: Topology) -> dict[str, tuple[str, ...]]:
    """Each keeper of ``topology`` with the nodes whose backups it keeps, in the
    topology's order: worked out once per topology, not at each node's each round
    (every node asks, and the center once per node it keeps). Held by the topology's
    digest, which covers every node, parent and role: a topology changed on disk or
    taken in a new version has another digest and is worked out anew; a node restored
    with an older one finds that one's. Filling it twice (two threads at once) gives
    the same map."""
    digest = topology.sha256()
    found = _KEPT_BY.get(digest)
    if found is None:
        owners: dict[str, list[str]] = {}
        for n in topology:
            keeper_code = keeper_of(topology, n.code)
            if keeper_code != n.code:
                owners.setdefault(keeper_code, []).append(n.code)
        found = {code: tuple(codes) for code, codes in owners.items()}
        if len(_KEPT_BY) >= _KEPT_BY_KEPT:
            _KEPT_BY.clear()
        _KEPT_BY[digest] = found
    return found


def _hash_file(path: Path, hash_name: str) -> str:
    """The hex hash of a file under ``hash_name``, the one its manifest names."""
    with path.open("rb") as stream:
        return hashing.file_hexdigest(hash_name, stream)


def _manifest_name(number: int, ident: str) -> str:
    return f"{number:010d}_{ident}{changeset.SUFFIX}"


def apply_manifest(node: Node, conn: Connection, verified: Verified, now: datetime) -> None:
    """Take a ``backup`` change-set in the channel's transaction (see the module)."""
    owner = verified.header.origin
    if keeper_of(node.topology, owner) != node.spec.code:
        raise InputError(said("keeper_not_keeping", me=node.spec.code, owner=owner))
    try:
        read = read_manifest(verified.header, verified.operations())
    except BackupDamaged as exc:
        raise InputError(exc.message) from exc
    manifest = read.manifest
    latest = conn.execute(
        sa.select(backup_catalogue)
        .where(backup_catalogue.c.node == owner)
        .order_by(backup_catalogue.c.number.desc())
        .limit(1)
    ).first()
    if latest is not None and (
        manifest.number != latest.number + 1 or manifest.prev != latest.manifest_id
    ):
        raise InputError(
            said("keeper_not_following", number=manifest.number, owner=owner,
                 latest=latest.number, id=latest.manifest_id[:12])
        )  # fmt: skip
    folder = store(node, owner)
    objects = folder / OBJECTS
    earlier: set[str] = set()
    if latest is not None:
        earlier_hash, earlier = _kept_hash_and_objects(folder, latest, owner)
        # An object of the latest backup is not hashed again (it was, under that one's
        # hash): a manifest under another hash may not name one.
        if earlier_hash != manifest.hash and not earlier.isdisjoint(read.objects):
            raise InputError(
                said("keeper_hash_switched", number=manifest.number, owner=owner,
                     hash=manifest.hash, latest=latest.number, earlier=earlier_hash)
            )  # fmt: skip
    missing = []
    lost = []
    for name, size in read.objects.items():
        path = objects / name
        try:
            held = path.stat().st_size
        except FileNotFoundError:
            (lost if name in earlier else missing).append(name)
            continue
        if held != size or (name not in earlier and _hash_file(path, manifest.hash) != name):
            path.unlink(missing_ok=True)
            missing.append(name)
    if lost:
        raise InputError(
            said("keeper_objects_lost", count=len(lost), owner=owner, name=lost[0][:16]),
            hint=said("keeper_objects_lost_hint", owner=owner),
        )
    if missing:
        raise StorageError(
            said("keeper_objects_waiting", number=manifest.number, owner=owner,
                 count=len(missing), name=missing[0][:16])
        )  # fmt: skip
    name = _manifest_name(manifest.number, verified.id)
    assert verified.path is not None
    (folder / MANIFESTS).mkdir(parents=True, exist_ok=True)
    copy_atomic(verified.path, folder / MANIFESTS / name)
    conn.execute(
        backup_catalogue.insert().values(
            manifest_id=verified.id,
            node=owner,
            number=manifest.number,
            prev=manifest.prev,
            taken_at=parse_utc(manifest.taken_at),
            received_at=now,
            objects=manifest.objects,
            bytes=manifest.size,
            filename=name,
        )
    )


def _kept_hash_and_objects(folder: Path, latest: Any, owner: str) -> tuple[str, set[str]]:
    """:func:`_hash_and_objects` of the latest manifest kept here. Its copy here damaged
    or unreadable is this keeper's failure, not the new manifest's: a
    :class:`StorageError`, so the new one is taken again later (never refused for it)."""
    path = folder / MANIFESTS / latest.filename
    try:
        return _hash_and_objects(path, latest.manifest_id)
    except (VerificationError, OSError) as exc:
        error = exc.message if isinstance(exc, VerificationError) else (exc.strerror or exc)
        raise StorageError(
            said("keeper_kept_damaged", number=latest.number, owner=owner, path=path, error=error),
            hint=said("keeper_kept_damaged_hint", owner=owner),
        ) from exc


def _hash_and_objects(path: Path, expect_id: str) -> tuple[str, set[str]]:
    """The hash a kept manifest names and the objects it names (none if the file is
    gone); a file that is not the manifest ``expect_id`` is :class:`IntegrityError`."""
    hash_name = hashing.SHA256
    names = set()
    if path.is_file():
        for op in changeset.iter_operations(path, expect_id=expect_id):
            if op.get("op") == "manifest":
                hash_name = op.get("hash", hashing.SHA256)
            elif op.get("op") == "object":
                names.add(str(op["id"]))
    return hash_name, names


def _objects_of(path: Path) -> Iterator[str]:
    """The objects a kept manifest names (streamed; nothing if the file is gone)."""
    if not path.is_file():
        return
    for op in changeset.iter_operations(path):
        if op.get("op") == "object":
            yield str(op["id"])


def collect(node: Node, transport: Transport, owner: str) -> int:
    """Collect the objects ``owner`` (a node this one dials, the province) left in its
    mailboxes for this keeper; return how many. Transport errors go up."""
    folder = f"{node.spec.code}/{PICKUP}"
    target = store(node, owner) / OBJECTS
    listed = [r.name for r in transport.list(folder)]
    waiting = [name for name in listed if name != BLAKE3_OFFERED]
    try:
        target.mkdir(parents=True, exist_ok=True)
        if len(waiting) == len(listed):
            transport.publish(folder, BLAKE3_OFFERED, _mark(store(node, owner)))
        for stray in Batch.strays(target):  # a collection that did not finish
            stray.unlink()
        # Each object through one room, which the kernel copies into its file (a pack
        # written in one call costs several times as much: sync.files.Room).
        room = Room(LARGEST_OBJECT)
        try:
            for start in range(0, len(waiting), UPLOAD_BATCH):
                names = waiting[start : start + UPLOAD_BATCH]
                batch = Batch(target)
                for name in names:
                    data = transport.read(folder, name, LARGEST_OBJECT)
                    room.view[: len(data)] = data
                    batch.write(name, room.filled(len(data)), direct=True)
                batch.commit()
                transport.remove_many(folder, names)
        finally:
            room.close()
    except OSError as exc:
        raise disk_error(exc, target) from exc
    return len(waiting)


@dataclass
class Checked:
    """What :func:`verify` found for one node."""

    node: str
    backups: int = 0
    latest: datetime | None = None
    objects: int = 0
    bytes: int = 0
    read: int = 0
    problems: list[str | Said] = field(default_factory=list)


def kept(node: Node, owner: str | None = None) -> list[Any]:
    """The backups kept here (not pruned), by node and number."""
    query = sa.select(backup_catalogue).where(backup_catalogue.c.pruned_at.is_(None))
    if owner is not None:
        query = query.where(backup_catalogue.c.node == owner)
    with reading(node.engine) as conn:
        return list(
            conn.execute(query.order_by(backup_catalogue.c.node, backup_catalogue.c.number))
        )


def verify(
    node: Node,
    trust: TrustStore,
    *,
    owner: str | None = None,
    read_data: bool = False,
    max_age: timedelta,
    clock: Clock = SYSTEM_CLOCK,
    progress: Any = None,
) -> list[Checked]:
    """Check every backup kept here (or ``owner``'s) without any key; record the result."""
    owners = [owner] if owner else backed_up_here(node)
    if owner is not None and owner not in backed_up_here(node):
        raise InputError(said("keeper_not_keeping", me=node.spec.code, owner=owner))
    rows = kept(node)
    now = clock.now()
    results = []
    for code in owners:
        checked = Checked(code)
        mine = [r for r in rows if r.node == code]
        checked.backups = len(mine)
        hashed: set[str] = set()
        previous: Any = None
        for row in mine:
            found = _check_one(node, trust, row, previous, read_data, hashed, checked, progress)
            problem = joined(found) if found else None
            with node.engine.begin() as conn:
                conn.execute(
                    backup_catalogue.update()
                    .where(backup_catalogue.c.manifest_id == row.manifest_id)
                    .values(
                        verified_at=now,
                        problem=None if problem is None else str(problem),
                        problem_said=kept_by_key(problem),
                    )
                )
            checked.problems.extend(
                said("backup_numbered", number=row.number, problem=p) for p in found
            )
            previous = row
        checked.problems.extend(_strays(node, code, {r.filename for r in mine}))
        if not mine:
            checked.problems.append(said("backup_none_kept"))
        else:
            checked.latest = mine[-1].taken_at
            if now - mine[-1].taken_at > max_age:
                hours = (now - mine[-1].taken_at).total_seconds() / 3600
                checked.problems.append(
                    said(
                        "backup_stale",
                        hours=f"{hours:.0f}",
                        policy=f"{max_age.total_seconds() / 3600:.0f}",
                    )
                )
        results.append(checked)
    return results


def _strays(node: Node, owner: str, kept_names: set[str]) -> list[Said]:
    """The files in ``owner``'s ``manifests/`` named as manifests that are none kept here
    (another node's, one replayed under another number): ``restore`` refuses every
    backup while one is there."""
    folder = store(node, owner) / MANIFESTS
    if not folder.is_dir():
        return []
    return [
        said("manifest_stray", name=path.name)
        for path in sorted(folder.iterdir())
        if path.name not in kept_names and MANIFEST_NAME.fullmatch(path.name)
    ]


def _check_one(
    node: Node,
    trust: TrustStore,
    row: Any,
    previous: Any,
    read_data: bool,
    hashed: set[str],
    checked: Checked,
    progress: Any,
) -> list[str | Said]:
    folder = store(node, row.node)
    path = folder / MANIFESTS / row.filename
    if not path.is_file():
        return [said("manifest_missing", name=row.filename)]
    try:
        # Its body held: read_manifest decodes it without inflating it again.
        verified = changeset.verify(path, trust, recipient=node.spec.code, hold=True)
        if verified.header.kind != KIND or verified.id != row.manifest_id:
            return [said("manifest_other", name=row.filename, id=row.manifest_id[:12])]
        read: ReadManifest = read_manifest(verified.header, verified.operations())
    except (VerificationError, BackupDamaged) as exc:
        return [exc.message]
    problems: list[str | Said] = []
    if previous is not None and previous.number == row.number - 1:
        if read.manifest.prev != previous.manifest_id:
            problems.append(said("manifest_unchained", number=previous.number))
    for name, size in read.objects.items():
        target = folder / OBJECTS / name
        try:
            held = target.stat().st_size
        except FileNotFoundError:
            problems.append(said("object_missing", name=name[:16]))
            continue
        if held != size:
            problems.append(said("object_size", name=name[:16], held=held, size=size))
            continue
        if read_data and name not in hashed:
            hashed.add(name)
            if _hash_file(target, read.manifest.hash) != name:
                problems.append(said("object_damaged", name=name[:16]))
            checked.read += 1
            if progress is not None:
                progress(size)
    checked.objects = max(checked.objects, len(read.objects))
    checked.bytes = max(checked.bytes, read.manifest.size)
    return problems


def problems(node: Node, max_age: timedelta, clock: Clock = SYSTEM_CLOCK) -> list[tuple[str, str]]:
    """What ``status`` shows at a keeper: (node, problem) for every node whose latest
    backup is missing, stale, or found damaged by the last verify."""
    owners = backed_up_here(node)
    if not owners:
        return []
    rows = kept(node)
    now = clock.now()
    found = []
    for code in owners:
        mine = [r for r in rows if r.node == code]
        if not mine:
            found.append((code, said("kept_none")))
            continue
        latest = mine[-1]
        if now - latest.taken_at > max_age:
            found.append(
                (
                    code,
                    said(
                        "kept_stale",
                        number=latest.number,
                        taken=shown_time(latest.taken_at, node.settings.time_zone),
                    ),
                )
            )
        for row in mine:
            if row.problem:
                problem = recalled(row.problem, row.problem_said)
                found.append((code, said("kept_problem", number=row.number, problem=problem)))
    return found


def _keep(taken: list[Any], daily: int, monthly: int) -> set[str]:
    """The manifests the retention policy keeps (``taken``: rows, oldest first)."""
    keep = {taken[-1].manifest_id}
    last: dict[tuple[str, Any], Any] = {}
    for row in taken:
        local = row.taken_at.astimezone(LOCAL_TIME)
        last[("day", local.date())] = row
        last[("month", (local.year, local.month))] = row
        last[("year", local.year)] = row
    days = sorted(k[1] for k in last if k[0] == "day")[-daily:] if daily else []
    months = sorted(k[1] for k in last if k[0] == "month")[-monthly:] if monthly else []
    keep |= {last[("day", d)].manifest_id for d in days}
    keep |= {last[("month", m)].manifest_id for m in months}
    keep |= {last[k].manifest_id for k in last if k[0] == "year"}
    return keep


def prune(
    node: Node,
    *,
    daily: int,
    monthly: int,
    grace: timedelta = timedelta(days=2),
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[int, int]:
    """Apply the retention policy to every node's backups kept here; return (manifests,
    objects) deleted. Objects younger than ``grace`` are kept: they may belong to a
    backup whose manifest is still on its way."""
    now = clock.now()
    pruned = objects = 0
    for owner in backed_up_here(node):
        rows = kept(node, owner)
        if not rows:
            continue
        keep = _keep(rows, daily, monthly)
        folder = store(node, owner)
        for row in rows:
            if row.manifest_id in keep:
                continue
            (folder / MANIFESTS / row.filename).unlink(missing_ok=True)
            with node.engine.begin() as conn:
                conn.execute(
                    backup_catalogue.update()
                    .where(backup_catalogue.c.manifest_id == row.manifest_id)
                    .values(pruned_at=now)
                )
            pruned += 1
        needed: set[str] = set()
        for row in rows:
            if row.manifest_id in keep:
                needed.update(_objects_of(folder / MANIFESTS / row.filename))
        objects_dir = folder / OBJECTS
        if not objects_dir.is_dir():
            continue
        for path in objects_dir.iterdir():
            if path.name in needed or path.name.startswith("."):
                continue
            age = now.timestamp() - path.stat().st_mtime
            if age > grace.total_seconds():
                os.unlink(path)
                objects += 1
    return pruned, objects


def pull_all(node: Node, links: dict[str, Any]) -> list[str]:
    """Collect objects waiting upstream for this keeper; errors as one line each."""
    errors = []
    for link in links.values():
        if keeper_of(node.topology, link.code) != node.spec.code:
            continue
        try:
            collect(node, link.transport, link.code)
        except TransportError as exc:
            errors.append(said("backup_objects_failed", code=link.code, error=exc.message))
    return errors


def status_alerts(node: Node, clock: Clock = SYSTEM_CLOCK) -> list[tuple[str, str, str | Said]]:
    """(kind, subject, detail) of what ``status`` shows about backups: this node's own
    (refused, or older than the policy), the restore it rejoins from, and, at a keeper
    that keeps any backup, every node whose latest is missing, stale or found damaged."""
    from nodes import rejoin
    from nodes.backups import KIND
    from schema.channels import outbox

    found: list[tuple[str, str, str | Said]] = []
    max_age = timedelta(hours=node.settings.backup_max_age_hours)
    state = rejoin.rejoining(node)
    if state is not None and state.rejoined_at is None:
        found.append(
            (
                "restored",
                said("subject_backup", number=state.number),
                said(
                    "alert_restored",
                    taken=shown_time(state.taken_at, node.settings.time_zone),
                    waiting=", ".join(state.waiting),
                )
                if state.waiting
                else said(
                    "alert_restored_last", taken=shown_time(state.taken_at, node.settings.time_zone)
                ),
            )
        )
    with reading(node.engine) as conn:
        latest = conn.execute(
            sa.select(outbox)
            .where(outbox.c.kind == KIND)
            .order_by(outbox.c.created_at.desc())
            .limit(1)
        ).first()
        any_kept = conn.execute(sa.select(backup_catalogue.c.node).limit(1)).first()
    now = clock.now()
    if latest is not None:
        if latest.receipt_verdict == "rejected":
            found.append(
                (
                    "backup",
                    said("subject_seq", seq=latest.seq),
                    said(
                        "alert_backup_refused",
                        reason=recalled(latest.receipt_reason, latest.receipt_reason_said),
                    ),
                )
            )
        elif now - latest.created_at > max_age:
            found.append(
                (
                    "backup",
                    said("subject_latest"),
                    said(
                        "alert_backup_old",
                        taken=shown_time(latest.created_at, node.settings.time_zone),
                        hours=f"{max_age.total_seconds() / 3600:.0f}",
                    ),
                )
            )
    if any_kept is not None:
        found.extend(("backups kept", code, text) for code, text in problems(node, max_age, clock))
    return found
