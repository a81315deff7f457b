"""What a node sends of its rejoining (:mod:`nodes.rejoin`) in each round: its requests
until they are answered, its answers and notices once, and its *kept* messages again
every while until what they name is acknowledged."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes import rejoin_kept, rejoin_request
from nodes.labels import said
from nodes.summary import RoundSummary
from schema.backups import rejoin_peer
from schema.engine import reading
from sync import changeset
from sync.errors import failure_message
from sync.transports.base import is_temporary

if TYPE_CHECKING:
    from nodes.exchange import Exchange

__all__ = ["REQUEST_RESEND", "send_kept", "send_messages"]

REQUEST_RESEND = 300
"""Seconds before a request not yet answered, or a kept message, is sent again."""


def send_messages(exchange: Exchange, summary: RoundSummary) -> None:
    """Send the ``rejoin`` change-sets this node signed: requests until answered,
    answers and notices once."""
    folder = exchange.spool.root / rejoin_request.MESSAGES
    if not folder.is_dir():
        return
    now = exchange.clock.now()
    with reading(exchange.engine) as conn:
        asking = {
            row.request_id: row
            for row in conn.execute(
                sa.select(rejoin_peer).where(rejoin_peer.c.answered_at.is_(None))
            )
        }
    for path in sorted(folder.iterdir()):
        if not path.is_file() or is_temporary(path.name) or path.name.startswith("."):
            continue
        try:
            name = changeset.parse_filename(path.name)
            asked = asking.get(name.id)
            if asked is not None and asked.sent_at is not None:
                if (now - asked.sent_at).total_seconds() < REQUEST_RESEND:
                    continue  # a request is sent again only after a while
            if not exchange.send(exchange.routes.next_hop(name.recipient), path):
                continue
            summary.messages += 1
            if asked is None:
                path.unlink()
                continue
            with exchange.engine.begin() as conn:
                conn.execute(
                    rejoin_peer.update().where(rejoin_peer.c.peer == asked.peer).values(sent_at=now)
                )
        except Exception as exc:  # one file never stops the round
            summary.problems.append(
                said("message_unsent", name=path.name, error=failure_message(exc))
            )


def send_kept(exchange: Exchange, summary: RoundSummary) -> None:
    """Send each *kept* message of this node's last rejoin (:func:`rejoin_kept.owed`) again
    every while until what it names is acknowledged; then drop it. Send each request for a
    peer's fence (:func:`rejoin_request.ask_for_fence`) again every while until answered."""
    _send_again(exchange, summary, exchange.spool.root / rejoin_kept.KEPT, rejoin_kept.owed)
    _send_again(
        exchange, summary, exchange.spool.root / rejoin_request.FENCE_REQUESTS, lambda c, p: True
    )


def _send_again(
    exchange: Exchange,
    summary: RoundSummary,
    folder: Path,
    owed: Callable[[Connection, Path], bool],
) -> None:
    """Send every file of ``folder`` again every while as long as it is ``owed``; then drop it."""
    if not folder.is_dir():
        return
    now = exchange.clock.now().timestamp()
    for path in sorted(folder.iterdir()):
        if not path.is_file() or is_temporary(path.name) or path.name.startswith("."):
            continue
        try:
            with reading(exchange.engine) as conn:
                still = owed(conn, path)
            if not still:
                path.unlink()
                continue
            if 0 <= now - path.stat().st_mtime < REQUEST_RESEND:
                continue  # sent a while ago (a clock set back does not hold it for long)
            name = changeset.parse_filename(path.name)
            if exchange.send(exchange.routes.next_hop(name.recipient), path):
                summary.messages += 1
                os.utime(path, (now, now))
        except Exception as exc:  # one file never stops the round
            summary.problems.append(
                said("message_unsent", name=path.name, error=failure_message(exc))
            )
