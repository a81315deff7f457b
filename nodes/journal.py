"""The journal (日志): the signed change-sets a node originated or took, and their replay.

Every change-set a node sends stays in ``spool/outbox`` (with the receipt that came back
for it), every one it takes is kept in ``spool/taken`` (with the receipt it signed, in
``spool/receipts``): together, in channel order, they are the node's journal, and every
backup ships it beside the database snapshot (:mod:`nodes.backups`).

A step of the journal is dated by this node's own clock: its own change-set by the
``created`` of its header, one it took by the ``taken_at`` of the receipt it signed.
:func:`replay` redoes, on a database restored from a snapshot, every step after the
snapshot up to a point in time, each through the path it took the first time:

- its own change-set goes back into the outbox, same seq, prev and bytes
  (:func:`sync.returned.adopt_own`), and the capability's adopter redoes what sending
  it did (the issuer's appropriation, counters and digests); the recipient's receipt is
  kept with it when the recipient had signed it by then;
- one it took is taken again through the exactly-once apply
  (:func:`sync.returned.take_again`) with the receipt it signed then: the verdict, and
  the channel state that receipt names, must come out the same.

Each channel is redone in sequence order, and the channels are interleaved by their
steps' stamps, so that what depends on another step (a breakdown on the appropriation
it breaks down) comes after it. Rejoining (:mod:`nodes.rejoin`) redoes what its peers
return the same way (:class:`Replayer`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes import membership
from nodes.capabilities import ADOPTERS, FORGOTTEN_ON_RESTORE, Context
from nodes.labels import named, said
from nodes.policy import authorizer
from schema.channels import channel_head, outbox
from schema.types import parse_utc
from sync import changeset, channel, returned
from sync.backup.envelope import BackupDamaged
from sync.changeset import Header, Verified
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import FiscalsyncError, InputError, StorageError, VerificationError
from sync.fence import why_void
from sync.pki import load_signer
from sync.spool import Spool

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = ["FOLDERS", "NEVER", "Replayed", "Replayer", "Step", "in_order", "read", "replay"]

FOLDERS = ("outbox", "receipts", "taken")
"""The folders of ``spool/`` that hold the journal."""
NEVER = datetime.max.replace(tzinfo=UTC)
"""The stamp of a change-set taken without a receipt to date it: after everything else."""


@dataclass(frozen=True)
class Step:
    """One change-set to redo: this node's own (``own``) or one it took, with its receipt
    (the recipient's for its own, this node's for one it took), dated by ``stamp``."""

    stamp: datetime
    own: bool
    changeset: Verified
    receipt: Verified | None

    @property
    def channel(self) -> tuple[str, str]:
        header = self.changeset.header
        return header.origin, header.recipient


def in_order(steps: Iterable[Step]) -> list[Step]:
    """``steps`` in the order to redo them: each channel in sequence order, the channels
    interleaved by stamp (a clock set back never puts a channel out of order)."""
    channels: dict[tuple[str, str], list[Step]] = {}
    for step in steps:
        channels.setdefault(step.channel, []).append(step)
    lanes = [
        sorted(lane, key=lambda s: s.changeset.header.seq)
        for _name, lane in sorted(channels.items())
    ]
    return list(heapq.merge(*lanes, key=lambda s: s.stamp))


class Replayer:
    """Redoes journal steps on this node's database, in the caller's transaction."""

    def __init__(self, node: Node, clock: Clock = SYSTEM_CLOCK) -> None:
        from nodes import appliers, keys  # appliers reach the keeper, which reaches us

        self.node = node
        self.clock = clock
        self.spool = Spool(node.home.spool).ensure()
        self.signer = load_signer(node.home.keys)
        self.trust = keys.trust_store(node.home, clock)
        self.authorize = authorizer(node.topology)
        applier = appliers.for_node(node, self.trust, clock)

        def apply_again(conn: Connection, verified: Verified) -> None:
            if verified.header.kind not in FORGOTTEN_ON_RESTORE:
                applier(conn, verified)

        self.applier = apply_again
        self.acknowledged = appliers.acknowledged_for(node)
        context = Context(node, self.trust, clock)
        self.adopters = {kind: make(context) for kind, make in ADOPTERS.items()}

    def redo(self, conn: Connection, steps: Iterable[Step]) -> tuple[int, int]:
        """Redo ``steps`` in the order given; return (own taken back, taken again).
        :class:`InputError` if one does not follow its channel or comes out otherwise
        than its receipt says (the caller's transaction then rolls back)."""
        own = taken = 0
        now = self.clock.now()
        for step in steps:
            if step.own:
                entry = returned.adopt_own(conn, self.spool, step.changeset, now)
                kind = step.changeset.header.kind
                adopter = self.adopters.get(kind)
                if adopter is not None:
                    adopter(conn, step.changeset)
                elif kind == membership.KIND:
                    membership.adopt_own(self.node, conn, step.changeset, now)
                elif kind not in ("backup", "revocation", "receipt", *FORGOTTEN_ON_RESTORE):
                    raise InputError(
                        said("cannot_take_back", code=self.node.spec.code, kind=named("kind", kind))
                    )
                if step.receipt is not None:
                    self._store(conn, entry, step.receipt, now)
                own += 1
            else:
                returned.take_again(
                    conn,
                    self.spool,
                    step.changeset,
                    step.receipt,
                    signer=self.signer,
                    authorize=self.authorize,
                    applier=self.applier,
                    clock=self.clock,
                )
                taken += 1
        return own, taken

    def acknowledge(self, conn: Connection, steps: Iterable[Step]) -> None:
        """Store the receipt of each step, whose change-set the outbox holds unacknowledged,
        as if it had just come back."""
        now = self.clock.now()
        for step in steps:
            assert step.receipt is not None
            entry = conn.execute(
                sa.select(outbox).where(outbox.c.id == step.changeset.id).with_for_update()
            ).one()
            self._store(conn, entry, step.receipt, now)

    def _store(self, conn: Connection, entry: Any, receipt: Verified, now: datetime) -> None:
        """Store ``receipt`` for outbox ``entry``, unless its recipient signed it in a state
        it has lost since (restored from a backup, it rejoined after): then the recipient
        no longer holds the change-set, which stays unacknowledged and goes to it again."""
        if why_void(conn, receipt.header, int(entry.seq), "in_seq") is not None:
            return
        verdict = returned.store_receipt(conn, self.spool, entry, receipt, now)
        self.acknowledged(conn, entry, verdict)


@dataclass(frozen=True)
class Replayed:
    """What :func:`replay` redid."""

    own: int
    taken: int
    receipts: int
    """Receipts stored for change-sets the snapshot holds unacknowledged."""
    last: datetime | None
    """The stamp of the last step redone (None: nothing after the snapshot)."""


def _files(folder: Path) -> Iterable[Path]:
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix == ".fcs" and not path.name.startswith("."):
                yield path


@dataclass(frozen=True)
class _Receipt:
    path: Path
    changeset: str
    taken_at: datetime
    """When its signer took the change-set, by the signer's clock."""


def _receipt(path: Path) -> _Receipt:
    try:
        body = next(iter(changeset.iter_operations(path)), {})
        return _Receipt(path, str(body.get("changeset")), parse_utc(str(body.get("taken_at"))))
    except (VerificationError, StorageError, ValueError) as exc:
        raise BackupDamaged(
            said(
                "journal_receipt_unreadable",
                name=path.name,
                error=exc.message if isinstance(exc, FiscalsyncError) else str(exc),
            )
        ) from exc


def read(
    conn: Connection,
    journals: Iterable[Path],
    me: str,
    replayer: Replayer,
    until: datetime | None,
) -> tuple[list[Step], list[Step]]:
    """What the journal under ``journals`` (spool folders holding ``outbox/``,
    ``receipts/`` and ``taken/``) adds to the database after its channel heads, up to
    ``until`` (all of it without): the steps, each verified, in the order to redo them,
    and the receipts that came back for change-sets the database holds unacknowledged.

    A step needs its receipt, which names it by id: one this node took is dated by
    it, and one of its own without one may be a file a rolled-back transaction left
    (never sent) as well as one still travelling, so it is not redone (if it was sent,
    its recipient returns it when the node rejoins). A channel stops there, at its
    first step past ``until``, or at a gap. :class:`BackupDamaged` if a file of the
    journal is not what its name says or does not verify."""
    heads = {
        (row.origin, row.recipient): int(row.seq)
        for row in conn.execute(
            sa.select(channel_head.c.origin, channel_head.c.recipient, channel_head.c.seq)
        )
    }
    waiting = {
        (me, row.recipient, int(row.seq)): row
        for row in conn.execute(
            sa.select(outbox.c.id, outbox.c.recipient, outbox.c.seq, outbox.c.filename).where(
                outbox.c.acked_at.is_(None)
            )
        )
    }
    files: dict[str, tuple[Header, Path]] = {}
    receipts: dict[tuple[str, str, int], list[_Receipt]] = {}
    for root in journals:
        for folder in FOLDERS:
            for path in _files(root / folder):
                header = _header(path)
                if header.kind == channel.RECEIPT:
                    # a recipient's receipt (outbox/) or this node's own (receipts/): it
                    # takes the seq of the change-set it acknowledges, on the other channel
                    key = (header.recipient, header.origin, header.seq)
                    if header.seq > heads.get(key[:2], 0) or key in waiting:
                        receipts.setdefault(key, []).append(_receipt(path))
                elif (folder == "outbox") == (header.origin == me):
                    files[header.id] = (header, path)
    steps: list[Step] = []
    for (origin, recipient, seq), found in sorted(receipts.items()):
        if seq != heads.get((origin, recipient), 0) + 1:
            continue  # each channel starts after its head, and is followed below
        while found:
            match = [(r, files[r.changeset]) for r in found if r.changeset in files]
            if len(match) != 1:
                break  # missing, or two different change-sets under one seq: rejoin tells
            receipt, (header, path) = match[0]
            own = origin == me
            stamp = header.created if own else receipt.taken_at
            if until is not None and stamp > until:
                break
            attached: Path | None = receipt.path
            if own and until is not None and receipt.taken_at > until:
                attached = None  # the recipient took it after the point in time
            steps.append(Step(stamp, own, *_verified(replayer, path, attached)))
            seq += 1
            found = receipts.get((origin, recipient, seq), [])
    late = []
    for key, row in waiting.items():
        for receipt in receipts.get(key, []):
            if receipt.changeset == row.id and (until is None or receipt.taken_at <= until):
                path = replayer.spool.outbox / row.filename
                late.append(Step(receipt.taken_at, True, *_verified(replayer, path, receipt.path)))
    return in_order(steps), sorted(late, key=lambda s: s.stamp)


def _header(path: Path) -> Header:
    try:
        header, _seal = changeset.read_header(path)
    except (VerificationError, StorageError) as exc:
        raise BackupDamaged(said("journal_unreadable", name=path.name, error=exc.message)) from exc
    if header.filename != path.name:
        raise BackupDamaged(said("journal_holds_other", name=path.name, other=header.filename))
    return header


def _verified(
    replayer: Replayer, path: Path, receipt: Path | None
) -> tuple[Verified, Verified | None]:
    trust = replayer.trust
    try:
        header = _header(path)
        verified = changeset.verify(path, trust, recipient=header.recipient)
        if receipt is None:
            return verified, None
        return verified, changeset.verify(receipt, trust, recipient=header.origin)
    except VerificationError as exc:
        raise BackupDamaged(said("journal_unverified", name=path.name, error=exc.message)) from exc


def replay(
    node: Node, journal: Path, until: datetime | None, clock: Clock = SYSTEM_CLOCK
) -> Replayed:
    """Redo the journal on ``node``'s database, after its snapshot and up to ``until``, in
    one transaction (see the module): all of it or, on :class:`InputError` or
    :class:`BackupDamaged`, none. The journal is the files under ``journal`` and those
    of the node's own spool (a file listed by the snapshot's backup after its database
    was copied belongs to the journal too)."""
    replayer = Replayer(node, clock)
    with node.engine.begin() as conn:
        steps, late = read(conn, [node.home.spool, journal], node.spec.code, replayer, until)
        own, taken = replayer.redo(conn, steps)
        replayer.acknowledge(conn, late)
    stamps = [s.stamp for s in (*steps, *late)]
    return Replayed(own, taken, len(late), max(stamps) if stamps else None)
