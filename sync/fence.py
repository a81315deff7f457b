"""The fence a peer keeps around a node restored from a backup (:mod:`nodes.rejoin`).

A restored node lost what it signed after its backup, and part of that may still be on
its way. Each peer that answers its rejoin request records a fence (``rejoin_fence``);
beyond what the peer gave back, whatever the node's lost state signed is void there.
Since schema revision 0015 the request names a random *epoch*, which the header of
everything the node signs afterwards names too (:func:`epoch`): what does not name it is
void, however far ahead the lost machine's clock ran. A fence without an epoch (from a
node that named none) is judged by time, and so is one kept by a node restored since
until the peer's answer to its rejoin request names the epoch the peer runs in (:func:`learn`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schema.backups import rejoin_fence, rejoin_kept, restore_log
from schema.types import format_utc
from sync.changeset import Header
from sync.said import said

__all__ = ["epoch", "learn", "why_void"]


_EPOCH = sa.select(restore_log.c.epoch).order_by(restore_log.c.id.desc()).limit(1)
_FENCE = sa.select(rejoin_fence).where(rejoin_fence.c.node == sa.bindparam("origin"))
_KEPT = sa.select(rejoin_kept.c.changeset_id).where(
    rejoin_kept.c.node == sa.bindparam("origin"),
    rejoin_kept.c.changeset_id == sa.bindparam("changeset"),
)


def epoch(conn: Connection) -> str | None:
    """This node's epoch since its latest restore (None: never restored, or restored by a
    fiscalsync that kept none), named in the header of everything it signs."""
    return conn.execute(_EPOCH).scalar_one_or_none()


def why_void(
    conn: Connection, header: Header, seq: int, column: str, changeset_id: str | None = None
) -> str | None:
    """Why a change-set or receipt its origin signed before being restored from a backup,
    and did not take back when it rejoined, is void here (None when it is not).

    Beyond what it took back, a node that named an epoch in its rejoin request must name
    it in everything it signs: what does not was signed by its lost state, whenever it is
    dated (the lost machine's clock may have run ahead of the new one). A node that named
    none is judged by time: void when dated before its request. A change-set of the lost
    state that the node took back when it rejoined (``changeset_id`` among those it named
    since, :data:`schema.backups.rejoin_kept`) is not void."""
    fence = conn.execute(_FENCE, {"origin": header.origin}).first()
    if fence is None or seq <= getattr(fence, column):
        return None
    if fence.epoch is not None and not fence.epoch_unknown:
        if header.epoch == fence.epoch:
            return None
    elif header.created >= fence.void_before:
        return None
    if (
        changeset_id is not None
        and conn.execute(_KEPT, {"origin": header.origin, "changeset": changeset_id}).first()
    ):
        return None
    return said(
        "void_before_restore",
        name=header.filename,
        origin=header.origin,
        at=format_utc(fence.void_before),
    )


def learn(conn: Connection, origin: str, epoch: str | None, out_seq: int, in_seq: int) -> None:
    """Tell ``origin``'s fence here, kept by this node's backup and judged by time since
    its restore (``epoch_unknown``), the epoch ``origin`` runs in now, as its answer to
    this node's rejoin request names it.

    Judged by time, the fence of a peer restored after the backup would let through what
    that peer's lost machine signed after the restore the backup knew, and refuse the live
    machine's change-set under the same number as a replay. The same epoch as the fence's:
    the fence stands as it was. Another: the fence voids whatever does not name it beyond
    its point, raised to ``out_seq`` (of the peer's channel to this node) and ``in_seq``
    (of this node's channel to the peer, whose receipts the peer signs), what this node
    holds and the peer answered with, signed before that epoch began; the fence this node
    gave that epoch and lost stood at least as far. An answer that names no epoch (from a
    fiscalsync before answers did) leaves the fence judged by time. A fence this node gave
    since, answering the peer's own request, knows its epoch: left as it is."""
    fence = conn.execute(
        sa.select(rejoin_fence)
        .where(rejoin_fence.c.node == origin, rejoin_fence.c.epoch_unknown.is_(True))
        .with_for_update()
    ).first()
    if fence is None:
        return
    known: dict[str, object] = {"epoch_unknown": None}
    if epoch is None:
        known["epoch"] = None
    elif epoch != fence.epoch:
        known |= {
            "epoch": epoch,
            "out_seq": max(int(fence.out_seq), out_seq),
            "in_seq": max(int(fence.in_seq), in_seq),
        }
    conn.execute(rejoin_fence.update().where(rejoin_fence.c.node == origin).values(**known))
