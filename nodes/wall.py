"""The data wall (金财数据墙): what one node's own database knows of every node of its
province, one row per node, for ``fiscalsync serve`` and its JSON API.

The runtime's figures come from the sync tables: when this node last heard from each
node (a change-set taken, a receipt back, a file relayed), the channel lag towards it
(change-sets sent and not yet acknowledged, the oldest one's age), the refused and
parked files that came from it, and the freshness of its backups (kept here when this
node is its keeper; this node's own from its outbox), and certificate expiry: the
serving node's own, and at a province whose ``node.toml`` names its CA folder
(``[revocation] ca``), every node's latest unrevoked certificate the CA issued. Capabilities add theirs through
:data:`nodes.capabilities.WALL_FIGURES` (per node: the amount in the lag, report
submission, reconciliation) and :data:`nodes.capabilities.WALL_TOTALS` (money totals).

A node is ``behind`` when a change-set to it has waited for its receipt longer than
:data:`BEHIND_AFTER_INTERVALS` sync intervals; ``in flight`` when something waits, but
not that long; otherwise ``ok``. Every figure is read in one read-only transaction per
source, grouped by node: the cost grows with the number of nodes, not of change-sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from nodes import keys
from nodes.capabilities import WALL_FIGURES, WALL_TOTALS
from schema.backups import backup_catalogue
from schema.channels import changeset_log, outbox, quarantine, relay_log
from schema.engine import reading
from schema.errors import FiscalsyncError
from schema.types import format_utc
from sync import pki
from sync.certificates import subject_code
from sync.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = ["BEHIND_AFTER_INTERVALS", "Wall", "wall"]

BEHIND_AFTER_INTERVALS = 3
"""A change-set unacknowledged this many sync intervals after it was written is late."""

BACKUP_KIND = "backup"


@dataclass(frozen=True)
class Wall:
    """The data wall of one node: who serves it, when, every node's row, the totals."""

    served_by: str
    topology: str
    at: datetime
    nodes: list[dict[str, Any]]
    totals: dict[str, Any]

    def node(self, code: str) -> dict[str, Any] | None:
        return next((row for row in self.nodes if row["code"] == code), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "served_by": self.served_by,
            "topology": self.topology,
            "at": format_utc(self.at),
            "nodes": self.nodes,
            "totals": self.totals,
        }


def _iso(moment: datetime | None) -> str | None:
    return format_utc(moment) if moment is not None else None


def _latest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None


_ISSUED: dict[tuple[Path, int, frozenset[int]], dict[str, datetime]] = {}


def _issued_expiry(ca_dir: Path, revoked: frozenset[int]) -> dict[str, datetime]:
    """The latest expiry of each node's unrevoked certificates in the province's CA record
    (read again only when the record or the revocation list changes)."""
    try:
        stamp = (ca_dir / pki.ISSUED_DIR).stat().st_mtime_ns
    except OSError:
        return {}
    key = (ca_dir, stamp, revoked)
    if key not in _ISSUED:
        found: dict[str, datetime] = {}
        try:
            certificates = pki.issued_in(ca_dir)
        except FiscalsyncError:
            return {}
        for cert in certificates:
            if cert.serial_number in revoked:
                continue
            code = subject_code(cert)
            ends = cert.not_valid_after_utc
            if code not in found or ends > found[code]:
                found[code] = ends
        _ISSUED.clear()
        _ISSUED[key] = found
    return _ISSUED[key]


def wall(node: Node, clock: Clock = SYSTEM_CLOCK) -> Wall:
    """Every node's row as this node's database knows it, at ``clock``'s now."""
    now = clock.now()
    me = node.spec.code
    topology = node.topology
    with reading(node.engine) as conn:
        taken = dict(
            conn.execute(
                sa.select(changeset_log.c.origin, sa.func.max(changeset_log.c.applied_at))
                .where(changeset_log.c.recipient == me)
                .group_by(changeset_log.c.origin)
            ).all()
        )
        acked = dict(
            conn.execute(
                sa.select(outbox.c.recipient, sa.func.max(outbox.c.acked_at)).group_by(
                    outbox.c.recipient
                )
            ).all()
        )
        relayed = dict(
            conn.execute(
                sa.select(relay_log.c.origin, sa.func.max(relay_log.c.last_at)).group_by(
                    relay_log.c.origin
                )
            ).all()
        )
        lag = {
            row.recipient: row
            for row in conn.execute(
                sa.select(
                    outbox.c.recipient,
                    sa.func.count().label("count"),
                    sa.func.min(outbox.c.created_at).label("oldest"),
                )
                .where(outbox.c.acked_at.is_(None))
                .group_by(outbox.c.recipient)
            )
        }
        open_entries = (
            sa.select(
                quarantine.c.origin,
                sa.func.count().label("count"),
                sa.func.count(sa.case((quarantine.c.reason == "parked", 1))).label("parked"),
            )
            .where(quarantine.c.released_at.is_(None), quarantine.c.dropped_at.is_(None))
            .group_by(quarantine.c.origin)
        )
        held = {row.origin: row for row in conn.execute(open_entries)}
        kept = dict(
            conn.execute(
                sa.select(backup_catalogue.c.node, sa.func.max(backup_catalogue.c.taken_at))
                .where(backup_catalogue.c.pruned_at.is_(None))
                .group_by(backup_catalogue.c.node)
            ).all()
        )
        own_backup = conn.execute(
            sa.select(sa.func.max(outbox.c.created_at)).where(
                outbox.c.kind == BACKUP_KIND,
                sa.or_(outbox.c.receipt_verdict.is_(None), outbox.c.receipt_verdict == "applied"),
            )
        ).scalar()
    if own_backup is not None:
        kept[me] = own_backup
    trust = keys.trust_status(node, clock)
    expiry = {}
    if trust.certificate is not None:
        expiry[me] = trust.certificate.not_valid_after
    if node.settings.revocation_ca is not None:
        revoked = trust.crl.serials if trust.crl is not None else frozenset()
        expiry = {**_issued_expiry(node.settings.revocation_ca, revoked), **expiry}
    late = timedelta(seconds=BEHIND_AFTER_INTERVALS * node.settings.sync_interval_seconds)
    max_backup_age = timedelta(hours=node.settings.backup_max_age_hours)
    extra: dict[str, dict[str, Any]] = {}
    for figures in WALL_FIGURES:
        for code, values in figures(node, now).items():
            extra.setdefault(code, {}).update(values)
    rows = []
    for spec in topology:
        waiting = lag.get(spec.code)
        oldest = waiting.oldest if waiting is not None else None
        if waiting is None:
            state = "ok"
        elif now - oldest > late:
            state = "behind"
        else:
            state = "in flight"
        entries = held.get(spec.code)
        if spec.code == me:
            entries_count = sum(r.count for r in held.values())
            parked_count = sum(r.parked for r in held.values())
        else:
            entries_count = entries.count if entries is not None else 0
            parked_count = entries.parked if entries is not None else 0
        backup = kept.get(spec.code)
        parent = topology.nodes[spec.parent] if spec.parent else None
        row: dict[str, Any] = {
            "code": spec.code,
            "name": spec.name,
            "role": spec.role,
            "parent": spec.parent,
            "province_managed": spec.role == "county"
            and parent is not None
            and parent.role == "province",
            "self": spec.code == me,
            "state": state,
            "last_contact": _iso(
                None
                if spec.code == me
                else _latest(taken.get(spec.code), acked.get(spec.code), relayed.get(spec.code))
            ),
            "lag": {
                "changesets": waiting.count if waiting is not None else 0,
                "oldest": _iso(oldest),
                "oldest_age_seconds": int((now - oldest).total_seconds())
                if oldest is not None
                else None,
            },
            "quarantine": entries_count,
            "parked": parked_count,
            "backup": {
                "latest": _iso(backup),
                "fresh": None if backup is None else now - backup <= max_backup_age,
            },
            "certificate": {"not_valid_after": _iso(expiry[spec.code])}
            if spec.code in expiry
            else None,
        }
        for key, value in extra.get(spec.code, {}).items():
            if isinstance(value, dict) and isinstance(row.get(key), dict):
                row[key] = {**row[key], **value}
            else:
                row[key] = value
        rows.append(row)
    totals: dict[str, Any] = {}
    for source in WALL_TOTALS:
        totals.update(source(node, now))
    return Wall(me, topology.name, now, rows, totals)
