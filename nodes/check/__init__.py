"""``fiscalsync check``: whether a node home's database and spool agree (like ``restic check``).

What is compared, each problem a :class:`Finding` (what is wrong, and what to do):

- **the outbox and** ``spool/outbox/``: every change-set this node sent has its file (and
  while it is unacknowledged, one whose header is that change-set's); a file that no
  entry names is an orphan, left by a transaction that was rolled back;
- **receipts**: every acknowledged change-set has the recipient's counter-signed receipt
  beside it, and that receipt acknowledges it (id and seq); every change-set taken here
  (``changeset_log``) has the receipt this node signed in ``spool/receipts/``; receipts
  are tiny and read whole;
- ``spool/incoming/`` **and the channel heads**: files already taken (leftovers), another
  change-set under a seq already taken (a fork), files for another node, two files under
  one seq, files that cannot be read or whose name is not their header's;
- **channel heads and their history**: an inbound head is the last change-set logged on
  its channel, the log holds seqs 1 to the head without gaps, each names its
  predecessor, and the head's state digest replays from the log's ids and verdicts; an
  outbound head is the last outbox entry of its channel, in the same way;
- **the quarantine and** ``spool/quarantine/``: open entries without their file, files
  that no open entry names;
- **temporary files** (``.*.tmp``) left by a crash, older than :data:`STALE`;
- with ``read_data``, every stored change-set is read whole: this node's own copies
  (framing, id, body hash, and the signature under the embedded certificate:
  :func:`sync.changeset.check_stored`), and what waits in ``incoming/`` and ``relay/``
  verified as the next round will (:func:`sync.changeset.verify`).

It runs on a live home: it holds the sync lock (no round runs meanwhile) and reads the
database in one snapshot taken before the folders are listed, so that an entry it reads
has its file already. Operators may still be writing: a file younger than
:data:`STALE` may belong to a transaction not yet committed and is not judged.

``repair`` fixes what is safe and nothing else: orphans (unless their channel disagrees
with its history, when they may be evidence), stale temporary files, leftovers already
taken (whose change-set is logged, or whose receipt is kept) and quarantined files of
dropped entries. It deletes while holding the home lock exclusively (no command is
writing), after confirming each deletion against the database again; it never deletes
a file that is the only copy of anything unacknowledged or unapplied.

Every run is recorded (``check_run``, ``check_finding``) and ``status`` shows the
problems the last one left.

The package: :mod:`~nodes.check.findings` (what a check finds), :mod:`~nodes.check.inspection`
(the looking), :mod:`~nodes.check.repair` (what ``--repair`` deletes) and
:mod:`~nodes.check.runs` (the record of every run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nodes.check.findings import STALE, CheckReport, Finding, Kind
from nodes.check.inspection import Inspection, ReadProgress
from nodes.check.repair import repaired
from nodes.check.runs import KEEP_RUNS, last_problems, record
from nodes.locks import home_lock, sync_lock
from sync.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = ["KEEP_RUNS", "STALE", "CheckReport", "Finding", "Kind", "check_home", "last_problems"]


def check_home(
    node: Node,
    *,
    read_data: bool = False,
    repair: bool = False,
    clock: Clock = SYSTEM_CLOCK,
    on_read: ReadProgress | None = None,
) -> CheckReport:
    """Check ``node``'s home (see the module docstring), repair what is safe with
    ``repair``, record the run and return it. Holds the sync lock throughout (waiting a
    bounded time for a running round); repairing also takes the home lock exclusively."""
    home = node.home.path
    report = CheckReport(node.spec.code, clock.now(), read_data, repair)
    with sync_lock(home):
        Inspection(node, report, clock).run(on_read)
        removing = repair and any(f.removable is not None for f in report.findings)
        with home_lock(home, exclusive=removing):
            if repair:
                report.findings = repaired(node.engine, report.findings, clock)
            report.finished_at = clock.now()
            record(node.engine, report)
    return report
