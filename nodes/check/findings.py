"""What a check finds: each problem a :class:`Finding` of a :class:`Kind`, and the
:class:`CheckReport` of one run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

STALE = timedelta(minutes=1)
"""A temporary or unnamed file younger than this may still be written or committed."""


class Kind(StrEnum):
    """What kind of problem a finding is (a stable word, for scripts)."""

    MISSING_COPY = "missing-copy"
    WRONG_COPY = "wrong-copy"
    DAMAGED = "damaged"
    ORPHAN = "orphan"
    MISSING_RECEIPT = "missing-receipt"
    WRONG_RECEIPT = "wrong-receipt"
    TAKEN = "taken"
    FORK = "fork"
    MISADDRESSED = "misaddressed"
    DUPLICATE_SEQ = "duplicate-seq"
    UNREADABLE = "unreadable"
    REFUSED = "refused"
    HEAD = "head"
    QUARANTINE_MISSING = "quarantine-missing"
    QUARANTINE_STRAY = "quarantine-stray"
    TEMPORARY = "temporary"


@dataclass(frozen=True)
class Finding:
    """One problem: what is wrong with what, and what to do about it."""

    kind: Kind
    subject: str
    """A file name, a channel (``origin -> recipient``) or a quarantine entry."""
    problem: str
    action: str
    removable: Path | None = None
    """The file ``--repair`` may delete (None: not safe to repair)."""
    repaired: bool = False
    by_reading: bool = False
    """Found only by reading stored change-sets whole (``read_data``)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "subject": self.subject,
            "problem": self.problem,
            "action": self.action,
            "repairable": self.removable is not None,
            "repaired": self.repaired,
            "by_reading": self.by_reading,
        }


@dataclass
class CheckReport:
    """What one check looked at and found."""

    node: str
    started_at: datetime
    read_data: bool
    repair: bool
    finished_at: datetime | None = None
    entries: int = 0
    """Outbox entries compared with their files and receipts."""
    logged: int = 0
    """Change-sets of ``changeset_log`` compared with their receipts."""
    channels: int = 0
    files_read: int = 0
    """Files read whole (receipts always; change-sets with ``read_data``)."""
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        """What is still wrong (found and not repaired)."""
        return [f for f in self.findings if not f.repaired]

    @property
    def repaired(self) -> list[Finding]:
        return [f for f in self.findings if f.repaired]

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "read_data": self.read_data,
            "repair": self.repair,
            "checked": {
                "outbox_entries": self.entries,
                "logged": self.logged,
                "channels": self.channels,
                "files_read": self.files_read,
            },
            "problems": len(self.problems),
            "repaired": len(self.repaired),
            "findings": [f.as_dict() for f in self.findings],
        }
