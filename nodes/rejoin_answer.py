"""A peer answers a restored node's request to rejoin (:mod:`nodes.rejoin`): it records a
fence for the node (:data:`schema.backups.rejoin_fence`), then answers with a signed
``rejoin`` change-set carrying, byte for byte, what the node lost of their two channels.
It also tells a node that forked a channel with it, or whose signed files are void here,
so (:func:`notice`, :func:`tell_refused`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from nodes import rejoin_void
from nodes.labels import Said, said
from nodes.rejoin_request import DIGEST, FENCE_ONLY, KIND, MESSAGES, VERSION
from schema.backups import rejoin_fence, rejoin_kept
from schema.channels import changeset_log, channel_head, outbox
from schema.channels import quarantine as quarantined
from schema.locks import insert_missing
from schema.types import format_utc
from sync import changeset, channel
from sync.changeset import Header, Verified
from sync.errors import InputError, failure_message
from sync.fence import epoch as current_epoch

if TYPE_CHECKING:
    from nodes.exchange import Exchange

__all__ = ["EPOCH", "answer", "notice", "tell_refused"]

PIECE = 6 * 1024 * 1024
EPOCH = re.compile(r"[0-9a-f]{32}")


def _file_ops(path: Path, role: str) -> Iterator[dict[str, Any]]:
    with path.open("rb") as stream:
        number = 0
        while True:
            data = stream.read(PIECE)
            last = len(data) < PIECE
            if data or number == 0:
                yield {
                    "file": path.name,
                    "role": role,
                    "piece": number,
                    "last": last,
                    "data": base64.b64encode(data).decode("ascii"),
                }
            if last:
                return
            number += 1


def answer(exchange: Exchange, verified: Verified, request: dict[str, Any]) -> Path:
    """Answer a restored node's request (see the module): fence, then the answer."""
    node = exchange.node
    me = node.spec.code
    asker = verified.header.origin
    spool = exchange.spool
    try:
        s_in, id_in = int(request["in"][0]), str(request["in"][1])
        s_out, id_out = int(request["out"][0]), str(request["out"][1])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise InputError(said("rejoin_request_bad", file=verified.header.filename)) from exc
    epoch = request.get("epoch")  # None from a node that names none
    if epoch is not None and not (isinstance(epoch, str) and EPOCH.fullmatch(epoch)):
        raise InputError(said("rejoin_epoch_bad", file=verified.header.filename, epoch=epoch))
    replaces = request.get("replaces")  # the fence the node was told this peer holds
    if replaces is not None and not (isinstance(replaces, str) and DIGEST.fullmatch(replaces)):
        raise InputError(
            said("rejoin_replaces_bad", file=verified.header.filename, replaces=replaces)
        )
    files: list[tuple[Path, str]] = []
    problems: list[Said] = []
    forks: list[Said] = []  # of them, where this peer took or sent another change-set
    with node.engine.begin() as conn:
        inbound = conn.execute(
            sa.select(channel_head)
            .where(channel_head.c.origin == asker, channel_head.c.recipient == me)
            .with_for_update()
        ).first()
        taken = conn.execute(
            sa.select(changeset_log)
            .where(changeset_log.c.origin == asker, changeset_log.c.recipient == me)
            .where(changeset_log.c.seq >= s_out)
            .order_by(changeset_log.c.seq)
        ).all()
        for row in taken:
            if row.seq == s_out:
                if row.id != id_out:
                    forks.append(said("rejoin_problem_not_taken", seq=s_out, me=me))
                    problems.append(forks[-1])
                continue
            if row.purged_at is not None:
                problems.append(said("rejoin_problem_purged_mine", seq=row.seq, me=me))
                continue
            files.append((spool.taken / f"{asker}_{me}_{row.seq:010d}_{row.id}.fcs", "mine"))
            files.append((spool.receipts / row.receipt_file, "mine-receipt"))
        sent = conn.execute(
            sa.select(outbox)
            .where(outbox.c.recipient == asker, outbox.c.seq >= s_in)
            .order_by(outbox.c.seq)
        ).all()
        for row in sent:
            if row.seq == s_in:
                if row.id != id_in:
                    forks.append(said("rejoin_problem_not_sent", seq=s_in, me=me))
                    problems.append(forks[-1])
                continue
            if row.purged_at is not None:
                problems.append(said("rejoin_problem_purged_yours", seq=row.seq, me=me))
                continue
            files.append((spool.outbox / row.filename, "yours"))
            if row.receipt_file and row.receipt_verdict is not None:
                files.append((spool.outbox / row.receipt_file, "yours-receipt"))
        values = {
            "request_id": verified.id,
            "void_before": verified.header.created,
            "out_seq": max(int(inbound.seq) if inbound else 0, s_out),
            "in_seq": s_in,
            "answered_at": exchange.clock.now(),
            "epoch": epoch,
            "epoch_unknown": None,  # given now: the asker's epoch
        }
        if request.get(FENCE_ONLY) is True:  # rejoined: its heads are no restore's point
            # Nothing is returned, so nothing purged is missed; a head the node holds that
            # this peer's log disagrees with is still a fork of their channel, told.
            files, problems = [], forks
            values |= rejoin_void.held_here(conn, asker, inbound, s_in)
        held = conn.execute(_HELD, {"node": asker}).first()
        if held is None and not insert_missing(conn, rejoin_fence, {"node": asker, **values}):
            held = conn.execute(
                _HELD, {"node": asker}
            ).first()  # another's first fence: judged by it
        fenced_after = None
        ordered = _ordered(request)
        if _takes_back(held, epoch, replaces):
            # The epoch this fence took the place of names it in turn: that node lives on
            # two machines, each told of the other's fence. Flipping it at each request
            # would void each one's in turn, forever: the fence stays, and both are told.
            fork = {"origin": asker, "epoch": epoch, "held": held.epoch}
            if conn.execute(_REFUSED, {"id": verified.id}).first() is None:  # told once
                epochs = {"held": held.epoch, "refused": epoch}  # which machine to keep
                notice(exchange, asker, said("fence_fork_notice", me=me, **fork), epochs)
            raise InputError(said("rejoin_fence_fork", file=verified.header.filename, **fork))
        if _takes_place(held, verified, epoch, replaces, ordered):
            same = held is not None and epoch is not None and held.epoch == epoch
            if not same:
                # What the node took back of its lost state is not void; another
                # restore's lost state is another (the same restore asking again keeps it).
                conn.execute(rejoin_kept.delete().where(rejoin_kept.c.node == asker))
            # Once a restore asked with a version, its node reads the fence an answer
            # names: a request of another epoch takes its place only by naming it.
            versioned = ordered or (same and bool(held.versioned))
            values |= {"versioned": versioned, "replaced": _replaced(held, replaces, same)}
            if same:  # its restore's point stands: what it took since names its epoch
                values["out_seq"] = min(int(held.out_seq), int(values["out_seq"]))
                values["in_seq"] = min(int(held.in_seq), int(values["in_seq"]))
            # In place (the first inserted above): a request waiting on this row's lock
            # then reads the new fence.
            conn.execute(rejoin_fence.update().where(rejoin_fence.c.node == asker).values(**values))
            fence = {"request": verified.id, "epoch": epoch}
        else:
            files = []  # the node takes this answer only once the fence is its own
            fence = {"request": held.request_id, "epoch": held.epoch}
            if held.void_before > verified.header.created:
                fenced_after = format_utc(held.void_before)  # what an earlier fiscalsync reads

        crl = exchange.trust.crl
        first: dict[str, Any] = {
            "rejoin": "answer",
            "request": verified.id,
            "problems": [str(p) for p in problems],  # the English text, as ever
            "problems_said": [p.as_json() for p in problems],  # and by key, for its reader
            "fence": fence,
        }
        if fenced_after is not None:
            first["fenced_after"] = fenced_after
        if crl is not None:
            first["crl"] = crl.pem.decode("ascii")

        def operations() -> Iterator[dict[str, Any]]:
            yield first
            for path, role in files:
                yield from _file_ops(path, role)

        folder = spool.root / MESSAGES
        folder.mkdir(parents=True, exist_ok=True)
        # Its header names the epoch this node runs in: a node restored from a backup
        # learns it for the fence it kept of this one (sync.fence.learn).
        written = changeset.write_changeset(
            folder, exchange.signer, asker, KIND, 1, "", operations(), exchange.clock,
            epoch=current_epoch(conn),
        )  # fmt: skip
    return written.path


def _takes_place(
    held: Any, verified: Verified, epoch: str | None, replaces: str | None, ordered: bool
) -> bool:
    """Whether a restored node's request takes the place of the fence ``held`` here.

    Never by the dates of two restores: the clock of a machine lost with its disk may
    have run ahead of the live one's, and a request of that restore, delayed or replayed,
    would void all the live node signs. So a fence of another epoch stays until the node
    itself replaces it: told in an answer which fence this peer holds, a node that does
    not live in that epoch asks again naming it (``replaces``). A request of the epoch
    held (the node asking again, signed with a new certificate) takes its place when dated
    no earlier. A fence that names no epoch is judged by time, as before epochs.

    A request without :data:`nodes.rejoin_request.VERSION` (not ``ordered``) comes from a
    fiscalsync that does not ask again so: it asks again dated after ``fenced_after``,
    and takes the place of a fence from another such request by its date, so that an
    older fiscalsync's node still rejoins. Not of a fence from a versioned request
    (``held.versioned``): that node reads the fences answers name, and a request of
    another epoch without a version is one of an earlier life (signed before the upgrade,
    held in a relay, or replayed), never the live node's, which cannot go back to a
    fiscalsync older than its database.
    """
    if held is None or (replaces is not None and replaces == held.request_id):
        return True
    if held.epoch is not None and epoch != held.epoch and (ordered or held.versioned):
        return False
    return bool(held.void_before <= verified.header.created)


_HELD = sa.select(rejoin_fence).where(rejoin_fence.c.node == sa.bindparam("node")).with_for_update()
"""A node's fence here, locked. A node's first fence is inserted unless there already
(:func:`schema.locks.insert_missing`): two first requests at once insert it once, and
the second then reads the first's."""

_REFUSED = sa.select(quarantined.c.id).where(quarantined.c.changeset_id == sa.bindparam("id"))
"""Whether a request was refused here before (a copy of it sent again)."""


def _takes_back(held: Any, epoch: str | None, replaces: str | None) -> bool:
    """Whether a request naming the fence ``held`` here comes from an epoch whose fence a
    request of another epoch took the place of by naming it (``held.replaced``): two
    machines live as one node, each restored, each told that this peer holds the other's
    fence (:func:`take`, :mod:`nodes.rejoin_void`), and each would take it back in turn.
    Only a live node names a fence, and only one it was told of: so that epoch's machine
    lived on after another took its place, which is a fork of the node, not a stale or
    replayed request (one of those names a fence no longer held here)."""
    return (
        held is not None
        and replaces is not None
        and replaces == held.request_id
        and epoch is not None
        and held.epoch != epoch
        and epoch in (held.replaced or "").split()
    )


REPLACED_MOST = 32
"""The most epochs a fence remembers as replaced by name (restores of one node are few)."""


def _replaced(held: Any, replaces: str | None, same: bool) -> str | None:
    """The epochs replaced by name on the way to the fence a request takes the place of
    ``held`` with: ``held``'s, and ``held``'s own epoch when the request names it."""
    if held is None:
        return None
    epochs = (held.replaced or "").split()
    if not same and replaces == held.request_id and held.epoch is not None:
        epochs = [e for e in epochs if e != held.epoch] + [held.epoch]
    return " ".join(epochs[-REPLACED_MOST:]) or None


def _ordered(request: dict[str, Any]) -> bool:
    """Whether the request's node asks again when told of another epoch's fence."""
    version = request.get("version")
    return isinstance(version, int) and version >= VERSION


def notice(
    exchange: Exchange, origin: str, detail: Said, fork: dict[str, str] | None = None
) -> None:
    """Tell ``origin`` that it forked a channel with this node and must be restored: why,
    in English (what every fiscalsync reads) and by key beside it, as an answer's problems.
    ``fork``: the epochs of two machines living as ``origin``, the one whose fence is
    ``held`` here and the one ``refused`` (:func:`nodes.rejoin_void.take_fork`)."""
    folder = exchange.spool.root / MESSAGES
    folder.mkdir(parents=True, exist_ok=True)
    body: dict[str, Any] = {"rejoin": "notice", "detail": str(detail)}
    body["detail_said"] = detail.as_json()
    if fork is not None:
        body[rejoin_void.FORK] = fork
    changeset.write_changeset(folder, exchange.signer, origin, KIND, 1, "", [body], exchange.clock)


def tell_refused(exchange: Exchange, result: channel.Received, header: Header) -> Said | None:
    """Tell the origin of a file refused here (``header``) that it forked a channel (a
    replay or a fork: :func:`notice`, with the file's first copy only: it is for the
    operator), or that what it signed is void here, with the fence held
    (:func:`nodes.rejoin_void.tell`: it repairs the fence, so one this node fails to
    write goes with the 2nd, 4th, 8th… copy). The refusal stands whether or not it is
    told; a failure to tell is returned as a problem of the round."""
    copies = result.copies
    if not (result.first or (result.refusal == "void" and copies & (copies - 1) == 0)):
        return None
    origin = result.origin
    try:
        if result.refusal in ("replay", "chain") and origin in exchange.node.topology:
            why = said("forked_notice", me=exchange.me, name=result.filename, reason=result.reason)
            notice(exchange, str(origin), why)
        elif result.refusal == "void":
            rejoin_void.tell(exchange, header)
    except Exception as exc:  # a local failure: the copy after next tells it
        error = failure_message(exc)
        return said("rejoin_tell_failed", origin=origin, name=result.filename, error=error)
    return None
