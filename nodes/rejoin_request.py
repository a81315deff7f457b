"""A restored node's rejoin *request* (:mod:`nodes.rejoin`): whom it asks, what it says,
and asking again.

The request is a signed change-set of kind ``rejoin`` that says where each of the node's
two channels with a peer stands in its restored state, and names the *epoch* of this
restore (a new random id, which everything the node signs from then on names too). It
is dated strictly after every stamp the restored node holds, so that what it signed
before the loss is dated before it. A request signed by a certificate revoked since, or
whose answer's signer was, is asked again (:func:`ask_again`): same epoch, a later
date, in the place of the old one.

Two restores are never ordered by their dates (a lost machine's clock may have run
ahead): a peer keeps the fence of the epoch it holds, and every answer names it. A node
told of a fence of another epoch asks that peer again naming it (``replaces``), while it
rejoins (:func:`ask_again`) or long after (:func:`ask_for_fence`, told by an answer or by
a peer that holds void what it signed, :mod:`nodes.rejoin_void`): only the live node
does, so a request of an earlier life, delayed or replayed, voids nothing for longer
than one exchange with that peer.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from nodes.policy import KINDS, check_send
from nodes.topology import Topology
from schema.backups import rejoin_peer, restore_log
from schema.channels import channel_head
from sync import changeset, channel
from sync.clock import SYSTEM_CLOCK, Clock, NotBefore
from sync.errors import NotAuthorized, StorageError, VerificationError
from sync.fence import epoch as current_epoch
from sync.pki import Signer, load_signer

if TYPE_CHECKING:
    from nodes.exchange import Exchange
    from nodes.node import Node

__all__ = [
    "FENCE_REQUESTS",
    "KIND",
    "MESSAGES",
    "STAMP_STEP",
    "VERSION",
    "ask",
    "ask_again",
    "ask_for_fence",
    "fenced",
    "heads",
    "pending",
    "peers_of",
    "start",
    "stop_asking",
]

KIND = "rejoin"
"""The kind of every rejoin change-set: request, answer, notice and kept message."""
MESSAGES = "messages"
"""The folder of ``spool/`` with the rejoin change-sets this node signed, until sent."""
VERSION = 2
"""Of a request: its node reads the fence an answer names, and asks again naming that fence
(``replaces``) when it is another epoch's, during its rejoin or after
(:func:`ask_for_fence`); its peers then never let a request of another epoch take the place
of a fence by its date. A request without it is judged by time (see :func:`nodes.rejoin_answer.answer`)."""
FENCE_REQUESTS = "rejoin-fence"
"""The folder of ``spool/`` with the requests of a rejoined node to a peer that holds the
fence of another epoch of it, sent again every while until the answer names its own."""
FENCE_ONLY = "fence_only"
"""Of a request of a node that rejoined (:func:`ask_for_fence`), true: its peer fences at
what it holds of the node's channels itself, and sends back nothing
(:func:`nodes.rejoin_answer.answer`)."""
ANSWERS = "rejoin"
"""The folder of ``spool/`` with the answers taken while the node rejoins."""
DIGEST = re.compile(r"[0-9a-f]{64}")
STAMP_STEP = timedelta(microseconds=1)
"""How far a rejoin request is dated after the latest stamp the restored node holds."""


def peers_of(topology: Topology, me: str) -> list[str]:
    """Every node ``me`` may share a channel with (either way), by policy."""
    found = []
    for spec in topology:
        if spec.code == me:
            continue
        for kind in KINDS:
            if kind == "receipt":
                continue
            for origin, recipient in ((me, spec.code), (spec.code, me)):
                try:
                    check_send(topology, origin, recipient, kind)
                except NotAuthorized:
                    continue
                found.append(spec.code)
                break
            if found and found[-1] == spec.code:
                break
    return found


def heads(conn: Any, me: str, peer: str) -> dict[str, list[Any]]:
    def head(origin: str, recipient: str) -> list[Any]:
        row = conn.execute(
            sa.select(channel_head.c.seq, channel_head.c.last_id).where(
                channel_head.c.origin == origin, channel_head.c.recipient == recipient
            )
        ).first()
        return [int(row.seq), row.last_id] if row else [0, ""]

    return {"in": head(peer, me), "out": head(me, peer)}


def start(node: Node, clock: Clock = SYSTEM_CLOCK, epoch: str | None = None) -> list[str]:
    """Ask every peer for what this node lost; return them (called by ``restore``).

    ``epoch`` is this restore's epoch, 32 hex digits, drawn from the operating system
    when None (a simulation gives its own, so that one seed replays one history)."""
    me = node.spec.code
    signer = load_signer(node.home.keys)
    folder = node.home.spool / MESSAGES
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(node.home.spool / FENCE_REQUESTS, ignore_errors=True)  # of a life before
    peers = peers_of(node.topology, me)
    with node.engine.begin() as conn:
        # Strictly after every stamp of its own it still holds: what it signed before the
        # restore and did not get back is dated before its request, and void at its peers.
        latest = channel.latest_stamp(conn)
        clock = NotBefore(clock, None if latest is None else latest + STAMP_STEP)
        # A new epoch, which all it signs from now on names (sync.fence.epoch): what it
        # signed before the loss cannot name it, however far ahead its clock then ran.
        epoch = epoch or secrets.token_hex(16)
        restored = sa.select(sa.func.max(restore_log.c.id)).scalar_subquery()
        conn.execute(restore_log.update().where(restore_log.c.id == restored).values(epoch=epoch))
        conn.execute(rejoin_peer.delete())
        for peer in peers:
            written = ask(conn, me, signer, folder, peer, epoch, clock)
            conn.execute(
                rejoin_peer.insert().values(
                    peer=peer, request_id=written.id, asked_at=written.header.created
                )
            )
    return peers


def ask(
    conn: Any,
    me: str,
    signer: Signer,
    folder: Path,
    peer: str,
    epoch: str,
    clock: Clock,
    replaces: str | None = None,
    fence_only: bool = False,
) -> changeset.WrittenChangeSet:
    """Write this node's request to ``peer``: where their channels stand here, the epoch
    of this restore and, when ``peer`` said it holds the fence of another request of this
    node's (another epoch's), that request's id. ``fence_only``: the node rejoined, and
    asks only for the fence (:func:`ask_for_fence`): its heads are no restore's point."""
    request = {"rejoin": "request", **heads(conn, me, peer), "epoch": epoch, "version": VERSION}
    if replaces is not None:
        request["replaces"] = replaces
    if fence_only:
        request[FENCE_ONLY] = True
    return changeset.write_changeset(folder, signer, peer, KIND, 1, "", [request], clock)


def ask_for_fence(exchange: Exchange, peer: str, replaces: str) -> Path | None:
    """After this node's rejoin: ask ``peer``, which said it holds the fence of request
    ``replaces`` of another epoch of this node (a request of an earlier restore, delayed
    or replayed, that took its place there), to hold this epoch's; return the request
    (None: this node has no epoch). The request is sent again every while until
    ``peer`` answers naming this epoch (:func:`fenced`); the node goes on meanwhile: its
    channels with ``peer`` stand as they are, so the answer carries nothing to take. The
    request says it asks for the fence only (:data:`FENCE_ONLY`): ``peer`` fences at what
    it holds itself, not at this node's heads, which name what it signed while void there
    (those name this epoch, and go through once the fence is this epoch's). A request to
    ``peer`` still sent that names ``replaces`` already is kept as it is."""
    folder = exchange.spool.root / FENCE_REQUESTS
    for sent in folder.glob(f"{exchange.me}_{peer}_*.fcs"):
        with contextlib.suppress(VerificationError, StorageError, OSError):
            with contextlib.closing(changeset.iter_operations(sent)) as operations:
                if next(operations, {}).get("replaces") == replaces:
                    return sent
    with exchange.node.engine.begin() as conn:
        epoch = current_epoch(conn)
        if epoch is None:
            return None
        latest = channel.latest_stamp(conn)
        clock = NotBefore(exchange.clock, None if latest is None else latest + STAMP_STEP)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"{exchange.me}_{peer}_*.fcs"):
            old.unlink()  # one request to a peer: the latest
        written = ask(
            conn, exchange.me, exchange.signer, folder, peer, epoch, clock, replaces, True
        )
    os.utime(written.path, (0, 0))  # never sent yet: sent at the next round
    return written.path


def stop_asking(exchange: Exchange, peer: str) -> bool:
    """Send no more requests of :func:`ask_for_fence` to ``peer`` (it said this node
    forked: restored again, it asks anew); True when one was still sent."""
    found = list((exchange.spool.root / FENCE_REQUESTS).glob(f"{exchange.me}_{peer}_*.fcs"))
    for path in found:
        path.unlink(missing_ok=True)
    return bool(found)


def pending(exchange: Exchange, peer: str, request_id: object) -> bool:
    """Whether ``request_id`` is a request of :func:`ask_for_fence` to ``peer`` still sent."""
    if not (isinstance(request_id, str) and DIGEST.fullmatch(request_id)):
        return False
    return _fence_request(exchange, peer, request_id).is_file()


def fenced(exchange: Exchange, peer: str, request_id: str) -> bool:
    """``peer`` answered request ``request_id`` of :func:`ask_for_fence` naming this
    node's epoch: that request is no longer sent; True when it was still."""
    if not pending(exchange, peer, request_id):
        return False
    _fence_request(exchange, peer, request_id).unlink(missing_ok=True)
    return True


def _fence_request(exchange: Exchange, peer: str, request_id: str) -> Path:
    return exchange.spool.root / FENCE_REQUESTS / f"{exchange.me}_{peer}_{1:010d}_{request_id}.fcs"


def ask_again(
    exchange: Exchange,
    peers: list[str] | None = None,
    *,
    after: datetime | None = None,
    replaces: str | None = None,
) -> list[str]:
    """Ask ``peers`` again (None: every peer not answered yet whose request was signed by
    another certificate than the one this node signs with now); return whom.

    A node whose certificate was revoked (a stolen server, the usual reason to restore)
    is restored with that certificate and given a new one before it rejoins: its peers
    refuse what the revoked one signed, its requests included. A peer whose answer's
    signer was revoked before the rejoin ended is asked again too (:func:`nodes.rejoin.finish`). The
    new request names the same epoch, is dated after every stamp the node holds, and
    takes the place of the old one, whose answer, should it still come, is dropped.
    With ``after``, it is dated after that time as well: a peer that holds the fence of a
    request of this node dated later (a restore before this one, on a machine whose clock
    ran ahead of this one's) takes the new request's fence only then: what a peer of an
    earlier fiscalsync asks (``fenced_after``). With ``replaces``, the new request names
    that request of another epoch, whose fence the peer holds: it takes its place.
    """
    node = exchange.node
    me = exchange.me
    signer = exchange.signer
    folder = exchange.spool.root / MESSAGES
    asked: list[str] = []
    with node.engine.begin() as conn:
        rows = conn.execute(
            sa.select(rejoin_peer).order_by(rejoin_peer.c.peer).with_for_update()
        ).all()
        epoch = current_epoch(conn)
        if epoch is None:
            return []
        for row in rows:
            old = folder / f"{me}_{row.peer}_{1:010d}_{row.request_id}.fcs"
            if peers is None:
                if row.answered_at is not None:
                    continue
                try:
                    if changeset.read_header(old)[0].signer == signer.fingerprint:
                        continue
                except (VerificationError, StorageError, OSError):
                    pass  # unreadable or gone: written again
            elif row.peer not in peers:
                continue
            latest = channel.latest_stamp(conn)
            if after is not None and (latest is None or latest < after):
                latest = after
            clock = NotBefore(exchange.clock, None if latest is None else latest + STAMP_STEP)
            written = ask(conn, me, signer, folder, row.peer, epoch, clock, replaces)
            conn.execute(
                rejoin_peer.update()
                .where(rejoin_peer.c.peer == row.peer)
                .values(
                    request_id=written.id,
                    asked_at=written.header.created,
                    sent_at=None,
                    answer_file=None,
                    answered_at=None,
                )
            )
            old.unlink(missing_ok=True)
            if row.answer_file:  # an answer the new request takes the place of: not kept
                (exchange.spool.root / ANSWERS / row.answer_file).unlink(missing_ok=True)
            asked.append(row.peer)
    return asked
