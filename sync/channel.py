"""Channels: outbox until receipt, exactly-once apply, signed receipts.

A channel is the ordered stream of change-sets from one origin to one recipient. The
origin :func:`enqueue` s a change-set in the same database transaction as the business
change that caused it; it stays in the outbox until the recipient's signed receipt
arrives, and is retransmitted on a backoff until then.

The recipient :func:`receive` s each file it is given:

1. It verifies the file completely before touching the database (framing, signature,
   certificate, recipient, body hash). A file that fails goes to quarantine with the
   reason (:mod:`sync.quarantine`); nothing else happens, so a tampered copy never
   poisons the channel and the origin's retransmission heals it.
2. A receipt is matched to the outbox entry it acknowledges and stored next to it,
   durably, before the entry is marked acknowledged.
3. Anything else is taken in ONE transaction: it must be the next on its channel
   (sequence number and previous id); the authorisation callback and the applier run;
   the channel head advances; the change-set is logged; and the signed receipt is
   written. A change-set whose content is refused (``NotAuthorized``, or an
   :class:`InputError` from the applier) takes its place on the channel as ``rejected``,
   with nothing of it applied and a negative receipt, so it never blocks the channel.
   A crash anywhere leaves all of it or none of it.
4. A change-set seen before is a duplicate: its receipt is sent again, byte-identical.
   One that arrives early waits in the incoming folder for its predecessors. A different
   change-set under a sequence number already taken is a replay or a fork: quarantined.
5. Anything else that goes wrong is this node's failure, not a verdict on the file: a
   :class:`LocalFailure` (I/O error, disk full, database unavailable or busy), a driver
   error, a bug. The transaction rolls back, no receipt is signed, the failure is
   counted (:mod:`sync.attempts`) and the file stays for a later round; after a bounded
   number of failed rounds it is parked in quarantine. :func:`receive` never raises for
   a file's sake, so one file never stops a round.

Receipts are change-sets of kind ``receipt`` that take the ``seq`` and ``prev`` of the
change-set they acknowledge (whose id, verdict and channel state digest are in their one
operation, with ``taken_at``: when the recipient took it, by the recipient's own clock,
which the origin keeps as the outbox entry's ``receipt_taken_at``); they are not
sequenced on a channel of their own (a lost receipt is re-sent when the origin
retransmits), and nothing acknowledges them in turn. The spool's folders are described
in :mod:`sync.spool`.

**Stamps never go back.** Everything a node signs (its change-sets' and receipts'
``created``, the ``taken_at`` of its receipts) is stamped by :func:`signing_clock`: its
clock, but never earlier than the latest stamp its database holds (its channels'
``updated_at``, its restores and rejoin requests). Two things rest on it. A peer that
answered a restored node's rejoin request voids what the node signed *before* that
request (:func:`_void`, comparing the node's stamps with its own request's): a node
whose clock ran ahead when it was restored, then was set right, would otherwise sign
change-sets dated before its request, and see them voided. And the journal of a node
is redone interleaved by these stamps (:mod:`nodes.journal`): a step that depends on
another must carry a later stamp, even across a clock set back. Only this node's own
stamps are compared with each other; no node judges another's against its own clock.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from schema.backups import rejoin_peer, restore_log
from schema.channels import changeset_log, channel_head, outbox
from schema.locks import insert_missing, lock_rows
from schema.said import kept
from schema.types import format_utc, parse_utc
from sync import attempts, changeset, reasons
from sync.attempts import Stage
from sync.changeset import Encoded, Header, Verified, WrittenChangeSet
from sync.clock import Clock, NotBefore
from sync.errors import (
    CertificateNotYetBegun,
    HomeError,
    InputError,
    NotAuthorized,
    VerificationError,
    failure_message,
)
from sync.fence import epoch, why_void
from sync.files import copy_atomic
from sync.pki import Signer
from sync.quarantine import quarantine_file
from sync.said import said
from sync.signing import SignatureSuite
from sync.spool import Spool
from sync.trust import SignerInfo, TrustStore

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CEILING",
    "CHANNEL_LABEL",
    "GENESIS_STATE",
    "RECEIPT",
    "Acknowledged",
    "Applier",
    "Authorize",
    "Outcome",
    "Received",
    "Spool",
    "backoff",
    "crashpoint",
    "enqueue",
    "keep_taken",
    "genesis_state",
    "next_state",
    "latest_stamp",
    "receive",
    "signing_clock",
]

RECEIPT = "receipt"
CHANNEL_LABEL = b"fiscalsync-channel-v1"
GENESIS_STATE = hashlib.sha256(CHANNEL_LABEL).hexdigest()
"""The state of an empty channel in an Ed25519 network (:func:`genesis_state`)."""

Applier = Callable[[Connection, Verified], None]
"""Applies a verified change-set's operations inside the channel's transaction.

It reads ``verified.operations()`` to the end (which re-checks the body hash), and
raises :class:`InputError` to refuse the content it read: the change-set is then logged
as rejected, nothing it wrote is kept, and the origin gets a negative receipt. An
:class:`InputError` is a verdict, so it must never stand for this node's own trouble:
a file that cannot be read raises :class:`StorageError`, the database its
:class:`DatabaseError` or driver error, and those (like any other exception) abort the
whole transaction, sign nothing, and leave the file to be taken again in a later round.
"""

Acknowledged = Callable[[Connection, Any, str], None]
"""Runs in the transaction that stores a receipt, once the outbox entry (the row, as it
was) is marked acknowledged with the receipt's verdict (``applied`` or ``rejected``):
what the origin keeps in step with its recipients' verdicts."""

Authorize = Callable[[Header, SignerInfo], None]
"""Raises :class:`NotAuthorized` if the header's origin may not send it to its recipient."""


class Outcome(StrEnum):
    APPLIED = "applied"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    EARLY = "early"
    QUARANTINED = "quarantined"
    RECEIPT = "receipt"
    FAILED = "failed"
    """Not taken this round, for this node's own failure; tried again in a later round."""
    PARKED = "parked"
    """Failed too many rounds: moved to quarantine for the operator."""


@dataclass(frozen=True)
class Received:
    """What :func:`receive` did with one file."""

    outcome: Outcome
    filename: str
    origin: str | None = None
    seq: int | None = None
    reason: str | None = None
    failure: attempts.Failure | None = None
    """For :attr:`Outcome.FAILED` and :attr:`Outcome.PARKED`: the file's failures so far."""
    refusal: str | None = None
    """For :attr:`Outcome.QUARANTINED`: the reason word (``replay``, ``chain``, ``void``…)."""
    first: bool = False
    """For :attr:`Outcome.QUARANTINED`: the first copy of this content quarantined here."""
    copies: int = 0
    """For :attr:`Outcome.QUARANTINED`: the copies of this content quarantined here so far,
    this one included (whose origin is told what, and when: :func:`nodes.rejoin.tell_refused`)."""


def crashpoint(name: str) -> None:
    """Die here, as a power cut would, when ``FISCALSYNC_CRASH_AT`` names this point.

    Used by the crash tests to prove that every step of apply is all-or-nothing.
    """
    if os.environ.get("FISCALSYNC_CRASH_AT") == name:
        os._exit(99)


BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CEILING = timedelta(hours=6)


def backoff(
    attempts: int, base: timedelta = BACKOFF_BASE, ceiling: timedelta = BACKOFF_CEILING
) -> timedelta:
    """Delay before the next retransmission: ``base``, doubling with each attempt, at most
    ``ceiling``; defined for any number of attempts (it stops doubling at the ceiling)."""
    delay = base
    for _ in range(max(attempts - 1, 0)):
        if delay >= ceiling:
            break
        delay *= 2
    return min(delay, ceiling)


def genesis_state(suite: SignatureSuite | None = None) -> str:
    """The state digest of an empty channel: the hash of the network's ``suite`` (SHA-256
    without one, SM3 in an SM2 network) of :data:`CHANNEL_LABEL`."""
    return GENESIS_STATE if suite is None else suite.digest(CHANNEL_LABEL)


def next_state(
    state: str, changeset_id: str, verdict: str, suite: SignatureSuite | None = None
) -> str:
    """A channel's state digest after one more change-set: ``state`` is the one before
    (:func:`genesis_state` for the first), ``verdict`` its verdict (``sent`` at the
    origin), hashed as the network's ``suite`` hashes (SHA-256 without one)."""
    data = f"{state}:{changeset_id}:{verdict}".encode()
    return hashlib.sha256(data).hexdigest() if suite is None else suite.digest(data)


_LATEST_STAMPS = sa.select(
    sa.select(sa.func.max(channel_head.c.updated_at)).scalar_subquery(),
    sa.select(sa.func.max(restore_log.c.restored_at)).scalar_subquery(),
    sa.select(sa.func.max(restore_log.c.rejoined_at)).scalar_subquery(),
    sa.select(sa.func.max(rejoin_peer.c.asked_at)).scalar_subquery(),
)
_HEAD = (
    sa.select(channel_head)
    .where(
        channel_head.c.origin == sa.bindparam("origin"),
        channel_head.c.recipient == sa.bindparam("recipient"),
    )
    .with_for_update()
)
_ADVANCE = (
    channel_head.update()
    .where(
        channel_head.c.origin == sa.bindparam("head_origin"),
        channel_head.c.recipient == sa.bindparam("head_recipient"),
    )
    .values(
        seq=sa.bindparam("new_seq"),
        last_id=sa.bindparam("new_last_id"),
        state=sa.bindparam("new_state"),
        updated_at=sa.bindparam("now"),
    )
)
_REJOINING = sa.select(rejoin_peer.c.peer).limit(1)
_QUEUED = outbox.insert()
_LOGGED = changeset_log.insert()
_ACKNOWLEDGED = (
    outbox.update()
    .where(outbox.c.id == sa.bindparam("entry"))
    .values(
        acked_at=sa.bindparam("at"),
        receipt_id=sa.bindparam("receipt"),
        receipt_file=sa.bindparam("file"),
        receipt_verdict=sa.bindparam("verdict"),
        receipt_reason=sa.bindparam("reason"),
        receipt_reason_said=sa.bindparam("reason_said"),
        receipt_taken_at=sa.bindparam("taken_at"),
    )
)
"""Statements every change-set sent, taken or acknowledged runs, built once."""


def latest_stamp(conn: Connection) -> datetime | None:
    """The latest time this node stamped in its database: a channel of its advanced (by
    a change-set it signed or took), a restore, a rejoin request (None: none yet)."""
    found = conn.execute(_LATEST_STAMPS).one()
    stamps = [s for s in found if s is not None]
    return max(stamps) if stamps else None


def signing_clock(conn: Connection, clock: Clock) -> Clock:
    """``clock`` as this node signs with it in the transaction of ``conn``: never earlier
    than :func:`latest_stamp` (see the module docstring). What another transaction
    stamps meanwhile is not waited for: what depends on it has seen it committed."""
    return NotBefore(clock, latest_stamp(conn))


def _head(
    conn: Connection, origin: str, recipient: str, now: datetime, suite: SignatureSuite
) -> Any:
    """The channel's head row, locked until the transaction ends (created at seq 0 if new).

    Creating it with ``ON CONFLICT DO NOTHING`` first means two transactions taking the
    first change-set of a channel at once queue on one row instead of racing to insert it.
    """
    insert_missing(
        conn,
        channel_head,
        {
            "origin": origin,
            "recipient": recipient,
            "seq": 0,
            "last_id": "",
            "state": genesis_state(suite),
            "updated_at": now,
        },
    )
    return conn.execute(_HEAD, {"origin": origin, "recipient": recipient}).one()


def _advance(
    conn: Connection, origin: str, recipient: str, seq: int, last_id: str, state: str, now: datetime
) -> None:
    conn.execute(
        _ADVANCE,
        {
            "head_origin": origin,
            "head_recipient": recipient,
            "new_seq": seq,
            "new_last_id": last_id,
            "new_state": state,
            "now": now,
        },
    )


def enqueue(
    conn: Connection,
    spool: Spool,
    signer: Signer,
    recipient: str,
    kind: str,
    operations: Iterable[dict[str, Any]] | Encoded,
    clock: Clock,
) -> WrittenChangeSet:
    """Write the next change-set of the channel to ``recipient`` into the outbox
    (``operations`` as :func:`changeset.write_changeset` takes them).

    Runs in the caller's transaction: if it rolls back, the outbox entry and the channel
    head go with it (the file left in ``outbox/`` is then an orphan nobody sends).
    """
    clock = signing_clock(conn, clock)
    now = clock.now()
    if conn.execute(_REJOINING).first() is not None:
        raise HomeError(
            said("rejoining_sends_nothing", code=signer.code),
            hint=said("rejoining_sends_nothing_hint"),
        )
    head = _head(conn, signer.code, recipient, now, signer.suite)
    seq = head.seq + 1
    written = changeset.write_changeset(
        spool.outbox,
        signer,
        recipient,
        kind,
        seq,
        head.last_id,
        operations,
        clock=clock,
        epoch=epoch(conn),
    )
    conn.execute(
        _QUEUED,
        {
            "id": written.id,
            "recipient": recipient,
            "kind": kind,
            "seq": seq,
            "filename": written.path.name,
            "created_at": now,
            "attempts": 0,
            "next_attempt_at": now,
        },
    )
    state = next_state(head.state, written.id, "sent", signer.suite)
    _advance(conn, signer.code, recipient, seq, written.id, state, now)
    return written


def receive(
    engine: Engine,
    spool: Spool,
    path: Path,
    *,
    signer: Signer,
    trust: TrustStore,
    authorize: Authorize,
    applier: Applier,
    clock: Clock,
    on_receipt: Acknowledged | None = None,
) -> Received:
    """Take one change-set file addressed to this node; see the module docstring.

    ``on_receipt`` runs when the file is a receipt for one of this node's change-sets.

    Never raises for the file's sake: a failure of this node's (or a bug) is counted and
    comes back as :attr:`Outcome.FAILED` (the file stays) or, at the bound,
    :attr:`Outcome.PARKED`. Only a failure to record that (the database gone) leaves.
    """

    def take() -> Received:
        try:
            verified = changeset.verify(path, trust, recipient=signer.code, hold=True)
        except CertificateNotYetBegun:  # this node's clock runs slow: the file waits
            header, _seal = changeset.read_header(path)
            return Received(Outcome.EARLY, header.filename, header.origin, header.seq)
        except VerificationError as exc:
            return _quarantine(engine, spool, path, exc.reason, exc.message, clock)
        if verified.header.kind == RECEIPT:
            return _take_receipt(engine, spool, path, verified, authorize, clock, on_receipt)
        try:
            with engine.begin() as conn:
                result = _take(conn, spool, verified, signer, authorize, applier, clock)
        except VerificationError as exc:  # the file changed after it was verified
            return _quarantine(engine, spool, path, exc.reason, exc.message, clock)
        if isinstance(result, _Refusal):
            return _quarantine(engine, spool, path, result.reason, result.detail, clock)
        crashpoint("after-commit")
        if result.outcome is not Outcome.EARLY:
            keep_taken(spool, path)
        return result

    try:
        return take()
    except Exception as exc:  # one file never stops the round: counted, retried, parked
        failure = attempts.count_failure(
            engine, spool, path, Stage.TAKE, failure_message(exc), clock
        )
        outcome = Outcome.PARKED if failure.parked else Outcome.FAILED
        return Received(outcome, path.name, reason=failure.error, failure=failure)


def keep_taken(spool: Spool, path: Path) -> None:
    """Move a change-set just taken (or found taken already) into ``taken/``, where it is
    kept byte for byte; a copy already there is the same file (names are by content)."""
    target = spool.taken / path.name
    if target.exists():
        path.unlink(missing_ok=True)
        return
    spool.taken.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)


def _quarantine(
    engine: Engine, spool: Spool, path: Path, reason: str, detail: str, clock: Clock
) -> Received:
    done = quarantine_file(engine, spool, path, reason, detail, clock)
    return Received(
        Outcome.QUARANTINED,
        path.name,
        done.origin,
        None,
        detail,
        refusal=reason,
        first=done.new,
        copies=done.count,
    )


@dataclass(frozen=True)
class _Refusal:
    reason: str
    detail: str


def _take(
    conn: Connection,
    spool: Spool,
    verified: Verified,
    signer: Signer,
    authorize: Authorize,
    applier: Applier,
    clock: Clock,
) -> Received | _Refusal:
    header = verified.header
    name = header.filename
    clock = signing_clock(conn, clock)
    head = _head(conn, header.origin, signer.code, clock.now(), signer.suite)
    # Before its place in the channel: what a restored node's lost state signed is void
    # wherever it arrives, before, at or after the restored node's own change-set under its
    # number, never a replay or a fork to restore it for again, nor an early one to wait for.
    void = why_void(conn, header, header.seq, "out_seq", verified.id)
    if void is not None:
        return _Refusal("void", void)
    expected = head.seq + 1
    if header.seq > expected:
        return Received(Outcome.EARLY, name, header.origin, header.seq)
    if header.seq < expected:
        logged = conn.execute(
            sa.select(changeset_log.c.id).where(
                changeset_log.c.origin == header.origin,
                changeset_log.c.recipient == signer.code,
                changeset_log.c.seq == header.seq,
            )
        ).scalar_one_or_none()
        if logged != verified.id:
            return _Refusal(
                "replay",
                said("cs_replay", name=name, seq=header.seq, taken=(logged or "?")[:12]),
            )
        conn.execute(
            changeset_log.update().where(changeset_log.c.id == logged).values(receipt_sent_at=None)
        )
        return Received(Outcome.DUPLICATE, name, header.origin, header.seq)
    previous = head.last_id
    if header.prev != previous:
        return _Refusal(
            "chain",
            said(
                "cs_fork",
                name=name,
                seq=header.seq,
                prev=header.prev[:12] or "(none)",
                took=previous[:12] or "(none)",
            ),
        )
    verdict, reason = _apply(conn, verified, authorize, applier)
    crashpoint("before-commit")
    state = next_state(head.state, verified.id, verdict, signer.suite)
    now = clock.now()
    receipt = changeset.write_changeset(
        spool.receipts,
        signer,
        header.origin,
        RECEIPT,
        header.seq,
        header.prev,
        [
            {
                "changeset": verified.id,
                "origin": header.origin,
                "recipient": signer.code,
                "kind": header.kind,
                "seq": header.seq,
                "verdict": verdict,
                **reasons.in_receipt(reason),  # English, and by key when said so
                "state": state,
                "taken_at": format_utc(now),
            }
        ],
        clock=clock,
        epoch=epoch(conn),
    )
    _log(conn, verified, signer.code, verdict, reason, receipt.id, receipt.path.name, now)
    _advance(conn, header.origin, signer.code, header.seq, verified.id, state, now)
    outcome = Outcome.APPLIED if verdict == "applied" else Outcome.REJECTED
    return Received(outcome, name, header.origin, header.seq, reason)


def _log(
    conn: Connection,
    verified: Verified,
    me: str,
    verdict: str,
    reason: str | None,
    receipt_id: str,
    receipt_file: str,
    applied_at: datetime,
    *,
    sent_at: datetime | None = None,
    by_key: str | None = None,
) -> None:
    """Log a change-set taken here, with its verdict and signed receipt; a refusal's reason
    in English and by key beside it (``by_key``: as a receipt signed here before says)."""
    header = verified.header
    conn.execute(
        _LOGGED,
        {
            "id": verified.id,
            "origin": header.origin,
            "recipient": me,
            "kind": header.kind,
            "seq": header.seq,
            "prev": header.prev,
            "op_count": header.count,
            "created": header.created,
            "applied_at": applied_at,
            "verdict": verdict,
            "reason": None if reason is None else str(reason),
            "reason_said": by_key or kept(reason),
            "receipt_id": receipt_id,
            "receipt_file": receipt_file,
            "receipt_sent_at": sent_at,
        },
    )


def _apply(
    conn: Connection, verified: Verified, authorize: Authorize, applier: Applier
) -> tuple[str, str | None]:
    savepoint = conn.begin_nested()
    try:
        authorize(verified.header, verified.signer)
        applier(conn, verified)
    except (NotAuthorized, InputError) as exc:
        savepoint.rollback()
        return "rejected", exc.message  # said by key; a receipt keeps its English text
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return "applied", None


def _take_receipt(
    engine: Engine,
    spool: Spool,
    path: Path,
    verified: Verified,
    authorize: Authorize,
    clock: Clock,
    on_receipt: Acknowledged | None = None,
) -> Received:
    header = verified.header
    try:
        authorize(header, verified.signer)
        operations = list(verified.operations())
    except VerificationError as exc:
        return _quarantine(engine, spool, path, exc.reason, exc.message, clock)
    body = operations[0] if len(operations) == 1 else {}
    acknowledged = body.get("changeset")
    try:
        taken_at = _receipt_time(body.get("taken_at"))
    except ValueError:
        acknowledged = None  # a receipt with a bad time is not a well-formed receipt
    well_formed = isinstance(acknowledged, str) and body.get("verdict") in reasons.VERDICTS
    if not well_formed or body.get("recipient") != header.origin:
        return _quarantine(
            engine, spool, path, "receipt", f"{path.name}: not a well-formed receipt", clock
        )
    with engine.begin() as conn:
        void = why_void(conn, header, header.seq, "in_seq")
        found = lock_rows(conn, outbox.c.id, [acknowledged])
        entry = found[0] if found else None
        known = entry is not None and entry.recipient == header.origin and entry.seq == header.seq
        if void is not None:
            known, entry = False, None
        if entry is not None and known and entry.acked_at is None:
            # The receipt is on disk for good before the entry says it is acknowledged.
            kept = spool.outbox / path.name
            copy_atomic(path, kept)
            crashpoint("receipt-stored")
            conn.execute(
                _ACKNOWLEDGED,
                {
                    "entry": entry.id,
                    "at": clock.now(),
                    "receipt": verified.id,
                    "file": kept.name,
                    "verdict": str(body.get("verdict")),
                    "reason": reasons.english(body),
                    "reason_said": reasons.kept_from(body),
                    "taken_at": taken_at,
                },
            )
            if on_receipt is not None:
                on_receipt(conn, entry, str(body.get("verdict")))
    if not known:
        return _quarantine(
            engine,
            spool,
            path,
            "void" if void else "receipt",
            void or f"{path.name}: receipt from {header.origin} for a change-set it was not sent",
            clock,
        )
    crashpoint("receipt-committed")
    path.unlink(missing_ok=True)
    return Received(Outcome.RECEIPT, path.name, header.origin, header.seq, reasons.english(body))


def _receipt_time(value: object) -> datetime | None:
    """The receipt's ``taken_at``: when the recipient took the change-set, by its own
    clock (None if the receipt has none); ValueError if it is not a UTC time."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"taken_at {value!r} is not a time")
    return parse_utc(value)
