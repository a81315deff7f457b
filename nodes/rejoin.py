"""Rejoining the network after a restore: nothing lost, and no fork.

A node restored from a backup lost what happened after it: change-sets it took (its
peers think it has them: they hold its receipts) and change-sets it sent (its peers
took them, and would refuse a different change-set under the same number: a fork).
So a restored node sends nothing new, and takes nothing but answers, until every peer
(every node it may share a channel with) has answered its *request*, a signed
change-set of kind ``rejoin`` that says where each of its two channels with that peer
stands in its restored state (:mod:`nodes.rejoin_request`). A peer answers with a signed ``rejoin`` change-set that
carries, byte for byte:

- the node's own change-sets it took past that point, each with its signed receipt:
  the node takes them back (:func:`sync.returned.adopt_own`, then the capability's
  adopter redoes what sending them did) and goes on after them, same seq, prev and id;
- its own change-sets to the node past that point, each with the receipt the node
  signed before it was restored when it has one: the node takes them again and its
  verdict stands (:func:`sync.returned.take_again`); those without are taken as new.

Every answer also carries the peer's revocation list, which the node adopts when it is
newer *before* it checks the answer (:func:`adopt_carried_crl`): restored, it holds its
backup's list (or its keeper's, :func:`nodes.restore.restore`), and a certificate
revoked since must not verify there, an answer's signer's included. The root signs the
list, so it counts whoever carried it; the province answers every node, and its list
holds every revocation, so each answer is checked again under the newest list before
anything of it is redone.

Once every peer has answered, the node redoes all of it in one transaction, in the
order it did it the first time (each step is stamped by the node's own clock: the
``created`` of its change-sets, the ``taken_at`` of its receipts), and is rejoined.

Answering, the peer records a *fence* (:data:`schema.backups.rejoin_fence`): whatever
the node signed before its request and did not get back (a change-set still on its way,
a receipt of a change-set the node took before it died) is void there from now on
(:func:`sync.channel.receive` quarantines it as ``void``), so nothing the node lost can
come back from the network to fork a channel. "Before" is by identity: the request names
a new random *epoch*, which the header of everything the node signs from then on names
too (:func:`sync.fence.epoch`); what the lost state signed cannot name it, however far
ahead the lost machine's clock ran. (A request from a node that names no epoch is judged
by its own stamps, which never go back (:func:`sync.channel.signing_clock`): void is what
is dated before the request.) A fence of another epoch is never replaced by a request
because it is dated later: the node replaces it, told by the answer which fence its peer
holds (:func:`nodes.rejoin_answer._takes_place`, :mod:`nodes.rejoin_request`), or, long after its rejoin
ended, by the peer that holds something it signed void (:mod:`nodes.rejoin_void`). An
epoch whose fence another took the place of by naming it never takes a fence back that
way: its machine lived on beside another one as the same node (a fork), and the two would
take the fence back and forth forever; the peer keeps the fence, quarantines the request
and sends the node a notice (:func:`nodes.rejoin_answer._takes_back`). A node may take back some of its own change-sets from another node than their recipient
(its keeper's journal, when it and that recipient were restored at once and the recipient
had answered from its own restored state): once rejoined, it tells each such recipient
which (a ``rejoin`` *kept* message, sent again until each of them is acknowledged), and
the recipient lets exactly those through its fence (:mod:`nodes.rejoin_kept`).
A peer that meets a fork from a node that
did *not* rejoin (re-initialised with ``init``, or an old database copied back) sends it
a ``rejoin`` *notice*, which the node shows in ``status``: restore from the center.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes import keys, rejoin_request, rejoin_void
from nodes.capabilities import REJOINED
from nodes.journal import NEVER, Replayer, Step, in_order
from nodes.labels import Said, joined, said, vouched
from nodes.rejoin_answer import EPOCH, answer, notice, tell_refused
from nodes.rejoin_kept import keep, write_kept
from nodes.rejoin_request import ANSWERS, DIGEST, KIND, MESSAGES, heads
from schema.backups import rejoin_peer, restore_log
from schema.engine import reading
from schema.types import format_utc, parse_utc
from sync import changeset, channel, quarantine
from sync.changeset import Verified
from sync.errors import (
    CertificateNotYetBegun,
    CertificateRejected,
    InputError,
    VerificationError,
)
from sync.fence import epoch as current_epoch
from sync.fence import learn, why_void
from sync.files import write_atomic
from sync.trust import LONGEST_WAIT

if TYPE_CHECKING:
    from nodes.exchange import Exchange
    from nodes.node import Node

__all__ = [
    "KIND",
    "Rejoining",
    "answer",
    "notice",
    "asking",
    "finish",
    "in_progress",
    "rejoining",
    "require_joined",
    "take",
    "tell_refused",
]


@dataclass(frozen=True)
class Rejoining:
    """Where a restored node stands."""

    number: int
    taken_at: datetime
    restored_at: datetime
    rejoined_at: datetime | None
    waiting: list[str]


def rejoining(node: Node) -> Rejoining | None:
    """The latest restore of this node and what it still waits for (None: never restored)."""
    with reading(node.engine) as conn:
        last = conn.execute(sa.select(restore_log).order_by(restore_log.c.id.desc())).first()
        if last is None:
            return None
        waiting = conn.execute(
            sa.select(rejoin_peer.c.peer)
            .where(rejoin_peer.c.answered_at.is_(None))
            .order_by(rejoin_peer.c.peer)
        ).scalars()
        return Rejoining(
            int(last.number), last.taken_at, last.restored_at, last.rejoined_at, list(waiting)
        )


_ANY_PEER = sa.select(rejoin_peer.c.peer).limit(1)
"""Whether a peer is still asked (built once: every round of every node runs it)."""


def in_progress(node: Node) -> bool:
    """True while this node rejoins: it then sends nothing new and takes only answers."""
    with reading(node.engine) as conn:
        return asking(conn)


def asking(conn: Connection) -> bool:
    """:func:`in_progress`, in the caller's transaction."""
    return conn.execute(_ANY_PEER).first() is not None


def require_joined(conn: Connection, me: str) -> None:
    """Refuse to record anything new while the node rejoins (in the writer's transaction)."""
    if asking(conn):
        raise InputError(said("rejoining_wait", code=me), hint=said("rejoining_wait_hint"))


# --- the restored node takes the answers --------------------------------------------------


def take(exchange: Exchange, path: Path) -> Said:
    """Take a ``rejoin`` change-set addressed here; return what happened, in a few words.

    Verification failures go up (:class:`VerificationError`) for the caller to quarantine.
    An answer's revocation list is adopted before anything is checked (see
    :func:`adopt_carried_crl`).
    """
    adopt_carried_crl(exchange, path)
    verified = changeset.verify(
        path, exchange.trust, recipient=exchange.me, authorize=exchange.authorize
    )
    first = next(iter(verified.operations()), {})
    what = first.get("rejoin")
    origin = verified.header.origin
    if what == "request":
        answer(exchange, verified, first)
        path.unlink(missing_ok=True)
        return said("rejoin_answered_request", origin=origin)
    if what == "notice":
        forked = rejoin_void.take_fork(exchange, path, origin, first)
        if forked is not None:
            return forked
        detail = _notice_detail(first)
        exchange.quarantine_message(path, said("rejoin_lost_history", origin=origin, detail=detail))
        rejoin_request.stop_asking(exchange, origin)  # for its fence: restore first
        return said("rejoin_notice", origin=origin)
    if what == rejoin_void.VOID:
        note = rejoin_void.take(exchange, origin, _fence(first))
        path.unlink(missing_ok=True)
        return note
    if what == "kept":
        note = keep(exchange, verified, first)
        path.unlink(missing_ok=True)
        return note
    if what != "answer":
        raise InputError(said("rejoin_kind_bad", file=path.name))
    node = exchange.node
    held = _fence(first)
    with node.engine.begin() as conn:
        row = conn.execute(
            sa.select(rejoin_peer).where(rejoin_peer.c.peer == origin).with_for_update()
        ).first()
        mine = current_epoch(conn)
        asked = row is not None and row.request_id == first.get("request")
        current = asked and row is not None and row.answered_at is None
        if row is None:  # rejoined: asking for its fence (rejoin_request.ask_for_fence)?
            asked = rejoin_request.pending(exchange, origin, first.get("request"))
        # The peer holds the fence of another epoch of this node (a request of an earlier
        # restore took its place there, or kept it): all this node signs is void there
        # until it asks again naming that fence, now or long after its rejoin ended. Only
        # an answer to what this life asks says so: one to a request of a life before
        # (meant for the lost machine, delayed) names the fence of its own time.
        other = asked and held is not None and mine is not None and held[1] != mine
        if not current or other:
            fenced_after = None
        else:
            fenced_after = _fenced_after(first)
            if fenced_after is None:
                folder = exchange.spool.root / ANSWERS
                folder.mkdir(parents=True, exist_ok=True)
                os.replace(path, folder / path.name)
                conn.execute(
                    rejoin_peer.update()
                    .where(rejoin_peer.c.peer == origin)
                    .values(answer_file=path.name, answered_at=exchange.clock.now())
                )
    if held is not None and other:
        path.unlink(missing_ok=True)
        if row is not None:
            rejoin_request.ask_again(exchange, [origin], replaces=held[0])
        else:
            rejoin_request.ask_for_fence(exchange, origin, held[0])
        return said("rejoin_fenced_other", origin=origin)
    if not current:
        if held is not None and row is None:  # the answer to asking for the fence
            rejoin_request.fenced(exchange, origin, str(first.get("request")))
        path.unlink(missing_ok=True)
        # Rejoined, and the peer holds this life's fence: the answer to asking for it
        # (rejoin_request.ask_for_fence), or one more answer to a copy of that request.
        if row is not None or held is None or mine is None or held[1] != mine:
            return said("rejoin_old_answer", origin=origin)
        return _answered(origin, first, "rejoin_fence_answered")  # with the forks it found
    if fenced_after is not None:
        if fenced_after > exchange.clock.now() + LONGEST_WAIT:
            # Asking again after it would date all this node signs from then on as far
            # ahead: a clock to be set right (or a peer to be looked at), not followed.
            far = dict(origin=origin, fence=format_utc(fenced_after), days=LONGEST_WAIT.days)
            exchange.quarantine_message(path, said("rejoin_fence_far_detail", **far))
            return said("rejoin_fenced_too_far", origin=origin, fence=format_utc(fenced_after))
        rejoin_request.ask_again(exchange, [origin], after=fenced_after)
        path.unlink(missing_ok=True)
        return said("rejoin_fenced_later", origin=origin, fence=format_utc(fenced_after))
    request = (
        exchange.spool.root / MESSAGES / f"{exchange.me}_{origin}_{1:010d}_{row.request_id}.fcs"
    )
    request.unlink(missing_ok=True)
    return _answered(origin, first, "rejoin_answer")


def _answered(origin: str, first: dict[str, Any], otherwise: str) -> Said:
    """What an answer of ``origin`` says: the problems it names, or ``otherwise``."""
    problems = _problems(first)
    if problems:
        return said("rejoin_answer_problems", origin=origin, problems=joined(problems))
    return said(otherwise, origin=origin)


def _notice_detail(first: dict[str, Any]) -> str:
    """Why a notice says this node forked: by key when it says so as its English text does
    and this version knows it (:func:`nodes.labels.vouched`), else that text, cut short."""
    detail = str(first.get("detail", ""))
    if len(detail) > NOTICE_MOST:
        return detail[:NOTICE_MOST]
    return vouched(detail, first.get("detail_said"))


NOTICE_MOST = 500
"""The longest detail of a notice shown (in characters, its English text)."""


def _problems(first: dict[str, Any]) -> list[str]:
    """The problems an answer names: each by key when it says so as its English text does
    and this version knows it (to be shown in the reader's language, see
    :func:`nodes.labels.vouched`), else as the English text it sent."""
    sent = [str(p) for p in first.get("problems") or []]
    kept = first.get("problems_said")
    if isinstance(kept, list) and len(kept) == len(sent):
        return [vouched(text, by_key) for text, by_key in zip(sent, kept, strict=True)]
    return sent


def _fence(first: dict[str, Any]) -> tuple[str, str | None] | None:
    """The fence the answering peer holds for this node once it answered: the id of the
    request it took it from and that request's epoch (None from an earlier fiscalsync,
    which names none)."""
    value = first.get("fence")
    if not isinstance(value, dict):
        return None
    request, named = value.get("request"), value.get("epoch")
    if not (isinstance(request, str) and DIGEST.fullmatch(request)):
        return None
    if named is not None and not (isinstance(named, str) and EPOCH.fullmatch(named)):
        return None
    return request, named


def _fenced_after(first: dict[str, Any]) -> datetime | None:
    """When the answering peer kept the fence of a request of this node dated later than
    the one it answers (:func:`nodes.rejoin_answer.answer`), that fence's time; None otherwise."""
    value = first.get("fenced_after")
    if not isinstance(value, str):
        return None
    try:
        return parse_utc(value)
    except ValueError:
        return None


def adopt_carried_crl(exchange: Exchange, path: Path) -> bool:
    """Adopt the revocation list a peer's answer carries (its first operation), if it is
    newer than the one held; True when it was. This comes before the answer itself is
    checked: a node restored from a backup holds that backup's list, and a certificate
    revoked since must not verify there, an answer's signer's included. The root signs
    the list, so it is trusted from any sender, even one whose answer is then refused;
    a list the root did not sign, or one that drops a revoked certificate, is refused
    (:class:`InputError`) with the file that carried it."""
    try:
        header, _seal = changeset.read_header(path)
        if header.kind != KIND or header.recipient != exchange.me:
            return False
        with contextlib.closing(changeset.iter_operations(path)) as operations:
            first = next(operations, {})
    except VerificationError:
        return False  # not readable: verifying it says why
    pem = first.get("crl") if first.get("rejoin") == "answer" else None
    if not isinstance(pem, str):
        return False
    try:
        adopted = keys.adopt_newer_crl(exchange.node.home, exchange.trust, pem.encode())
    except CertificateRejected as exc:
        raise InputError(said("rejoin_crl_refused", file=path.name, error=exc.message)) from exc
    return adopted is not None


def _unpack(exchange: Exchange, answer_path: Path, into: Path) -> tuple[list[Step], int]:
    """The files an answer carries, written out and verified, as steps to redo, and how
    many of them a certificate revoked since signed (vouched for by the answer)."""
    me = exchange.me
    peer = changeset.read_header(answer_path)[0].origin
    pending: dict[str, bytearray] = {}
    done: list[tuple[str, Path]] = []
    for op in changeset.iter_operations(answer_path):
        if "file" not in op:
            continue
        name = str(op["file"])
        if "/" in name or name.startswith("."):
            raise InputError(said("rejoin_carried_misnamed", file=answer_path.name, name=name))
        pending.setdefault(name, bytearray()).extend(base64.b64decode(str(op["data"])))
        if op.get("last"):
            target = into / name
            write_atomic(target, bytes(pending.pop(name)))
            done.append((str(op["role"]), target))
    steps: list[Step] = []
    # The peer's answer, checked in full, vouches for every file it carries: each was
    # verified when the peer took it, so a signer revoked since is no reason to refuse.
    trust = exchange.trust.vouched()
    revoked = 0

    def check(target: Path, **how: Any) -> Verified:
        nonlocal revoked
        verified = changeset.verify(target, trust, **how)
        revoked += exchange.trust.revoked(verified.signer.serial)
        return verified

    for number, (role, target) in enumerate(done):
        if role == "mine":
            own = check(target, recipient=peer)
            if own.header.origin != me:
                raise InputError(said("rejoin_not_own", file=target.name))
            receipt = None
            if number + 1 < len(done) and done[number + 1][0] == "mine-receipt":
                receipt = check(done[number + 1][1], recipient=me)
            steps.append(Step(own.header.created, True, own, receipt))
        elif role == "yours":
            theirs = check(target, recipient=me, authorize=exchange.authorize)
            receipt = None
            if number + 1 < len(done) and done[number + 1][0] == "yours-receipt":
                receipt = check(done[number + 1][1], recipient=peer)
            if receipt is not None:
                body = next(iter(receipt.operations()), {})
                stamp = parse_utc(str(body.get("taken_at")))
                steps.append(Step(stamp, False, theirs, receipt))
            else:  # never acknowledged: taken after everything else, in channel order
                steps.append(Step(NEVER, False, theirs, None))
    return steps, revoked


def _learn_epoch(conn: Connection, me: str, peer: str, answer: Path, steps: list[Step]) -> None:
    """The fence this node's backup kept of ``peer`` learns the epoch ``peer`` runs in, as
    its ``answer`` names it (:func:`sync.fence.learn`), before what it returned is redone.
    Should that be another epoch than the fence's, its point is raised past what this node
    holds of ``peer``'s channel and what ``peer`` returned that was signed before that
    epoch began (change-sets its own restore kept or took back), and past this node's
    change-sets to ``peer``, whose receipts ``peer`` may have signed before it."""
    epoch = changeset.read_header(answer)[0].epoch
    held = heads(conn, me, peer)
    out_seq, in_seq = int(held["in"][0]), int(held["out"][0])
    for step in steps:
        seq = step.changeset.header.seq
        if not step.own and step.changeset.header.epoch != epoch:
            out_seq = max(out_seq, seq)
        elif step.own and step.receipt is not None and step.receipt.header.epoch != epoch:
            in_seq = max(in_seq, seq)
    learn(conn, peer, epoch, out_seq, in_seq)


def _refused_answers(exchange: Exchange, rows: list[Any]) -> dict[str, str]:
    """The peers whose answer's signer is now refused (revoked since it was taken), each
    with why; those answers are moved to quarantine. A certificate not begun yet by this
    node's clock is not refused: its answer waits (the caller fails, and tries again)."""
    folder = exchange.spool.root / ANSWERS
    refused: dict[str, str] = {}
    for row in rows:
        path = folder / row.answer_file
        if not path.is_file():  # lost between its quarantine and the new request
            refused[row.peer] = "its answer is no longer here"
            continue
        try:
            changeset.verify(path, exchange.trust, recipient=exchange.me)
        except CertificateNotYetBegun:
            raise
        except CertificateRejected as exc:
            refused[row.peer] = exc.message
            quarantine.quarantine_file(
                exchange.engine, exchange.spool, path, exc.reason, exc.message, exchange.clock
            )
    return refused


def finish(exchange: Exchange) -> Said | None:
    """Once every peer has answered, redo what they returned, in one transaction, and
    end the rejoin; return what was done (None while answers are missing)."""
    node = exchange.node
    with reading(node.engine) as conn:
        rows = conn.execute(sa.select(rejoin_peer)).all()
    if not rows or any(r.answered_at is None for r in rows):
        return None
    folder = exchange.spool.root / ANSWERS
    unpacked = folder / "files"
    shutil.rmtree(unpacked, ignore_errors=True)
    unpacked.mkdir(parents=True)
    try:
        # Checked again under the newest list any answer carried (the province's holds
        # every revocation): one that verified under an older list does not count once
        # its signer is known to be revoked. It is quarantined and its peer asked again:
        # answering with its new certificate, the peer vouches for the same history.
        refused = _refused_answers(exchange, rows)
        if refused:
            asked = rejoin_request.ask_again(exchange, sorted(refused))
            raise InputError(
                said(
                    "rejoin_answers_refused",
                    peers="; ".join(f"{peer} ({why})" for peer, why in sorted(refused.items())),
                    asked=", ".join(asked),
                ),
                hint=said("rejoin_answers_refused_hint"),
            )
        steps = []
        revoked = 0
        answered: list[tuple[str, Path, list[Step]]] = []
        for row in rows:
            more, signed_revoked = _unpack(exchange, folder / row.answer_file, unpacked)
            steps.extend(more)
            answered.append((row.peer, folder / row.answer_file, more))
            revoked += signed_revoked
        replayer = Replayer(node, exchange.clock)
        asked = {row.peer: row.request_id for row in rows}
        with node.engine.begin() as conn:
            for peer, path, returned in answered:
                _learn_epoch(conn, exchange.me, peer, path, returned)
            now = channel.signing_clock(conn, exchange.clock).now()  # not before its requests
            ordered, void = _not_void(conn, in_order(steps))
            own, taken = replayer.redo(conn, ordered)
            taken_back = [s.changeset for s in ordered if s.own]
            write_kept(exchange, conn, asked, taken_back)
            conn.execute(rejoin_peer.delete())
            again = sum(hook(conn, node, exchange.clock, taken_back) for hook in REJOINED)
            last = conn.execute(sa.select(sa.func.max(restore_log.c.id))).scalar_one()
            conn.execute(
                restore_log.update().where(restore_log.c.id == last).values(rejoined_at=now)
            )
    except VerificationError as exc:
        raise InputError(said("returned_not_verified", error=exc.message)) from exc
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    vouched = said("rejoined_vouched", count=revoked) if revoked else ""
    sent = said("rejoined_sent", count=again) if again else ""
    return said(
        "rejoined",
        own=own,
        taken=taken,
        peers=len(rows),
        at=format_utc(now),
        vouched=vouched,
        sent=sent,
        void=said("rejoined_void", count=void) if void else "",
    )


def _not_void(conn: Connection, steps: list[Step]) -> tuple[list[Step], int]:
    """``steps`` without the peers' change-sets void here (:func:`sync.fence.why_void`),
    and how many those were: a peer restored after it answered rejoined through the fence
    this node gave it, and what its lost state returned is not taken (the rejoin would
    fail at it round after round); a copy arriving by mail is refused as ``void``."""
    kept = []
    for step in steps:
        header = step.changeset.header
        if not step.own and why_void(conn, header, header.seq, "out_seq", step.changeset.id):
            continue
        kept.append(step)
    return kept, len(steps) - len(kept)
