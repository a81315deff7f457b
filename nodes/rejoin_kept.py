"""The *kept* message of a rejoined node (:mod:`nodes.rejoin`).

A node may take back some of its own change-sets from another node than their recipient
(its keeper's journal, when it and that recipient were restored at once and the
recipient had answered from its own restored state). That recipient fenced them when it
answered. Once rejoined, the node therefore tells each such recipient which (a
``rejoin`` *kept* message, written by :func:`write_kept` in the rejoin's transaction and
sent again while :func:`owed`), and the recipient lets exactly those through its fence
(:func:`keep`, :data:`schema.backups.rejoin_kept`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from nodes.labels import Said, said
from nodes.rejoin_request import KIND
from schema.backups import rejoin_fence, rejoin_kept
from schema.channels import outbox
from schema.locks import insert_missing
from sync import changeset
from sync.changeset import Verified
from sync.errors import InputError
from sync.fence import epoch as current_epoch

if TYPE_CHECKING:
    from nodes.exchange import Exchange

__all__ = ["KEPT", "KEPT_MOST", "keep", "owed", "write_kept"]

KEPT = "rejoin-kept"
"""The folder of ``spool/`` with the *kept* messages, sent until what they name is acknowledged."""
KEPT_MOST = 100_000
"""The most change-set ids a *kept* message may name: one naming more is refused."""
_DIGEST = re.compile(r"[0-9a-f]{64}")


def write_kept(
    exchange: Exchange, conn: Any, asked: dict[str, str], taken_back: list[Verified]
) -> None:
    """Write, for each peer, a *kept* message naming its own change-sets to that peer that
    this node took back and that are still unacknowledged (in the rejoin's transaction: a
    message written before a rollback names only what the retried rejoin takes back again)."""
    unacked = {
        row.id
        for row in conn.execute(
            sa.select(outbox.c.id).where(
                outbox.c.id.in_([v.id for v in taken_back]), outbox.c.acked_at.is_(None)
            )
        )
    }
    epoch = current_epoch(conn)
    folder = exchange.spool.root / KEPT
    shutil.rmtree(folder, ignore_errors=True)  # of an attempt that rolled back, or before
    for peer, request_id in sorted(asked.items()):
        ids = [v.id for v in taken_back if v.header.recipient == peer and v.id in unacked]
        if not ids:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        for start in range(0, len(ids), KEPT_MOST):  # each within what a peer takes
            body = {
                "rejoin": "kept",
                "request": request_id,
                "epoch": epoch,
                "kept": ids[start : start + KEPT_MOST],
            }
            written = changeset.write_changeset(
                folder, exchange.signer, peer, KIND, 1, "", [body], exchange.clock
            )
            os.utime(written.path, (0, 0))  # never sent yet: sent at the next round


def owed(conn: Any, path: Path) -> bool:
    """True while a *kept* message names a change-set still unacknowledged here (it is
    sent again until its recipient has let them all through and acknowledged them)."""
    with contextlib.closing(changeset.iter_operations(path)) as operations:
        first = next(operations, {})
    ids = [i for i in first.get("kept") or [] if isinstance(i, str)]
    if not ids:
        return False
    return (
        conn.execute(
            sa.select(outbox.c.id).where(outbox.c.id.in_(ids), outbox.c.acked_at.is_(None))
        ).first()
        is not None
    )


def keep(exchange: Exchange, verified: Verified, body: dict[str, Any]) -> Said:
    """At a peer: let through its fence the change-sets a restored node took back."""
    origin = verified.header.origin
    ids = body.get("kept")
    if (
        not isinstance(ids, list)
        or len(ids) > KEPT_MOST
        or not all(isinstance(i, str) and _DIGEST.fullmatch(i) for i in ids)
    ):
        raise InputError(said("rejoin_kept_bad", file=verified.header.filename))
    with exchange.node.engine.begin() as conn:
        fence = conn.execute(
            sa.select(rejoin_fence.c.request_id, rejoin_fence.c.epoch)
            .where(rejoin_fence.c.node == origin)
            .with_for_update()
        ).first()
        # The fence of the request it names, or of the same restore asking again since
        # (it held another epoch's fence for a while: nodes.rejoin_request.ask_for_fence).
        if fence is None or (
            fence.request_id != body.get("request")
            and (fence.epoch is None or fence.epoch != body.get("epoch"))
        ):
            return said("rejoin_kept_old", origin=origin)
        added = sum(
            insert_missing(conn, rejoin_kept, {"node": origin, "changeset_id": i}) for i in ids
        )
    return said("rejoin_kept", origin=origin, count=len(ids), added=added)
