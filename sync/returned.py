"""After a restore: taking back what the node's peers give back.

A node restored from a backup that predates some of its channel traffic rejoins
(:mod:`nodes.rejoin`): its recipients return the change-sets it sent after the backup,
which it takes back byte for byte (:func:`adopt_own`) with their receipts
(:func:`store_receipt`), and its origins re-send what it had taken, which it takes again
under the receipt it signed then (:func:`take_again`). The channel rules are those of
:mod:`sync.channel`; this module only continues a channel from where the peers say it was.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schema.channels import outbox
from sync import reasons
from sync.changeset import Verified
from sync.channel import (
    RECEIPT,
    Applier,
    Authorize,
    _advance,
    _apply,
    _head,
    _log,
    _receipt_time,
    _Refusal,
    _take,
    backoff,
    next_state,
    signing_clock,
)
from sync.clock import Clock
from sync.errors import InputError
from sync.files import copy_atomic
from sync.pki import Signer
from sync.said import said
from sync.signing import get_suite
from sync.spool import Spool

__all__ = ["adopt_own", "store_receipt", "take_again"]


def adopt_own(conn: Connection, spool: Spool, verified: Verified, now: datetime) -> Any:
    """Take back one of this node's own change-sets, returned by its recipient after this
    node was restored from a backup that predates it: the same file (byte for byte) goes
    back into the outbox, as sent, and the channel head moves past it, so the node goes
    on after it instead of forking. Returns the outbox row (not acknowledged yet: see
    :func:`store_receipt`). :class:`InputError` if it does not follow the channel."""
    header = verified.header
    suite = get_suite(header.suite)
    head = _head(conn, header.origin, header.recipient, now, suite)
    if header.seq != head.seq + 1 or header.prev != head.last_id:
        raise InputError(
            said(
                "returned_not_following",
                name=header.filename,
                seq=header.seq,
                recipient=header.recipient,
                head=head.seq,
            )
        )
    assert verified.path is not None
    copy_atomic(verified.path, spool.outbox / header.filename)
    conn.execute(
        outbox.insert().values(
            id=verified.id,
            recipient=header.recipient,
            kind=header.kind,
            seq=header.seq,
            filename=header.filename,
            created_at=header.created,
            attempts=1,
            next_attempt_at=now + backoff(1),
            sent_at=header.created,
        )
    )
    state = next_state(head.state, verified.id, "sent", suite)
    _advance(conn, header.origin, header.recipient, header.seq, verified.id, state, now)
    return conn.execute(sa.select(outbox).where(outbox.c.id == verified.id)).one()


def store_receipt(
    conn: Connection, spool: Spool, entry: Any, receipt: Verified, now: datetime
) -> str:
    """Mark outbox ``entry`` acknowledged by ``receipt`` (kept beside it); return its
    verdict. :class:`InputError` if the receipt is not the recipient's for it."""
    body = next(iter(receipt.operations()), {})
    if (
        receipt.header.kind != RECEIPT
        or receipt.header.origin != entry.recipient
        or body.get("changeset") != entry.id
    ):
        raise InputError(
            said(
                "returned_receipt_other",
                name=receipt.header.filename,
                recipient=entry.recipient,
                seq=entry.seq,
            )
        )
    assert receipt.path is not None
    copy_atomic(receipt.path, spool.outbox / receipt.header.filename)
    verdict = str(body.get("verdict"))
    conn.execute(
        outbox.update()
        .where(outbox.c.id == entry.id)
        .values(
            acked_at=now,
            receipt_id=receipt.id,
            receipt_file=receipt.header.filename,
            receipt_verdict=verdict,
            receipt_reason=reasons.english(body),
            receipt_reason_said=reasons.kept_from(body),
            receipt_taken_at=_receipt_time(body.get("taken_at")),
        )
    )
    return verdict


def take_again(
    conn: Connection,
    spool: Spool,
    verified: Verified,
    receipt: Verified | None,
    *,
    signer: Signer,
    authorize: Authorize,
    applier: Applier,
    clock: Clock,
) -> str:
    """Take again a change-set this node had taken before it was restored, re-sent by its
    origin. With the receipt this node signed then (``receipt``), its verdict stands: a
    change-set refused then is refused again, one applied then must apply now (else
    :class:`InputError`), the channel state must come out as that receipt says, and the
    very same receipt is kept. Without one it is taken as new. Returns the verdict."""
    header = verified.header
    clock = signing_clock(conn, clock)
    now = clock.now()
    head = _head(conn, header.origin, signer.code, now, signer.suite)
    if header.seq <= head.seq:
        return "duplicate"
    if receipt is None:
        result = _take(conn, spool, verified, signer, authorize, applier, clock)
        if isinstance(result, _Refusal):
            raise InputError(result.detail)
        assert verified.path is not None
        _keep_copy(spool, verified.path)
        return str(result.outcome)
    if header.seq != head.seq + 1 or header.prev != head.last_id:
        raise InputError(said("resent_out_of_order", name=header.filename))
    body = next(iter(receipt.operations()), {})
    if receipt.header.origin != signer.code or body.get("changeset") != verified.id:
        raise InputError(
            said("resent_receipt_other", receipt=receipt.header.filename, name=header.filename)
        )
    before = str(body.get("verdict"))
    reason = body.get("reason")
    if before == "rejected":
        verdict = "rejected"
    else:
        verdict, reason = _apply(conn, verified, authorize, applier)
        if verdict != before:
            raise InputError(
                said(
                    "resent_verdict_changed",
                    name=header.filename,
                    before=before,
                    verdict=verdict,
                    reason=reason,
                )
            )
    state = next_state(head.state, verified.id, verdict, signer.suite)
    if body.get("state") != state:
        raise InputError(said("resent_channel_differs", name=header.filename, origin=header.origin))
    assert receipt.path is not None and verified.path is not None
    copy_atomic(receipt.path, spool.receipts / receipt.header.filename)
    taken_at = _receipt_time(body.get("taken_at")) or now
    _log(
        conn,
        verified,
        signer.code,
        verdict,
        reason,
        receipt.id,
        receipt.header.filename,
        taken_at,
        sent_at=now,
        by_key=reasons.kept_from(body) if before == "rejected" else None,
    )
    _advance(conn, header.origin, signer.code, header.seq, verified.id, state, now)
    _keep_copy(spool, verified.path)
    return verdict


def _keep_copy(spool: Spool, path: Path) -> None:
    target = spool.taken / path.name
    if not target.exists():
        copy_atomic(path, target)
