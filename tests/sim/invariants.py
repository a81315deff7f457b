"""What must hold at every step of a simulation, read from each node's raw tables.

Each check raises :class:`Violation` naming its invariant:

- ``control``: no available balance is negative at any node, at any step (指标控制);
- ``exactly-once``: a change-set taken is applied once (its operations, no more and no
  fewer), a refused one left nothing, and an acknowledged one has the receipt its
  recipient signed, with the recipient's verdict;
- ``channel order``: every channel a node takes is numbered 1, 2, 3... without a gap,
  each change-set names its predecessor, and the channel head is the last one;
- ``no fork`` (authenticity): every change-set taken is the one its origin queued under
  that number;
- ``append-only``: no event, ledger entry, change-set taken or queued, or verdict seen
  before has changed or gone;
- ``refused for cause``: a change-set refused only for what it says (a decrease or
  recovery beyond what is available), never for a failure of the node taking it;
- ``no way back``: a relay never sends a change-set back to the neighbour it came from
  (the way loops start);
- ``atomicity``: nothing half-applied after a crash: every unacknowledged change-set
  has its file, every event a change-set, every appropriation its events;
- ``quarantine bounded``: no more files refused than faults that could spoil one, but
  those void (signed by a node before it was restored, and lost with its state: its
  peers fence them), which only a node restored may have;
- ``monotonic trust`` (checked by the simulation, which revokes certificates): once a
  node's revocation list named a certificate, it never verifies there again and the
  list never names fewer, at every step; a node restored from an older copy starts from
  its keeper's list, and what it knew beyond that is owed to it only until the province
  has answered its rejoin request (see ``_Run._trust``);
- ``round watchdog`` (checked by the simulation, around each round): a sync round ends
  within a budget of clock readings and transport calls linear in the files within its
  reach: no round loops;

and once the faults stop and the province has had its rounds:

- ``convergence``: every node quiet (nothing unacknowledged, waiting, retrying, parked);
- ``acknowledged``: every change-set has its receipt, and every refusal a reason;
- ``code sets delivered`` (checked by the simulation): every code-set extension the
  province published is held by every node (but one that went with the province's lost
  state, held by no node at all);
- ``reports delivered``: every version of a report submitted is held by the parent and
  the center, no more, no fewer;
- ``reconciled`` (checked by the simulation, which runs them): every reconciliation of
  an edge and of the reports concludes, finding nothing but lateness, and a recipient
  behind (下级落后, never a discrepancy) only where it was restored;
- ``conservation``: issuer and recipient agree on every appropriation event by event,
  and every fen issued is broken down, spent or available somewhere below, to the fen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from nodes import rejoin
from nodes.fiscal.appropriations import balances
from nodes.node import Node
from schema.channels import changeset_log, channel_head, outbox, quarantine, relay_log
from schema.engine import reading
from schema.tables import appropriation, appropriation_event, ledger_entry, report

if TYPE_CHECKING:
    from .world import World

__all__ = [
    "report_receivers",
    "Snapshot",
    "Violation",
    "check_final",
    "check_step",
    "read",
    "require",
    "spooled_files",
]

SHRINKS = ("decrease", "recover")


class Violation(AssertionError):
    """An invariant that did not hold."""

    def __init__(self, invariant: str, detail: str) -> None:
        super().__init__(f"{invariant}: {detail}")
        self.invariant = invariant
        self.detail = detail


def require(condition: bool, invariant: str, detail: str) -> None:
    if not condition:
        raise Violation(invariant, detail)


@dataclass(frozen=True)
class Snapshot:
    """One node's tables, as the invariants read them."""

    code: str
    appropriations: dict[str, Any]
    events: dict[tuple[str, int], Any]
    ledger: dict[int, Any]
    outbox: dict[str, Any]
    log: dict[str, Any]
    heads: dict[str, Any]
    quarantined: int  # files in quarantine, but those void
    voided: frozenset[str]  # origins of the files void here (signed before a restore)
    relayed: dict[str, Any]
    reports: dict[tuple[str, str, int], str]  # (node, period, version): its state here
    rejoining: bool  # restored, and not yet back where its peers are
    spooled: frozenset[str]
    available: dict[str, int]  # what the product says is available of each received one


_ALL = {
    table.name: sa.select(table)
    for table in (
        appropriation,
        appropriation_event,
        ledger_entry,
        outbox,
        changeset_log,
        relay_log,
    )
}
_HEADS = sa.select(channel_head).where(channel_head.c.recipient == sa.bindparam("code"))
_HELD_BACK = sa.select(quarantine.c.reason, quarantine.c.origin).where(
    quarantine.c.released_at.is_(None), quarantine.c.dropped_at.is_(None)
)
_REPORTS = sa.select(report.c.node_code, report.c.period, report.c.version, report.c.state)


def read(node: Node, spooled: frozenset[str] | None = None) -> Snapshot:
    """Read node ``node``'s tables in one read-only transaction (and the files of its
    spool's outbox, unless ``spooled`` is what they are)."""
    code = node.spec.code
    with reading(node.engine) as conn:
        rows = {r.id: r for r in conn.execute(_ALL[appropriation.name])}
        events = {
            (e.appropriation_id, e.seq): e for e in conn.execute(_ALL[appropriation_event.name])
        }
        ledger = {e.id: e for e in conn.execute(_ALL[ledger_entry.name])}
        boxed = {r.id: r for r in conn.execute(_ALL[outbox.name])}
        log = {r.id: r for r in conn.execute(_ALL[changeset_log.name])}
        heads = {h.origin: h for h in conn.execute(_HEADS, {"code": code})}
        held_back = conn.execute(_HELD_BACK).all()
        open_entries = sum(1 for r in held_back if r.reason != "void")
        voided = frozenset(str(r.origin) for r in held_back if r.reason == "void")
        relayed = {r.id: r for r in conn.execute(_ALL[relay_log.name])}
        reports = {(r.node_code, r.period, r.version): r.state for r in conn.execute(_REPORTS)}
        received = [i for i, r in rows.items() if r.recipient == code]
        available = balances(conn, received) if received else {}
        rejoining = rejoin.asking(conn)
    return Snapshot(
        code,
        rows,
        events,
        ledger,
        boxed,
        log,
        heads,
        int(open_entries),
        voided,
        relayed,
        reports,
        rejoining,
        spooled_files(node) if spooled is None else spooled,
        available,
    )


def spooled_files(node: Node) -> frozenset[str]:
    """The files in node ``node``'s spool outbox."""
    folder = node.spool.outbox
    return frozenset(p.name for p in folder.iterdir()) if folder.is_dir() else frozenset()


def counts(event: Any, state: Snapshot) -> bool:
    """Whether an event issued here takes from the balance it was broken down from:
    increases and issues once sent (unless refused), decreases and recoveries once
    accepted by the recipient."""
    entry = state.outbox.get(event.changeset_id)
    verdict = None if entry is None else entry.receipt_verdict
    if verdict == "rejected":
        return False
    return verdict == "applied" or event.amount_fen > 0


def raw_available(state: Snapshot) -> dict[str, int]:
    """What is available of each appropriation received here, from the raw tables."""
    left: dict[str, int] = {
        i: 0 for i, r in state.appropriations.items() if r.recipient == state.code
    }
    for event in state.events.values():
        row = state.appropriations[event.appropriation_id]
        if row.recipient == state.code:
            left[row.id] += event.amount_fen
        elif row.parent_id is not None and counts(event, state):
            left[row.parent_id] = left.get(row.parent_id, 0) - event.amount_fen
    for entry in state.ledger.values():
        if entry.direction == "expenditure" and entry.appropriation_id is not None:
            left[entry.appropriation_id] = left.get(entry.appropriation_id, 0) - entry.amount_fen
    return left


# --- every step -------------------------------------------------------------------------


def check_step(
    states: dict[str, Snapshot],
    before: dict[str, Snapshot],
    changed: Iterable[str],
    spoilers: int,
    restored: frozenset[str] = frozenset(),
    passed: dict[str, tuple[Snapshot | None, ...]] | None = None,
) -> None:
    """The invariants of every step, for the nodes ``changed`` since ``before``; the nodes
    ``restored`` ever may have had files void at their peers.

    With ``passed`` (kept by the caller from one step to the next), a node whose checks
    passed on the very snapshots it has now is not checked again: see :func:`_looked_at`.
    """
    for code in changed:
        state = states[code]
        if passed is not None:
            seen = _looked_at(state, states)
            if before.get(code) is state and _same(passed.get(code), seen):
                continue
        _control(state)
        _channels(state, states)
        _exactly_once(state, states)
        _refusals(state, states)
        _atomicity(state)
        _relays(state)
        if code in before:
            _append_only(before[code], state)
        strange = state.voided - restored
        require(
            not strange,
            "quarantine bounded",
            f"{state.code}: files of {sorted(strange)} void, which were never restored",
        )
        if passed is not None:
            passed[code] = seen
    quarantined = sum(s.quarantined for s in states.values())
    require(
        quarantined <= spoilers,
        "quarantine bounded",
        f"{quarantined} file(s) in quarantine after {spoilers} fault(s) that could spoil one",
    )


def _looked_at(state: Snapshot, states: dict[str, Snapshot]) -> tuple[Snapshot | None, ...]:
    """The snapshots the checks of one node read: its own, and those of every node its
    log or its outbox names (the senders of what it took, the recipients of what it
    queued), in a fixed order.

    A snapshot is never changed, only replaced when its node's tables are read again; so
    when each of these is the very object it was when the node's checks passed, and its
    snapshot before the step is the one it has now (nothing to compare for append-only),
    the checks read exactly what they read then and pass again. ``restored`` only grows,
    so the quarantine check of a node passes again too."""
    named = {row.origin for row in state.log.values()}
    named |= {row.recipient for row in state.outbox.values()}
    named.discard(state.code)
    return (state, *(states.get(code) for code in sorted(named)))


def _same(old: tuple[Snapshot | None, ...] | None, new: tuple[Snapshot | None, ...]) -> bool:
    return (
        old is not None
        and len(old) == len(new)
        and all(a is b for a, b in zip(old, new, strict=True))
    )


def _control(state: Snapshot) -> None:
    raw = raw_available(state)
    for ident, left in sorted(raw.items()):
        require(left >= 0, "control", f"{state.code}: {ident} overdrawn, {left} fen available")
        product = state.available.get(ident)
        require(
            product == left,
            "control",
            f"{state.code}: {ident} shown with {product} fen available, the tables say {left}",
        )


def _channels(state: Snapshot, states: dict[str, Snapshot]) -> None:
    by_origin: dict[str, list[Any]] = defaultdict(list)
    for row in state.log.values():
        by_origin[row.origin].append(row)
    for origin, rows in sorted(by_origin.items()):
        rows.sort(key=lambda r: r.seq)
        where = f"{origin} -> {state.code}"
        seqs = [r.seq for r in rows]
        require(seqs == list(range(1, len(rows) + 1)), "channel order", f"{where}: taken {seqs}")
        for earlier, later in zip(rows, rows[1:], strict=False):
            require(
                later.prev == earlier.id,
                "channel order",
                f"{where}: seq {later.seq} names {later.prev[:12]} before it, not {earlier.id[:12]}",
            )
        head = state.heads.get(origin)
        require(
            head is not None and head.seq == rows[-1].seq and head.last_id == rows[-1].id,
            "channel order",
            f"{where}: head {head and (head.seq, head.last_id[:12])} is not the last taken, "
            f"seq {rows[-1].seq}",
        )
        sender = states.get(origin)
        if sender is None or sender.rejoining or state.rejoining:
            continue  # a node restored gets back what it lost from its peers
        queued = {r.seq: r.id for r in sender.outbox.values() if r.recipient == state.code}
        for row in rows:
            require(
                queued.get(row.seq) == row.id,
                "no fork",
                f"{where}: took {row.id[:12]} as seq {row.seq}; {origin} queued "
                f"{(queued.get(row.seq) or 'nothing')[:12]} under that number",
            )


def _exactly_once(state: Snapshot, states: dict[str, Snapshot]) -> None:
    carried: dict[str, int] = defaultdict(int)
    for event in state.events.values():
        if state.appropriations[event.appropriation_id].recipient == state.code:
            carried[event.changeset_id] += 1
    for row in state.log.values():
        if row.kind != "appropriation":
            continue
        expected = row.op_count if row.verdict == "applied" else 0
        require(
            carried.get(row.id, 0) == expected,
            "exactly-once",
            f"{state.code}: {row.kind} {row.id[:12]} from {row.origin} ({row.verdict}, "
            f"{row.op_count} operations) left {carried.get(row.id, 0)} events",
        )
    unknown = set(carried) - {i for i, r in state.log.items() if r.verdict == "applied"}
    require(
        not unknown,
        "exactly-once",
        f"{state.code}: events of change-sets never taken: {sorted(i[:12] for i in unknown)}",
    )
    for entry in state.outbox.values():
        if entry.acked_at is None:
            continue
        require(
            entry.receipt_verdict in ("applied", "rejected"),
            "exactly-once",
            f"{state.code}: {entry.id[:12]} acknowledged with verdict {entry.receipt_verdict}",
        )
        there = states.get(entry.recipient)
        if there is None or there.rejoining or state.rejoining:
            continue  # a node restored gets back what it lost from its peers
        taken = there.log.get(entry.id)
        require(
            taken is not None
            and taken.receipt_id == entry.receipt_id
            and taken.verdict == entry.receipt_verdict,
            "exactly-once",
            f"{state.code}: {entry.kind} {entry.id[:12]} acknowledged {entry.receipt_verdict} "
            f"by receipt {str(entry.receipt_id)[:12]}; {entry.recipient} has "
            f"{taken and (taken.verdict, taken.receipt_id[:12])}",
        )


def _refusals(state: Snapshot, states: dict[str, Snapshot]) -> None:
    """A change-set is refused only for what it says: a decrease or recovery of more than
    is still available here. Never for a failure of this node (a full disk, a crash)."""
    for row in state.log.values():
        if row.verdict != "rejected":
            continue
        sender = states.get(row.origin)
        kinds = (
            set()
            if sender is None
            else {e.kind for e in sender.events.values() if e.changeset_id == row.id}
        )
        require(
            row.kind == "appropriation"
            and kinds <= set(SHRINKS)
            and "exceeds what is still available" in (row.reason or ""),
            "refused for cause",
            f"{state.code}: refused {row.kind} seq {row.seq} from {row.origin} "
            f"({', '.join(sorted(kinds)) or 'no events'}): {row.reason}",
        )


def _relays(state: Snapshot) -> None:
    for row in state.relayed.values():
        require(
            row.source is None or row.target != row.source,
            "no way back",
            f"{state.code}: relayed {row.id[:12]} ({row.origin} -> {row.recipient}) back to "
            f"{row.source}, where it came from",
        )


def _atomicity(state: Snapshot) -> None:
    for entry in state.outbox.values():
        if entry.acked_at is None:
            require(
                entry.filename in state.spooled,
                "atomicity",
                f"{state.code}: {entry.kind} seq {entry.seq} to {entry.recipient} is queued "
                f"without its file {entry.filename}",
            )
    with_events = {e.appropriation_id for e in state.events.values()}
    for ident in state.appropriations:
        require(ident in with_events, "atomicity", f"{state.code}: {ident} has no event")
    for event in state.events.values():
        row = state.appropriations[event.appropriation_id]
        known = state.outbox if row.issuer == state.code else state.log
        require(
            event.changeset_id in known,
            "atomicity",
            f"{state.code}: event {event.seq} of {row.id} came with no change-set "
            f"({event.changeset_id})",
        )


def _append_only(old: Snapshot, new: Snapshot) -> None:
    def same(
        kind: str, before: dict[Any, Any], after: dict[Any, Any], fields: tuple[str, ...]
    ) -> None:
        for key, row in before.items():
            now = after.get(key)
            was = tuple(getattr(row, f) for f in fields)
            require(
                now is not None and tuple(getattr(now, f) for f in fields) == was,
                "append-only",
                f"{new.code}: {kind} {key} was {was}, now "
                f"{None if now is None else tuple(getattr(now, f) for f in fields)}",
            )

    same("event", old.events, new.events, ("kind", "amount_fen", "changeset_id"))
    same("ledger entry", old.ledger, new.ledger, ("direction", "amount_fen", "appropriation_id"))
    same("change-set taken", old.log, new.log, ("origin", "seq", "verdict"))
    same("change-set queued", old.outbox, new.outbox, ("recipient", "seq", "kind"))
    acked = {i: r for i, r in old.outbox.items() if r.acked_at is not None}
    same("receipt", acked, new.outbox, ("receipt_id", "receipt_verdict"))


# --- once quiet -----------------------------------------------------------------------------


def check_final(states: dict[str, Snapshot], receivers: dict[str, list[str]]) -> None:
    """Every change-set acknowledged; issuer and recipient agree; every fen accounted for;
    every version of a report submitted is held by each of its ``receivers``."""
    for code, state in states.items():
        submitted = sorted(k for k, s in state.reports.items() if k[0] == code and s == "submitted")
        for receiver in receivers.get(code, []):
            held = sorted(
                k for k, s in states[receiver].reports.items() if k[0] == code and s == "received"
            )
            require(
                held == submitted,
                "reports delivered",
                f"{code} submitted {submitted}; {receiver} holds {held}",
            )
    received: dict[str, int] = {}
    for code, state in states.items():
        for entry in state.outbox.values():
            require(
                entry.acked_at is not None and entry.receipt_verdict in ("applied", "rejected"),
                "acknowledged",
                f"{code}: {entry.kind} seq {entry.seq} to {entry.recipient} has no receipt",
            )
            require(
                entry.receipt_verdict == "applied" or bool(entry.receipt_reason),
                "acknowledged",
                f"{code}: {entry.kind} seq {entry.seq} to {entry.recipient} refused without a reason",
            )
        for ident, row in state.appropriations.items():
            if row.recipient == code:
                received[ident] = sum(
                    e.amount_fen for e in state.events.values() if e.appropriation_id == ident
                )
    for code, state in states.items():
        for ident, row in sorted(state.appropriations.items()):
            if row.issuer != code:
                continue
            sent = sorted(
                (e.seq, e.kind, e.amount_fen)
                for e in state.events.values()
                if e.appropriation_id == ident and counts(e, state)
            )
            below = states[row.recipient]
            arrived = sorted(
                (e.seq, e.kind, e.amount_fen)
                for e in below.events.values()
                if e.appropriation_id == ident
            )
            require(
                [(k, a) for _s, k, a in sent] == [(k, a) for _s, k, a in arrived],
                "conservation",
                f"{ident}: {code} stands by {sent}, {row.recipient} holds {arrived}",
            )
    issued_by_province = 0
    accounted = 0
    for code, state in states.items():
        raw = raw_available(state)
        spent: dict[str, int] = defaultdict(int)
        for entry in state.ledger.values():
            if entry.direction == "expenditure" and entry.appropriation_id is not None:
                spent[entry.appropriation_id] += entry.amount_fen
        for ident, row in sorted(state.appropriations.items()):
            if row.recipient != code:
                if row.parent_id is None:
                    issued_by_province += received.get(ident, 0)
                continue
            children = sum(
                received.get(child, 0)
                for child, r in state.appropriations.items()
                if r.parent_id == ident
            )
            here = received[ident]
            require(
                here == children + spent[ident] + raw[ident],
                "conservation",
                f"{code}: {ident} received {here} fen; {children} broken down, "
                f"{spent[ident]} spent, {raw[ident]} available",
            )
            accounted += spent[ident] + raw[ident]
    require(
        issued_by_province == accounted,
        "conservation",
        f"{issued_by_province} fen issued from the top, {accounted} fen spent or available below",
    )


def report_receivers(world: World) -> dict[str, list[str]]:
    """Where each node's reports go: its parent and the center."""
    center = world.topology.center
    found = {}
    for spec in world.topology:
        if spec.role == "center":
            continue
        found[spec.code] = sorted(
            {c for c in (spec.parent, center and center.code) if c is not None} - {spec.code}
        )
    return found
