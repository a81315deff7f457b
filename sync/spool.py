"""A node's spool: the folders where change-set files wait, travel and are kept.

Layout (under a node's ``spool/``)::

    outbox/      change-sets this node originated, and the receipts that came back for them
    receipts/    receipts this node signed, kept to be re-sent byte for byte
    incoming/    fetched and not yet taken (early arrivals wait here)
    taken/       change-sets taken here, kept byte for byte: the journal that backups ship,
                 and what is returned to their origin if it is restored from a backup
    relay/       change-sets for other nodes, checked and waiting to be forwarded byte for byte
    quarantine/  refused and parked files, with the reason in the database
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Spool"]


@dataclass(frozen=True)
class Spool:
    """The folders of a node's spool (each path built once: a round asks for them often)."""

    root: Path

    @functools.cached_property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @functools.cached_property
    def receipts(self) -> Path:
        return self.root / "receipts"

    @functools.cached_property
    def incoming(self) -> Path:
        return self.root / "incoming"

    @functools.cached_property
    def taken(self) -> Path:
        return self.root / "taken"

    @functools.cached_property
    def relay(self) -> Path:
        return self.root / "relay"

    @functools.cached_property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    def ensure(self) -> Spool:
        for folder in (
            self.outbox,
            self.receipts,
            self.incoming,
            self.taken,
            self.relay,
            self.quarantine,
        ):
            if not folder.is_dir():  # one look; there after the first time
                folder.mkdir(parents=True, exist_ok=True)
        return self
