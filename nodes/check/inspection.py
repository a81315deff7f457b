"""The looking of ``fiscalsync check``: one pass over a home, comparing the database with
the spool's folders (see :mod:`nodes.check`)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes import keys
from nodes.identity import network_suite
from nodes.labels import joined, said
from schema.channels import (
    changeset_log,
    channel_head,
    outbox,
    quarantine,
)
from schema.engine import reading
from sync import changeset, relays
from sync.changeset import ChangeSetName, Header
from sync.channel import RECEIPT, Spool, genesis_state, next_state
from sync.clock import Clock
from sync.errors import StorageError, VerificationError
from sync.said import unlabelled
from sync.signing import SignatureSuite
from sync.transports.base import is_temporary
from sync.trust import TrustStore

if TYPE_CHECKING:
    from nodes.node import Node
from nodes.check.findings import STALE, CheckReport, Finding, Kind

_TEMPORARY_SUFFIX = ".tmp"
_BATCH = 1000


ReadProgress = Callable[[int], Callable[[int], None]]
"""Called once with the number of files ``read_data`` reads whole; returns a callback
advanced by one for each file read (a progress bar's ``update``)."""


@dataclass(frozen=True)
class _Read:
    """A file to read whole with ``read_data``: how, and what to say if it fails."""

    path: Path
    expect_id: str | None
    """This node's own copy with the id recorded for it; None: a file still to be taken
    or relayed, verified as the next round will."""
    action: str


class Inspection:
    """One pass over a home; adds to ``report.findings``."""

    def __init__(self, node: Node, report: CheckReport, clock: Clock) -> None:
        self.node = node
        self.engine = node.engine
        self.spool: Spool = node.spool
        self.me = node.spec.code
        self.report = report
        self.clock = clock
        self.now = clock.now()
        self.reads: list[_Read] = []
        self.bad_channels: set[tuple[str, str]] = set()
        """Channels whose head disagrees with their history: their orphans are kept."""
        self.sent: dict[tuple[str, int], Any] = {}
        """Outbox entries (by recipient and seq) that a receipt in ``incoming/`` names."""
        self.taken: dict[tuple[str, int], str] = {}
        """Logged change-set ids (by origin and seq) that a file in ``incoming/`` names."""
        self.suite: SignatureSuite | None = None
        """The network's suite, whose hash the channels' state digests are (read by run)."""

    def found(
        self,
        kind: Kind,
        subject: str,
        problem: str,
        action: str,
        removable: Path | None = None,
        *,
        by_reading: bool = False,
    ) -> None:
        self.report.findings.append(
            Finding(kind, subject, problem, action, removable, by_reading=by_reading)
        )

    def run(self, on_read: ReadProgress | None) -> None:
        with reading(self.engine, snapshot=True) as conn:
            self.suite = network_suite(conn)
            heads = {(h.origin, h.recipient): h for h in conn.execute(sa.select(channel_head))}
            # the snapshot is taken: an entry read from now on had its file before
            listed = {folder: _listing(folder) for folder in self._folders()}
            incoming = self._incoming_headers(listed[self.spool.incoming])
            named = self._outbox(conn, heads, listed[self.spool.outbox], incoming)
            named |= self._log(conn, heads, listed[self.spool.receipts], incoming)
            held = self._quarantine(conn, listed[self.spool.quarantine])
        self._incoming(incoming)
        self._orphans(listed[self.spool.outbox] | listed[self.spool.receipts], named)
        self._confirm_quarantine(held)
        self._temporaries(listed)
        self._not_files()
        if self.report.read_data:
            self._read_data(listed[self.spool.relay], listed[self.spool.taken], on_read)

    def _folders(self) -> list[Path]:
        s = self.spool
        return [
            s.outbox,
            s.receipts,
            s.incoming,
            s.relay,
            s.quarantine,
            s.taken,
            self.node.home.keys,
        ]

    def _not_files(self) -> None:
        """Whatever in the spool is not a file (a folder, a pipe, a link to nothing):
        no round reads it, and none removes it."""
        s = self.spool
        for folder in (s.outbox, s.receipts, s.incoming, s.relay, s.quarantine, s.taken):
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if not path.is_file():
                    where = f"{folder.name}/"
                    self.found(
                        Kind.UNREADABLE,
                        f"{where}{path.name}",
                        said("ck_not_a_file", where=where),
                        said("ck_act_move_out", where=where),
                    )

    # --- outbox, outbound heads ---------------------------------------------------------------

    def _outbox(
        self,
        conn: Connection,
        heads: dict[tuple[str, str], Any],
        files: dict[str, Path],
        incoming: dict[Path, Header],
    ) -> set[str]:
        """Outbox entries against their files and receipts, channel by channel; return the
        names they give in ``outbox/``."""
        named: set[str] = set()
        receipts_for = {(h.origin, h.seq) for h in incoming.values() if h.kind == RECEIPT}
        query = sa.select(outbox).order_by(outbox.c.recipient, outbox.c.seq)

        def history(entries: Iterable[Any]) -> Iterator[_Link]:
            for entry in entries:
                named.add(entry.filename)
                if entry.receipt_file:
                    named.add(entry.receipt_file)
                if (entry.recipient, entry.seq) in receipts_for:
                    self.sent[(entry.recipient, entry.seq)] = entry
                self._entry(entry, files)
                yield _Link(entry.seq, entry.id, "sent", None)

        rows = conn.execute(_streamed(query))
        self._channels(rows, lambda r: (self.me, r.recipient), heads, history, outbound=True)
        return named

    def _entry(self, entry: Any, files: dict[str, Path]) -> None:
        self.report.entries += 1
        if entry.purged_at is not None:
            return  # its files were let go by 'fiscalsync purge', after its receipt
        what = said("ck_what_outbox", kind=entry.kind, seq=entry.seq, recipient=entry.recipient)
        acknowledged = entry.acked_at is not None
        path = files.get(entry.filename)
        if path is None:
            if acknowledged:
                self.found(
                    Kind.MISSING_COPY,
                    entry.filename,
                    said("ck_copy_gone_acked", what=what),
                    said("ck_act_copy_gone_acked"),
                )
            else:
                self.found(
                    Kind.MISSING_COPY,
                    entry.filename,
                    said("ck_copy_gone", what=what),
                    said("ck_act_copy_gone"),
                )
        elif not acknowledged:
            problem = _header_problem(path, entry.id)
            if problem is not None:
                self.found(
                    problem[0],
                    entry.filename,
                    said("ck_copy_problem", what=what, problem=problem[1]),
                    said("ck_act_damaged_copy"),
                )
                path = None
        if path is not None:
            action = said("ck_act_restore_file" if acknowledged else "ck_act_damaged_copy")
            self.reads.append(_Read(path, entry.id, action))
        if acknowledged:
            self._receipt(
                entry.receipt_file,
                files,
                entry.receipt_id,
                entry.id,
                entry.seq,
                signer=entry.recipient,
                what=said("ck_what_receipt", recipient=entry.recipient, what=what),
                why=said("ck_why_proof"),
            )

    # --- the log, inbound heads -----------------------------------------------------------------

    def _log(
        self,
        conn: Connection,
        heads: dict[tuple[str, str], Any],
        files: dict[str, Path],
        incoming: dict[Path, Header],
    ) -> set[str]:
        """Change-sets taken here against their receipts, channel by channel; return the
        names they give in ``receipts/``."""
        named: set[str] = set()
        wanted = {(h.origin, h.seq) for h in incoming.values() if h.kind != RECEIPT}
        query = sa.select(changeset_log).order_by(
            changeset_log.c.origin, changeset_log.c.recipient, changeset_log.c.seq
        )

        def history(rows: Iterable[Any]) -> Iterator[_Link]:
            for row in rows:
                self.report.logged += 1
                named.add(row.receipt_file)
                if (row.origin, row.seq) in wanted:
                    self.taken[(row.origin, row.seq)] = row.id
                if row.purged_at is not None:  # its receipt was let go by 'fiscalsync purge'
                    yield _Link(row.seq, row.id, row.verdict, row.prev)
                    continue
                self._receipt(
                    row.receipt_file,
                    files,
                    row.receipt_id,
                    row.id,
                    row.seq,
                    signer=self.me,
                    what=said("ck_what_own_receipt", kind=row.kind, seq=row.seq, origin=row.origin),
                    why=said("ck_why_resent"),
                )
                yield _Link(row.seq, row.id, row.verdict, row.prev)

        rows = conn.execute(_streamed(query))
        self._channels(rows, lambda r: (r.origin, r.recipient), heads, history, outbound=False)
        return named

    def _receipt(
        self,
        name: str | None,
        files: dict[str, Path],
        receipt_id: str | None,
        changeset_id: str,
        seq: int,
        *,
        signer: str,
        what: str,
        why: str,
    ) -> None:
        path = files.get(name) if name else None
        subject = name or changeset_id
        if path is None or receipt_id is None:
            self.found(
                Kind.MISSING_RECEIPT,
                subject,
                said("ck_gone", what=what),
                said("ck_act_restore_it", why=why),
            )
            return
        self.report.files_read += 1
        try:
            header = changeset.check_stored(path, receipt_id, signature=self.report.read_data)
            operations = list(changeset.iter_operations(path))
        except (VerificationError, StorageError) as exc:
            self.found(
                Kind.DAMAGED,
                subject,
                said("ck_what_error", what=what, error=_without_label(exc.message, path)),
                said("ck_act_restore_it", why=why),
            )
            return
        body = operations[0] if len(operations) == 1 else {}
        if (
            header.kind != RECEIPT
            or header.origin != signer
            or header.seq != seq
            or body.get("changeset") != changeset_id
        ):
            self.found(
                Kind.WRONG_RECEIPT,
                subject,
                said("ck_wrong_receipt", what=what, id=changeset_id[:16], seq=seq),
                said("ck_act_right_receipt", why=why),
            )

    def _channels(
        self,
        rows: Iterable[Any],
        channel: Callable[[Any], tuple[str, str]],
        heads: dict[tuple[str, str], Any],
        history: Callable[[Iterable[Any]], Iterator[_Link]],
        *,
        outbound: bool,
    ) -> None:
        """Compare every channel of one direction with its head: ``rows`` in channel and
        seq order, ``history`` turning a channel's rows into its links."""
        seen = set()
        for key, group in itertools.groupby(rows, key=channel):
            seen.add(key)
            self._chain(key, heads.get(key), history(group))
        for key, head in heads.items():
            if key[0 if outbound else 1] == self.me and key not in seen:
                self._chain(key, head, [])

    def _chain(self, channel: tuple[str, str], head: Any, history: Iterable[_Link]) -> None:
        """Compare a channel's head (None: it has none) with its history, in seq order."""
        self.report.channels += 1
        problems = _chain_problems(head, history, self.suite)
        if problems:
            self.bad_channels.add(channel)
            self.found(
                Kind.HEAD,
                f"{channel[0]} -> {channel[1]}",
                joined(problems),
                said("ck_act_head"),
            )

    # --- incoming ---------------------------------------------------------------------------------

    def _incoming_headers(self, files: dict[str, Path]) -> dict[Path, Header]:
        """The (unverified) headers of the files in ``incoming/`` that can be read."""
        arrivals = {}
        for name, path in sorted(files.items()):
            if name.startswith(".") or is_temporary(name):
                continue  # a temporary file or a partial download, resumed by the next fetch
            try:
                changeset.parse_filename(name)
                header, _seal = changeset.read_header(path)
                problem = None
                if header.filename != name:
                    problem = said("ck_misnamed", filename=header.filename)
            except (VerificationError, StorageError) as exc:
                problem = said("ck_unreadable", error=_without_label(exc.message, path))
            if problem is not None:
                self.found(
                    Kind.UNREADABLE,
                    name,
                    said("ck_incoming_but", problem=problem),
                    said("ck_act_quarantines"),
                )
                continue
            arrivals[path] = header
        return arrivals

    def _incoming(self, arrivals: dict[Path, Header]) -> None:
        early: dict[tuple[str, int], list[Path]] = {}
        for path, header in arrivals.items():
            name = path.name
            if header.recipient != self.me:
                self.found(
                    Kind.MISADDRESSED,
                    name,
                    said("ck_misaddressed", recipient=header.recipient),
                    said("ck_act_relay"),
                )
                self.reads.append(_Read(path, None, said("ck_act_quarantines")))
            elif header.kind == RECEIPT:
                self._incoming_receipt(path, header)
            elif (header.origin, header.seq) in self.taken:
                self._incoming_taken(path, header, self.taken[(header.origin, header.seq)])
            else:
                early.setdefault((header.origin, header.seq), []).append(path)
        for (origin, seq), same in early.items():
            if len(same) > 1:
                self.found(
                    Kind.DUPLICATE_SEQ,
                    f"{origin} -> {self.me} seq {seq}",
                    said(
                        "ck_duplicate_seq", count=len(same), names=", ".join(p.name for p in same)
                    ),
                    said("ck_act_duplicate_seq", origin=origin),
                )
            else:
                self.reads.append(_Read(same[0], None, "the next sync quarantines it"))

    def _incoming_taken(self, path: Path, header: Header, logged: str) -> None:
        name = path.name
        if logged == header.id:
            self.found(
                Kind.TAKEN,
                name,
                said("ck_taken", seq=header.seq, origin=header.origin),
                said("ck_act_repair_receipt"),
                removable=path,
            )
        else:
            self.found(
                Kind.FORK,
                name,
                said("ck_fork", seq=header.seq, origin=header.origin, id=logged[:16]),
                said("ck_act_fork", origin=header.origin),
            )

    def _incoming_receipt(self, path: Path, header: Header) -> None:
        entry = self.sent.get((header.origin, header.seq))
        if entry is None:
            self.found(
                Kind.FORK,
                path.name,
                said("ck_receipt_never_sent", origin=header.origin, seq=header.seq),
                said("ck_act_quarantines"),
            )
            return
        if entry.acked_at is None:  # its change-set waits for it: the next sync takes it
            self.reads.append(_Read(path, None, "the next sync quarantines it"))
            return
        same = entry.receipt_id == header.id
        self.found(
            Kind.TAKEN,
            path.name,
            said(
                "ck_receipt_acked" if same else "ck_receipt_acked_other",
                seq=header.seq,
                origin=header.origin,
            ),
            said("ck_act_repair") if same else said("ck_act_discards"),
            removable=path if same else None,
        )

    # --- orphans, quarantine, temporary files ---------------------------------------------------

    def _orphans(self, files: dict[str, Path], named: set[str]) -> None:
        candidates = [
            path
            for name, path in sorted(files.items())
            if name not in named and not name.startswith(".") and self.is_stale(path)
        ]
        if not candidates:
            return
        with reading(self.engine) as conn:  # committed since the snapshot?
            referenced = names_referenced(conn, [p.name for p in candidates])
        for path in candidates:
            if path.name in referenced:
                continue
            where = f"{path.parent.name}/"
            try:
                parsed = changeset.parse_filename(path.name)
            except VerificationError:
                self.found(
                    Kind.ORPHAN,
                    path.name,
                    said("ck_not_changeset", where=where),
                    said("ck_act_move_out", where=where),
                )
                continue
            channel = self._channel_of(path, parsed)
            if channel in self.bad_channels:
                self.found(
                    Kind.ORPHAN,
                    path.name,
                    said(
                        "ck_orphan_bad_channel",
                        where=where,
                        origin=channel[0],
                        recipient=channel[1],
                    ),
                    said("ck_act_keep"),
                )
            else:
                self.found(
                    Kind.ORPHAN,
                    path.name,
                    said("ck_orphan", where=where),
                    said("ck_act_repair"),
                    removable=path,
                )

    def _channel_of(self, path: Path, name: ChangeSetName) -> tuple[str, str]:
        other = name.recipient if name.origin == self.me else name.origin
        if path.parent == self.spool.outbox:
            return (self.me, other)
        return (other, self.me)

    def _quarantine(self, conn: Connection, files: dict[str, Path]) -> list[tuple[int, Finding]]:
        """Quarantine entries against their files: findings with the entry they are about
        (0: none), confirmed afterwards."""
        rows = conn.execute(sa.select(quarantine).order_by(quarantine.c.id)).all()
        found = []
        by_name = {}
        for row in rows:
            if _is_open(row) and row.filename not in files:
                found.append(
                    (
                        row.id,
                        Finding(
                            Kind.QUARANTINE_MISSING,
                            said("ck_q_entry", id=row.id),
                            said("ck_q_file_gone", file=row.filename),
                            said("ck_act_q_drop", id=row.id),
                        ),
                    )
                )
            by_name[row.filename] = row
        for name, path in sorted(files.items()):
            entry = by_name.get(name)
            if name.startswith(".") or (entry is not None and _is_open(entry)):
                continue
            if entry is not None and entry.dropped_at is not None:
                found.append(
                    (
                        entry.id,
                        Finding(
                            Kind.QUARANTINE_STRAY,
                            name,
                            said("ck_q_dropped", id=entry.id),
                            said("ck_act_repair"),
                            removable=path,
                        ),
                    )
                )
            else:
                why = said("ck_q_no_entry") if entry is None else said("ck_q_released", id=entry.id)
                found.append(
                    (
                        0,
                        Finding(
                            Kind.QUARANTINE_STRAY,
                            name,
                            why,
                            said("ck_act_q_stray"),
                        ),
                    )
                )
        return found

    def _confirm_quarantine(self, found: list[tuple[int, Finding]]) -> None:
        """Keep what still holds now (an operator may have released or dropped meanwhile)."""
        if not found:
            return
        with reading(self.engine) as conn:
            still_open = {r.id for r in conn.execute(sa.select(quarantine)) if _is_open(r)}
        for entry_id, finding in found:
            if finding.kind is Kind.QUARANTINE_MISSING and entry_id not in still_open:
                continue
            if (
                finding.kind is Kind.QUARANTINE_STRAY
                and not (self.spool.quarantine / finding.subject).exists()
            ):
                continue
            self.report.findings.append(finding)

    def _temporaries(self, listed: dict[Path, dict[str, Path]]) -> None:
        for files in listed.values():
            for name, path in sorted(files.items()):
                if _is_temporary(name) and self.is_stale(path):
                    self.found(
                        Kind.TEMPORARY,
                        f"{path.parent.name}/{name}",
                        said("ck_temporary"),
                        said("ck_act_repair"),
                        removable=path,
                    )

    def is_stale(self, path: Path) -> bool:
        return is_stale(path, self.now)

    # --- reading every byte ---------------------------------------------------------------------

    def _read_data(
        self, relay: dict[str, Path], taken: dict[str, Path], on_read: ReadProgress | None
    ) -> None:
        for name, path in sorted(relay.items()):
            if not is_temporary(name) and not name.startswith("."):
                self.reads.append(_Read(path, None, said("ck_act_quarantines")))
        # What this node took, kept byte for byte: the journal its backups hold and its
        # rejoin answers send again.
        for name, path in sorted(taken.items()):
            if is_temporary(name) or name.startswith("."):
                continue
            try:
                parsed = changeset.parse_filename(name)
            except VerificationError:
                self.found(
                    Kind.ORPHAN,
                    name,
                    said("ck_not_changeset", where="taken/"),
                    said("ck_act_move_out", where="taken/"),
                )
                continue
            self.reads.append(_Read(path, parsed.id, said("ck_act_restore_file")))
        advance = on_read(len(self.reads)) if on_read is not None else None
        trust: TrustStore | None = None
        for item in self.reads:
            try:
                if item.expect_id is not None:
                    changeset.check_stored(item.path, item.expect_id, signature=True)
                else:
                    if trust is None:
                        trust = keys.trust_store(self.node.home, self.clock)
                    header, _seal = changeset.read_header(item.path)
                    if header.recipient == self.me:
                        changeset.verify(item.path, trust, recipient=self.me)
                    else:
                        relays.verify_for_relay(item.path, trust)
            except (VerificationError, StorageError) as exc:
                own = item.expect_id is not None
                self.found(
                    Kind.DAMAGED if own else Kind.REFUSED,
                    item.path.name,
                    said(
                        "ck_read_error",
                        folder=item.path.parent.name,
                        error=_without_label(exc.message, item.path),
                    ),
                    item.action,
                    by_reading=True,
                )
            self.report.files_read += 1
            if advance is not None:
                advance(1)


def _is_open(entry: Any) -> bool:
    return entry.released_at is None and entry.dropped_at is None


def _listing(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.name: p for p in folder.iterdir() if p.is_file()}


def _streamed(query: sa.Select[Any]) -> sa.Select[Any]:
    """``query``, to be fetched in batches rather than all at once into memory."""
    return query.execution_options(yield_per=_BATCH)


def _header_problem(path: Path, expect_id: str) -> tuple[Kind, str] | None:
    """Why the file's header is not that of change-set ``expect_id`` (None: it is)."""
    try:
        header, _seal = changeset.read_header(path)
    except (VerificationError, StorageError) as exc:
        return Kind.DAMAGED, _without_label(exc.message, path)
    if header.id != expect_id:
        return (
            Kind.WRONG_COPY,
            said("cs_other_header", found=header.id[:16], expected=expect_id[:16]),
        )
    return None


def _without_label(message: str, path: Path) -> str:
    return unlabelled(message, path, path.name)


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(_TEMPORARY_SUFFIX)


def is_stale(path: Path, now: datetime) -> bool:
    try:
        modified = path.stat().st_mtime
    except FileNotFoundError:
        return False
    return modified < (now - STALE).timestamp()


class _Link(NamedTuple):
    """One change-set of a channel's history."""

    seq: int
    id: str
    verdict: str
    prev: str | None
    """The predecessor it names; None where it is not kept (the outbox)."""


def _chain_problems(head: Any, history: Iterable[_Link], suite: SignatureSuite | None) -> list[str]:
    """What is wrong between a channel's head and its history (empty: nothing); reads
    the history once, in seq order; state digests under the network's ``suite``."""
    problems = []
    gaps = []
    expected = 1
    state = genesis_state(suite)
    last_id = ""
    count = 0
    for link in history:
        count += 1
        if link.seq != expected:
            gaps.append(_span(expected, link.seq - 1))
        elif link.prev is not None and link.prev != last_id:
            problems.append(
                said(
                    "ck_chain_prev",
                    seq=link.seq,
                    prev=link.prev[:16] or said("ck_chain_no_prev"),
                    before=link.seq - 1,
                    last=last_id[:16] or said("ck_chain_no_prev"),
                )
            )
        expected = link.seq + 1
        last_id = link.id
        state = next_state(state, link.id, link.verdict, suite)
    last_seq = expected - 1
    if head is None:
        return [said("ck_chain_no_head", count=count)] if count else []
    if head.seq > last_seq:
        gaps.append(_span(last_seq + 1, head.seq))
    if gaps:
        problems.append(said("ck_chain_gaps", gaps=", ".join(gaps), head=head.seq))
    if (head.seq, head.last_id) != (last_seq, last_id) and not gaps:
        problems.append(
            said(
                "ck_chain_head",
                head=head.seq,
                head_id=head.last_id[:16] or said("ck_chain_no_id"),
                last=last_seq,
                last_id=last_id[:16] or said("ck_chain_no_id"),
            )
        )
    if not problems and head.state != state:
        problems.append(said("ck_chain_state"))
    return problems


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


def names_referenced(conn: Connection, names: Iterable[str]) -> set[str]:
    """Which of ``names`` an outbox entry or a logged change-set names."""
    names = list(names)
    found: set[str] = set()
    for chunk in _chunks(names):
        for column in (outbox.c.filename, outbox.c.receipt_file, changeset_log.c.receipt_file):
            found.update(conn.execute(sa.select(column).where(column.in_(chunk))).scalars())
    return found


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]
