"""What ``fiscalsync check --repair`` deletes: only what is still safe, confirmed against
the database again at the moment of deleting."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from schema.channels import (
    changeset_log,
    outbox,
    quarantine,
)
from schema.engine import reading
from sync import changeset
from sync.clock import Clock

if TYPE_CHECKING:
    pass
from nodes.check.findings import Finding, Kind
from nodes.check.inspection import is_stale, names_referenced


def repaired(engine: Engine, findings: list[Finding], clock: Clock) -> list[Finding]:
    """Delete the removable files of ``findings`` that are still safe to delete (checked
    again against the database); return the findings, those repaired marked so."""
    now = clock.now()
    result = []
    with reading(engine) as conn:
        for finding in findings:
            path = finding.removable
            if path is not None and _still_safe(conn, finding.kind, path, now):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                finding = dataclasses.replace(finding, repaired=True)
            result.append(finding)
    return result


def _still_safe(conn: Connection, kind: Kind, path: Path, now: datetime) -> bool:
    if kind is Kind.TEMPORARY:
        return is_stale(path, now)
    if kind is Kind.ORPHAN:
        return is_stale(path, now) and not names_referenced(conn, [path.name])
    if kind is Kind.QUARANTINE_STRAY:
        dropped = conn.execute(
            sa.select(quarantine.c.id).where(
                quarantine.c.filename == path.name, quarantine.c.dropped_at.is_not(None)
            )
        ).first()
        return dropped is not None
    if kind is Kind.TAKEN:
        ident = changeset.parse_filename(path.name).id
        if conn.execute(sa.select(changeset_log.c.id).where(changeset_log.c.id == ident)).first():
            return True  # logged: applied or rejected here, its receipt kept
        kept = conn.execute(
            sa.select(outbox.c.receipt_file).where(
                outbox.c.receipt_id == ident, outbox.c.acked_at.is_not(None)
            )
        ).scalar_one_or_none()
        return kept is not None and (path.parent.parent / "outbox" / kept).is_file()
    return False
