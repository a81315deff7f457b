"""Telling a node that something it signed is void at a peer (:mod:`nodes.rejoin`), and
the node repairing the fence that voids it.

A peer voids what a restored node's lost state signed (:func:`sync.fence.why_void`). When
the file it voids names an epoch, it tells the node so, with the fence it holds: a
``rejoin`` *void* message. Most of the time the fence is the node's own and what was void
was its lost state's: nothing to do. But a peer may hold the fence of another epoch long
after the node's rejoin ended: one taken by the date of a request without a version (from
a fiscalsync before revision 0025, delayed or replayed, or kept from before it), or one a
peer restored from a backup got back. Then everything the live node signs is void there,
and nothing else would tell it: an answer to a request it did not send is one to a request
of a life before, and is dropped (:func:`nodes.rejoin.take`). Told by the void message, the
node asks that peer again naming the fence it holds (:func:`rejoin_request.ask_for_fence`),
and once the fence is its own epoch's, its peer takes what it sends again.

Only the live node asks, and it asks in its own epoch: a stale or replayed void message
costs one exchange and fences nothing but the live epoch; the lost state never names it.
Two live machines of one node would take the fence back and forth so: the peer refuses
that (:func:`nodes.rejoin_answer._takes_back`) and sends the node a notice naming both epochs
(:func:`take_fork`): the machine refused, holding such a notice of a peer received since
its latest restore, asks it for nothing more until an operator drops it (no other notice,
nor one its backup carried); the one whose fence the peer holds goes on.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes import rejoin_request
from nodes.labels import Said, said
from nodes.rejoin_request import KIND, MESSAGES
from schema.backups import rejoin_fence, rejoin_peer
from schema.channels import outbox, quarantine
from schema.engine import reading
from sync import changeset
from sync.changeset import Header
from sync.fence import epoch as current_epoch

if TYPE_CHECKING:
    from pathlib import Path

    from nodes.exchange import Exchange

__all__ = ["FORK", "VOID", "held_here", "take", "take_fork", "tell"]

VOID = "void"
"""What a *void* message says it is (its first operation's ``rejoin``)."""
FORK = "fork"
"""Of a notice that a peer refused a request for its fence as a fork of the node: the
epochs of the machine whose fence it holds (``held``) and of the one it refused."""
EPOCH = re.compile(r"[0-9a-f]{32}")


_TOLD = sa.select(quarantine.c.detail_said).where(
    quarantine.c.origin == sa.bindparam("origin"),
    quarantine.c.reason == "restore",
    quarantine.c.released_at.is_(None),
    quarantine.c.dropped_at.is_(None),
)
"""Notices of that peer still in quarantine."""


def _told(conn: Connection, origin: str, mine: str) -> bool:
    """Whether ``origin`` told this machine, since its latest restore, to stop: it refused
    a request for the fence of this epoch (``mine``) as one of a second machine living as
    this node (:func:`take_fork`; the notice still in quarantine). It asks that peer for
    nothing more until an operator drops it. No other notice (that it forked a channel,
    that its fence is dated too far, that another machine runs as it): those ask for a
    restore or for the other machine to stop, and asking for the fence is how this one
    goes on; nor one of a life before its restore, carried in its database: every restore
    names a new epoch, so such a notice names another (not a time, which a restored
    node's clock may have run past)."""
    for (kept,) in conn.execute(_TOLD, {"origin": origin}):
        with contextlib.suppress(ValueError, TypeError, KeyError):
            detail = json.loads(kept or "null")
            if detail["m"] == "rejoin_fork_stop" and detail["v"]["epoch"] == mine:
                return True
    return False


def take_fork(exchange: Exchange, path: Path, origin: str, first: dict[str, Any]) -> Said | None:
    """Take ``origin``'s notice ``path`` (its first operation ``first``) when it says it
    refused a request for this node's fence as one of a second machine living as this
    node, naming both epochs (:data:`FORK`), and one is this machine's: quarantined with
    what to do (``status`` shows it), which it says (None: not such a notice, or one of
    neither epoch, taken as any other notice). Two machines may read one mailbox: either
    may be told. The machine whose fence ``origin`` holds is told to stop the other, and
    goes on repairing its fences; the other, refused, is told to stop, and asks ``origin``
    for its fence no more (:func:`_told`)."""
    fork = first.get(FORK)
    if not isinstance(fork, dict):
        return None
    held, refused = fork.get("held"), fork.get("refused")
    if not all(isinstance(e, str) and EPOCH.fullmatch(e) for e in (held, refused)):
        return None
    with reading(exchange.engine) as conn:
        mine = current_epoch(conn)
    if mine is None or held == refused or mine not in (held, refused):
        return None
    if mine == held:
        detail = said("rejoin_fork_other", origin=origin, epoch=refused, held=held)
    else:
        detail = said("rejoin_fork_stop", origin=origin, epoch=refused, held=held)
    exchange.quarantine_message(path, detail)
    if mine == refused:
        rejoin_request.stop_asking(exchange, origin)
    return detail


def tell(exchange: Exchange, header: Header) -> bool:
    """Tell the origin of ``header``, just voided here, which fence of it this node holds;
    True when told. Only a file that names an epoch is told of: its signer names the fence
    a peer holds in its rejoin requests (a node that names none cannot)."""
    if header.epoch is None or header.origin not in exchange.node.topology:
        return False
    with reading(exchange.engine) as conn:
        fence = conn.execute(
            sa.select(rejoin_fence).where(rejoin_fence.c.node == header.origin)
        ).first()
    if fence is None:
        return False
    folder = exchange.spool.root / MESSAGES
    folder.mkdir(parents=True, exist_ok=True)
    body = {
        "rejoin": VOID,
        "name": header.filename,
        "fence": {"request": fence.request_id, "epoch": fence.epoch},
    }
    changeset.write_changeset(
        folder, exchange.signer, header.origin, KIND, 1, "", [body], exchange.clock
    )
    return True


def take(exchange: Exchange, origin: str, held: tuple[str, str | None] | None) -> Said:
    """Take ``origin``'s void message, which says it holds fence ``held`` (its request's
    id and epoch) of this node: ask it for this epoch's fence when ``held`` is another's
    and this node rejoined (while it rejoins, its answers name the fence), unless
    ``origin`` told it that it forked (a notice still in quarantine: restore first)."""
    with reading(exchange.engine) as conn:
        mine = current_epoch(conn)
        rejoining = conn.execute(sa.select(rejoin_peer.c.peer).limit(1)).first() is not None
        told = mine is not None and _told(conn, origin, mine)
    if held is None or mine is None or rejoining:
        return said("rejoin_void", origin=origin)  # nothing it can ask, or not yet
    if held[1] == mine:
        return said("rejoin_void_lost", origin=origin)
    if told:
        return said("rejoin_void_told", origin=origin)
    rejoin_request.ask_for_fence(exchange, origin, held[0])
    return said("rejoin_void_fence_other", origin=origin)


_WAITING = sa.select(
    sa.func.coalesce(
        sa.func.min(sa.case((outbox.c.acked_at.is_(None), outbox.c.seq))),
        sa.func.max(outbox.c.seq) + 1,
        1,
    )
).where(outbox.c.recipient == sa.bindparam("node"))
"""The first of this peer's change-sets to a node not acknowledged yet (one past the
last, when all are)."""


def held_here(conn: Connection, node: str, inbound: Any, s_in: int) -> dict[str, int]:
    """The fence's point for a request of ``node`` that asks only for it, long after its
    rejoin (:data:`nodes.rejoin_request.FENCE_ONLY`): what this peer holds of their
    channels itself. Not the heads the request names: those are the live node's, and name
    what it signed while void here and this peer never took; a fence raised to them would
    let through whatever its lost state signed with those numbers (held in a relay, or
    replayed). ``out_seq``: the head of ``node``'s channel here (``inbound``, its row);
    ``in_seq``: the last of this peer's change-sets to ``node`` up to which every one is
    acknowledged here (a receipt of one acknowledged already is not taken again), and no
    further than ``s_in``, the node's own head of that channel. What the live node signed
    beyond those names its epoch, which the fence names: it goes through, sent again."""
    waiting = conn.execute(_WAITING, {"node": node}).scalar_one()
    return {
        "out_seq": int(inbound.seq) if inbound is not None else 0,
        "in_seq": max(0, min(int(waiting) - 1, s_in)),
    }
