"""Files that failed inside a sync round: counted, retried, and parked after a bound.

One file that raises anything while it is taken, relayed, sent or fetched never stops a
round. Its failure is recorded here, by stage and file name, in the node database (so a
restarted agent goes on counting); the file stays where it is and later rounds try it
again. After :data:`MAX_ATTEMPTS` failed rounds, or at once for a damaged copy of this
node's own, the file is *parked*: what that means belongs to the stage (a file taken
or relayed here goes to quarantine; an own copy is no longer sent; a file in a remote
mailbox is no longer fetched), and a parked file is an alert in ``status`` until it is
taken, repaired or gone. A success forgets the file's failures.

Stages::

    take      a file in incoming/ addressed to this node
    relay     a file for another node, on its way through this one
    send      this node's copy of a change-set in its outbox
    receipt   a receipt this node signed, kept to be sent again
    fetch     a file in a mailbox this node collects from (its children's, its parent's)
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from schema.channels import file_attempt
from schema.engine import reading
from schema.locks import insert_missing
from schema.said import kept
from sync.clock import Clock
from sync.quarantine import quarantine_file
from sync.said import said, unlabelled
from sync.spool import Spool

__all__ = [
    "MAX_ATTEMPTS",
    "Failure",
    "Stage",
    "count_failure",
    "failed",
    "failures",
    "forget",
    "forget_absent",
]

MAX_ATTEMPTS = 5
"""Failed rounds after which a file is parked."""


class Stage(StrEnum):
    TAKE = "take"
    RELAY = "relay"
    SEND = "send"
    RECEIPT = "receipt"
    FETCH = "fetch"

    @property
    def family(self) -> str:
        """Named in a message, a stage is labelled (``stage.take``) where it is shown."""
        return "stage"


@dataclass(frozen=True)
class Failure:
    """A file's failures so far: the last ``error`` in English and, when it was said by
    key, by key beside it (``error_said``, the JSON of :func:`schema.said.kept`)."""

    stage: Stage
    name: str
    attempts: int
    error: str
    first_failed_at: datetime
    last_failed_at: datetime
    parked_at: datetime | None
    error_said: str | None = None

    @property
    def parked(self) -> bool:
        return self.parked_at is not None

    @property
    def damaged(self) -> bool:
        """A copy of this node's own (outbox, signed receipt) that cannot be sent."""
        return self.parked and self.stage in (Stage.SEND, Stage.RECEIPT)

    @classmethod
    def of(cls, row: Any) -> Failure:
        return cls(
            Stage(row.stage),
            row.name,
            row.attempts,
            row.error,
            row.first_failed_at,
            row.last_failed_at,
            row.parked_at,
            row.error_said,
        )


def _where(stage: Stage, name: str) -> sa.ColumnElement[bool]:
    return (file_attempt.c.stage == stage.value) & (file_attempt.c.name == name)


def failed(
    engine: Engine, stage: Stage, name: str, error: str, clock: Clock, *, park: bool = False
) -> Failure:
    """Count one more failed attempt at ``name``; parked at :data:`MAX_ATTEMPTS`, or now
    with ``park``. The row is created if missing and locked while it is counted, so two
    processes counting at once never lose a count."""
    now = clock.now()
    with engine.begin() as conn:
        insert_missing(
            conn,
            file_attempt,
            {
                "stage": stage.value,
                "name": name,
                "attempts": 0,
                "first_failed_at": now,
                "last_failed_at": now,
                "error": str(error),  # the English text, said by key or not
                "error_said": kept(error),
            },
        )
        row = conn.execute(
            sa.select(file_attempt).where(_where(stage, name)).with_for_update()
        ).one()
        attempts = row.attempts + 1
        parked_at = row.parked_at
        if parked_at is None and (park or attempts >= MAX_ATTEMPTS):
            parked_at = now
        conn.execute(
            file_attempt.update()
            .where(_where(stage, name))
            .values(
                attempts=attempts,
                last_failed_at=now,
                error=str(error),
                error_said=kept(error),
                parked_at=parked_at,
            )
        )
    return Failure(stage, name, attempts, error, row.first_failed_at, now, parked_at, kept(error))


def count_failure(
    engine: Engine, spool: Spool, path: Path, stage: Stage, error: str, clock: Clock
) -> Failure:
    """Count a failed round of a file in this node's spool (being taken or relayed); at
    the bound it is parked: moved to quarantine (reason ``parked``, with the last error)
    and its failures forgotten, the quarantine entry keeping them."""
    failure = failed(engine, stage, path.name, error, clock)
    if failure.parked:
        why = unlabelled(error, path.name)
        detail = said("parked_after", attempts=failure.attempts, stage=stage, why=why)
        quarantine_file(engine, spool, path, "parked", detail, clock)
        with engine.begin() as conn:
            forget(conn, stage, path.name)
    return failure


def forget(conn: Connection, stage: Stage, name: str) -> None:
    """Forget ``name``'s failures (it succeeded), in the caller's transaction."""
    conn.execute(file_attempt.delete().where(_where(stage, name)))


def forget_absent(engine: Engine, stage: Stage, present: Collection[str]) -> None:
    """Forget the failures of files of ``stage`` that are no longer there."""
    gone = [f.name for f in failures(engine, stage) if f.name not in present]
    if not gone:
        return
    with engine.begin() as conn:
        conn.execute(
            file_attempt.delete().where(
                file_attempt.c.stage == stage.value, file_attempt.c.name.in_(gone)
            )
        )


_FAILING = sa.select(file_attempt).order_by(file_attempt.c.first_failed_at, file_attempt.c.name)
_FAILING_AT = _FAILING.where(file_attempt.c.stage == sa.bindparam("stage"))


def failures(engine: Engine, stage: Stage | None = None) -> list[Failure]:
    """Files failing now (of one stage, or all), oldest failure first."""
    with reading(engine) as conn:
        if stage is None:
            return [Failure.of(row) for row in conn.execute(_FAILING)]
        return [Failure.of(row) for row in conn.execute(_FAILING_AT, {"stage": stage.value})]
