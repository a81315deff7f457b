"""What one sync round did, for the operator, the agent's log and ``network sync``."""

from __future__ import annotations

from dataclasses import dataclass, field

from nodes.labels import Said, said
from sync.attempts import MAX_ATTEMPTS, Failure
from sync.channel import Outcome
from sync.said import unlabelled

__all__ = ["RoundSummary"]


@dataclass
class RoundSummary:
    """What one round did, for the operator."""

    sent: int = 0
    resent: int = 0
    """Of ``sent``, retransmissions of change-sets sent before."""
    received: int = 0
    applied: int = 0
    rejected: int = 0
    duplicates: int = 0
    waiting: int = 0
    quarantined: int = 0
    receipts_received: int = 0
    receipts_sent: int = 0
    relayed: int = 0
    new_relays: int = 0
    """Change-sets admitted for relaying here for the first time (not retransmissions)."""
    failed: int = 0
    """Files that failed this round, to be tried again in a later round."""
    parked: int = 0
    """Files that failed their last allowed round this round and were parked."""
    damaged: int = 0
    """This node's own copies (outbox, receipts) found damaged and not sent."""
    bytes_sent: int = 0
    """Bytes of the files this round put on their way: change-sets, receipts, relayed
    files and backup objects."""
    bytes_received: int = 0
    """Bytes of the files this round took in from its links and its children."""
    pending_receipts: int = 0
    purged: int = 0
    errors: list[str] = field(default_factory=list)
    """Upstream links that could not be reached."""
    problems: list[str | Said] = field(default_factory=list)
    """Every file that could not be taken, relayed or sent this round, and why."""
    messages: int = 0
    """``rejoin`` change-sets taken (requests, answers, notices) and sent."""
    notes: list[str | Said] = field(default_factory=list)
    """What happened of note: rejoin requests answered, a rejoin completed."""

    @property
    def moved(self) -> int:
        """Files that crossed a boundary this round (zero means the node is quiet)."""
        return self.sent + self.received + self.receipts_sent + self.relayed + self.messages

    @property
    def progress(self) -> int:
        """Steps forward this round: change-sets taken, receipts back, first sends and
        first relays. Retransmissions that change nothing are not progress."""
        return (
            self.applied
            + self.rejected
            + self.receipts_received
            + (self.sent - self.resent)
            + self.new_relays
            + self.messages
        )

    def as_dict(self) -> dict[str, object]:
        """The counts, and the problems and notes in English (for scripts and logs)."""
        found: dict[str, object] = dict(self.__dict__)
        found["problems"] = [str(p) for p in self.problems]
        found["notes"] = [str(n) for n in self.notes]
        return found

    def add(self, other: RoundSummary) -> None:
        """Add another summary's counts to these, e.g. every node's of one round.

        ``waiting``, ``pending_receipts`` and ``damaged`` are states, not counts: summed
        over nodes they say how many wait in the province now, but summed over rounds
        they mean nothing, so totals over rounds take them from the last round instead.
        """
        for name, value in other.__dict__.items():
            if isinstance(value, int):
                setattr(self, name, getattr(self, name) + value)
        self.errors.extend(other.errors)
        self.problems.extend(other.problems)
        self.notes.extend(other.notes)

    def count(self, outcome: Outcome) -> None:
        """Count what :func:`sync.channel.receive` did with one file."""
        if outcome is Outcome.APPLIED:
            self.applied += 1
        elif outcome is Outcome.REJECTED:
            self.rejected += 1
        elif outcome is Outcome.DUPLICATE:
            self.duplicates += 1
        elif outcome is Outcome.QUARANTINED:
            self.quarantined += 1
        elif outcome is Outcome.RECEIPT:
            self.receipts_received += 1

    def fail(self, name: str, failure: Failure, *, doing: str) -> None:
        """Count a file that failed this round and name it, with why: not ``doing`` yet
        (``collected`` or ``taken``; tried again next round), or parked at the bound (left
        where it is, or in quarantine)."""
        why = unlabelled(failure.error, name)
        attempts = failure.attempts
        if failure.parked:
            self.parked += 1
            self.problems.append(said(f"parked_{doing}", name=name, attempts=attempts, why=why))
        else:
            self.failed += 1
            self.problems.append(
                said(f"not_{doing}", name=name, attempts=attempts, max=MAX_ATTEMPTS, why=why)
            )
