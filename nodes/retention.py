"""Retention of the spool: what ``fiscalsync purge`` (and the agent, every day) lets go.

Let go, once older than the horizon: the files of change-sets this node sent whose
signed receipt came back (the copy in ``spool/outbox/`` and the receipt beside it), the
files of change-sets taken here whose receipt was sent (the copy in ``spool/taken/``
and the receipt this node signed), and closed quarantine entries (as the sync round
does after ``[quarantine] retention_days``). The rows stay, marked ``purged_at``: the
channels' history, the balances and the reports that read them are unchanged, and
``check`` knows the files went on purpose.

The horizon is ``[retention] days`` and never less than the backup retention
(``[backup] keep_daily`` days, ``keep_monthly`` months of 31 days): a node restored
from any daily or monthly backup still kept rejoins from its peers' copies, because
what it took or sent after that backup is younger than the horizon at every peer
(:mod:`nodes.rejoin` returns them byte for byte). A restore from an older yearly backup
is told by each peer's answer which of its change-sets were purged there.

Nothing unacknowledged, unanswered or open is ever let go. The sync lock is held, so
that no round sends a receipt being deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from nodes.locks import sync_lock
from schema.channels import changeset_log, outbox, quarantine
from schema.engine import reading
from sync import quarantine as quarantined
from sync.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from nodes.node import Node
    from nodes.settings import Settings

__all__ = ["Purge", "horizon", "purge", "spool_bytes", "taken_name"]

MONTH_DAYS = 31


def horizon(settings: Settings) -> timedelta:
    """How old an acknowledged change-set's files must be to be let go."""
    backups = max(settings.backup_keep_daily, settings.backup_keep_monthly * MONTH_DAYS)
    return timedelta(days=max(settings.retention_days, backups))


def spool_bytes(spool_root: Path) -> int:
    """The bytes of every file under a spool folder."""
    size = 0
    for path in spool_root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                size += path.stat().st_size
        except OSError:
            continue  # a file renamed or deleted while counted
    return size


def taken_name(origin: str, recipient: str, seq: int, ident: str) -> str:
    """The name of a change-set kept in ``spool/taken/``."""
    return f"{origin}_{recipient}_{seq:010d}_{ident}.fcs"


@dataclass(frozen=True)
class Purge:
    """What a purge let go (or, with ``dry_run``, would)."""

    cutoff: datetime
    sent: int
    taken: int
    quarantine: int
    files: int
    bytes: int
    spool_bytes: int
    """The spool's size after the purge (before it, with ``dry_run``)."""
    dry_run: bool

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "cutoff": self.cutoff.isoformat()}


def _size(paths: list[Path]) -> tuple[int, int]:
    files = size = 0
    for path in paths:
        try:
            size += path.stat().st_size
            files += 1
        except FileNotFoundError:
            continue
    return files, size


def purge(node: Node, *, dry_run: bool = False, clock: Clock = SYSTEM_CLOCK) -> Purge:
    """Let go of what is older than the horizon (see the module); return what went."""
    now = clock.now()
    cutoff = now - horizon(node.settings)
    closed_cutoff = now - timedelta(days=node.settings.quarantine_retention_days)
    spool = node.spool
    with sync_lock(node.home.path):
        with node.engine.begin() as conn:
            sent = conn.execute(
                sa.select(outbox.c.id, outbox.c.filename, outbox.c.receipt_file)
                .where(
                    outbox.c.purged_at.is_(None),
                    outbox.c.acked_at.is_not(None),
                    outbox.c.acked_at < cutoff,
                )
                .with_for_update()
            ).all()
            taken = conn.execute(
                sa.select(
                    changeset_log.c.id,
                    changeset_log.c.origin,
                    changeset_log.c.recipient,
                    changeset_log.c.seq,
                    changeset_log.c.receipt_file,
                )
                .where(
                    changeset_log.c.purged_at.is_(None),
                    changeset_log.c.receipt_sent_at.is_not(None),
                    changeset_log.c.applied_at < cutoff,
                )
                .with_for_update()
            ).all()
            if not dry_run:
                for table, rows in ((outbox, sent), (changeset_log, taken)):
                    ids = [r.id for r in rows]
                    for start in range(0, len(ids), 500):
                        conn.execute(
                            table.update()
                            .where(table.c.id.in_(ids[start : start + 500]))
                            .values(purged_at=now)
                        )
        paths = [spool.outbox / r.filename for r in sent]
        paths += [spool.outbox / r.receipt_file for r in sent if r.receipt_file]
        paths += [spool.taken / taken_name(r.origin, r.recipient, r.seq, r.id) for r in taken]
        paths += [spool.receipts / r.receipt_file for r in taken]
        files, size = _size(paths)
        if dry_run:
            closed = _closed(node, closed_cutoff)
            return Purge(
                cutoff, len(sent), len(taken), closed, files, size, spool_bytes(spool.root), True
            )
        for path in paths:
            path.unlink(missing_ok=True)
        closed = quarantined.purge(
            node.engine,
            spool,
            timedelta(days=node.settings.quarantine_retention_days),
            clock,
        )
    return Purge(cutoff, len(sent), len(taken), closed, files, size, spool_bytes(spool.root), False)


def _closed(node: Node, cutoff: datetime) -> int:
    closed_at = sa.func.coalesce(quarantine.c.dropped_at, quarantine.c.released_at)
    with reading(node.engine) as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(closed_at.is_not(None), closed_at < cutoff)
            ).scalar_one()
        )
